//! `$filter` over HTTP: `or`-ed `endswith` on users (advanced query) and `ge` on the audit logs, each
//! checked against rows computed here from unfiltered listings, and against `truth_with`.

mod support;

use std::collections::BTreeSet;

use graph_mock::{MockConfig, Sizes, TruthFilter};
use serde_json::Value;
use support::{Harness, urlencode};

fn tenant() -> MockConfig {
    MockConfig::default().sizes(Sizes {
        users: 230,
        messages_per_user: 2,
        directory_audits: 150,
        sign_ins: 170,
        ..Sizes::default()
    })
}

/// Follows a chain sending `ConsistencyLevel: eventual` on every page; returns rows and first page.
async fn walk_eventual(h: &Harness, url: &str) -> (Vec<Value>, Value) {
    let mut rows = Vec::new();
    let mut first = None;
    let mut next = url.to_string();
    for _ in 0..1_000 {
        let response = h
            .get(&next)
            .header("ConsistencyLevel", "eventual")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{next}");
        let page: Value = response.json().await.unwrap();
        rows.extend(page["value"].as_array().unwrap().iter().cloned());
        let link = page["@odata.nextLink"].as_str().map(str::to_string);
        first.get_or_insert(page);
        match link {
            Some(link) => next = link,
            None => return (rows, first.unwrap()),
        }
    }
    panic!("chain from {url} did not end");
}

fn strings(rows: &[Value], property: &str) -> Vec<String> {
    rows.iter()
        .map(|r| r[property].as_str().unwrap().to_string())
        .collect()
}

/// The Graph error code of a 400, checking the envelope on the way.
async fn refusal(h: &Harness, url: &str, eventual: bool) -> String {
    let mut request = h.get(url);
    if eventual {
        request = request.header("ConsistencyLevel", "eventual");
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 400, "{url}");
    assert!(response.headers().contains_key("request-id"));
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]["innerError"]["request-id"].is_string(),
        "{body}"
    );
    assert!(body["error"]["message"].is_string(), "{body}");
    body["error"]["code"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn or_of_endswith_lists_the_users_of_every_domain_named() {
    let h = Harness::start(tenant()).await;
    let (everyone, _) = h.walk(&h.graph("/users?$top=999")).await;
    assert_eq!(everyone.len(), 230);
    let domains = ["contoso.com", "fabrikam.example"];
    let expected: BTreeSet<(String, String)> = everyone
        .iter()
        .map(|r| {
            let upn = r["userPrincipalName"].as_str().unwrap().to_string();
            (r["id"].as_str().unwrap().to_string(), upn)
        })
        .filter(|(_, upn)| domains.iter().any(|d| upn.ends_with(&format!("@{d}"))))
        .collect();
    // Two of the three domains: some users are left out, most are in.
    assert!(
        expected.len() > 230 / 2 && expected.len() < 230,
        "{}",
        expected.len()
    );

    let filter = "endswith(userPrincipalName,'@contoso.com') or endswith(userPrincipalName,'@FABRIKAM.example')";
    let url = h.graph(&format!(
        "/users?$filter={}&$count=true&$top=40&$select=id,userPrincipalName",
        urlencode(filter)
    ));
    let (rows, first) = walk_eventual(&h, &url).await;
    let got: Vec<(String, String)> = strings(&rows, "id")
        .into_iter()
        .zip(strings(&rows, "userPrincipalName"))
        .collect();
    assert_eq!(got.len(), expected.len(), "no user twice");
    assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), expected);
    assert_eq!(first["@odata.count"], expected.len() as u64);

    // Graph refuses the advanced query without the header (`$count` too, with its own code), and
    // `and` altogether here.
    assert_eq!(refusal(&h, &url, false).await, "Request_BadRequest");
    let plain = h.graph(&format!("/users?$filter={}", urlencode(filter)));
    assert_eq!(refusal(&h, &plain, false).await, "Request_UnsupportedQuery");
    let and = "endswith(mail,'@contoso.com') and endswith(mail,'.com')";
    let code = refusal(
        &h,
        &h.graph(&format!("/users?$filter={}", urlencode(and))),
        true,
    )
    .await;
    assert_eq!(code, "Request_UnsupportedQuery");

    // The truth of such a run: those users, and messages only under them.
    let only = TruthFilter::default().domains(domains);
    let truth = h.server.truth_with(&only);
    let users = truth.stream("users").unwrap();
    let ids: BTreeSet<Vec<String>> = expected.iter().map(|(id, _)| vec![id.clone()]).collect();
    assert_eq!(users.keys, ids);
    let messages = truth.stream("mail_messages").unwrap();
    assert_eq!(messages.rows, 2 * expected.len() as u64);
    assert!(
        messages
            .keys
            .iter()
            .all(|k| ids.contains(&vec![k[1].clone()])),
        "{:?}",
        messages.primary_key
    );
    // Streams not fanned out over users keep every row.
    let full = h.server.truth();
    assert_eq!(truth.stream("groups"), full.stream("groups"));
    assert_eq!(truth.stream("group_member"), full.stream("group_member"));
    let admin: Value = h
        .http
        .get(format!(
            "{}/_admin/truth?domains=contoso.com,fabrikam.example",
            h.server.base_url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(admin["streams"]["users"]["rows"], expected.len() as u64);
}

#[tokio::test]
async fn ge_on_audit_logs_keeps_rows_at_or_after_the_instant() {
    let h = Harness::start(tenant()).await;
    for (path, stream, property) in [
        (
            "/auditLogs/directoryAudits",
            "audit_logs_directory",
            "activityDateTime",
        ),
        (
            "/auditLogs/signIns",
            "audit_logs_signins",
            "createdDateTime",
        ),
    ] {
        let (all, _) = h.walk(&h.graph(&format!("{path}?$top=1000"))).await;
        let mut stamps = strings(&all, property);
        // Records carry `YYYY-MM-DDThh:mm:ss.fffffffZ`: as text they sort as instants.
        assert!(stamps.iter().all(|s| s.len() == 28 && s.ends_with('Z')));
        stamps.sort();
        // The median, verbatim: rows exactly at the bound pass (`ge`), at full precision.
        let bound = stamps[stamps.len() / 2].clone();
        let wanted = |bound: &str| -> BTreeSet<Vec<String>> {
            all.iter()
                .filter(|r| r[property].as_str().unwrap() >= bound)
                .map(|r| vec![r["id"].as_str().unwrap().to_string()])
                .collect()
        };
        let expected = wanted(&bound);
        assert!(expected.len() > 10 && expected.len() < all.len(), "{bound}");
        let filter = format!("{property} ge {bound}");
        let (rows, _) = h
            .walk(&h.graph(&format!("{path}?$filter={}&$top=7", urlencode(&filter))))
            .await;
        let got: BTreeSet<Vec<String>> = strings(&rows, "id")
            .into_iter()
            .map(|id| vec![id])
            .collect();
        assert_eq!(rows.len(), got.len());
        assert_eq!(got, expected, "{stream} {filter}");

        // An offset literal names the same instant as its UTC form.
        let day = &bound[..10];
        let utc = wanted(&format!("{day}T00:00:00.0000000Z"));
        let filter = format!("{property} ge {day}T02:00:00+02:00");
        let (rows, _) = h
            .walk(&h.graph(&format!("{path}?$filter={}&$top=1000", urlencode(&filter))))
            .await;
        assert_eq!(rows.len(), utc.len(), "{filter}");

        let start = chrono::DateTime::parse_from_rfc3339(&bound)
            .unwrap()
            .to_utc();
        let truth = h
            .server
            .truth_with(&TruthFilter::default().start_date(start));
        assert_eq!(truth.stream(stream).unwrap().keys, expected);
        assert_eq!(truth.stream("users"), h.server.truth().stream("users"));

        for bad in [
            "2026-13-01T00:00:00Z",
            "2026-01-01",
            "'2026-01-01T00:00:00Z'",
            "soon",
        ] {
            let url = h.graph(&format!(
                "{path}?$filter={}",
                urlencode(&format!("{property} ge {bad}"))
            ));
            assert_eq!(refusal(&h, &url, false).await, "BadRequest", "{bad}");
        }
    }
    // `ge` only on each log's own timestamp, and not on other collections.
    for url in [
        "/auditLogs/directoryAudits?$filter=createdDateTime ge 2026-01-01T00:00:00Z",
        "/users?$filter=createdDateTime ge 2026-01-01T00:00:00Z",
    ] {
        let url = h.graph(&url.replace(' ', "%20"));
        assert_eq!(
            refusal(&h, &url, true).await,
            "Request_UnsupportedQuery",
            "{url}"
        );
    }
    let bad = h
        .http
        .get(format!(
            "{}/_admin/truth?start_date=tomorrow",
            h.server.base_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}
