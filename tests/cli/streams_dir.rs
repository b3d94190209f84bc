//! Streams declared at run time (issue 16, item 3): a Graph collection the build does not ship,
//! added as one declaration file, synced from graph-mock — which serves it from the declaration
//! alone — without a rebuild; and `streams check` naming every wrong file.

use graph_mock::MockConfig;
use serde_json::json;
use stream_spec::Catalog;

use crate::util::*;

const DEVICES: &str = r#"{
  "stream": "devices",
  "kind": "collection",
  "path": "/devices",
  "primary_key": ["id"],
  "page_size": {"cap": 999},
  "entity": "microsoft.graph.device",
  "permission": "Device.Read.All",
  "incremental": {"method": "compare"},
  "fields": [
    {"graph": "id", "name": "id", "type": "utf8", "nullable": false},
    {"graph": "displayName", "name": "display_name", "type": "utf8", "nullable": true},
    {"graph": "operatingSystem", "name": "operating_system", "type": "utf8", "nullable": true},
    {"graph": "accountEnabled", "name": "account_enabled", "type": "boolean", "nullable": true},
    {"graph": "approximateLastSignInDateTime", "name": "approximate_last_sign_in_date_time", "type": "timestamp_us_utc", "nullable": true}
  ]
}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_declared_in_a_directory_syncs_without_a_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let declarations = dir.path().join("streams");
    std::fs::create_dir(&declarations).unwrap();
    std::fs::write(declarations.join("devices.json"), DEVICES).unwrap();
    let catalog = Catalog::embedded()
        .with(Catalog::from_dir(&declarations).unwrap())
        .unwrap();
    let server = mock(MockConfig::default().catalog(catalog)).await;
    let truth = server.truth();
    let expected = truth
        .stream("devices")
        .expect("the mock serves the declared stream");
    assert!(expected.rows > 0);

    // `streams` lists it, `streams check` accepts it.
    let listed = msgraph_sync(
        ["streams", "--streams-dir", declarations.to_str().unwrap()],
        dir.path(),
        &[],
    )
    .await;
    assert_eq!(listed.code, 0, "{listed:?}");
    assert!(listed.stdout.contains("devices") && listed.stdout.contains("Device.Read.All"));
    let checked = msgraph_sync(
        ["streams", "check", declarations.to_str().unwrap()],
        dir.path(),
        &[],
    )
    .await;
    assert_eq!(checked.code, 0, "{checked:?}");
    assert!(
        checked.stdout.contains("devices: adds a stream"),
        "{checked:?}"
    );

    // From the flag.
    let config = write_config(
        dir.path(),
        &server,
        json!({"streams": ["devices", "users"]}),
    );
    let out = dir.path().join("landing");
    let args = sync_args(
        &config,
        &out,
        &["--streams-dir", declarations.to_str().unwrap()],
    );
    let run = msgraph_sync(&args, dir.path(), &[]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let (rows, keys) = landed(
        &out,
        "devices",
        &expected.primary_key,
        &expected.primary_key,
    );
    assert_eq!(rows, expected.rows);
    assert_eq!(keys, expected.keys);

    // From the config file, relative to it; without either the stream is unknown.
    let config = write_config(
        dir.path(),
        &server,
        json!({"streams": ["devices"], "streams_dir": "streams"}),
    );
    let again = dir.path().join("landing-2");
    let run = msgraph_sync(sync_args(&config, &again, &[]), dir.path(), &[]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let (rows, _) = landed(
        &again,
        "devices",
        &expected.primary_key,
        &expected.primary_key,
    );
    assert_eq!(rows, expected.rows);
    let config = write_config(dir.path(), &server, json!({"streams": ["devices"]}));
    let unknown = msgraph_sync(
        sync_args(&config, &dir.path().join("landing-3"), &[]),
        dir.path(),
        &[],
    )
    .await;
    assert_eq!(unknown.code, 2, "{unknown:?}");
    assert!(unknown.stderr.contains("devices"), "{unknown:?}");
}

#[tokio::test]
async fn streams_check_names_every_wrong_declaration() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    let write = |name: &str, text: String| std::fs::write(bad.join(name), text).unwrap();
    write(
        "unknown_type.json",
        DEVICES
            .replace("\"devices\"", "\"unknown_type\"")
            .replace("\"boolean\"", "\"bool\""),
    );
    write(
        "key_not_a_field.json",
        DEVICES
            .replace("\"devices\"", "\"key_not_a_field\"")
            .replace(r#"["id"]"#, r#"["device_id"]"#),
    );
    write(
        "placeholder.json",
        DEVICES
            .replace("\"devices\"", "\"placeholder\"")
            .replace("\"/devices\"", "\"/devices/{parent_id}/apps\""),
    );
    let run = msgraph_sync(["streams", "check", bad.to_str().unwrap()], dir.path(), &[]).await;
    assert_eq!(run.code, 2, "{run:?}");
    for (file, says) in [
        ("unknown_type.json", "bool"),
        ("key_not_a_field.json", "device_id"),
        ("placeholder.json", "{parent_id}"),
    ] {
        let line = run
            .stderr
            .lines()
            .find(|l| l.contains(file))
            .unwrap_or_else(|| panic!("no error names {file}: {}", run.stderr));
        assert!(line.contains(says), "{line}");
    }
    assert!(
        run.stderr.contains("3 of the declarations"),
        "{}",
        run.stderr
    );

    // Files that are each fine can still make no catalog: a parent nobody declares.
    let orphan = dir.path().join("orphan");
    std::fs::create_dir(&orphan).unwrap();
    let child = DEVICES
        .replace("\"devices\"", "\"device_apps\"")
        .replace("\"/devices\"", "\"/devices/{parent_id}/apps\"")
        .replace(
            r#"["id"]"#,
            r#"["id", "device_id"], "parent": {"stream": "devices", "column": "device_id"}"#,
        );
    std::fs::write(orphan.join("device_apps.json"), child).unwrap();
    let run = msgraph_sync(
        ["streams", "check", orphan.to_str().unwrap()],
        dir.path(),
        &[],
    )
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("device_apps") && run.stderr.contains("`devices` is not declared"),
        "{}",
        run.stderr
    );
}
