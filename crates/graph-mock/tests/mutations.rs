//! Mutations that add, change and remove rows; the truth after them; served-record counts; the
//! standard scenario's expected `_change` counts.

mod support;

use std::collections::BTreeSet;

use graph_mock::{ChangeCounts, MockConfig, Mutation, diff};
use serde_json::{Value, json};
use support::Harness;

fn counts(inserts: u64, updates: u64, deletes: u64) -> ChangeCounts {
    ChangeCounts {
        inserts,
        updates,
        deletes,
    }
}

#[tokio::test]
async fn added_rows_get_new_ids_and_show_everywhere() {
    let h = Harness::start(MockConfig::default()).await;
    let before: BTreeSet<String> = h.user_ids().into_iter().collect();
    let outcome = h.server.apply(&Mutation::new("users").added(2)).unwrap();
    assert_eq!(outcome.added.len(), 2);
    assert!(outcome.added.iter().all(|id| !before.contains(id)));
    assert_ne!(outcome.added[0], outcome.added[1]);
    let (users, _) = h.walk(&h.graph("/users?$top=999")).await;
    assert_eq!(users.len(), 122);
    // A new user is a parent like any other: its mailbox is there.
    let new_user = &outcome.added[0];
    let (mail, _) = h
        .walk(&h.graph(&format!("/users/{new_user}/messages")))
        .await;
    assert_eq!(mail.len(), 4);

    let user = h.user_ids().remove(5);
    let child = h
        .server
        .apply(&Mutation::new("mail_messages").parent(user.clone()).added(3))
        .unwrap();
    assert!(child.added_keys.iter().all(|k| k[1] == user));
    let (mail, _) = h.walk(&h.graph(&format!("/users/{user}/messages"))).await;
    assert_eq!(mail.len(), 7);
    let again = h
        .server
        .apply(&Mutation::new("mail_messages").parent(user.clone()).added(1))
        .unwrap();
    assert!(
        !child.added.contains(&again.added[0]),
        "ids are never reused"
    );

    // The admin endpoint takes the same shape.
    let chat = h
        .server
        .truth()
        .stream("chats")
        .unwrap()
        .keys
        .iter()
        .next()
        .unwrap()[0]
        .clone();
    let answer: Value = h
        .http
        .post(format!("{}/_admin/mutate", h.server.base_url()))
        .json(&json!({"stream": "chat_messages", "parent": chat, "changed": 1, "added": 2}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["added"].as_array().unwrap().len(), 2);
    assert_eq!(answer["changed"].as_array().unwrap().len(), 1);
    let refused = h
        .http
        .post(format!("{}/_mock/mutate", h.server.base_url()))
        .json(&json!({"stream": "mail_messages", "parent": "nobody", "added": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
}

#[tokio::test]
async fn removals_take_children_memberships_and_teams_with_them() {
    let h = Harness::start(MockConfig::default()).await;
    let before = h.server.truth();
    let member_key = before
        .stream("group_member")
        .unwrap()
        .keys
        .iter()
        .next()
        .unwrap()
        .clone();
    let removed_user = member_key[0].clone();
    h.server
        .apply(&Mutation::new("users").remove_ids([removed_user.clone()]))
        .unwrap();
    let truth = h.server.truth();
    let members = &truth.stream("group_member").unwrap().keys;
    assert!(
        members.iter().all(|k| k[0] != removed_user),
        "a deleted user is no member"
    );
    assert!(
        truth
            .stream("mail_messages")
            .unwrap()
            .keys
            .iter()
            .all(|k| k[1] != removed_user)
    );
    let (listed, _) = h
        .walk(&h.graph(&format!("/groups/{}/members", member_key[1])))
        .await;
    assert!(listed.iter().all(|m| m["id"] != json!(removed_user)));

    let team = before.stream("teams").unwrap().keys.iter().next().unwrap()[0].clone();
    h.server
        .apply(&Mutation::new("groups").remove_ids([team.clone()]))
        .unwrap();
    let truth = h.server.truth();
    assert!(
        !truth
            .stream("teams")
            .unwrap()
            .keys
            .contains(&vec![team.clone()])
    );
    for stream in ["channels", "team_member", "group_member", "group_owner"] {
        assert!(
            truth
                .stream(stream)
                .unwrap()
                .keys
                .iter()
                .all(|k| k[1] != team),
            "{stream}"
        );
    }
    for report in ["mailbox_usage_detail", "office365_active_user_detail"] {
        assert_eq!(
            truth.stream(report),
            before.stream(report),
            "reports are history"
        );
    }
}

#[tokio::test]
async fn renaming_a_user_changes_its_name_and_its_member_rows() {
    let h = Harness::start(MockConfig::default()).await;
    let member = h
        .server
        .truth()
        .stream("group_member")
        .unwrap()
        .keys
        .iter()
        .next()
        .unwrap()
        .clone();
    let name = |rows: &[Value], id: &str| {
        rows.iter()
            .find(|r| r["id"] == json!(id))
            .map(|r| r["displayName"].clone())
    };
    let (users, _) = h.walk(&h.graph("/users?$top=999")).await;
    let (members, _) = h
        .walk(&h.graph(&format!("/groups/{}/members", member[1])))
        .await;
    assert_eq!(
        name(&users, &member[0]),
        name(&members, &member[0]),
        "members show the user"
    );
    let before = h.server.snapshot();
    h.server
        .apply(&Mutation::new("users").change_ids([member[0].clone()]))
        .unwrap();
    let (renamed, _) = h.walk(&h.graph("/users?$top=999")).await;
    assert_ne!(name(&users, &member[0]), name(&renamed, &member[0]));
    let changes = diff(&before, &h.server.snapshot());
    assert_eq!(changes.stream("users"), counts(0, 1, 0));
    assert!(changes.stream("group_member").updates >= 1);
    assert_eq!(changes.stream("mail_messages"), counts(0, 0, 0));
}

#[tokio::test]
async fn audit_rows_added_by_a_mutation_come_after_every_generated_one() {
    let h = Harness::start(MockConfig::default()).await;
    let (before, _) = h.walk(&h.graph("/auditLogs/signIns?$top=1000")).await;
    let newest = before
        .iter()
        .map(|r| r["createdDateTime"].as_str().unwrap().to_string())
        .max()
        .unwrap();
    let outcome = h
        .server
        .apply(&Mutation::new("audit_logs_signins").added(3))
        .unwrap();
    let filter = support::urlencode(&format!("createdDateTime ge {newest}"));
    let (after, _) = h
        .walk(&h.graph(&format!("/auditLogs/signIns?$filter={filter}")))
        .await;
    let ids: BTreeSet<&str> = after.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert!(outcome.added.iter().all(|id| ids.contains(id.as_str())));
    assert_eq!(
        after.len(),
        4,
        "the newest generated row and the three new ones"
    );
}

#[tokio::test]
async fn request_counts_give_records_served_per_stream() {
    let h = Harness::start(MockConfig::default()).await;
    let (_, last) = h.walk(&h.graph("/users/delta")).await;
    let first = h.server.requests();
    assert_eq!(first.records("users"), 120);
    h.server
        .apply(&Mutation::new("users").changed(1).removed(1))
        .unwrap();
    h.walk(last["@odata.deltaLink"].as_str().unwrap()).await;
    let second = h.server.requests();
    assert_eq!(
        second.records("users") - first.records("users"),
        2,
        "tombstones count too"
    );
    assert_eq!(second.requests("users"), first.requests("users") + 1);
}

#[tokio::test]
async fn standard_mutation_expects_what_the_truth_says_changed() {
    let h = Harness::start(MockConfig::default()).await;
    let before_truth = h.server.truth();
    let before = h.server.snapshot();
    let expected = graph_mock::scenario::standard_mutation(&h.server).unwrap();
    assert_eq!(expected, diff(&before, &h.server.snapshot()));
    let after_truth = h.server.truth();
    for (stream, c) in &expected.streams {
        let rows = |t: &graph_mock::Truth| t.stream(stream).unwrap().rows;
        assert_eq!(
            rows(&after_truth),
            rows(&before_truth) + c.inserts - c.deletes,
            "{stream}"
        );
    }
    let s = |stream: &str| expected.stream(stream);
    assert_eq!(s("users"), counts(2, 2, 2));
    assert_eq!(s("groups"), counts(1, 1, 1));
    assert_eq!(s("applications"), counts(0, 1, 0));
    // Per user stream: 3 added, 2 changed, 2 removed among two users that stay, plus every item
    // of the 2 added users (inserts) and of the 2 removed users (deletes).
    assert_eq!(s("mail_messages"), counts(3 + 2 * 4, 2, 2 + 2 * 4));
    assert_eq!(s("calendar_events"), counts(3 + 2 * 3, 2, 2 + 2 * 3));
    assert_eq!(s("contacts"), counts(3 + 2 * 2, 2, 2 + 2 * 2));
    assert_eq!(s("drive_items"), counts(3 + 2 * 5, 2, 2 + 2 * 5));
    assert_eq!(s("chat_messages"), counts(1, 1, 0));
    assert_eq!(s("audit_logs_directory"), counts(2, 0, 0));
    assert_eq!(s("audit_logs_signins"), counts(3, 0, 0));
    // The removed group was a team with 3 channels and 4 team members.
    assert_eq!(s("teams"), counts(0, 0, 1));
    assert_eq!(s("channels"), counts(0, 0, 3));
    assert_eq!(s("team_member"), counts(0, 0, 4));
    assert!(s("group_member").deletes >= 6 && s("group_owner").deletes >= 2);
    assert_eq!(
        s("mailbox_usage_detail"),
        counts(0, 0, 0),
        "reports are history"
    );

    // The same over HTTP, on a second tenant.
    let other = Harness::start(MockConfig::default()).await;
    let answer: Value = other
        .http
        .post(format!("{}/_admin/scenario", other.server.base_url()))
        .json(&json!({"name": "standard_mutation"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        answer["streams"]["users"],
        json!({"inserts": 2, "updates": 2, "deletes": 2})
    );
}
