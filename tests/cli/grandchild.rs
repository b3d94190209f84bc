//! Issue 16: a grandchild stream (teams -> channels -> channel_messages) lands with both parent
//! ids through the same fan-out at every level, with and without `$batch`; a channel removed
//! takes its messages with it.

use std::collections::BTreeSet;

use graph_mock::{MockConfig, Mutation};
use serde_json::json;

use crate::util::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_messages_land_under_both_parents_and_go_with_their_channel() {
    let server = mock(MockConfig::default()).await;
    let truth = server.truth();
    let expected = truth
        .stream("channel_messages")
        .expect("the mock serves it");
    assert_eq!(expected.primary_key, ["id", "team_id", "channel_id"]);
    let channels: BTreeSet<(String, String)> = truth
        .stream("channels")
        .unwrap()
        .keys
        .iter()
        .map(|k| (k[0].clone(), k[1].clone()))
        .collect();
    assert!(channels.len() > 1 && expected.rows > channels.len() as u64);
    let key = &expected.primary_key;

    for use_batch in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(
            dir.path(),
            &server,
            json!({"streams": ["channel_messages"], "use_batch": use_batch}),
        );
        let out = dir.path().join("landing");
        let run = msgraph_sync(sync_args(&config, &out, &[]), dir.path(), &[]).await;
        assert_eq!(run.code, 0, "{run:?}");
        let (rows, keys) = landed(&out, "channel_messages", key, key);
        assert_eq!(keys, expected.keys, "use_batch {use_batch}");
        assert_eq!(rows, expected.rows);
        // Every message names a channel of the team it names.
        for k in &keys {
            assert!(channels.contains(&(k[2].clone(), k[1].clone())), "{k:?}");
        }
        // Teams and channels were read for their ids only.
        assert!(!out.join("teams").exists() && !out.join("channels").exists());
    }

    // Channels and their messages together; then one channel goes.
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &server,
        json!({"streams": ["channels", "channel_messages"]}),
    );
    let out = dir.path().join("landing");
    let args = sync_args(&config, &out, &["--lease-ttl", "2"]);
    let first = msgraph_sync(&args, dir.path(), &[]).await;
    assert_eq!(first.code, 0, "{first:?}");
    let (channel, team) = channels.iter().next().unwrap().clone();
    let gone = expected.keys.iter().filter(|k| k[2] == channel).count() as u64;
    assert!(gone > 0);
    server
        .apply(
            &Mutation::new("channels")
                .parent(&team)
                .remove_ids([&channel]),
        )
        .expect("a channel is removed");
    let second = msgraph_sync(&args, dir.path(), &[]).await;
    assert_eq!(second.code, 0, "{second:?}");
    let truth = server.truth();
    let after = truth.stream("channel_messages").unwrap();
    assert_eq!(after.rows, expected.rows - gone);
    let (_, keys) = landed(&out, "channel_messages", key, key);
    assert_eq!(keys, after.keys);
    let runs = manifests(&out);
    let changes = &runs.last().unwrap()["streams"]["channel_messages"]["changes"];
    assert_eq!(changes["deletes"], gone, "{changes}");
    assert_eq!(changes["inserts"], 0, "{changes}");
    let changes = &runs.last().unwrap()["streams"]["channels"]["changes"];
    assert_eq!(changes["deletes"], 1, "{changes}");
}
