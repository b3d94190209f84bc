//! The delta endpoints of issue 14: directory objects, mail and contact folders, calendar view,
//! drive items; rounds after mutations; tombstones; 410 codes; `Prefer: odata.maxpagesize`.

mod support;

use std::collections::BTreeSet;

use graph_mock::{MockConfig, Mutation};
use serde_json::{Value, json};
use support::{Harness, urlencode};

/// Follows a chain sending `Prefer: odata.maxpagesize=<n>`; returns rows, pages and the deltaLink.
async fn walk_prefer(h: &Harness, url: &str, size: u32) -> (Vec<Value>, usize, String) {
    let (mut rows, mut pages, mut next) = (Vec::new(), 0, url.to_string());
    loop {
        let response = h
            .get(&next)
            .header("Prefer", format!("odata.maxpagesize={size}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{next}");
        let page: Value = response.json().await.unwrap();
        let value = page["value"].as_array().unwrap();
        assert!(
            value.len() <= size as usize,
            "{next}: page over the preference"
        );
        rows.extend(value.iter().cloned());
        pages += 1;
        match page["@odata.nextLink"].as_str() {
            Some(link) => next = link.to_string(),
            None => {
                let link = page["@odata.deltaLink"]
                    .as_str()
                    .expect("deltaLink on the last page");
                return (rows, pages, link.to_string());
            }
        }
    }
}

async fn error_of(h: &Harness, url: &str) -> (u16, String) {
    let response = h.get(url).send().await.unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or_default();
    (
        status,
        body["error"]["code"].as_str().unwrap_or("").to_string(),
    )
}

fn ids(rows: &[Value]) -> BTreeSet<String> {
    rows.iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

fn truth_ids(h: &Harness, stream: &str, parent: Option<&str>) -> BTreeSet<String> {
    let truth = h.server.truth();
    truth
        .stream(stream)
        .unwrap()
        .keys
        .iter()
        .filter(|k| parent.is_none_or(|p| k[1] == p))
        .map(|k| k[0].clone())
        .collect()
}

#[tokio::test]
async fn applications_and_service_principals_have_directory_delta() {
    let h = Harness::start(MockConfig::default()).await;
    for (path, stream) in [
        ("/applications/delta", "applications"),
        ("/servicePrincipals/delta", "service_principals"),
    ] {
        let (rows, last) = h
            .walk(&h.graph(&format!("{path}?$select=id,displayName")))
            .await;
        assert_eq!(ids(&rows), truth_ids(&h, stream, None));
        assert!(
            rows.iter().all(|r| r.as_object().unwrap().len() == 2),
            "$select honoured"
        );
        let link = last["@odata.deltaLink"].as_str().unwrap().to_string();
        let outcome = h
            .server
            .apply(&Mutation::new(stream).changed(1).removed(1).added(1))
            .unwrap();
        let (changes, _) = h.walk(&link).await;
        assert_eq!(changes.len(), 3, "{changes:?}");
        let removed: Vec<_> = changes
            .iter()
            .filter(|r| r.get("@removed").is_some())
            .collect();
        assert_eq!(removed.len(), 1);
        assert_eq!(removed[0]["id"], json!(outcome.removed[0]));
        assert!(ids(&changes).contains(&outcome.added[0]));
        assert!(
            changes
                .iter()
                .filter(|r| r.get("@removed").is_none())
                .all(|r| r.get("appId").is_none()),
            "the link keeps $select"
        );
    }
    h.server.expire_delta_tokens();
    let (status, code) =
        error_of(&h, &h.graph("/applications/delta?$deltatoken=bm9uc2Vuc2U")).await;
    assert_eq!((status, code.as_str()), (410, "syncStateNotFound"));
}

/// Every folder id of a user's mailbox, walking childFolders.
async fn mail_folders(h: &Harness, user: &str) -> Vec<Value> {
    let (mut all, mut queue) = (
        Vec::new(),
        vec![h.graph(&format!(
            "/users/{user}/mailFolders?includeHiddenFolders=true"
        ))],
    );
    while let Some(url) = queue.pop() {
        let (folders, _) = h.walk(&url).await;
        for folder in folders {
            let id = folder["id"].as_str().unwrap().to_string();
            if folder["childFolderCount"].as_u64().unwrap() > 0 {
                queue.push(h.graph(&format!(
                    "/users/{user}/mailFolders/{id}/childFolders?includeHiddenFolders=true"
                )));
            }
            all.push(folder);
        }
    }
    all
}

#[tokio::test]
async fn mail_is_read_per_folder_and_rounds_report_changes() {
    let h = Harness::start(MockConfig::default().sizes(graph_mock::Sizes {
        messages_per_user: 30,
        ..Default::default()
    }))
    .await;
    let user = h.user_ids().remove(3);
    let (visible, _) = h
        .walk(&h.graph(&format!("/users/{user}/mailFolders")))
        .await;
    let folders = mail_folders(&h, &user).await;
    assert_eq!(
        visible.len(),
        5,
        "hidden folders only with includeHiddenFolders"
    );
    assert_eq!(
        folders.len(),
        8,
        "5 visible + 1 hidden at the top, 2 nested"
    );
    assert!(folders.iter().any(|f| f["isHidden"] == json!(true)));
    let mut all = BTreeSet::new();
    let mut links = Vec::new();
    for folder in &folders {
        let fid = folder["id"].as_str().unwrap();
        let (rows, _, link) = walk_prefer(
            &h,
            &h.graph(&format!("/users/{user}/mailFolders/{fid}/messages/delta")),
            3,
        )
        .await;
        assert_eq!(
            rows.len() as u64,
            folder["totalItemCount"].as_u64().unwrap()
        );
        assert!(rows.iter().all(|r| r["parentFolderId"] == json!(fid)));
        all.extend(ids(&rows));
        links.push(link);
    }
    assert_eq!(
        all,
        truth_ids(&h, "mail_messages", Some(&user)),
        "the folders hold every message"
    );

    let outcome = h
        .server
        .apply(
            &Mutation::new("mail_messages")
                .parent(user.clone())
                .changed(2)
                .removed(1)
                .added(2),
        )
        .unwrap();
    let mut changes = Vec::new();
    for link in &links {
        changes.extend(walk_prefer(&h, link, 10).await.0);
    }
    assert_eq!(changes.len(), 5, "{changes:?}");
    let removed: Vec<_> = changes
        .iter()
        .filter(|r| r.get("@removed").is_some())
        .collect();
    assert_eq!(removed[0]["@removed"]["reason"], "deleted");
    assert_eq!(removed[0]["id"], json!(outcome.removed[0]));
    assert_eq!(truth_ids(&h, "mail_messages", Some(&user)).len(), 31);

    let latest = h
        .page(&h.graph(&format!(
            "/users/{user}/mailFolders/inbox/messages/delta?$deltatoken=latest"
        )))
        .await;
    assert_eq!(latest["value"], json!([]));
    h.server.expire_delta_tokens();
    let (status, code) = error_of(&h, &links[0]).await;
    assert_eq!((status, code.as_str()), (410, "syncStateNotFound"));
    let (status, _) = error_of(
        &h,
        &h.graph(&format!(
            "/users/{user}/mailFolders/not-a-folder/messages/delta"
        )),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn contacts_come_from_the_default_folder_and_each_contact_folder() {
    let h = Harness::start(MockConfig::default().sizes(graph_mock::Sizes {
        contacts_per_user: 12,
        ..Default::default()
    }))
    .await;
    let user = h.user_ids().remove(0);
    let (folders, _) = h
        .walk(&h.graph(&format!("/users/{user}/contactFolders")))
        .await;
    assert_eq!(folders.len(), 2);
    let (mut all, _) = h
        .walk(&h.graph(&format!("/users/{user}/contacts/delta")))
        .await;
    for folder in &folders {
        let fid = folder["id"].as_str().unwrap();
        let (rows, _) = h
            .walk(&h.graph(&format!(
                "/users/{user}/contactFolders/{fid}/contacts/delta"
            )))
            .await;
        assert!(rows.iter().all(|r| r["parentFolderId"] == json!(fid)));
        all.extend(rows);
    }
    assert_eq!(all.len(), 12, "no contact twice");
    assert_eq!(ids(&all), truth_ids(&h, "contacts", Some(&user)));
}

#[tokio::test]
async fn calendar_view_delta_keeps_its_window_and_refuses_select() {
    let h = Harness::start(MockConfig::default().sizes(graph_mock::Sizes {
        events_per_user: 40,
        ..Default::default()
    }))
    .await;
    let user = h.user_ids().remove(1);
    let base = format!("/users/{user}/calendarView/delta");
    let (status, code) = error_of(&h, &h.graph(&base)).await;
    assert_eq!(
        (status, code.as_str()),
        (400, "ErrorInvalidParameter"),
        "a window is required"
    );
    let now = chrono::Utc::now();
    let window = |days_back: i64, days_on: i64| {
        let start = (now - chrono::TimeDelta::days(days_back)).format("%Y-%m-%dT%H:%M:%SZ");
        let end = (now + chrono::TimeDelta::days(days_on)).format("%Y-%m-%dT%H:%M:%SZ");
        h.graph(&format!("{base}?startDateTime={start}&endDateTime={end}"))
    };
    let (status, code) = error_of(&h, &format!("{}&$select=subject", window(365, 365))).await;
    assert_eq!((status, code.as_str()), (400, "ErrorInvalidUrlQuery"));
    let (rows, _, link) = walk_prefer(&h, &window(365, 365), 7).await;
    assert_eq!(
        ids(&rows),
        truth_ids(&h, "calendar_events", Some(&user)),
        "±365 days covers every event"
    );
    // Only the next 100 days: events starting later, or ended before now, are not listed.
    let (future, _, future_link) = walk_prefer(&h, &window(0, 100), 50).await;
    assert!(!future.is_empty() && future.len() < rows.len());
    for event in &future {
        let end = event["end"]["dateTime"].as_str().unwrap();
        let start = event["start"]["dateTime"].as_str().unwrap();
        let limit = (now + chrono::TimeDelta::days(100))
            .format("%Y-%m-%dT%H:%M:%S")
            .to_string();
        assert!(
            *start < *limit && *end > *now.format("%Y-%m-%dT%H:%M:%S").to_string(),
            "{event}"
        );
    }
    // Change every event: the wide window's round lists them all, the narrow one only its own.
    h.server
        .apply(
            &Mutation::new("calendar_events")
                .parent(user.clone())
                .changed(40),
        )
        .unwrap();
    assert_eq!(walk_prefer(&h, &link, 100).await.0.len(), 40);
    assert_eq!(
        ids(&walk_prefer(&h, &future_link, 100).await.0),
        ids(&future)
    );
}

#[tokio::test]
async fn drive_deletions_are_the_deleted_facet() {
    let h = Harness::start(MockConfig::default()).await;
    let user = h.user_ids().remove(2);
    let (items, last) = h
        .walk(&h.graph(&format!("/users/{user}/drive/root/delta")))
        .await;
    assert!(
        items.iter().all(|i| i["deleted"].is_null()),
        "live items carry no deleted facet"
    );
    let link = last["@odata.deltaLink"].as_str().unwrap().to_string();
    let outcome = h
        .server
        .apply(
            &Mutation::new("drive_items")
                .parent(user.clone())
                .removed(1)
                .added(1),
        )
        .unwrap();
    let (changes, _) = h.walk(&link).await;
    let gone: Vec<_> = changes.iter().filter(|r| !r["deleted"].is_null()).collect();
    assert_eq!(gone.len(), 1);
    assert_eq!(
        gone[0],
        &json!({"id": outcome.removed[0], "deleted": {"state": "deleted"}})
    );
    assert!(changes.iter().all(|r| r.get("@removed").is_none()));
    assert!(ids(&changes).contains(&outcome.added[0]));
    let latest = h
        .page(&h.graph(&format!("/users/{user}/drive/root/delta?token=latest")))
        .await;
    assert!(
        latest["@odata.deltaLink"]
            .as_str()
            .unwrap()
            .contains("token=")
    );
    h.server.expire_delta_tokens();
    let (status, code) = error_of(&h, &link).await;
    assert_eq!(
        (status, code.as_str()),
        (410, "resyncChangesApplyDifferences")
    );
}

#[tokio::test]
async fn chat_messages_filter_newest_first_and_mutations_come_after() {
    let h = Harness::start(MockConfig::default()).await;
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
    let base = h.graph(&format!("/chats/{chat}/messages"));
    let ordered = format!(
        "{base}?$orderby={}&$top=2",
        urlencode("lastModifiedDateTime desc")
    );
    let (rows, _) = h.walk(&ordered).await;
    let stamps: Vec<&str> = rows
        .iter()
        .map(|r| r["lastModifiedDateTime"].as_str().unwrap())
        .collect();
    assert!(stamps.windows(2).all(|w| w[0] >= w[1]), "{stamps:?}");
    let newest = stamps[0].to_string();
    let since = |t: &str| {
        format!(
            "{ordered}&$filter={}",
            urlencode(&format!("lastModifiedDateTime gt {t}"))
        )
    };
    assert_eq!(h.walk(&since(&newest)).await.0, Vec::<Value>::new());

    let outcome = h
        .server
        .apply(
            &Mutation::new("chat_messages")
                .parent(chat.clone())
                .changed(1)
                .added(2),
        )
        .unwrap();
    let (fresh, _) = h.walk(&since(&newest)).await;
    let mut expected: BTreeSet<String> = outcome.changed.iter().cloned().collect();
    expected.extend(outcome.added.iter().cloned());
    assert_eq!(ids(&fresh), expected);
    let (status, code) = error_of(
        &h,
        &format!(
            "{base}?$filter={}",
            urlencode(&format!("lastModifiedDateTime gt {newest}"))
        ),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (400, "BadRequest"),
        "gt needs the orderby"
    );
}
