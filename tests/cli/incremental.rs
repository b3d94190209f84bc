//! Issue 14 end to end: run 1 lands everything, the tenant changes, run 2 lands exactly the
//! changes (current state = the mock's truth for every stream, change counts = the mutation's,
//! a fraction of the requests and records); a killed run changes nothing; an expired delta token
//! resyncs and finds deletions; a rerun with new denials keeps what it could not read.

use std::process::Stdio;
use std::time::{Duration, Instant};

use graph_mock::{Faults, MockConfig, Mutation, RequestCounts, Sizes, scenario};
use serde_json::{Value, json};

use crate::util::*;

const DELTA_OR_BOOKMARK: &[&str] = &[
    "users",
    "groups",
    "applications",
    "service_principals",
    "drive_items",
    "mail_messages",
    "contacts",
    "calendar_events",
    "audit_logs_directory",
    "audit_logs_signins",
    "chat_messages",
];

/// The manifest of the newest run.
fn latest_manifest(root: &std::path::Path) -> Value {
    let mut runs: Vec<_> = std::fs::read_dir(root.join("_runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    runs.sort();
    serde_json::from_slice(&std::fs::read(runs.last().unwrap()).unwrap()).unwrap()
}

fn between(after: &RequestCounts, before: &RequestCounts, stream: &str) -> (u64, u64) {
    (
        after.requests(stream) - before.requests(stream),
        after.records(stream) - before.records(stream),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_lands_exactly_the_changes_and_nothing_is_ever_lost() {
    // Sized so the scenario touches under 10% of every delta and bookmark stream (a bookmark's
    // overlap rereads each chat's newest messages: chats of 5 messages would make that 20%).
    let sizes = Sizes {
        groups: 40,
        applications: 20,
        messages_per_chat: 50,
        ..Sizes::default()
    };
    let server = mock(MockConfig::default().sizes(sizes)).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &server, json!({}));
    let out = dir.path().join("landing");
    let args = sync_args(&config, &out, &["--lease-ttl", "2"]);

    let first = msgraph_sync(&args, dir.path(), &[]).await;
    assert_eq!(first.code, 0, "{first:?}");
    assert_landing_matches(&out, &server.truth());
    let after_first = server.requests();
    let before_mutation = server.truth();

    let expected = scenario::standard_mutation(&server).expect("the scenario applies");

    // A run killed mid-way leaves the previous current state (and state) untouched.
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_msgraph-sync"))
        .args(&args)
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.requests().total < after_first.total + 20 {
        assert!(Instant::now() < deadline, "the run never got going");
        if child.try_wait().unwrap().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let _ = child.start_kill();
    let _ = child.wait().await;
    assert_landing_matches(&out, &before_mutation);
    tokio::time::sleep(Duration::from_secs(3)).await; // its lease expires

    let before_second = server.requests();
    let second = msgraph_sync(&args, dir.path(), &[]).await;
    assert_eq!(second.code, 0, "{second:?}");
    let after_second = server.requests();
    assert_landing_matches(&out, &server.truth());

    let manifest = latest_manifest(&out);
    for (stream, landed) in manifest["streams"].as_object().unwrap() {
        let want = expected.stream(stream);
        let got = &landed["changes"];
        assert_eq!(
            (
                got["inserts"].as_u64(),
                got["updates"].as_u64(),
                got["deletes"].as_u64()
            ),
            (Some(want.inserts), Some(want.updates), Some(want.deletes)),
            "change counts of {stream} ({}): {got}",
            landed["method"]
        );
    }
    for stream in DELTA_OR_BOOKMARK {
        let (_, records_1) = between(&after_first, &RequestCounts::default(), stream);
        let (requests_2, records_2) = between(&after_second, &before_second, stream);
        assert!(
            records_2 * 10 <= records_1,
            "{stream}: run 2 received {records_2} records, run 1 {records_1}"
        );
        if ["users", "groups"].contains(stream) {
            let (requests_1, _) = between(&after_first, &RequestCounts::default(), stream);
            assert!(
                requests_2 * 10 <= requests_1.max(10),
                "{stream}: run 2 sent {requests_2} requests, run 1 {requests_1}"
            );
        }
    }
    assert!(
        second.stdout.contains("delta"),
        "the summary shows the methods: {second:?}"
    );

    // An expired delta token: the stream resyncs in full and finds a deletion made meanwhile.
    server.expire_delta_tokens();
    server
        .apply(&Mutation::new("users").removed(1))
        .expect("a user is removed");
    let third = msgraph_sync(&args, dir.path(), &[]).await;
    assert_eq!(third.code, 0, "{third:?}");
    assert_landing_matches(&out, &server.truth());
    let manifest = latest_manifest(&out);
    assert_eq!(
        manifest["streams"]["users"]["method"], "resync",
        "{manifest}"
    );
    assert_eq!(manifest["streams"]["users"]["changes"]["deletes"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rerun_that_may_read_less_keeps_what_it_could_not_read() {
    // Two mocks with the same seed are the same tenant; the second refuses mail and one group.
    let open = mock(MockConfig::default()).await;
    let faults = Faults::default()
        .deny_stream("mail_messages")
        .deny_parent("groups", 2);
    let refusing = mock(MockConfig::default().faults(faults)).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("landing");

    let config = write_config(dir.path(), &open, json!({}));
    let first = msgraph_sync(sync_args(&config, &out, &[]), dir.path(), &[]).await;
    assert_eq!(first.code, 0, "{first:?}");
    let truth = open.truth();
    assert_landing_matches(&out, &truth);

    // Same day, the app lost Mail.Read and one group: everything it could read is unchanged,
    // and what it could not read keeps its current state (a full reread, to the refusing mock).
    let config = write_config(dir.path(), &refusing, json!({}));
    let rerun = msgraph_sync(
        sync_args(&config, &out, &["--full-refresh"]),
        dir.path(),
        &[],
    )
    .await;
    assert_eq!(rerun.code, 0, "{rerun:?}");
    assert!(rerun.stdout.contains("skipped mail_messages"), "{rerun:?}");
    assert_landing_matches(&out, &truth);
    let manifest = latest_manifest(&out);
    for (stream, landed) in manifest["streams"].as_object().unwrap() {
        assert_eq!(landed["rows"], 0, "{stream} changed on a rerun: {landed}");
    }

    let strict = msgraph_sync(
        sync_args(&config, &out, &["--full-refresh", "--strict"]),
        dir.path(),
        &[],
    )
    .await;
    assert_eq!(strict.code, 3, "{strict:?}");
    assert_landing_matches(&out, &truth);
}

/// Starts a sync with `args` and, once it holds the lease, a second one: the second exits 1 fast
/// naming the holder, which finishes undisturbed.
async fn race_two_writers(
    server: &graph_mock::MockServer,
    dir: &std::path::Path,
    args: &[String],
    env: &[(&str, &str)],
) {
    let mut holder = tokio::process::Command::new(env!("CARGO_BIN_EXE_msgraph-sync"));
    holder
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .env("NO_COLOR", "1")
        .kill_on_drop(true);
    for (k, v) in env {
        holder.env(k, v);
    }
    let mut holder = holder.spawn().unwrap();
    // The lease is taken before the first Graph request.
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.requests().total < 5 {
        assert!(Instant::now() < deadline, "the first run never got going");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = Instant::now();
    let second = msgraph_sync(args, dir, env).await;
    assert_eq!(second.code, 1, "{second:?}");
    assert!(
        second.stderr.contains("another run is writing") && second.stderr.contains("started"),
        "{second:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10), "failed fast");
    let status = holder.wait().await.unwrap();
    assert!(status.success(), "the holder finished undisturbed");
}

async fn slow_mock() -> graph_mock::MockServer {
    mock(MockConfig::default().faults(Faults::default().latency(Duration::from_millis(20)))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_writer_on_s3_fails_fast_naming_the_holder() {
    let s3 = test_support::S3Server::start();
    let server = slow_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &server, json!({"concurrency": 2}));
    let url = s3.url("concurrent");
    let args = sync_args(&config, std::path::Path::new(&url), &[]);
    let env = s3.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    race_two_writers(&server, dir.path(), &args, &env).await;
    let local = dir.path().join("copy");
    assert!(s3.download("concurrent", &local) > 0);
    assert_eq!(
        std::fs::read_dir(local.join("_runs")).unwrap().count(),
        1,
        "one committed run"
    );
    assert_landing_matches(&local, &server.truth());

    // DuckDB reads the landing in place, through `msgraph-sync duckdb`'s views for the S3 URL.
    let views = msgraph_sync(["duckdb", "--output", url.as_str()], dir.path(), &env).await;
    assert_eq!(views.code, 0, "{views:?}");
    assert!(views.stdout.contains("CREATE SECRET (TYPE s3"), "{views:?}");
    let streams = ["users", "mail_messages", "group_member"];
    let runs =
        crate::duckdb::assert_in_place_counts(&s3.duckdb_secret(), &views.stdout, &local, &streams);
    assert_eq!(runs, [1, 1, 1], "one committed run per stream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_writer_on_the_same_root_fails_fast_naming_the_holder() {
    let server = slow_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &server, json!({"concurrency": 2}));
    let out = dir.path().join("landing");
    let args = sync_args(&config, &out, &[]);
    race_two_writers(&server, dir.path(), &args, &[]).await;
    assert!(
        out.join("_lease").exists(),
        "the lease object lives on the root"
    );
    assert_landing_matches(&out, &server.truth());
}
