//! `msgraph-sync check`: one probe per stream, permissions named, auth failures exit 2.

use graph_mock::{Faults, MockConfig};
use serde_json::json;

use crate::util::*;

fn line_of<'a>(stdout: &'a str, stream: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(stream))
        .unwrap_or_else(|| panic!("a row for {stream}:\n{stdout}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_names_the_missing_permission_and_the_unlicensed_mailboxes() {
    let faults = Faults::default()
        .deny_stream("mail_messages")
        .unlicensed_mailbox(0)
        .unlicensed_mailbox(1)
        .unlicensed_mailbox(2);
    let server = mock(MockConfig::default().faults(faults)).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &server, json!({}));
    let args = ["check", "--config", config.to_str().unwrap()];
    let run = msgraph_sync(&args, dir.path(), &[]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        line_of(&run.stdout, "mail_messages")
            .contains("permission missing: mail_messages needs Mail.Read"),
        "{run:?}"
    );
    for stream in [
        "users",
        "groups",
        "group_member",
        "email_activity_user_detail",
    ] {
        assert!(line_of(&run.stdout, stream).ends_with("OK"), "{run:?}");
    }
    // The first three users have no mailbox: the probe of their calendars says so.
    assert!(
        line_of(&run.stdout, "calendar_events").contains("not licensed"),
        "{run:?}"
    );
    let strict = msgraph_sync(
        &["check", "--config", config.to_str().unwrap(), "--strict"],
        dir.path(),
        &[],
    )
    .await;
    assert_eq!(strict.code, 3, "{strict:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_with_a_wrong_secret_exits_2() {
    let server = mock(MockConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &server, json!({"client_secret": "nope"}));
    let run = msgraph_sync(
        &["check", "--config", config.to_str().unwrap()],
        dir.path(),
        &[],
    )
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("AADSTS7000215"), "{run:?}");
}
