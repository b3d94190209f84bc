//! Project tasks as a library, so integration tests can run them.

pub mod gen_schemas;
pub mod mock_process;
