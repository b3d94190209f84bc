//! A run killed mid-write (SIGKILL, no chance to clean up) leaves nothing a reader takes for data,
//! and the rerun lands everything.

use std::process::Stdio;
use std::time::{Duration, Instant};

use graph_mock::{Faults, MockConfig, Sizes};
use serde_json::json;

use crate::util::*;

/// A sync running against a tenant slow enough (300 users, 30 ms a request, 2 at a time) that a
/// signal lands while pages are still being written.
struct SlowRun {
    server: graph_mock::MockServer,
    dir: tempfile::TempDir,
    out: std::path::PathBuf,
    args: Vec<String>,
    child: tokio::process::Child,
}

async fn slow_run(streams: &[&str], lease_ttl: &str, stderr: Stdio) -> SlowRun {
    let sizes = Sizes {
        users: 300,
        ..Sizes::default()
    };
    let faults = Faults::default().latency(Duration::from_millis(30));
    let server = mock(MockConfig::default().sizes(sizes).faults(faults)).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &server,
        json!({"streams": streams, "concurrency": 2, "use_batch": false}),
    );
    let out = dir.path().join("landing");
    let args = sync_args(&config, &out, &["--lease-ttl", lease_ttl]);
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_msgraph-sync"))
        .args(&args)
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    SlowRun {
        server,
        dir,
        out,
        args,
        child,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_while_writing_leaves_no_data_and_the_rerun_lands_everything() {
    // A short lease: the killed run cannot give it back, so the rerun waits for it to expire.
    let SlowRun {
        server,
        dir,
        out,
        args,
        mut child,
    } = slow_run(
        &["users", "mail_messages", "drive_items"],
        "2",
        Stdio::null(),
    )
    .await;
    // Kill in the middle: pages have been fetched, decoded and handed to the writers, and many
    // more are still to come (a full run takes ~1,000 requests).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if server.requests().total >= 300 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be killed; make it slower"
        );
        assert!(Instant::now() < deadline, "nothing was ever staged");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.start_kill().unwrap();
    let status = child.wait().await.unwrap();
    assert!(!status.success(), "killed, not finished: {status:?}");

    let files = tree(&out);
    assert!(
        !files.keys().any(|k| k.starts_with("_runs/")),
        "no manifest: {files:?}"
    );
    let visible: Vec<_> = files
        .keys()
        .filter(|k| !k.starts_with('_') && k.ends_with(".parquet"))
        .collect();
    assert!(
        visible.is_empty(),
        "nothing the reader glob matches: {visible:?}"
    );

    // At once, the dead run's lease still holds: exit 1 naming it, nothing touched.
    let early = msgraph_sync(&args, dir.path(), &[]).await;
    assert_eq!(early.code, 1, "{early:?}");
    assert!(early.stderr.contains("another run is writing"), "{early:?}");
    assert_eq!(tree(&out), files, "a refused run changes nothing");

    // Once it expired (2 s + the clock allowance), the rerun takes it over and lands everything.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rerun = msgraph_sync(&args, dir.path(), &[]).await;
    assert_eq!(rerun.code, 0, "{rerun:?}");
    let truth = server.truth();
    for stream in ["users", "mail_messages", "drive_items"] {
        assert_stream_matches(&out, stream, truth.stream(stream).unwrap());
    }
    manifest(&out);
}

/// Issue 15, item 9: SIGTERM (a scheduler's timeout, Ctrl-C's SIGINT alike) aborts the run
/// instead of killing it mid-upload: exit 143, nothing committed, nothing left staged, and the
/// lease given back, so the next run starts at once and lands everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_stopped_by_sigterm_aborts_cleanly_and_frees_the_root() {
    // A long lease: only a release lets the rerun start at once.
    let SlowRun {
        server,
        dir,
        out,
        args,
        mut child,
    } = slow_run(&["users", "mail_messages"], "600", Stdio::piped()).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.requests().total < 200 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended too soon"
        );
        assert!(Instant::now() < deadline, "the run made no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = child.id().unwrap().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(sent.success());
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the run stops within a minute of SIGTERM")
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(143), "{stderr}");
    assert!(stderr.contains("interrupted by SIGTERM"), "{stderr}");

    let files = tree(&out);
    let left: Vec<_> = files
        .keys()
        .filter(|k| k.starts_with("_runs/") || k.starts_with("_staging/"))
        .collect();
    assert!(left.is_empty(), "no manifest or staged file left: {left:?}");
    assert!(
        !files
            .keys()
            .any(|k| !k.starts_with('_') && k.ends_with(".parquet")),
        "nothing the reader glob matches: {files:?}"
    );

    let rerun = msgraph_sync(&args, dir.path(), &[]).await;
    assert_eq!(rerun.code, 0, "the root is free at once: {rerun:?}");
    let truth = server.truth();
    for stream in ["users", "mail_messages"] {
        assert_stream_matches(&out, stream, truth.stream(stream).unwrap());
    }
}
