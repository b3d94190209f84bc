//! Every stream's full paging chain returns exactly the ground truth; caps, refusals, $select, $count.

mod support;

use std::collections::BTreeSet;

use graph_mock::{MockConfig, Sizes};
use stream_spec::{Catalog, ParentKey, StreamKind};
use support::{Harness, key_of, parent_keys, stream_url};

fn tenant() -> MockConfig {
    // Enough users for several default pages; small per-parent sizes keep the walk quick.
    MockConfig::default().sizes(Sizes {
        users: 230,
        messages_per_user: 3,
        events_per_user: 2,
        contacts_per_user: 2,
        drive_items_per_user: 3,
        sign_ins: 1_200,
        ..Sizes::default()
    })
}

#[tokio::test]
async fn every_stream_chain_returns_exactly_the_truth() {
    let h = Harness::start(tenant()).await;
    let truth = h.server.truth();
    let catalog = Catalog::embedded();
    assert!(!catalog.streams().is_empty(), "schemas are embedded");
    let mut empty_pages_seen = 0;
    for spec in catalog
        .streams()
        .iter()
        .filter(|s| s.kind != StreamKind::Report)
    {
        let expected = truth.stream(&spec.stream).expect("truth for every stream");
        assert!(expected.rows > 0, "{} has rows", spec.stream);
        let parents: Vec<Option<ParentKey>> = match &spec.parent {
            None => vec![None],
            Some(p) => {
                let parent = catalog.get(&p.stream).unwrap();
                parent_keys(parent, truth.stream(&p.stream).unwrap())
                    .into_iter()
                    .map(Some)
                    .collect()
            }
        };
        let mut landed = Vec::new();
        for parent in &parents {
            // Small pages make long chains; endpoints refusing $top get the default page.
            let (rows, last) = h
                .walk(&stream_url(&h, spec, parent.as_ref(), Some(7)))
                .await;
            if spec.kind == StreamKind::Delta {
                assert!(
                    last["@odata.deltaLink"].is_string(),
                    "{}: chain ends in deltaLink",
                    spec.stream
                );
            }
            landed.extend(rows.iter().map(|row| key_of(spec, row, parent.as_ref())));
        }
        let set: BTreeSet<_> = landed.iter().cloned().collect();
        assert_eq!(set.len(), landed.len(), "{}: no duplicates", spec.stream);
        assert_eq!(set, expected.keys, "{}: chain = truth", spec.stream);
        assert_eq!(landed.len() as u64, expected.rows);
    }
    // Empty pages with a nextLink happen on long chains.
    let (rows, _) = h.walk(&h.graph("/users?$top=5")).await;
    assert_eq!(rows.len(), 230);
    let mut next = Some(h.graph("/users?$top=5"));
    while let Some(url) = next {
        let page = h.page(&url).await;
        if page["value"].as_array().unwrap().is_empty() {
            assert!(
                page["@odata.nextLink"].is_string(),
                "an empty page still links on"
            );
            empty_pages_seen += 1;
        }
        next = page["@odata.nextLink"].as_str().map(str::to_string);
    }
    assert!(empty_pages_seen > 0, "some empty pages in a 46+ page chain");
}

#[tokio::test]
async fn default_page_is_100_and_caps_are_enforced() {
    let h = Harness::start(tenant()).await;
    let first = h.page(&h.graph("/users")).await;
    assert_eq!(first["value"].as_array().unwrap().len(), 100);
    assert!(first.get("@odata.count").is_none());
    let full = h.page(&h.graph("/users?$top=999")).await;
    assert_eq!(full["value"].as_array().unwrap().len(), 230);
    assert!(
        full.get("@odata.nextLink").is_none(),
        "no nextLink when nothing remains"
    );

    for (url, code) in [
        ("/users?$top=1000", "Request_UnsupportedQuery"),
        ("/users?$top=0", "Request_UnsupportedQuery"),
        ("/auditLogs/signIns?$top=1001", "Request_UnsupportedQuery"),
        ("/directoryRoles?$top=5", "Request_UnsupportedQuery"),
        ("/directoryRoleTemplates?$top=5", "Request_UnsupportedQuery"),
        ("/subscribedSkus?$top=1", "Request_UnsupportedQuery"),
        ("/users?$select=noSuchProperty", "Request_BadRequest"),
        ("/users?$skiptoken=forged", "Directory_ExpiredPageToken"),
    ] {
        let response = h
            .get(&h.graph(url))
            .header("client-request-id", "abc-123")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{url}");
        assert_eq!(response.headers()["client-request-id"], "abc-123");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{url}: {body}");
        assert_eq!(body["error"]["innerError"]["client-request-id"], "abc-123");
        assert!(body["error"]["innerError"]["request-id"].is_string());
        assert!(body["error"]["innerError"]["date"].is_string());
    }
    let signins = h.page(&h.graph("/auditLogs/signIns?$top=1000")).await;
    assert_eq!(signins["value"].as_array().unwrap().len(), 1000);
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
    let over = h
        .get(&h.graph(&format!("/chats/{chat}/messages?$top=51")))
        .send()
        .await
        .unwrap();
    assert_eq!(over.status(), 400);
}

#[tokio::test]
async fn select_keeps_only_the_named_properties() {
    let h = Harness::start(tenant()).await;
    let page = h
        .page(&h.graph("/users?$select=id,displayName&$top=3"))
        .await;
    for row in page["value"].as_array().unwrap() {
        let keys: BTreeSet<&str> = row
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, BTreeSet::from(["id", "displayName"]));
    }
    let next = page["@odata.nextLink"].as_str().unwrap();
    assert!(
        next.contains("$select=id"),
        "nextLink keeps $select: {next}"
    );
    let second = h.page(next).await;
    assert_eq!(
        second["value"][0].as_object().map(|o| o.len()).unwrap_or(2),
        2
    );
}

#[tokio::test]
async fn advanced_queries_need_consistency_level_eventual() {
    let h = Harness::start(tenant()).await;
    for url in [
        "/users?$count=true",
        "/users?$filter=endswith(mail,'@contoso.com')",
    ] {
        let refused = h.get(&h.graph(url)).send().await.unwrap();
        assert_eq!(refused.status(), 400, "{url} without ConsistencyLevel");
    }
    let counted: serde_json::Value = h
        .get(&h.graph("/users?$count=true&$top=10"))
        .header("ConsistencyLevel", "eventual")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(counted["@odata.count"], 230);
    let next = counted["@odata.nextLink"].as_str().unwrap();
    let second: serde_json::Value = h
        .get(next)
        .header("ConsistencyLevel", "eventual")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        second.get("@odata.count").is_none(),
        "count on the first page only"
    );

    let url = h.graph("/users?$filter=endswith(mail,'@contoso.com')&$top=999");
    let filtered: serde_json::Value = h
        .get(&url)
        .header("ConsistencyLevel", "eventual")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rows = filtered["value"].as_array().unwrap();
    // Users are spread over three domains; `@contoso.com` is every third one.
    assert_eq!(rows.len(), 230 / 3 + usize::from(230 % 3 > 1));
    assert!(
        rows.iter()
            .all(|r| r["mail"].as_str().unwrap().ends_with("@contoso.com"))
    );
}

#[tokio::test]
async fn teams_are_the_groups_provisioned_as_teams() {
    let h = Harness::start(tenant()).await;
    let (groups, _) = h.walk(&h.graph("/groups")).await;
    let filter = support::urlencode("resourceProvisioningOptions/Any(x:x eq 'Team')");
    let (teams, _) = h.walk(&h.graph(&format!("/groups?$filter={filter}"))).await;
    assert_eq!(teams.len() as u64, Sizes::default().teams);
    let team_groups: Vec<_> = groups
        .iter()
        .filter(|g| {
            g["resourceProvisioningOptions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|o| o == "Team")
        })
        .map(|g| g["id"].clone())
        .collect();
    assert_eq!(
        team_groups,
        teams.iter().map(|t| t["id"].clone()).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn unauthenticated_requests_get_401_in_graph_envelope() {
    let h = Harness::start(tenant()).await;
    let response = h.http.get(h.graph("/users")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer ")
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    let unknown = h.get(&h.graph("/noSuchThing")).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
    let bad_parent = h
        .get(&h.graph("/users/00000000-0000-4000-8000-000000000000/messages"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_parent.status(), 404);
}

#[tokio::test]
async fn a_large_tenant_is_generated_lazily() {
    // Nothing is materialised: starting and serving one page of a 20k-user tenant is immediate.
    let h = Harness::start(MockConfig::default().sizes(Sizes {
        users: 20_000,
        messages_per_user: 50,
        ..Sizes::default()
    }))
    .await;
    let first = h
        .page(&h.graph("/users?$top=999&$select=id,displayName"))
        .await;
    assert_eq!(first["value"].as_array().unwrap().len(), 999);
    let mut next = first["@odata.nextLink"].as_str().unwrap().to_string();
    let mut last_user = None;
    for _ in 0..100 {
        let page = h.page(&next).await;
        if let Some(row) = page["value"].as_array().unwrap().last() {
            last_user = Some(row["id"].as_str().unwrap().to_string());
        }
        match page["@odata.nextLink"].as_str() {
            Some(link) => next = link.to_string(),
            None => break,
        }
    }
    // A parent id from the end of the chain resolves without any lookup table.
    let user = last_user.unwrap();
    let messages = h
        .page(&h.graph(&format!("/users/{user}/messages?$top=1000")))
        .await;
    assert_eq!(messages["value"].as_array().unwrap().len(), 50);
}
