//! Tables for the tests, declared as the sink sees them: no path, no permission, no paging.

// Each test binary uses some of these.
#![allow(dead_code)]

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

/// `users` as a delta stream: deletes come as `@removed` rows.
pub fn users() -> Table {
    table(
        "users",
        &["id"],
        r#"[{"graph": "id", "name": "id", "type": "utf8", "nullable": false},
            {"graph": "displayName", "name": "display_name", "type": "utf8", "nullable": true}]"#,
    )
    .with_tombstone("@removed")
    .with_method("delta")
}

/// `mail_messages` under `users`, its rows keyed by `id` and the parent's `user_id`.
pub fn mail() -> Table {
    table(
        "mail_messages",
        &["id", "user_id"],
        r#"[{"graph": "id", "name": "id", "type": "utf8", "nullable": false},
            {"graph": "subject", "name": "subject", "type": "utf8", "nullable": true}]"#,
    )
    .with_parent("users", vec!["user_id".into()])
}
