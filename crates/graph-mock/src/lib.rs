//! graph-mock
