//! Streams declared at run time (issue 16, item 3): a Graph collection the build does not ship,
//! added as one declaration file, synced from graph-mock — which serves it from the declaration
//! alone — without a rebuild; and `streams check` naming every wrong file.

use graph_mock::MockConfig;
use serde_json::json;
use stream_spec::Catalog;

use crate::util::*;

/// A Graph collection this build does not ship (Universal Print's printers).
const PRINTERS: &str = r#"{
  "stream": "printers",
  "kind": "collection",
  "path": "/print/printers",
  "primary_key": ["id"],
  "page_size": {"cap": 999},
  "entity": "microsoft.graph.printer",
  "permission": "Printer.Read.All",
  "incremental": {"method": "compare"},
  "fields": [
    {"graph": "id", "name": "id", "type": "utf8", "nullable": false},
    {"graph": "displayName", "name": "display_name", "type": "utf8", "nullable": true},
    {"graph": "manufacturer", "name": "manufacturer", "type": "utf8", "nullable": true},
    {"graph": "isShared", "name": "is_shared", "type": "boolean", "nullable": true},
    {"graph": "registeredDateTime", "name": "registered_date_time", "type": "timestamp_us_utc", "nullable": true}
  ]
}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_declared_in_a_directory_syncs_without_a_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let declarations = dir.path().join("streams");
    std::fs::create_dir(&declarations).unwrap();
    std::fs::write(declarations.join("printers.json"), PRINTERS).unwrap();
    let catalog = Catalog::embedded()
        .with(Catalog::from_dir(&declarations).unwrap())
        .unwrap();
    let server = mock(MockConfig::default().catalog(catalog)).await;
    let truth = server.truth();
    let expected = truth
        .stream("printers")
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
    assert!(listed.stdout.contains("printers") && listed.stdout.contains("Printer.Read.All"));
    let checked = msgraph_sync(
        ["streams", "check", declarations.to_str().unwrap()],
        dir.path(),
        &[],
    )
    .await;
    assert_eq!(checked.code, 0, "{checked:?}");
    assert!(
        checked.stdout.contains("printers: adds a stream"),
        "{checked:?}"
    );

    // From the flag.
    let config = write_config(
        dir.path(),
        &server,
        json!({"streams": ["printers", "users"]}),
    );
    let out = dir.path().join("landing");
    let args = sync_args(
        &config,
        &out,
        &["--streams-dir", declarations.to_str().unwrap()],
    );
    let run = msgraph_sync(&args, dir.path(), &[]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_stream_matches(&out, "printers", expected);

    // From the config file, relative to it; without either the stream is unknown.
    let config = write_config(
        dir.path(),
        &server,
        json!({"streams": ["printers"], "streams_dir": "streams"}),
    );
    let again = dir.path().join("landing-2");
    let run = msgraph_sync(sync_args(&config, &again, &[]), dir.path(), &[]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let (rows, _) = landed(
        &again,
        "printers",
        &expected.primary_key,
        &expected.primary_key,
    );
    assert_eq!(rows, expected.rows);
    let config = write_config(dir.path(), &server, json!({"streams": ["printers"]}));
    let unknown = msgraph_sync(
        sync_args(&config, &dir.path().join("landing-3"), &[]),
        dir.path(),
        &[],
    )
    .await;
    assert_eq!(unknown.code, 2, "{unknown:?}");
    assert!(unknown.stderr.contains("printers"), "{unknown:?}");
}

#[tokio::test]
async fn streams_check_names_every_wrong_declaration() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    let write = |name: &str, text: String| std::fs::write(bad.join(name), text).unwrap();
    write(
        "unknown_type.json",
        PRINTERS
            .replace("\"printers\"", "\"unknown_type\"")
            .replace("\"boolean\"", "\"bool\""),
    );
    write(
        "key_not_a_field.json",
        PRINTERS
            .replace("\"printers\"", "\"key_not_a_field\"")
            .replace(r#"["id"]"#, r#"["printer_id"]"#),
    );
    write(
        "placeholder.json",
        PRINTERS.replace("\"printers\"", "\"placeholder\"").replace(
            "\"/print/printers\"",
            "\"/print/printers/{parent_id}/jobs\"",
        ),
    );
    let run = msgraph_sync(["streams", "check", bad.to_str().unwrap()], dir.path(), &[]).await;
    assert_eq!(run.code, 2, "{run:?}");
    for (file, says) in [
        ("unknown_type.json", "bool"),
        ("key_not_a_field.json", "printer_id"),
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
    let child = PRINTERS
        .replace("\"printers\"", "\"printer_jobs\"")
        .replace(
            "\"/print/printers\"",
            "\"/print/printers/{parent_id}/jobs\"",
        )
        .replace(
            r#"["id"]"#,
            r#"["id", "printer_id"], "parent": {"stream": "printers", "column": "printer_id"}"#,
        );
    std::fs::write(orphan.join("printer_jobs.json"), child).unwrap();
    let run = msgraph_sync(
        ["streams", "check", orphan.to_str().unwrap()],
        dir.path(),
        &[],
    )
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("printer_jobs") && run.stderr.contains("`printers` is not declared"),
        "{}",
        run.stderr
    );
}
