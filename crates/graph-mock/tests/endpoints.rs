//! Delta rounds with @removed and 410, $batch rules, report redirect and CSV.

mod support;

use std::time::{Duration, Instant};

use graph_mock::{Faults, MockConfig};
use serde_json::{Value, json};
use support::Harness;

#[tokio::test]
async fn users_delta_reports_changes_and_removals_then_410_when_expired() {
    let h = Harness::start(MockConfig::default()).await;
    let (rows, last) = h.walk(&h.graph("/users/delta?$top=50")).await;
    assert_eq!(rows.len(), 120);
    let delta_link = last["@odata.deltaLink"]
        .as_str()
        .expect("deltaLink")
        .to_string();
    assert!(last.get("@odata.nextLink").is_none());

    let nothing = h.page(&delta_link).await;
    assert_eq!(nothing["value"], json!([]), "no changes yet");

    let outcome = h.server.mutate("users", 2, 1).unwrap();
    let (changes, last) = h.walk(&delta_link).await;
    assert_eq!(changes.len(), 3, "{changes:?}");
    let removed: Vec<&Value> = changes
        .iter()
        .filter(|r| r.get("@removed").is_some())
        .collect();
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0]["id"], json!(outcome.removed[0]));
    assert_eq!(removed[0]["@removed"]["reason"], "changed");
    let changed: Vec<&str> = changes
        .iter()
        .filter(|r| r.get("@removed").is_none())
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let mut expected: Vec<&str> = outcome.changed.iter().map(String::as_str).collect();
    let mut changed_sorted = changed.clone();
    changed_sorted.sort();
    expected.sort();
    assert_eq!(changed_sorted, expected);
    assert_eq!(h.server.truth().stream("users").unwrap().rows, 119);
    let (all, _) = h.walk(&h.graph("/users")).await;
    assert!(all.iter().all(|u| u["id"] != json!(outcome.removed[0])));

    let next_link = last["@odata.deltaLink"].as_str().unwrap().to_string();
    assert_eq!(h.page(&next_link).await["value"], json!([]));
    let latest = h.page(&h.graph("/groups/delta?$deltatoken=latest")).await;
    assert_eq!(latest["value"], json!([]));
    assert!(latest["@odata.deltaLink"].is_string());

    h.server.expire_delta_tokens();
    for url in [next_link, h.graph("/users/delta?$deltatoken=bm9uc2Vuc2U")] {
        let gone = h.get(&url).send().await.unwrap();
        assert_eq!(gone.status(), 410, "{url}");
        let body: Value = gone.json().await.unwrap();
        assert_eq!(body["error"]["code"], "syncStateNotFound");
    }
}

#[tokio::test]
async fn drive_delta_ends_in_delta_link_and_unknown_token_is_410() {
    let h = Harness::start(MockConfig::default()).await;
    let user = h.user_ids().remove(0);
    let (items, last) = h
        .walk(&h.graph(&format!("/users/{user}/drive/root/delta")))
        .await;
    assert_eq!(items.len(), 5);
    let link = last["@odata.deltaLink"].as_str().unwrap();
    assert_eq!(h.page(link).await["value"], json!([]));
    let gone = h
        .get(&h.graph(&format!(
            "/users/{user}/drive/root/delta?$deltatoken=expired"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 410);
    let body: Value = gone.json().await.unwrap();
    assert_eq!(body["error"]["code"], "resyncChangesApplyDifferences");
}

async fn batch(h: &Harness, body: Value) -> (u16, Value) {
    let response = h
        .http
        .post(h.graph("/$batch"))
        .bearer_auth(&h.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn batch_limits_dependencies_and_per_item_answers() {
    let h = Harness::start(MockConfig::default()).await;
    let items = |n: usize| {
        (0..n)
            .map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/users?$top=1"}))
            .collect::<Vec<_>>()
    };
    assert_eq!(batch(&h, json!({"requests": items(21)})).await.0, 400);
    let (status, body) = batch(&h, json!({"requests": [
        {"id": "1", "method": "GET", "url": "/users"}, {"id": "1", "method": "GET", "url": "/groups"}]})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("BadRequest"))
    );
    let (status, body) = batch(&h, json!({"requests": items(20)})).await;
    assert_eq!(status, 200);
    assert_eq!(body["responses"].as_array().unwrap().len(), 20);

    let (status, body) = batch(&h, json!({"requests": [
        {"id": "a", "method": "GET", "url": "/users?$top=2"},
        {"id": "b", "method": "GET", "url": "/noSuchCollection"},
        {"id": "c", "method": "GET", "url": "/groups", "dependsOn": ["b"]},
        {"id": "d", "method": "GET", "url": "users?$count=true", "headers": {"ConsistencyLevel": "eventual"}, "dependsOn": ["a"]},
        {"id": "e", "method": "GET", "url": "/directoryRoles?$top=1"},
    ]})).await;
    assert_eq!(status, 200);
    let by_id = |id: &str| {
        body["responses"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(by_id("a")["status"], 200);
    assert_eq!(by_id("a")["body"]["value"].as_array().unwrap().len(), 2);
    assert!(
        by_id("a")["headers"]["content-type"]
            .as_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(by_id("b")["status"], 404);
    assert_eq!(by_id("c")["status"], 424);
    assert_eq!(by_id("d")["status"], 200);
    assert_eq!(by_id("d")["body"]["@odata.count"], 120);
    assert_eq!(by_id("e")["status"], 400);
    assert_eq!(
        by_id("e")["body"]["error"]["code"],
        "Request_UnsupportedQuery"
    );
}

#[tokio::test]
async fn batch_items_can_be_throttled_one_by_one() {
    let h =
        Harness::start(MockConfig::default().faults(Faults::default().throttle_rate(1.0))).await;
    let body = json!({"requests": [
        {"id": "1", "method": "GET", "url": "/users?$top=1"},
        {"id": "2", "method": "GET", "url": "/groups?$top=1"}]});
    // The envelope itself is throttled up to the bound, then passes.
    let mut answer = batch(&h, body.clone()).await;
    for _ in 0..Faults::MAX_IN_A_ROW {
        if answer.0 == 200 {
            break;
        }
        assert_eq!(answer.0, 429);
        answer = batch(&h, body.clone()).await;
    }
    assert_eq!(answer.0, 200);
    for item in answer.1["responses"].as_array().unwrap() {
        assert_eq!(item["status"], 429, "{item}");
        assert_eq!(item["body"]["error"]["code"], "TooManyRequests");
    }
}

#[tokio::test]
async fn batch_items_are_served_concurrently_under_the_mailbox_rule() {
    let latency = Duration::from_millis(200);
    let faults = Faults::default().latency(latency).mailbox_concurrency(true);
    let h = Harness::start(MockConfig::default().faults(faults)).await;
    let users: Vec<String> = h.user_ids().into_iter().take(20).collect();
    // 20 mailboxes, one item each: served side by side, so about one latency, not twenty.
    let items: Vec<Value> = users
        .iter()
        .enumerate()
        .map(|(i, u)| json!({"id": i.to_string(), "method": "GET", "url": format!("/users/{u}/messages")}))
        .collect();
    let started = Instant::now();
    let (status, body) = batch(&h, json!({ "requests": items })).await;
    let took = started.elapsed();
    assert_eq!(status, 200);
    let responses = body["responses"].as_array().unwrap();
    assert!(responses.iter().all(|r| r["status"] == 200), "{body}");
    assert!(took >= latency, "each item pays the latency: {took:?}");
    assert_eq!(h.server.requests().peak_in_flight, 20, "all 20 at once");
    assert!(
        took < latency * 5,
        "20 items at 200 ms in {took:?}: not served one after another (4 s)"
    );
    // 6 items on one mailbox at once: 4 slots, so two get their own 429 inside the batch.
    let busy = &users[0];
    let items: Vec<Value> = (1..=6)
        .map(|top| json!({"id": top.to_string(), "method": "GET", "url": format!("/users/{busy}/messages?$top={top}")}))
        .collect();
    let (status, body) = batch(&h, json!({ "requests": items })).await;
    assert_eq!(status, 200);
    let statuses: Vec<u64> = body["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 4, "{body}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 2, "{body}");
    // dependsOn still orders: `b` runs after `a` succeeded, `c` waits on a failure and gets 424.
    let started = Instant::now();
    let (_, body) = batch(
        &h,
        json!({"requests": [
            {"id": "c", "method": "GET", "url": "/users?$top=1", "dependsOn": ["x"]},
            {"id": "b", "method": "GET", "url": "/users?$top=1", "dependsOn": ["a"]},
            {"id": "a", "method": "GET", "url": "/users?$top=2"},
            {"id": "x", "method": "GET", "url": "/noSuchCollection"},
        ]}),
    )
    .await;
    let status_of = |id: &str| {
        body["responses"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(
        [
            status_of("a"),
            status_of("b"),
            status_of("c"),
            status_of("x")
        ],
        [200, 200, 424, 404]
    );
    assert!(started.elapsed() >= latency * 2, "b ran after a");
}

#[tokio::test]
async fn reports_redirect_to_a_csv_served_without_auth() {
    let h = Harness::start(MockConfig::default()).await;
    let catalog = stream_spec::Catalog::embedded();
    let truth = h.server.truth();
    for spec in catalog
        .streams()
        .iter()
        .filter(|s| s.kind == stream_spec::StreamKind::Report)
    {
        let response = h.get(&h.graph(&spec.path)).send().await.unwrap();
        assert_eq!(response.status(), 302, "{}", spec.path);
        let location = response.headers()["location"].to_str().unwrap().to_string();
        assert!(location.starts_with(h.server.base_url()));
        let csv = h.http.get(&location).send().await.unwrap();
        assert_eq!(csv.status(), 200);
        assert_eq!(csv.headers()["content-type"], "application/octet-stream");
        let text = csv.text().await.unwrap();
        let text = text.strip_prefix('\u{feff}').expect("UTF-8 BOM");
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_string)
            .collect();
        assert_eq!(
            header,
            spec.fields
                .iter()
                .map(|f| f.graph.clone())
                .collect::<Vec<_>>()
        );
        let keys: std::collections::BTreeSet<Vec<String>> = reader
            .records()
            .map(|r| {
                let r = r.unwrap();
                spec.primary_key
                    .iter()
                    .map(|k| {
                        let graph = &spec.field(k).unwrap().graph;
                        r[header.iter().position(|h| h == graph).unwrap()].to_string()
                    })
                    .collect()
            })
            .collect();
        assert_eq!(
            &keys,
            &truth.stream(&spec.stream).unwrap().keys,
            "{}",
            spec.stream
        );
    }
    let bad = h
        .get(&h.graph("/reports/getOffice365ActiveUserDetail(period='D8')"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn admin_endpoints_serve_truth_counts_and_mutations() {
    let h = Harness::start(MockConfig::default()).await;
    let base = h.server.base_url().to_string();
    h.page(&h.graph("/groups")).await;
    let truth: Value = h
        .http
        .get(format!("{base}/_admin/truth"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(truth["streams"]["users"]["rows"], 120);
    assert_eq!(
        truth["streams"]["mail_messages"]["primary_key"],
        json!(["id", "user_id"])
    );
    let counts: Value = h
        .http
        .get(format!("{base}/_admin/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(counts["by_stream"]["groups"]["by_status"]["200"], 1);
    assert_eq!(counts["total"], 1);
    let mutated: Value = h
        .http
        .post(format!("{base}/_admin/mutate"))
        .json(&json!({"stream": "groups", "changed": 1, "removed": 2}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(mutated["removed"].as_array().unwrap().len(), 2);
    assert_eq!(h.server.truth().stream("groups").unwrap().rows, 10);
    let refused = h
        .http
        .post(format!("{base}/_admin/mutate"))
        .json(&json!({"stream": "teams", "changed": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
}
