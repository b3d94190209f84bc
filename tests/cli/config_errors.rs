//! Bad input: one clear error naming what is wrong, exit 2, nothing written.

use std::path::Path;

use graph_mock::MockConfig;
use serde_json::json;

use crate::util::*;

async fn sync_with(config_text: &str) -> (Run, std::path::PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    std::fs::write(&config, config_text).unwrap();
    let out = dir.path().join("landing");
    let run = msgraph_sync(sync_args(&config, &out, &[]), dir.path(), &[]).await;
    (run, out, dir)
}

#[tokio::test]
async fn malformed_json_names_the_file_and_exits_2() {
    let (run, out, _dir) = sync_with(r#"{"tenant_id": "t", "client_id": "#).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("config.json"), "{run:?}");
    assert!(tree(&out).is_empty());
}

#[tokio::test]
async fn a_missing_config_file_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let run = msgraph_sync(
        sync_args(Path::new("nowhere.json"), Path::new("landing"), &[]),
        dir.path(),
        &[],
    )
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("nowhere.json"), "{run:?}");
}

#[tokio::test]
async fn out_of_range_values_name_the_field_and_the_allowed_range() {
    let server = mock(MockConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &server, json!({"page_size": 5000}));
    let run = msgraph_sync(sync_args(&config, Path::new("x"), &[]), dir.path(), &[]).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("page_size"), "{run:?}");

    let config = write_config(dir.path(), &server, json!({}));
    let run = msgraph_sync(
        sync_args(&config, Path::new("x"), &["--concurrency", "0"]),
        dir.path(),
        &[],
    )
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("concurrency") && run.stderr.contains("1..=64"),
        "{run:?}"
    );
    let unknown = msgraph_sync(
        sync_args(&config, Path::new("x"), &["--streams", "userz"]),
        dir.path(),
        &[],
    )
    .await;
    assert_eq!(unknown.code, 2, "{unknown:?}");
    assert!(unknown.stderr.contains("userz"), "{unknown:?}");
    assert!(tree(&dir.path().join("x")).is_empty());
}

#[tokio::test]
async fn streams_lists_every_stream_with_keys_parent_and_permission() {
    let dir = tempfile::tempdir().unwrap();
    let run = msgraph_sync(&["streams"], dir.path(), &[]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let rows: Vec<&str> = run.stdout.lines().skip(1).collect();
    let declared = stream_spec::Catalog::embedded().streams().len();
    assert_eq!(rows.len(), declared, "{}", run.stdout);
    let mail = rows
        .iter()
        .find(|l| l.starts_with("mail_messages"))
        .unwrap();
    for part in ["id, user_id", "users", "Mail.Read"] {
        assert!(mail.contains(part), "{mail}");
    }
}

#[tokio::test]
async fn no_output_names_the_flag_and_the_variable() {
    let server = mock(MockConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &server, json!({"streams": ["users"]}));
    let args = ["sync", "--config", config.to_str().unwrap()];
    let run = msgraph_sync(args, dir.path(), &[]).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("--output") && run.stderr.contains("MSGRAPH_SYNC_OUTPUT"),
        "{run:?}"
    );
    // The variable alone is enough without --demo.
    let out = dir.path().join("from-env");
    let env = [("MSGRAPH_SYNC_OUTPUT", out.to_str().unwrap())];
    let run = msgraph_sync(args, dir.path(), &env).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(out.join("_runs").is_dir(), "{run:?}");
    // The landing holds mail: nothing in it is readable by others.
    #[cfg(unix)]
    for (name, _) in tree(&out) {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(out.join(&name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o007, 0, "{name} is {mode:o}");
    }
}

#[tokio::test]
async fn a_bad_output_is_named_without_its_secrets() {
    let server = mock(MockConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &server, json!({"streams": ["users"]}));
    let output = Path::new("ftp://reader:hunter2@host/landing?sig=s3cr3t");
    let run = msgraph_sync(sync_args(&config, output, &[]), dir.path(), &[]).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("ftp://host/landing"), "{run:?}");
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        !all.contains("hunter2") && !all.contains("s3cr3t"),
        "{run:?}"
    );
}
