//! The tap's STATE: `{"bookmarks": {"<stream>": {"last_synced_at": "<RFC 3339>"}}}`.
//!
//! Every stream is FULL_TABLE, as in tap-ms-graph, so a bookmark records when a stream was last
//! synced completely; bookmarks of streams not synced this time are carried over unchanged, and
//! other top-level keys of the prior state are kept.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

/// The state after a successful sync of `synced`, started at `started`.
pub fn next_state(prior: Option<Value>, synced: &[String], started: DateTime<Utc>) -> Value {
    let mut state = match prior {
        Some(Value::Object(map)) => Value::Object(map),
        _ => json!({}),
    };
    if !state.get("bookmarks").is_some_and(Value::is_object) {
        state["bookmarks"] = json!({});
    }
    let at = started.to_rfc3339_opts(SecondsFormat::Micros, true);
    for stream in synced {
        let bookmark = &mut state["bookmarks"][stream];
        if !bookmark.is_object() {
            *bookmark = json!({});
        }
        bookmark["last_synced_at"] = json!(at);
    }
    state["currently_syncing"] = Value::Null;
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synced_streams_get_a_bookmark_and_others_are_kept() {
        let prior = json!({"bookmarks": {"groups": {"x": 1}, "users": {"keep": true}}, "other": 2});
        let at = DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
            .unwrap()
            .to_utc();
        let state = next_state(Some(prior), &["users".into(), "teams".into()], at);
        assert_eq!(state["bookmarks"]["groups"], json!({"x": 1}));
        assert_eq!(state["bookmarks"]["users"]["keep"], true);
        assert_eq!(
            state["bookmarks"]["users"]["last_synced_at"],
            "2026-01-02T03:04:05.000000Z"
        );
        assert_eq!(
            state["bookmarks"]["teams"]["last_synced_at"],
            "2026-01-02T03:04:05.000000Z"
        );
        assert_eq!(state["other"], 2);
        assert_eq!(next_state(None, &[], at)["bookmarks"], json!({}));
    }
}
