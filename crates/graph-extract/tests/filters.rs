//! `domains` and `start_date` end to end against graph-mock: a run lands exactly the truth of a run so
//! restricted (`TruthFilter`), which is also checked against values read from unfiltered pages.

mod support;

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use graph_mock::{MockConfig, Sizes, TruthFilter};
use stream_spec::Catalog;
use support::*;

fn tenant() -> MockConfig {
    MockConfig::default().sizes(Sizes {
        users: 90,
        messages_per_user: 3,
        directory_audits: 120,
        sign_ins: 140,
        ..Sizes::default()
    })
}

/// One string property of every record of `stream`, with its id.
fn values(pages: &[graph_extract::Page], stream: &str, property: &str) -> Vec<(String, String)> {
    pages
        .iter()
        .filter(|p| &*p.stream == stream)
        .flat_map(|p| {
            let body: serde_json::Value = serde_json::from_slice(&p.body).unwrap();
            body["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    (
                        r["id"].as_str().unwrap().to_string(),
                        r[property].as_str().unwrap().to_string(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_domains_land_their_users_and_only_their_messages() {
    let mock = start(tenant()).await;
    let domains = ["contoso.com", "fabrikam.example"];
    let everyone = run(config_for(&mock, ""), &["users"]).await;
    everyone.result.expect("unfiltered run succeeds");
    let wanted: BTreeSet<Vec<String>> = values(&everyone.pages, "users", "userPrincipalName")
        .into_iter()
        .filter(|(_, upn)| domains.iter().any(|d| upn.ends_with(&format!("@{d}"))))
        .map(|(id, _)| vec![id])
        .collect();
    assert!(
        wanted.len() > 90 / 2 && wanted.len() < 90,
        "{}",
        wanted.len()
    );

    let config = config_for(&mock, r#""domains":["contoso.com","fabrikam.example"]"#);
    let filtered = run(config, &["users", "mail_messages"]).await;
    let stats = filtered.result.expect("filtered run succeeds");
    assert!(stats.skips.is_empty(), "{:?}", stats.skips);
    let truth = mock.truth_with(&TruthFilter::default().domains(domains));
    assert_eq!(truth.stream("users").unwrap().keys, wanted);
    assert_eq!(
        truth.stream("mail_messages").unwrap().rows,
        3 * wanted.len() as u64
    );
    assert_matches_truth(&truth, &["users", "mail_messages"], &filtered.pages);
    // Messages were asked for the filtered users only.
    let requests = mock.requests();
    let asked: u64 = requests.by_stream["mail_messages"].by_status.values().sum();
    assert!(asked >= wanted.len() as u64, "{requests:?}");
    assert_eq!(requests.count("users", 400), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_date_lands_only_audit_rows_at_or_after_it() {
    let mock = start(tenant()).await;
    let audits = ["audit_logs_directory", "audit_logs_signins"];
    let everything = run(config_for(&mock, ""), &audits).await;
    everything.result.expect("unfiltered run succeeds");
    // A start date inside the range of both logs: the earliest of the two medians.
    let median = |stream: &str, property: &str| {
        let mut stamps: Vec<String> = values(&everything.pages, stream, property)
            .into_iter()
            .map(|(_, at)| at)
            .collect();
        stamps.sort();
        stamps[stamps.len() / 2].clone()
    };
    let bound = median("audit_logs_directory", "activityDateTime")
        .min(median("audit_logs_signins", "createdDateTime"));
    let start: DateTime<Utc> = DateTime::parse_from_rfc3339(&bound).unwrap().to_utc();

    let config = config_for(&mock, &format!(r#""start_date":"{bound}""#));
    let selection = ["audit_logs_directory", "audit_logs_signins", "users"];
    let filtered = run(config, &selection).await;
    filtered.result.expect("filtered run succeeds");
    let truth = mock.truth_with(&TruthFilter::default().start_date(start));
    assert_matches_truth(&truth, &selection, &filtered.pages);
    // Independently of the mock's truth: rows whose own timestamp is at or after the bound.
    let catalog = Catalog::embedded();
    for (stream, property) in [
        ("audit_logs_directory", "activityDateTime"),
        ("audit_logs_signins", "createdDateTime"),
    ] {
        let expected: BTreeSet<Vec<String>> = values(&everything.pages, stream, property)
            .into_iter()
            .filter(|(_, at)| DateTime::parse_from_rfc3339(at).unwrap() >= start)
            .map(|(id, _)| vec![id])
            .collect();
        let (rows, keys) = keys_of(catalog.get(stream).unwrap(), &filtered.pages);
        assert!(!expected.is_empty() && rows < mock.truth().stream(stream).unwrap().rows);
        assert_eq!((rows, keys), (expected.len() as u64, expected), "{stream}");
    }
    // Users take no start date.
    assert_eq!(truth.stream("users"), mock.truth().stream("users"));
}
