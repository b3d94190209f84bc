//! Incremental runs against graph-mock: a first run reads in full and keeps delta links and
//! bookmarks; the next run, from that state, reads only what changed.

mod support;

use graph_extract::{ExtractState, Extractor, FullScope, RunStats};
use graph_mock::{MockConfig, MockServer};
use stream_spec::Catalog;
use support::*;

fn extractor(mock: &MockServer, extra: &str) -> Extractor {
    Extractor::from_config(config_for(mock, extra), Catalog::embedded())
        .expect("extractor builds")
        .with_retry_policy(quick_policy())
}

/// Requests the mock answered per stream, all statuses.
fn requests(mock: &MockServer, stream: &str) -> u64 {
    mock.requests()
        .by_stream
        .get(stream)
        .map_or(0, |s| s.by_status.values().sum())
}

fn ok(collected: Collected) -> (RunStats, Vec<graph_extract::Page>) {
    let stats = collected.result.expect("run succeeds");
    (stats, collected.pages)
}

/// The state a run handed on, read from the file it wrote.
fn next_of(stats: &RunStats) -> ExtractState {
    stats.state.read().expect("the run wrote its state")
}

/// The state as the sink stores it: JSON, read back.
fn through_json(state: &ExtractState) -> ExtractState {
    let text = serde_json::to_string(state).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_reads_only_the_changes_of_users_and_groups() {
    let mock = start(MockConfig::default()).await;
    let extractor = extractor(&mock, "");
    let selection = ["users", "groups", "group_member"];
    let (first, pages) = ok(run_with(&extractor, &selection).await);
    assert_matches_truth(&mock.truth(), &selection, &pages);
    for stream in ["users", "groups"] {
        assert_eq!(first.streams[stream].method, "delta");
        assert_eq!(
            first.full_scopes[stream],
            FullScope {
                whole: true,
                ..Default::default()
            }
        );
        let first_state = next_of(&first);
        let state = &first_state.streams[stream];
        assert!(state.delta_links[""].contains("deltatoken"), "{state:?}");
    }
    // Groups have children: their live ids are kept. Users' children were not selected, but
    // users keep theirs too, for a later run that selects them.
    let first_state = next_of(&first);
    let group_ids = first_state.streams["groups"].ids.as_ref().unwrap();
    assert_eq!(
        group_ids.len() as u64,
        mock.truth().stream("groups").unwrap().rows
    );
    assert!(next_of(&first).streams["users"].ids.is_some());
    assert_eq!(first.streams["group_member"].method, "compare");
    assert!(!next_of(&first).streams.contains_key("group_member"));

    let users_before = requests(&mock, "users");
    let groups_before = requests(&mock, "groups");
    mock.mutate("users", 2, 2).unwrap();
    mock.mutate("groups", 1, 1).unwrap();
    let prior = through_json(&next_of(&first));
    assert_eq!(prior, next_of(&first));
    let (second, pages) = ok(run_incremental(&extractor, &selection, &prior, &[]).await);
    assert_eq!(second.streams["users"].method, "delta");
    assert_eq!(second.streams["users"].rows, 4, "2 changed + 2 removed");
    assert_eq!(second.streams["groups"].rows, 2);
    assert!(
        requests(&mock, "users") - users_before <= 2,
        "a delta round of changes is one page"
    );
    assert!(requests(&mock, "groups") - groups_before <= 2);
    // Changes only: not full, so the sink infers no deletes from them.
    assert!(!second.full_scopes.contains_key("users"));
    assert!(!second.full_scopes.contains_key("groups"));
    // Members are compared, over every live group: the removed one is gone, the rest all there.
    let live_groups = mock.truth().stream("groups").unwrap().rows;
    assert_eq!(
        second.full_scopes["group_member"].parents.len() as u64,
        live_groups
    );
    assert_matches_truth(&mock.truth(), &["group_member"], &pages);
    assert_eq!(
        next_of(&second).streams["groups"]
            .ids
            .as_ref()
            .unwrap()
            .len() as u64,
        live_groups
    );
    assert_ne!(
        next_of(&second).streams["users"].delta_links[""],
        next_of(&first).streams["users"].delta_links[""]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_resyncs_in_full_and_the_scope_is_reported_full() {
    let mock = start(MockConfig::default()).await;
    let extractor = extractor(&mock, "");
    let selection = ["users", "drive_items"];
    let (first, _) = ok(run_with(&extractor, &selection).await);
    let first_state = next_of(&first);
    let drives = &first_state.streams["drive_items"];
    let users = mock.truth().stream("users").unwrap().rows;
    assert_eq!(drives.delta_links.len() as u64, users, "a link per drive");
    assert_eq!(first.full_scopes["drive_items"].parents.len() as u64, users);

    mock.mutate("users", 0, 1).unwrap();
    mock.expire_delta_tokens();
    let (second, pages) = ok(run_incremental(&extractor, &selection, &next_of(&first), &[]).await);
    let truth = mock.truth();
    assert_matches_truth(&truth, &selection, &pages);
    for stream in selection {
        assert_eq!(second.streams[stream].method, "resync", "{stream}");
    }
    assert_eq!(second.streams["users"].resyncs, 1);
    assert_eq!(second.streams["drive_items"].resyncs, users - 1);
    assert!(second.full_scopes["users"].whole);
    assert_eq!(
        second.full_scopes["drive_items"].parents.len() as u64,
        users - 1
    );
    // The removed user's drive link is dropped with the user.
    assert_eq!(
        next_of(&second).streams["drive_items"].delta_links.len() as u64,
        users - 1
    );
    let gone = mock.requests().count("users", 410) + mock.requests().count("drive_items", 410);
    assert_eq!(gone, users, "each refused link asked once, never retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drive_changes_of_one_user_are_all_a_second_run_reads() {
    let mock = start(MockConfig::default()).await;
    let extractor = extractor(&mock, r#""use_batch":true"#);
    let (first, _) = ok(run_with(&extractor, &["drive_items"]).await);
    assert_eq!(first.streams["drive_items"].method, "delta");
    // Users were pulled in for their ids only: not landed, so their link is not kept.
    assert!(!first.streams.contains_key("users"));
    let first_state = next_of(&first);
    let users_state = &first_state.streams["users"];
    assert!(users_state.delta_links.is_empty() && users_state.ids.is_some());

    let outcome = mock.mutate("drive_items", 3, 1).unwrap();
    let (second, pages) =
        ok(run_incremental(&extractor, &["drive_items"], &next_of(&first), &[]).await);
    let rows: usize = pages.iter().map(|p| p.rows).sum();
    assert_eq!(rows, outcome.changed.len() + outcome.removed.len());
    assert!(!second.full_scopes.contains_key("drive_items"));
    let users = mock.truth().stream("users").unwrap().rows;
    assert_eq!(
        second.streams["drive_items"].pages, users,
        "one page per drive"
    );
    assert_eq!(
        pages.iter().filter(|p| p.delta_link.is_some()).count() as u64,
        users
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skipped_parent_and_an_unselected_stream_keep_their_state() {
    let mock =
        start(MockConfig::default().faults(graph_mock::Faults::default().deny_parent("users", 3)))
            .await;
    let extractor = extractor(&mock, "");
    let (first, _) = ok(run_with(&extractor, &["users", "drive_items"]).await);
    let denied = first
        .skips
        .iter()
        .find(|s| s.stream == "drive_items")
        .and_then(|s| s.parent_id.clone())
        .expect("user 3's drive is refused");
    assert!(!first.full_scopes["drive_items"].parents.contains(&denied));
    // As if user 3's drive had been read by an earlier run: its link must survive the skip.
    let mut prior = next_of(&first);
    let kept = format!(
        "{}/users/{denied}/drive/root/delta?token=kept",
        mock.graph_url()
    );
    prior
        .streams
        .get_mut("drive_items")
        .unwrap()
        .delta_links
        .insert(denied.clone(), kept.clone());
    prior.streams.insert(
        "applications".into(),
        graph_extract::StreamState {
            delta_links: [(String::new(), "https://elsewhere/kept".to_string())].into(),
            ..Default::default()
        },
    );
    let (second, _) = ok(run_incremental(&extractor, &["users", "drive_items"], &prior, &[]).await);
    assert!(
        second
            .skips
            .iter()
            .any(|s| s.parent_id.as_deref() == Some(denied.as_str()))
    );
    assert_eq!(
        next_of(&second).streams["drive_items"].delta_links[&denied],
        kept
    );
    assert_eq!(
        next_of(&second).streams["applications"],
        prior.streams["applications"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_refresh_rereads_in_full_and_compares() {
    let mock = start(MockConfig::default()).await;
    let extractor = extractor(&mock, "");
    let (first, _) = ok(run_with(&extractor, &["users", "groups"]).await);
    mock.mutate("users", 1, 0).unwrap();
    let (second, pages) = ok(run_incremental(
        &extractor,
        &["users", "groups"],
        &next_of(&first),
        &["users"],
    )
    .await);
    assert_eq!(second.streams["users"].method, "compare");
    assert_eq!(second.streams["groups"].method, "delta");
    assert!(second.full_scopes["users"].whole);
    assert!(!second.full_scopes.contains_key("groups"));
    assert_matches_truth(&mock.truth(), &["users"], &pages);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_logs_resume_from_their_bookmark_less_the_overlap() {
    let mock = start(MockConfig::default()).await;
    let extractor = extractor(&mock, "");
    let selection = ["audit_logs_directory", "audit_logs_signins"];
    let (first, pages) = ok(run_with(&extractor, &selection).await);
    assert_matches_truth(&mock.truth(), &selection, &pages);
    for (stream, property) in [
        ("audit_logs_directory", "activityDateTime"),
        ("audit_logs_signins", "createdDateTime"),
    ] {
        assert_eq!(first.streams[stream].method, "bookmark");
        // Graph keeps these 30 days: a run never knows it saw every row.
        assert!(!first.full_scopes.contains_key(stream));
        let greatest = pages
            .iter()
            .filter(|p| &*p.stream == stream)
            .flat_map(|p| {
                let body: serde_json::Value = serde_json::from_slice(&p.body).unwrap();
                body["value"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| {
                        r[property]
                            .as_str()
                            .unwrap()
                            .parse::<chrono::DateTime<chrono::Utc>>()
                            .unwrap()
                    })
                    .collect::<Vec<_>>()
            })
            .max()
            .unwrap();
        assert_eq!(next_of(&first).streams[stream].bookmarks[""], greatest);
    }
    let (second, _) = ok(run_incremental(&extractor, &selection, &next_of(&first), &[]).await);
    for stream in selection {
        let (rows, all) = (second.streams[stream].rows, first.streams[stream].rows);
        assert!(rows >= 1 && rows < all / 10, "{stream}: {rows} of {all}");
        assert_eq!(
            next_of(&second).streams[stream],
            next_of(&first).streams[stream]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailbox_streams_follow_a_link_per_folder_calendar_and_default_contacts() {
    use graph_mock::Mutation;
    let mock = start(MockConfig::default()).await;
    let extractor = extractor(&mock, "");
    let mailbox = ["mail_messages", "contacts", "calendar_events"];
    let (first, pages) = ok(run_with(&extractor, &mailbox).await);
    assert_matches_truth(&mock.truth(), &mailbox, &pages);
    let users = next_of(&first).streams["users"].ids.clone().unwrap();
    let user = users[0].clone();
    for stream in mailbox {
        assert_eq!(first.streams[stream].method, "delta");
        assert_eq!(
            first.full_scopes[stream].parents.len(),
            users.len(),
            "{stream}"
        );
    }
    let links = |stats: &RunStats, stream: &str| next_of(stats).streams[stream].delta_links.clone();
    let mail_links = links(&first, "mail_messages");
    assert!(mail_links.keys().all(|k| k.contains('/')), "per folder");
    assert!(
        mail_links.len() > users.len(),
        "users have several mail folders"
    );
    // Contacts: per folder, and the default folder under the user's own id.
    assert!(links(&first, "contacts").contains_key(&user));
    assert_eq!(links(&first, "calendar_events").len(), users.len());
    let window = &links(&first, "calendar_events")[&user];
    assert!(!window.contains("$select"), "{window}");

    let served = |stream: &str| mock.requests().records(stream);
    let before: Vec<u64> = mailbox.iter().map(|s| served(s)).collect();
    let mail = mock
        .apply(
            &Mutation::new("mail_messages")
                .parent(&user)
                .changed(1)
                .removed(1)
                .added(2),
        )
        .unwrap();
    mock.apply(&Mutation::new("contacts").parent(&user).added(1))
        .unwrap();
    mock.apply(&Mutation::new("calendar_events").parent(&user).changed(1))
        .unwrap();
    let (second, pages) = ok(run_incremental(&extractor, &mailbox, &next_of(&first), &[]).await);
    let rows = |stream: &str| {
        pages
            .iter()
            .filter(|p| &*p.stream == stream)
            .map(|p| p.rows as u64)
            .sum::<u64>()
    };
    assert_eq!(
        rows("mail_messages"),
        (mail.changed.len() + mail.removed.len() + mail.added.len()) as u64
    );
    assert_eq!((rows("contacts"), rows("calendar_events")), (1, 1));
    for (stream, before) in mailbox.iter().zip(before) {
        let (run1, run2) = (before, served(stream) - before);
        assert!(
            run2 * 10 <= run1,
            "{stream}: run 2 got {run2} records, run 1 {run1}"
        );
        assert_eq!(second.streams[*stream].method, "delta");
        assert!(!second.full_scopes.contains_key(*stream));
    }

    // An expired token: every folder of every user is read again in full.
    mock.expire_delta_tokens();
    let (third, pages) = ok(run_incremental(&extractor, &mailbox, &next_of(&second), &[]).await);
    assert_matches_truth(&mock.truth(), &mailbox, &pages);
    for stream in mailbox {
        assert_eq!(third.streams[stream].method, "resync", "{stream}");
        assert_eq!(
            third.full_scopes[stream].parents.len(),
            users.len(),
            "{stream}"
        );
    }
    assert_eq!(third.streams["mail_messages"].resyncs, users.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_messages_resume_per_chat_from_their_bookmark() {
    use graph_mock::Mutation;
    let mock = start(MockConfig::default()).await;
    let extractor = extractor(&mock, r#""use_batch":true"#);
    let (first, pages) = ok(run_with(&extractor, &["chat_messages"]).await);
    assert_matches_truth(&mock.truth(), &["chat_messages"], &pages);
    let chats = mock.truth().stream("chats").unwrap().rows as usize;
    let first_state = next_of(&first);
    let bookmarks = &first_state.streams["chat_messages"].bookmarks;
    assert_eq!(bookmarks.len(), chats, "a bookmark per chat");
    // No lower bound on a first run without start_date: every chat is read in full.
    assert_eq!(first.full_scopes["chat_messages"].parents.len(), chats);
    let chat = bookmarks.keys().next().unwrap().clone();

    let before = mock.requests().records("chat_messages");
    let outcome = mock
        .apply(
            &Mutation::new("chat_messages")
                .parent(&chat)
                .changed(1)
                .added(1),
        )
        .unwrap();
    let (second, pages) =
        ok(run_incremental(&extractor, &["chat_messages"], &next_of(&first), &[]).await);
    assert_eq!(second.streams["chat_messages"].method, "bookmark");
    assert!(!second.full_scopes.contains_key("chat_messages"));
    let landed: std::collections::BTreeSet<String> = pages
        .iter()
        .filter(|p| p.parent.as_ref().map(|k| k.id()) == Some(chat.as_str()))
        .flat_map(|p| {
            let body: serde_json::Value = serde_json::from_slice(&p.body).unwrap();
            body["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    for id in outcome.changed.iter().chain(&outcome.added) {
        assert!(landed.contains(id), "{id} not read again: {landed:?}");
    }
    let run2 = mock.requests().records("chat_messages") - before;
    // The overlap reads each chat's newest messages again (the sink's hash drops them).
    assert!(
        run2 * 2 < before && run2 >= 2,
        "run 2 got {run2} records, run 1 {before}"
    );
    assert!(next_of(&second).streams["chat_messages"].bookmarks[&chat] >= bookmarks[&chat]);
}
