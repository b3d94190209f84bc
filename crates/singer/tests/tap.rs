//! tap-msgraph as a process against graph-mock: the catalog, message shapes per the Singer spec,
//! field selection and naming, state, and the tap piped into our target checked with DuckDB.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::*;
use graph_mock::{MockConfig, MockServer};
use serde_json::{Value, json};

async fn mock() -> MockServer {
    MockServer::start(MockConfig::default().users(24))
        .await
        .expect("mock starts")
}

fn is_rfc3339(text: &Value) -> bool {
    text.as_str()
        .is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discover_lists_tap_ms_graph_streams_with_their_keys_and_metadata() {
    let mock = mock().await;
    let dir = tempfile::tempdir().unwrap();
    let catalog = discover(&tap_config(dir.path(), &mock, ""));
    let streams = catalog["streams"].as_array().unwrap();
    let by_name: BTreeMap<&str, &Value> = streams
        .iter()
        .map(|s| (s["stream"].as_str().unwrap(), s))
        .collect();
    let expected_keys: [(&str, &[&str]); 22] = [
        ("applications", &["id"]),
        ("audit_logs_directory", &["id"]),
        ("audit_logs_signins", &["id"]),
        ("calendar_events", &["id", "user_id"]),
        ("channels", &["id", "team_id"]),
        ("chat_messages", &["id", "chat_id"]),
        ("chats", &["id"]),
        ("conditional_access_policies", &["id"]),
        ("contacts", &["id", "user_id"]),
        ("directory_role_member", &["id", "role_id"]),
        ("directory_role_templates", &["id"]),
        ("directory_roles", &["id"]),
        ("drive_items", &["id", "user_id"]),
        ("drives", &["id"]),
        ("group_member", &["id", "group_id"]),
        ("group_owner", &["id", "group_id"]),
        ("groups", &["id"]),
        ("mail_messages", &["id", "user_id"]),
        ("service_principals", &["id"]),
        ("team_member", &["id", "team_id"]),
        ("teams", &["id"]),
        ("users", &["id"]),
    ];
    for (name, keys) in expected_keys {
        let entry = by_name.get(name).unwrap_or_else(|| panic!("{name} listed"));
        assert_eq!(entry["tap_stream_id"], name);
        assert_eq!(entry["key_properties"], json!(keys), "{name}");
        let top = &entry["metadata"][0];
        assert_eq!(top["breadcrumb"], json!([]));
        assert_eq!(top["metadata"]["table-key-properties"], json!(keys));
        assert_eq!(top["metadata"]["inclusion"], "available");
        assert_eq!(top["metadata"]["selected-by-default"], true);
        let incremental = [
            "applications",
            "audit_logs_directory",
            "audit_logs_signins",
            "calendar_events",
            "chat_messages",
            "contacts",
            "drive_items",
            "groups",
            "mail_messages",
            "service_principals",
            "users",
        ];
        let method = if incremental.contains(&name) {
            "INCREMENTAL"
        } else {
            "FULL_TABLE"
        };
        assert_eq!(
            top["metadata"]["forced-replication-method"], method,
            "{name}"
        );
        for key in keys {
            assert!(
                entry["schema"]["properties"][key].is_object(),
                "{name}.{key}"
            );
            let md = entry["metadata"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["breadcrumb"] == json!(["properties", key]))
                .expect("key metadata");
            assert_eq!(md["metadata"]["inclusion"], "automatic");
        }
    }
    // Ours are listed too, not selected by default.
    assert!(streams.len() > 22);
    let report = by_name["office365_active_user_detail"];
    assert_eq!(
        report["metadata"][0]["metadata"]["selected-by-default"],
        false
    );
    assert_eq!(
        by_name["mail_messages"]["metadata"][0]["metadata"]["parent-tap-stream-id"],
        "users"
    );
    assert!(by_name["users"]["schema"]["properties"]["userPrincipalName"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_follow_the_singer_spec_and_the_selection() {
    let mock = mock().await;
    let dir = tempfile::tempdir().unwrap();
    let config = tap_config(dir.path(), &mock, "");
    let mut catalog = discover(&config);
    select(&mut catalog, &["users", "mail_messages", "groups"]);
    // users: only displayName besides the key.
    for entry in catalog["streams"].as_array_mut().unwrap() {
        if entry["stream"] == "users" {
            for md in entry["metadata"].as_array_mut().unwrap() {
                let crumb = &md["breadcrumb"];
                if crumb.as_array().unwrap().len() == 2 && crumb[1] != "displayName" {
                    md["metadata"]["selected"] = json!(false);
                }
            }
        }
    }
    let prior = json!({"bookmarks": {"teams": {"last_synced_at": "2020-01-01T00:00:00Z"}}});
    let done = sync(&config, &catalog, dir.path(), Some(&prior));
    let lines = done.lines();
    let truth = mock.truth();

    let mut schemas = BTreeMap::new();
    let mut records: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    let mut activated = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        match line["type"].as_str().unwrap() {
            "SCHEMA" => {
                assert!(line["schema"]["properties"].is_object());
                assert!(line["key_properties"].is_array());
                schemas.insert(line["stream"].as_str().unwrap().to_string(), line);
            }
            "RECORD" => {
                let stream = line["stream"].as_str().unwrap();
                assert!(
                    schemas.contains_key(stream),
                    "SCHEMA comes before RECORDs of {stream}"
                );
                assert!(line["record"].is_object());
                assert!(
                    is_rfc3339(&line["time_extracted"]),
                    "{}",
                    line["time_extracted"]
                );
                records
                    .entry(stream.to_string())
                    .or_default()
                    .push(&line["record"]);
            }
            "STATE" => assert_eq!(i, lines.len() - 1, "STATE is the last message"),
            // A first run reads every stream whole: each closes its table version.
            "ACTIVATE_VERSION" => {
                let stream = line["stream"].as_str().unwrap();
                assert!(schemas.contains_key(stream));
                activated.push(stream.to_string());
            }
            other => panic!("unexpected message type {other}"),
        }
    }
    assert_eq!(schemas.len(), 3);
    activated.sort();
    assert_eq!(activated, ["groups", "mail_messages", "users"]);
    assert_eq!(
        schemas["mail_messages"]["schema"]["x-parent"],
        json!({"stream": "users", "property": "user_id"})
    );
    for stream in ["users", "mail_messages", "groups"] {
        assert_eq!(
            records[stream].len() as u64,
            truth.stream(stream).unwrap().rows,
            "{stream} equals the mock's truth"
        );
    }
    // Graph's names, the parent column, and only the selected fields.
    let message = records["mail_messages"][0];
    assert!(message.get("receivedDateTime").is_some() && message["user_id"].is_string());
    for user in &records["users"] {
        let keys: Vec<&String> = user.as_object().unwrap().keys().collect();
        assert!(
            keys.iter()
                .all(|k| *k == "id" || *k == "displayName" || k.starts_with('@')),
            "{keys:?}"
        );
    }
    let users_schema = &schemas["users"]["schema"]["properties"];
    assert!(users_schema.get("userPrincipalName").is_none());

    let state = &lines.last().unwrap()["value"];
    assert!(is_rfc3339(&state["bookmarks"]["users"]["last_synced_at"]));
    assert_eq!(
        state["bookmarks"]["teams"], prior["bookmarks"]["teams"],
        "carried over"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snake_case_names_are_an_option() {
    let mock = mock().await;
    let dir = tempfile::tempdir().unwrap();
    let config = tap_config(dir.path(), &mock, r#","field_names":"snake_case""#);
    let mut catalog = discover(&config);
    select(&mut catalog, &["contacts"]);
    let done = sync(&config, &catalog, dir.path(), None);
    let lines = done.lines();
    assert!(lines[0]["schema"]["properties"]["display_name"].is_object());
    let record = &lines[1]["record"];
    assert!(
        record["user_id"].is_string() && record.get("displayName").is_none(),
        "{record}"
    );
    assert!(record.get("id").is_some());
    let rows = lines.iter().filter(|l| l["type"] == "RECORD").count() as u64;
    assert_eq!(rows, mock.truth().stream("contacts").unwrap().rows);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tap_piped_into_target_lands_the_truth() {
    let mock = mock().await;
    let dir = tempfile::tempdir().unwrap();
    let config = tap_config(dir.path(), &mock, "");
    let mut catalog = discover(&config);
    let streams = TAP_STREAMS;
    select(&mut catalog, &streams);
    let tapped = sync(&config, &catalog, dir.path(), None);

    let out = dir.path().join("landing");
    let target_config = target_config(dir.path(), &out, "");
    let landed = target(&target_config, &tapped.stdout);
    assert!(landed.success(), "{}", landed.stderr);
    let state = landed.lines();
    assert_eq!(state.len(), 1);
    assert!(is_rfc3339(
        &state[0]["bookmarks"]["users"]["last_synced_at"]
    ));

    assert_counts_are_the_truth(&mock, &out, &streams);
    let truth = mock.truth();
    // Graph names land as the landing's snake_case columns; keys are the declared ones.
    let keys = test_support::duckdb_query(&format!(
        "SELECT count(DISTINCT (id, user_id)) AS n, count(user_principal_name) AS upn
         FROM read_parquet('{0}/drive_items/**/*.parquet') d
         LEFT JOIN (SELECT id AS uid, user_principal_name FROM read_parquet('{0}/users/**/*.parquet')) u
           ON d.user_id = u.uid",
        out.display()
    ));
    assert_eq!(keys[0]["n"], truth.stream("drive_items").unwrap().rows);
    assert_eq!(keys[0]["upn"], truth.stream("drive_items").unwrap().rows);
}

/// RECORDs per stream in a tap's output, and how many of them are deletes.
fn record_counts(lines: &[Value]) -> BTreeMap<String, (u64, u64)> {
    let mut counts: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for line in lines.iter().filter(|l| l["type"] == "RECORD") {
        let entry = counts
            .entry(line["stream"].as_str().unwrap().to_string())
            .or_default();
        entry.0 += 1;
        if line["record"]["_sdc_deleted_at"].is_string() {
            entry.1 += 1;
        }
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_from_the_state_sends_only_changes_and_the_target_converges() {
    let sizes = graph_mock::Sizes {
        groups: 40,
        messages_per_chat: 50,
        ..graph_mock::Sizes::default()
    };
    let mock = MockServer::start(MockConfig::default().sizes(sizes))
        .await
        .expect("mock starts");
    let dir = tempfile::tempdir().unwrap();
    let config = tap_config(dir.path(), &mock, "");
    let mut catalog = discover(&config);
    let incremental = [
        "users",
        "groups",
        "mail_messages",
        "drive_items",
        "contacts",
        "chat_messages",
    ];
    let compared = ["group_member", "group_owner"];
    let streams: Vec<&str> = incremental.iter().chain(&compared).copied().collect();
    select(&mut catalog, &streams);
    let out = dir.path().join("landing");
    let target_config = target_config(dir.path(), &out, "");

    let first = sync(&config, &catalog, dir.path(), None);
    let landed = target(&target_config, &first.stdout);
    assert!(landed.success(), "{}", landed.stderr);
    let state = landed
        .lines()
        .pop()
        .expect("the target passes the STATE on");
    assert!(
        state["bookmarks"]["users"]["msgraph"]["delta_links"][""].is_string(),
        "the state carries the delta link: {state}"
    );

    let expected = graph_mock::scenario::standard_mutation(&mock).expect("the scenario applies");
    let second = sync(&config, &catalog, dir.path(), Some(&state));
    let (before, after) = (
        record_counts(&first.lines()),
        record_counts(&second.lines()),
    );
    for stream in incremental {
        let (all, _) = before[stream];
        let (changed, deleted) = after.get(stream).copied().unwrap_or_default();
        assert!(
            changed * 10 <= all,
            "{stream}: the second sync sent {changed} records, the first {all}"
        );
        // The tap sends Graph's own deletions; children of deleted users are the target's.
        let want = expected.stream(stream).deletes;
        assert!(
            deleted <= want,
            "{stream}: {deleted} deletes, {want} expected"
        );
    }
    assert_eq!(after["users"].1, 2, "the two deleted users come as deletes");
    let activated: Vec<String> = second
        .lines()
        .iter()
        .filter(|l| l["type"] == "ACTIVATE_VERSION")
        .map(|l| l["stream"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        activated, compared,
        "only the streams read whole close a version"
    );

    let landed = target(&target_config, &second.stdout);
    assert!(landed.success(), "{}", landed.stderr);
    let start = chrono::DateTime::parse_from_rfc3339("2020-07-01T00:00:00Z").unwrap();
    let truth = mock.truth_with(&graph_mock::TruthFilter::default().start_date(start.to_utc()));
    for stream in streams {
        let want = truth.stream(stream).unwrap();
        let columns = want
            .primary_key
            .iter()
            .map(|k| format!("CAST(\"{k}\" AS VARCHAR) AS \"{k}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = test_support::current_state_sql(&out, stream, &want.primary_key, &columns);
        let keys: std::collections::BTreeSet<Vec<String>> = test_support::duckdb_query(&sql)
            .iter()
            .map(|row| {
                want.primary_key
                    .iter()
                    .map(|k| row[k].as_str().unwrap().to_string())
                    .collect()
            })
            .collect();
        assert_eq!(keys.len() as u64, want.rows, "{stream}: current state rows");
        assert_eq!(
            keys, want.keys,
            "{stream}: current state = the mock's truth"
        );
    }
}

#[test]
fn about_and_bad_config() {
    let about = run(Command::new(TAP).arg("--about"), b"");
    assert!(about.success());
    let about: Value = serde_json::from_slice(&about.stdout).unwrap();
    assert_eq!(about["name"], "tap-msgraph");
    for capability in ["catalog", "discover", "state", "about"] {
        assert!(
            about["capabilities"]
                .as_array()
                .unwrap()
                .contains(&json!(capability))
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.json");
    let secret = graph_mock::auth::TEST_CLIENT_SECRET;
    std::fs::write(
        &config,
        format!(r#"{{"tenant_id":"t","client_id":"c","client_secret":"{secret}","page_size":5}}"#),
    )
    .unwrap();
    let done = run(Command::new(TAP).arg("--config").arg(&config), b"");
    assert_eq!(done.code, Some(2));
    assert!(done.stderr.contains("page_size"), "{}", done.stderr);
    let done = run(&mut Command::new(TAP), b"");
    assert_eq!(done.code, Some(2));
    assert!(done.stderr.contains("--config"), "{}", done.stderr);
}

/// Issue 16, item 3: the config's `streams_dir` (relative to it) adds a stream the build does
/// not ship; discovery lists it and a sync sends it, with no rebuild.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_dir_in_the_config_adds_a_stream() {
    let dir = tempfile::tempdir().unwrap();
    let declarations = dir.path().join("streams");
    std::fs::create_dir(&declarations).unwrap();
    std::fs::write(
        declarations.join("printers.json"),
        r#"{"stream": "printers", "kind": "collection", "path": "/print/printers", "primary_key": ["id"],
            "page_size": {"cap": 999}, "entity": "microsoft.graph.printer",
            "permission": "Printer.Read.All",
            "fields": [{"graph": "id", "name": "id", "type": "utf8", "nullable": false},
                       {"graph": "displayName", "name": "display_name", "type": "utf8", "nullable": true}]}"#,
    )
    .unwrap();
    let catalog = stream_spec::Catalog::embedded()
        .with(stream_spec::Catalog::from_dir(&declarations).unwrap())
        .unwrap();
    let mock = MockServer::start(MockConfig::default().users(24).catalog(catalog))
        .await
        .expect("mock starts");
    let config = tap_config(dir.path(), &mock, r#","streams_dir":"streams""#);
    let mut catalog = discover(&config);
    assert!(
        catalog["streams"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["stream"] == "printers"),
        "printers discovered"
    );
    select(&mut catalog, &["printers"]);
    let done = sync(&config, &catalog, dir.path(), None);
    let lines: Vec<Value> = done
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    let records = lines
        .iter()
        .filter(|l| l["type"] == "RECORD" && l["stream"] == "printers")
        .count() as u64;
    assert_eq!(records, mock.truth().stream("printers").unwrap().rows);
    assert!(records > 0);
}

/// Streams newer than singer-io's tap-ms-graph are offered but not selected by default, so an
/// existing Meltano project does not start syncing them (and asking for their permissions).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_newer_than_tap_ms_graph_are_discovered_unselected() {
    let mock = mock().await;
    let dir = tempfile::tempdir().unwrap();
    let catalog = discover(&tap_config(dir.path(), &mock, ""));
    for name in ["channel_messages", "devices", "sites"] {
        let entry = catalog["streams"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["stream"] == name)
            .unwrap_or_else(|| panic!("{name} discovered"));
        let top = &entry["metadata"][0];
        assert_eq!(top["breadcrumb"], json!([]));
        assert_eq!(top["metadata"]["selected-by-default"], false, "{name}");
        if name == "channel_messages" {
            // A grandchild: both parent ids are properties, and keys.
            assert_eq!(
                top["metadata"]["table-key-properties"],
                json!(["id", "team_id", "channel_id"])
            );
            for column in ["team_id", "channel_id"] {
                assert!(
                    entry["schema"]["properties"][column].is_object(),
                    "{column}"
                );
            }
        }
    }
}
