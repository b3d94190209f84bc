//! Tables for the tests, declared as the sink sees them: no path, no permission, no paging.

use stream_spec::{BodyFormat, Table};

/// A Graph-page table keyed by `key`; `fields` is a JSON field list as declarations write it.
pub fn table(name: &str, key: &[&str], fields: &str) -> Table {
    Table::new(
        name,
        BodyFormat::GraphPage,
        key.iter().map(|k| k.to_string()).collect(),
        serde_json::from_str(fields).expect("test fields are valid"),
    )
}
