//! Extraction over real HTTP against graph-mock on 127.0.0.1.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use graph_extract::auth::{self, AccessToken, AuthContext, AuthError, TokenProvider};
use graph_extract::{ExtractError, Extractor};
use graph_mock::auth::AuthConfig;
use graph_mock::{Faults, MockConfig};
use stream_spec::Catalog;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stream_equals_the_truth_under_faults_and_token_expiry() {
    faulty_run(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stream_equals_the_truth_under_faults_with_batch() {
    faulty_run(true).await;
}

async fn faulty_run(use_batch: bool) {
    let mock = start(
        MockConfig::default()
            .faults(Faults::every_kind())
            .auth(AuthConfig::default().with_token_ttl(Duration::from_secs(2))),
    )
    .await;
    let streams = all_streams();
    let names: Vec<&str> = streams.iter().map(String::as_str).collect();
    let collected = run(
        config_for(
            &mock,
            &format!(r#""concurrency":8,"use_batch":{use_batch}"#),
        ),
        &names,
    )
    .await;
    let stats = collected.result.expect("run succeeds");
    assert!(stats.skips.is_empty(), "nothing refused: {:?}", stats.skips);
    assert_matches_truth(&mock.truth(), &names, &collected.pages);

    let retries: u64 = stats.streams.values().map(|s| s.retries).sum::<u64>() + stats.batch.retries;
    let throttled: u64 =
        stats.streams.values().map(|s| s.throttled).sum::<u64>() + stats.batch.throttled;
    assert!(
        retries > 0 && throttled > 0,
        "faults were met and retried: {stats:?}"
    );
    let requests = mock.requests();
    let sum = |f: &dyn Fn(&graph_mock::StreamRequests) -> u64| {
        requests.by_stream.values().map(f).sum::<u64>()
    };
    let dropped = sum(&|s| s.dropped);
    let truncated = sum(&|s| s.truncated);
    let unavailable = sum(&|s| {
        s.by_status.get(&503).copied().unwrap_or(0) + s.by_status.get(&504).copied().unwrap_or(0)
    });
    // With $batch only ~70 HTTP requests go out (items meet 429/503 instead): too few to count on.
    if !use_batch {
        assert!(
            dropped > 0 && truncated > 0 && unavailable > 0,
            "every fault kind fired: {requests:?}"
        );
    }
    for (stream, s) in &stats.streams {
        let truth = mock.truth().stream(stream).unwrap().rows;
        assert_eq!(s.rows, truth, "stats rows of {stream}");
    }
    // Every chain (a parent's pages, a top-level stream's, a report's) says on exactly one page,
    // its last, how many pages it had; under retries and `$batch` alike.
    // (stream, parent) -> (pages seen, what their chain_pages said)
    type Chains<'a> = std::collections::BTreeMap<(&'a str, Option<&'a str>), (u32, Vec<u32>)>;
    let mut chains = Chains::new();
    for page in &collected.pages {
        let chain = chains
            .entry((&*page.stream, page.parent.as_ref().map(|p| p.id())))
            .or_default();
        chain.0 += 1;
        chain.1.extend(page.chain_pages);
    }
    for ((stream, parent), (pages, said)) in &chains {
        assert_eq!(
            said,
            &vec![*pages],
            "chain_pages of {stream} under {parent:?}"
        );
    }
    let drive_links = stats.streams["drive_items"].delta_links;
    let pages_with_links = collected
        .pages
        .iter()
        .filter(|p| &*p.stream == "drive_items" && p.delta_link.is_some())
        .count();
    assert_eq!(drive_links, pages_with_links as u64);
    assert_eq!(
        drive_links,
        mock.truth().stream("users").unwrap().rows,
        "one deltaLink per drive"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_stream_and_parents_are_skipped_while_the_rest_completes() {
    let faults = Faults::default()
        .deny_stream("audit_logs_signins")
        .deny_stream("contacts")
        .deny_parent("groups", 2)
        .unlicensed_mailbox(5);
    let mock = start(MockConfig::default().faults(faults)).await;
    let selection = [
        "users",
        "groups",
        "group_member",
        "audit_logs_signins",
        "contacts",
        "mail_messages",
        "calendar_events",
        "subscribed_skus",
    ];
    let collected = run(config_for(&mock, ""), &selection).await;
    let stats = collected.result.expect("skips do not fail the run");
    let truth = mock.truth();
    let whole: Vec<_> = stats
        .skips
        .iter()
        .filter(|s| s.parent_id.is_none())
        .collect();
    let mut whole_streams: Vec<_> = whole.iter().map(|s| s.stream.as_str()).collect();
    whole_streams.sort();
    assert_eq!(
        whole_streams,
        ["audit_logs_signins", "contacts"],
        "{:#?}",
        stats.skips
    );
    let signins = whole
        .iter()
        .find(|s| s.stream == "audit_logs_signins")
        .unwrap();
    assert_eq!(
        (signins.status, signins.code.as_str()),
        (403, "Authorization_RequestDenied")
    );
    assert_eq!(signins.permission, "AuditLog.Read.All");

    for stream in ["group_member", "mail_messages", "calendar_events"] {
        let mut expected = truth.stream(stream).unwrap().skipped_parents.clone();
        let mut skipped: Vec<String> = stats
            .skips
            .iter()
            .filter(|s| s.stream == stream)
            .map(|s| s.parent_id.clone().expect("a parent skip"))
            .collect();
        expected.sort();
        skipped.sort();
        assert!(!expected.is_empty());
        assert_eq!(skipped, expected, "{stream}");
        assert_eq!(
            stats.stream(stream).unwrap().skipped_parents,
            expected.len() as u64
        );
    }
    let mailbox = stats
        .skips
        .iter()
        .find(|s| s.stream == "mail_messages")
        .unwrap();
    assert_eq!(
        (mailbox.status, mailbox.code.as_str()),
        (404, "MailboxNotEnabledForRESTAPI")
    );
    assert_eq!(mailbox.permission, "Mail.Read");
    assert!(
        collected
            .pages
            .iter()
            .all(|p| &*p.stream != "contacts" && &*p.stream != "audit_logs_signins")
    );
    assert_matches_truth(
        &truth,
        &[
            "users",
            "groups",
            "group_member",
            "mail_messages",
            "calendar_events",
            "subscribed_skus",
        ],
        &collected.pages,
    );
    // The whole-stream refusal of a child is found early, not paid once per user.
    let contacts_403 = mock.requests().count("contacts", 403);
    assert!(contacts_403 < 40, "contacts refused {contacts_403} times");

    let strict = run(
        config_for(&mock, r#""strict":true"#),
        &["subscribed_skus", "audit_logs_signins"],
    )
    .await;
    match strict.result {
        Ok(stats) => assert!(stats.strict_violated && stats.skips.len() == 1, "{stats:?}"),
        other => panic!("strict mode returns what was read, flagged: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_sends_fewer_requests_for_per_user_streams() {
    // Per-folder streams (mail, contacts) list folders first and are fetched directly.
    let per_user = ["calendar_events", "drive_items", "group_member"];
    let mut totals = Vec::new();
    for use_batch in [false, true] {
        let mock = start(MockConfig::default()).await;
        let config = config_for(&mock, &format!(r#""use_batch":{use_batch}"#));
        let collected = run(config, &per_user).await;
        let stats = collected.result.expect("run succeeds");
        assert_matches_truth(&mock.truth(), &per_user, &collected.pages);
        assert!(
            !collected.pages.iter().any(|p| &*p.stream == "users"),
            "users only pulled in, not emitted"
        );
        assert_eq!(stats.batch.requests > 0, use_batch);
        totals.push(mock.requests().total);
    }
    let (single, batched) = (totals[0], totals[1]);
    assert!(batched * 3 < single, "batched {batched} vs single {single}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_items_throttled_or_failing_are_retried_until_complete() {
    let faults = Faults::default()
        .throttle_rate(0.15)
        .retry_after_secs(1)
        .unavailable_rate(0.05)
        .mailbox_concurrency(true);
    let mock = start(MockConfig::default().faults(faults)).await;
    // Streams whose first pages go through `$batch` (per-folder mail and contacts do not).
    let streams = [
        "calendar_events",
        "drive_items",
        "group_member",
        "chat_messages",
    ];
    let collected = run(config_for(&mock, ""), &streams).await;
    let stats = collected.result.expect("run succeeds");
    assert!(stats.streams.values().any(|s| s.throttled > 0), "{stats:?}");
    assert_matches_truth(&mock.truth(), &streams, &collected.pages);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_is_never_sent_to_endpoints_that_refuse_it() {
    let mock = start(MockConfig::default()).await;
    let streams = [
        "directory_roles",
        "directory_role_templates",
        "subscribed_skus",
        "directory_role_member",
        "conditional_access_policies",
        "chat_messages",
    ];
    let collected = run(config_for(&mock, r#""page_size":999"#), &streams).await;
    collected.result.expect("run succeeds");
    let requests = mock.requests();
    let refused: u64 = requests
        .by_stream
        .values()
        .map(|s| s.by_status.get(&400).copied().unwrap_or(0))
        .sum();
    assert_eq!(refused, 0, "{requests:?}");
    assert_matches_truth(&mock.truth(), &streams, &collected.pages);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn domains_filter_restricts_users_and_their_children() {
    let mock = start(MockConfig::default()).await;
    let everyone = run(config_for(&mock, ""), &["users"]).await;
    everyone.result.expect("run succeeds");
    let upns = |pages: &[graph_extract::Page]| -> Vec<(String, String)> {
        let mut rows: Vec<(String, String)> = pages
            .iter()
            .flat_map(|p| {
                let body: serde_json::Value = serde_json::from_slice(&p.body).unwrap();
                body["value"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| {
                        (
                            r["id"].as_str().unwrap().to_string(),
                            r["userPrincipalName"].as_str().unwrap_or("").to_string(),
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        rows.sort();
        rows
    };
    let all = upns(&everyone.pages);
    let wanted: Vec<_> = all
        .iter()
        .filter(|(_, upn)| upn.ends_with("@fabrikam.example"))
        .cloned()
        .collect();
    assert!(!wanted.is_empty() && wanted.len() < all.len());

    // One domain: a single `endswith` clause (several, joined by `or`, in tests/filters.rs).
    let config = config_for(&mock, r#""domains":["fabrikam.example"]"#);
    let filtered = run(config, &["users", "contacts"]).await;
    let stats = filtered
        .result
        .expect("advanced query accepted with ConsistencyLevel");
    let users: Vec<_> = filtered
        .pages
        .iter()
        .filter(|p| &*p.stream == "users")
        .cloned()
        .collect();
    assert_eq!(upns(&users), wanted);
    let contacts_per_user = stats.stream("contacts").unwrap().rows / wanted.len() as u64;
    assert_eq!(
        stats.stream("contacts").unwrap().rows,
        contacts_per_user * wanted.len() as u64
    );
    assert!(
        filtered
            .pages
            .iter()
            .filter(|p| &*p.stream == "contacts")
            .all(|p| wanted
                .iter()
                .any(|(id, _)| Some(id.as_str()) == p.parent.as_ref().map(|k| k.id())))
    );
}

/// Hands out a token Graph rejects until invalidated, then the real provider's tokens.
struct RejectedFirst {
    real: Arc<dyn TokenProvider>,
    invalidated: AtomicBool,
}

impl TokenProvider for RejectedFirst {
    fn token(&self) -> BoxFuture<'_, Result<AccessToken, AuthError>> {
        Box::pin(async move {
            if self.invalidated.load(Ordering::SeqCst) {
                return self.real.token().await;
            }
            Ok(AccessToken {
                secret: "revoked-token".into(),
                expires_at: std::time::SystemTime::now() + Duration::from_secs(3600),
            })
        })
    }
    fn invalidate(&self, rejected: &AccessToken) {
        assert_eq!(rejected.secret, "revoked-token");
        self.invalidated.store(true, Ordering::SeqCst);
    }
    fn method(&self) -> &'static str {
        "test"
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_token_is_invalidated_and_refreshed_once() {
    let mock = start(MockConfig::default()).await;
    let config = config_for(&mock, "");
    let http = Extractor::http_client().unwrap();
    let context = AuthContext {
        tenant_id: config.tenant_id.clone(),
        client_id: config.client_id.clone(),
        scope: config.scope.clone(),
        authority_host: url::Url::parse(&config.authority_host).unwrap(),
        http: http.clone(),
    };
    let real = auth::provider(&config.auth, context).unwrap();
    let tokens = Arc::new(RejectedFirst {
        real,
        invalidated: AtomicBool::new(false),
    });
    let extractor = Extractor::new(config, Catalog::embedded(), tokens.clone(), http)
        .with_retry_policy(quick_policy());
    let collected = run_with(&extractor, &["subscribed_skus"]).await;
    collected.result.expect("run succeeds after one refresh");
    assert!(tokens.invalidated.load(Ordering::SeqCst));
    let requests = mock.requests();
    let unauthorized: u64 = requests
        .by_stream
        .values()
        .map(|s| s.by_status.get(&401).copied().unwrap_or(0))
        .sum();
    assert_eq!(unauthorized, 1, "{requests:?}");
    assert_matches_truth(&mock.truth(), &["subscribed_skus"], &collected.pages);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outlook_streams_are_never_throttled_for_mailbox_concurrency() {
    let outlook = ["mail_messages", "calendar_events", "contacts"];
    for use_batch in [true, false] {
        let faults = Faults::default()
            .mailbox_concurrency(true)
            .latency(Duration::from_millis(5));
        // Several pages per mailbox, so chains overlap within one mailbox.
        let sizes = graph_mock::Sizes {
            users: 30,
            messages_per_user: 250,
            ..Default::default()
        };
        let mock = start(MockConfig::default().faults(faults).sizes(sizes)).await;
        let config = config_for(
            &mock,
            &format!(r#""concurrency":32,"page_size":100,"use_batch":{use_batch}"#),
        );
        let collected = run(config, &outlook).await;
        let stats = collected.result.expect("run succeeds");
        for stream in outlook {
            assert_eq!(
                mock.requests().count(stream, 429),
                0,
                "{stream} throttled (batch {use_batch})"
            );
            assert_eq!(stats.stream(stream).unwrap().throttled, 0);
        }
        assert_matches_truth(&mock.truth(), &outlook, &collected.pages);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_batch_the_global_limit_counts_items_not_envelopes() {
    let outlook = ["mail_messages", "calendar_events", "contacts"];
    let latency = Duration::from_millis(50);
    let concurrency = 8u64;
    let faults = Faults::default().mailbox_concurrency(true).latency(latency);
    let mock = start(MockConfig::default().users(40).faults(faults)).await;
    let config = config_for(
        &mock,
        &format!(r#""concurrency":{concurrency},"use_batch":true"#),
    );
    let collected = run(config, &outlook).await;
    collected.result.expect("run succeeds");
    assert_matches_truth(&mock.truth(), &outlook, &collected.pages);
    let requests = mock.requests();
    let answered: u64 = ["users"]
        .iter()
        .chain(&outlook)
        .map(|s| requests.count(s, 200))
        .sum();
    // The mock serves a batch's items side by side: counting envelopes would let 2 x 8 through.
    assert_eq!(
        requests.peak_in_flight, concurrency,
        "at most, and at best, `concurrency` items in flight"
    );
    let envelopes = requests.count("$batch", 200);
    assert!(
        envelopes * 4 <= answered,
        "envelopes carry several items: {envelopes} for {answered}"
    );
    for stream in outlook {
        assert_eq!(requests.count(stream, 429), 0, "{stream} throttled");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_sink_pauses_paging_and_a_dropped_one_cancels_the_run() {
    let mock = start(MockConfig::default().users(3000)).await;
    let extractor =
        Extractor::from_config(config_for(&mock, r#""page_size":100"#), Catalog::embedded())
            .unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    let selection = vec!["users".to_string()];
    let prior = graph_extract::ExtractState::default();
    let run = extractor.run(&selection, tx, prior, &[]);
    let observe = async {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let fetched = mock.requests().count("users", 200);
        drop(rx);
        fetched
    };
    let (result, fetched) = tokio::time::timeout(TEST_LIMIT, async { tokio::join!(run, observe) })
        .await
        .unwrap();
    // 2 pages queued, 1 waiting to be sent: the other 27 pages were never requested.
    assert!(fetched <= 4, "fetched {fetched} pages while nobody read");
    assert!(
        matches!(result, Err(ExtractError::ReceiverClosed)),
        "{result:?}"
    );
}
