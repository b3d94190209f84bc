//! `msgraph-sync compact` on a landing two syncs wrote (users changed and removed between them):
//! same current state, fewer files, a second compaction does nothing, and a held lease is exit 1
//! naming its holder.

use graph_mock::MockConfig;

use crate::util::{landed, landing_with_changes, mock, msgraph_sync};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compact_keeps_the_current_state_and_a_second_one_does_nothing() {
    let server = mock(MockConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let out = landing_with_changes(&server, dir.path(), &["users", "groups"]).await;
    let key = vec!["id".to_string()];
    let before = landed(&out, "users", &key, &key);

    let args = ["compact", "--output", out.to_str().unwrap()];
    let first = msgraph_sync(args, dir.path(), &[]).await;
    assert_eq!(first.code, 0, "{first:?}");
    assert!(
        first.stdout.contains("STREAM") && first.stdout.contains("users"),
        "{first:?}"
    );
    assert!(first.stdout.contains("compacted: "), "{first:?}");
    assert_eq!(landed(&out, "users", &key, &key), before);
    let files = std::fs::read_dir(out.join("users"))
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .count();
    assert_eq!(files, 1, "one file per partition with live rows");

    let second = msgraph_sync(args, dir.path(), &[]).await;
    assert_eq!(second.code, 0, "{second:?}");
    assert!(second.stdout.contains("nothing to compact"), "{second:?}");

    let landing = arrow_sink::Landing::open(out.to_str().unwrap()).unwrap();
    let holder = arrow_sink::RunId::new();
    let lease = arrow_sink::Lease::acquire(&landing, &holder, std::time::Duration::from_secs(30))
        .await
        .unwrap();
    let held = msgraph_sync(args, dir.path(), &[]).await;
    assert_eq!(held.code, 1, "{held:?}");
    assert!(held.stderr.contains(holder.as_str()), "{held:?}");
    lease.release().await.unwrap();
}
