//! `msgraph-sync sync` against a faulty mock: the landing equals the truth, secrets stay secret,
//! refusals are reported, exit codes follow the README.

use std::time::Duration;

use graph_mock::auth::{AuthConfig, TEST_CLIENT_SECRET};
use graph_mock::{Faults, MockConfig};
use serde_json::json;

use crate::util::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stream_lands_equal_to_the_truth_under_faults_and_no_secret_is_printed() {
    let server = mock(
        MockConfig::default()
            .faults(Faults::every_kind())
            .auth(AuthConfig::default().with_token_ttl(Duration::from_secs(2))),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &server, json!({"concurrency": 8}));
    let out = dir.path().join("landing");
    let run = msgraph_sync(
        sync_args(&config, &out, &[]),
        dir.path(),
        // Debug logs are where a careless client would print a secret or a token.
        &[("MSGRAPH_SYNC_LOG", "debug")],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        !run.all_output().contains(TEST_CLIENT_SECRET),
        "the client secret was printed"
    );
    assert!(
        !run.all_output().contains("Bearer ey"),
        "an access token was printed"
    );
    let truth = server.truth();
    assert_landing_matches(&out, &truth);

    let manifest = manifest(&out);
    assert_eq!(manifest["skipped"], json!([]), "nothing was refused");
    for stream in truth.streams.keys() {
        assert!(
            run.stdout.lines().any(|l| l.starts_with(stream.as_str())),
            "summary row for {stream}:\n{}",
            run.stdout
        );
    }
    assert!(run.stdout.contains("manifest: "), "{run:?}");
    let views = format!("query it: msgraph-sync duckdb --output {}", out.display());
    assert!(run.stdout.contains(&views), "{views} in {run:?}");
    let requests = server.requests();
    let throttled: u64 = requests
        .by_stream
        .values()
        .map(|s| s.by_status.get(&429).copied().unwrap_or(0))
        .sum();
    assert!(throttled > 0, "faults fired: {requests:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_exits_2_naming_aadsts7000215_and_writes_nothing() {
    let server = mock(MockConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &server,
        json!({"client_secret": "wrong~secret~value"}),
    );
    let out = dir.path().join("landing");
    let run = msgraph_sync(sync_args(&config, &out, &[]), dir.path(), &[]).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("AADSTS7000215"), "{run:?}");
    assert!(!run.all_output().contains("wrong~secret~value"), "{run:?}");
    assert!(tree(&out).is_empty(), "nothing landed: {:?}", tree(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_permission_is_reported_and_every_other_stream_lands() {
    let faults = Faults::default()
        .deny_stream("mail_messages")
        .deny_parent("groups", 2);
    let server = mock(MockConfig::default().faults(faults)).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &server, json!({}));
    let out = dir.path().join("landing");
    let run = msgraph_sync(sync_args(&config, &out, &[]), dir.path(), &[]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("skipped mail_messages") && run.stdout.contains("Mail.Read"),
        "the refusal is reported with the permission: {run:?}"
    );
    let truth = server.truth();
    assert_landing_matches(&out, &truth);
    let manifest = manifest(&out);
    let skipped = manifest["skipped"].as_array().unwrap();
    assert!(
        skipped
            .iter()
            .any(|s| s["stream"] == "mail_messages" && s["parent_id"].is_null()),
        "{skipped:?}"
    );
    let denied_group = &truth.stream("group_member").unwrap().skipped_parents;
    assert_eq!(denied_group.len(), 1, "{denied_group:?}");
    assert!(
        skipped
            .iter()
            .any(|s| s["stream"] == "group_member" && s["parent_id"] == denied_group[0].as_str()),
        "{skipped:?}"
    );

    // --strict: the same run lands, then exits 3 for the scheduler.
    let strict_out = dir.path().join("strict");
    let strict_args = sync_args(&config, &strict_out, &["--strict"]);
    let strict = msgraph_sync(strict_args, dir.path(), &[]).await;
    assert_eq!(strict.code, 3, "{strict:?}");
    assert_landing_matches(&strict_out, &truth);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selected_streams_only_land_and_flags_override_the_config() {
    let server = mock(MockConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    // The config selects users; the flag replaces the selection.
    let config = write_config(dir.path(), &server, json!({"streams": ["users"]}));
    let out = dir.path().join("landing");
    let run = msgraph_sync(
        sync_args(
            &config,
            &out,
            &["--streams", "mail_messages,groups", "--concurrency", "3"],
        ),
        dir.path(),
        &[],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    let landed_streams: Vec<String> = manifest(&out)["streams"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(landed_streams, ["groups", "mail_messages"]);
    let truth = server.truth();
    let expected = truth.stream("mail_messages").unwrap();
    let (rows, keys) = landed(
        &out,
        "mail_messages",
        &expected.primary_key,
        &expected.primary_key,
    );
    assert_eq!((rows, &keys), (expected.rows, &expected.keys));
}

#[tokio::test]
async fn logs_to_a_pipe_carry_no_colour_codes() {
    let server = mock(MockConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &server, json!({"streams": ["users"]}));
    let out = dir.path().join("landing");
    // An empty NO_COLOR counts as unset: only the pipe says "no colour" here.
    let env = [("NO_COLOR", ""), ("MSGRAPH_SYNC_LOG", "debug")];
    let run = msgraph_sync(sync_args(&config, &out, &[]), dir.path(), &env).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("DEBUG"),
        "debug logs were written: {run:?}"
    );
    assert!(!run.stderr.contains('\u{1b}'), "{:?}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_stream_lands_nothing_while_the_others_land_and_the_run_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("landing");
    // A good night first: every stream's current state is the truth.
    let good = mock(MockConfig::default()).await;
    let config = write_config(dir.path(), &good, json!({}));
    let run = msgraph_sync(sync_args(&config, &out, &[]), dir.path(), &[]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let truth = good.truth();

    // The same tenant, with `groups` answering 400: groups and its children fail, the rest land.
    let broken = mock(MockConfig::default().faults(Faults::default().break_stream("groups"))).await;
    let config = write_config(dir.path(), &broken, json!({}));
    let args = sync_args(&config, &out, &["--full-refresh"]);
    let run = msgraph_sync(args, dir.path(), &[]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("FAILED groups"), "{run:?}");
    assert!(run.stderr.contains("stream `groups` failed"), "{run:?}");
    let runs = manifests(&out);
    assert_eq!(runs.len(), 2, "the second run committed");
    let failed: Vec<&str> = runs[1]["failed"]
        .as_array()
        .expect("failed streams in the manifest")
        .iter()
        .map(|f| f["stream"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["groups", "group_member", "group_owner"]);
    assert!(runs[1]["streams"].get("groups").is_none());
    assert!(runs[1]["streams"].get("users").is_some());
    // Nothing was lost: the failed streams' current state is the first run's, the rest equal.
    assert_landing_matches(&out, &truth);

    // --atomic: all or nothing, so nothing is committed.
    let atomic_out = dir.path().join("atomic");
    let run = msgraph_sync(
        sync_args(&config, &atomic_out, &["--atomic"]),
        dir.path(),
        &[],
    )
    .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(manifests(&atomic_out).is_empty(), "{run:?}");
}
