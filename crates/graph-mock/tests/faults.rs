//! Each fault at its configured rate over many requests, never more than the bound in a row per URL;
//! Outlook's mailbox concurrency; denied streams and parents.

mod support;

use std::time::Duration;

use graph_mock::{Faults, MockConfig};
use support::Harness;

const REQUESTS: u64 = 400;

/// A tenant with one user per request, so every request has its own small URL.
fn tenant(faults: Faults) -> MockConfig {
    MockConfig::default().users(REQUESTS).faults(faults)
}

/// Counts of outcomes over `REQUESTS` distinct URLs (distinct, so the streak bound does not bias the rate).
async fn outcomes(h: &Harness) -> (Vec<u16>, u64, u64, Vec<Option<String>>) {
    let (mut statuses, mut dropped, mut truncated, mut retry_after) =
        (Vec::new(), 0, 0, Vec::new());
    for user in h.user_ids().iter().take(REQUESTS as usize) {
        match h
            .get(&h.graph(&format!("/users/{user}/contacts")))
            .send()
            .await
        {
            Err(_) => dropped += 1,
            Ok(response) => {
                let status = response.status().as_u16();
                retry_after.push(
                    response
                        .headers()
                        .get("retry-after")
                        .map(|v| v.to_str().unwrap().to_string()),
                );
                match response.bytes().await {
                    Ok(_) => statuses.push(status),
                    Err(_) => truncated += 1,
                }
            }
        }
    }
    (statuses, dropped, truncated, retry_after)
}

/// Within 5 standard deviations of a binomial(REQUESTS, p).
fn near(observed: u64, p: f64) -> bool {
    let n = REQUESTS as f64;
    let sd = (n * p * (1.0 - p)).sqrt();
    (observed as f64 - n * p).abs() <= 5.0 * sd + 1.0
}

fn fresh_connections(h: &mut Harness) {
    // A dropped connection must not be confused with a stale pooled one.
    h.http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
}

#[tokio::test]
async fn throttling_at_its_rate_with_mixed_retry_after() {
    let h = Harness::start(tenant(Faults::default().throttle_rate(0.25))).await;
    let (statuses, _, _, retry_after) = outcomes(&h).await;
    let throttled = statuses.iter().filter(|s| **s == 429).count() as u64;
    assert!(near(throttled, 0.25), "429s: {throttled}/{REQUESTS}");
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count() as u64,
        REQUESTS - throttled
    );
    let on_429: Vec<_> = statuses
        .iter()
        .zip(&retry_after)
        .filter(|(s, _)| **s == 429)
        .map(|(_, r)| r)
        .collect();
    assert!(
        on_429.iter().any(|r| r.as_deref() == Some("1")),
        "seconds form"
    );
    assert!(
        on_429.iter().any(|r| r
            .as_deref()
            .is_some_and(|v| httpdate::parse_http_date(v).is_ok())),
        "date form"
    );
    assert!(on_429.iter().any(|r| r.is_none()), "absent");
    assert_eq!(h.server.requests().count("contacts", 429), throttled);
    assert_eq!(h.server.requests().total, REQUESTS);
}

#[tokio::test]
async fn outages_at_their_rate_as_503_and_504() {
    let h = Harness::start(tenant(Faults::default().unavailable_rate(0.2))).await;
    let (statuses, ..) = outcomes(&h).await;
    let s503 = statuses.iter().filter(|s| **s == 503).count() as u64;
    let s504 = statuses.iter().filter(|s| **s == 504).count() as u64;
    assert!(near(s503 + s504, 0.2), "503/504: {}", s503 + s504);
    assert!(s503 > 0 && s504 > 0);
}

#[tokio::test]
async fn dropped_connections_at_their_rate() {
    let mut h = Harness::start(tenant(Faults::default().drop_rate(0.2))).await;
    fresh_connections(&mut h);
    let (statuses, dropped, truncated, _) = outcomes(&h).await;
    assert!(near(dropped, 0.2), "dropped: {dropped}");
    assert_eq!(truncated, 0);
    assert_eq!(statuses.len() as u64, REQUESTS - dropped);
    assert_eq!(h.server.requests().by_stream["contacts"].dropped, dropped);
}

#[tokio::test]
async fn truncated_bodies_at_their_rate() {
    let mut h = Harness::start(tenant(Faults::default().truncate_rate(0.2))).await;
    fresh_connections(&mut h);
    let (_, dropped, truncated, _) = outcomes(&h).await;
    assert!(near(truncated, 0.2), "truncated: {truncated}");
    assert_eq!(dropped, 0);
    assert_eq!(
        h.server.requests().by_stream["contacts"].truncated,
        truncated
    );
}

#[tokio::test]
async fn one_url_is_never_faulted_more_than_three_times_in_a_row() {
    let faults = Faults::default()
        .throttle_rate(0.5)
        .unavailable_rate(0.2)
        .drop_rate(0.1)
        .truncate_rate(0.1);
    let mut h = Harness::start(MockConfig::default().faults(faults)).await;
    fresh_connections(&mut h);
    let url = h.graph("/users?$top=3");
    let (mut streak, mut longest, mut faulted) = (0, 0, 0);
    for _ in 0..200 {
        let ok = match h.get(&url).send().await {
            Ok(r) if r.status() == 200 => r.bytes().await.is_ok(),
            _ => false,
        };
        streak = if ok { 0 } else { streak + 1 };
        faulted += u32::from(!ok);
        longest = longest.max(streak);
    }
    assert!(longest <= Faults::MAX_IN_A_ROW, "longest streak {longest}");
    assert!(
        longest == Faults::MAX_IN_A_ROW && faulted > 100,
        "faults did fire: {faulted}"
    );
}

#[tokio::test]
async fn fifth_concurrent_request_on_a_mailbox_is_throttled() {
    let faults = Faults::default()
        .mailbox_concurrency(true)
        .latency(Duration::from_millis(800));
    let mut h = Harness::start(MockConfig::default().faults(faults)).await;
    h.http = reqwest::Client::new();
    let mut users = h.user_ids().into_iter();
    let (busy, other) = (users.next().unwrap(), users.next().unwrap());
    let mut urls: Vec<String> = (1..=6)
        .map(|top| h.graph(&format!("/users/{busy}/messages?$top={top}")))
        .collect();
    urls.extend((1..=4).map(|top| h.graph(&format!("/users/{other}/events?$top={top}"))));
    let answers = futures::future::join_all(urls.iter().map(|u| async {
        let response = h.get(u).send().await.unwrap();
        (
            u.contains(&busy),
            response.status().as_u16(),
            response.text().await.unwrap(),
        )
    }))
    .await;
    let busy_ok = answers.iter().filter(|(b, s, _)| *b && *s == 200).count();
    let busy_429: Vec<_> = answers.iter().filter(|(b, s, _)| *b && *s == 429).collect();
    assert_eq!(busy_ok, 4, "{answers:?}");
    assert_eq!(busy_429.len(), 2);
    assert!(
        busy_429
            .iter()
            .all(|(_, _, body)| body.contains("ApplicationThrottled")
                && body.contains("MailboxConcurrency"))
    );
    assert!(
        answers
            .iter()
            .filter(|(b, ..)| !b)
            .all(|(_, s, _)| *s == 200),
        "other mailbox unaffected"
    );
}

#[tokio::test]
async fn denied_streams_and_parents_and_unlicensed_mailboxes() {
    let faults = Faults::default()
        .deny_stream("applications")
        .deny_parent("users", 1)
        .unlicensed_mailbox(2);
    let h = Harness::start(MockConfig::default().faults(faults)).await;
    let truth = h.server.truth();
    let users = h.user_ids();
    let h = &h;
    let code = |url: String| async move {
        let r = h.get(&url).send().await.unwrap();
        let status = r.status().as_u16();
        let body: serde_json::Value = r.json().await.unwrap();
        (
            status,
            body["error"]["code"].as_str().unwrap_or("").to_string(),
        )
    };
    assert_eq!(
        code(h.graph("/applications")).await,
        (403, "Authorization_RequestDenied".into())
    );
    assert!(truth.stream("applications").unwrap().denied);
    assert_eq!(truth.stream("applications").unwrap().rows, 0);
    // Ids encode indices, not order: find users 1 and 2 by what the server says about them.
    let mut denied = Vec::new();
    let mut unlicensed = Vec::new();
    for id in &users {
        match code(h.graph(&format!("/users/{id}/messages"))).await {
            (200, _) => {}
            (403, c) if c == "Authorization_RequestDenied" => denied.push(id.clone()),
            (404, c) if c == "MailboxNotEnabledForRESTAPI" => unlicensed.push(id.clone()),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((denied.len(), unlicensed.len()), (1, 1));
    let messages = truth.stream("mail_messages").unwrap();
    let mut skipped = messages.skipped_parents.clone();
    skipped.sort();
    let mut expected = vec![denied[0].clone(), unlicensed[0].clone()];
    expected.sort();
    assert_eq!(skipped, expected);
    // The unlicensed mailbox only affects Outlook streams; the denied parent affects every child.
    assert_eq!(
        code(h.graph(&format!("/users/{}/drive/root/delta", unlicensed[0])))
            .await
            .0,
        200
    );
    assert_eq!(
        code(h.graph(&format!("/users/{}/drive/root/delta", denied[0])))
            .await
            .0,
        403
    );
}

/// Graph's identity budget: directory reads cost their declared resource units (one less with
/// `$select`), every answer says so, the usage shows past 80%, and an empty bucket answers 429
/// with a Retry-After until it refills; streams outside the budget are never charged.
#[tokio::test]
async fn the_identity_budget_charges_declared_units_and_refills() {
    let faults = Faults {
        identity_budget: Some(10),
        identity_window: Duration::from_secs(2),
        ..Faults::default()
    };
    let h = Harness::start(MockConfig::default().faults(faults)).await;
    let users = h.graph("/users?$top=1");
    let mut statuses = Vec::new();
    let mut last = None;
    for _ in 0..6 {
        let response = h.get(&users).send().await.unwrap();
        statuses.push(response.status().as_u16());
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_string())
        };
        assert_eq!(header("x-ms-resource-unit").as_deref(), Some("2"));
        assert_eq!(
            header("x-ms-throttle-scope").as_deref(),
            Some("Tenant_Application/ReadOnly")
        );
        last = Some((
            header("retry-after"),
            header("x-ms-throttle-limit-percentage"),
        ));
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429], "10 units, 2 each");
    let (retry_after, used) = last.unwrap();
    assert_eq!(retry_after.as_deref(), Some("1"), "2 units refill in 0.4 s");
    assert!(used.unwrap().parse::<f64>().unwrap() > 1.0);
    // `$select` costs one unit less; a stream outside the budget is not charged at all.
    let selected = h
        .get(&h.graph("/users?$top=1&$select=id"))
        .send()
        .await
        .unwrap();
    assert_eq!(selected.status(), 429, "the bucket is still empty");
    assert_eq!(selected.headers()["x-ms-resource-unit"], "1");
    let chats = h.get(&h.graph("/chats")).send().await.unwrap();
    assert_eq!(chats.status(), 200);
    assert!(chats.headers().get("x-ms-resource-unit").is_none());
    tokio::time::sleep(Duration::from_millis(600)).await;
    let refilled = h.get(&users).send().await.unwrap();
    assert_eq!(refilled.status(), 200, "0.6 s refill 3 units");
}
