//! The tap's STATE: `{"bookmarks": {"<stream>": {"last_synced_at": "<RFC 3339>", "msgraph": {…}}}}`.
//!
//! `msgraph` is graph-extract's state of the stream (delta links and bookmarks per scope, a delta
//! parent's live ids), handed back to the next run through `--state`, so delta and bookmark
//! streams send only what changed. `last_synced_at` records when a stream was last synced;
//! bookmarks of streams not synced this time are carried over unchanged, and other top-level
//! keys of the prior state are kept.

use chrono::{DateTime, SecondsFormat, Utc};
use graph_extract::{ExtractState, StreamState};
use serde_json::{Value, json};

/// Where a stream's bookmark keeps graph-extract's state.
const EXTRACT_KEY: &str = "msgraph";

/// graph-extract's state out of a prior STATE value; streams without one start from scratch.
pub fn extract_state(prior: Option<&Value>) -> Result<ExtractState, String> {
    let mut state = ExtractState::default();
    let Some(bookmarks) = prior
        .and_then(|p| p.get("bookmarks"))
        .and_then(Value::as_object)
    else {
        return Ok(state);
    };
    for (stream, bookmark) in bookmarks {
        let Some(value) = bookmark.get(EXTRACT_KEY) else {
            continue;
        };
        let stream_state: StreamState = serde_json::from_value(value.clone()).map_err(|e| {
            format!(
                "state: `bookmarks.{stream}.{EXTRACT_KEY}` is not this tap's state ({e}); \
                 clear it (`meltano state clear <job>`, or run without --state) to sync the \
                 stream in full"
            )
        })?;
        state.streams.insert(stream.clone(), stream_state);
    }
    Ok(state)
}

/// The state after a successful sync of `synced`, started at `started`, with `extract` (the whole
/// next state graph-extract returned).
pub fn next_state(
    prior: Option<Value>,
    synced: &[String],
    started: DateTime<Utc>,
    extract: &ExtractState,
) -> Value {
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
    // graph-extract's state is whole (the prior one with this run's updates): it replaces ours.
    if let Some(bookmarks) = state["bookmarks"].as_object_mut() {
        for bookmark in bookmarks.values_mut() {
            if let Some(bookmark) = bookmark.as_object_mut() {
                bookmark.remove(EXTRACT_KEY);
            }
        }
    }
    for (stream, stream_state) in &extract.streams {
        let bookmark = &mut state["bookmarks"][stream];
        if !bookmark.is_object() {
            *bookmark = json!({});
        }
        bookmark[EXTRACT_KEY] = serde_json::to_value(stream_state).expect("state serializes");
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
        let none = ExtractState::default();
        let state = next_state(Some(prior), &["users".into(), "teams".into()], at, &none);
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
        assert_eq!(next_state(None, &[], at, &none)["bookmarks"], json!({}));
    }

    #[test]
    fn graph_state_round_trips_through_the_bookmarks() {
        let mut extract = ExtractState::default();
        let mut users = StreamState::default();
        users
            .delta_links
            .insert(String::new(), "https://g/users/delta?$deltatoken=t".into());
        users.ids = Some(vec!["u1".into()]);
        extract.streams.insert("users".into(), users);
        let at = Utc::now();
        let prior = json!({"bookmarks": {"groups": {"msgraph": {"delta_links": {"": "old"}}}}});
        let state = next_state(Some(prior), &["users".into()], at, &extract);
        assert!(
            state["bookmarks"]["groups"].get("msgraph").is_none(),
            "graph-extract dropped it"
        );
        assert_eq!(extract_state(Some(&state)).unwrap(), extract);
        assert_eq!(extract_state(None).unwrap(), ExtractState::default());
        let bad = json!({"bookmarks": {"users": {"msgraph": {"delta_links": 3}}}});
        let error = extract_state(Some(&bad)).unwrap_err();
        assert!(error.contains("bookmarks.users.msgraph"), "{error}");
    }
}
