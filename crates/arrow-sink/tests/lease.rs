//! One writer per root: the lease, against a local directory, `memory://`, a real S3 server
//! (moto) and Azurite. Every scenario runs under a time limit and every wait is bounded.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_sink::lease::LEASE_DIR;
use arrow_sink::{Landing, Lease, LeaseError, RunId};
use futures::TryStreamExt;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutMode, PutPayload, UpdateVersion};
use serde_json::json;
use test_support::{Azurite, S3Server};

/// Short, so expiry and takeover happen within the test; others take over 300 ms after expiry.
const TTL: Duration = Duration::from_millis(1200);
const ALLOWANCE: Duration = Duration::from_millis(300);
const SCENARIO_LIMIT: Duration = Duration::from_secs(60);

/// Opens the landing `<backend>/<name>` with a client of its own, as a separate process would.
type Open = Arc<dyn Fn(&str) -> Landing + Send + Sync>;

async fn limited<F: Future<Output = ()>>(what: &str, scenario: F) {
    tokio::time::timeout(SCENARIO_LIMIT, scenario)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {SCENARIO_LIMIT:?}"));
}

fn held_by(err: &LeaseError) -> &str {
    match err {
        LeaseError::Held { holder, .. } => &holder.run_id,
        other => panic!("expected Held, got {other}"),
    }
}

/// Acquires as soon as the current holder's lease may be taken over (bounded).
async fn acquire_when_free(landing: &Landing, run: &RunId, within: Duration) -> (Lease, Duration) {
    let started = Instant::now();
    loop {
        match Lease::acquire(landing, run, TTL).await {
            Ok(lease) => return (lease, started.elapsed()),
            Err(LeaseError::Held { .. }) if started.elapsed() < within => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("no takeover within {within:?}: {e}"),
        }
    }
}

async fn second_acquire_fails_fast_naming_the_holder(open: &Open) {
    let landing = open("held");
    let run = RunId::new();
    let lease = Lease::acquire(&landing, &run, TTL).await.unwrap();
    let other = open("held");
    let started = Instant::now();
    let err = Lease::acquire(&other, &RunId::new(), TTL)
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5), "not fast");
    let LeaseError::Held { holder, .. } = &err else {
        panic!("expected Held, got {err}");
    };
    assert_eq!(holder.run_id, run.as_str());
    assert_eq!(holder.started_at, run.started());
    assert_eq!(holder.pid, std::process::id());
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "another run is writing {landing}: run {run} started "
        )),
        "{message}"
    );
    let started_text = run.started().format("%Y-%m-%d %H:%M:%S UTC").to_string();
    assert!(message.contains(&started_text), "{message}");
    assert!(message.contains("lease valid until"), "{message}");
    let current = Lease::current(&other).await.unwrap().unwrap();
    assert_eq!(current.run_id, run.as_str());
    lease.release().await.unwrap();
    assert_eq!(Lease::current(&other).await.unwrap(), None);
}

async fn release_then_acquire(open: &Open) {
    let landing = open("release");
    let first = Lease::acquire(&landing, &RunId::new(), TTL).await.unwrap();
    let generation = first.generation();
    first.release().await.unwrap();
    let other = open("release");
    let started = Instant::now();
    let second = Lease::acquire(&other, &RunId::new(), TTL).await.unwrap();
    assert!(started.elapsed() < TTL, "a released lease is free at once");
    assert_eq!(second.generation(), generation + 1);
    second.check().await.unwrap();
    second.release().await.unwrap();
    // Only the newest generation is kept.
    let dir = landing.path([LEASE_DIR]);
    let left: Vec<_> = landing
        .store()
        .list(Some(&dir))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
}

async fn renewal_keeps_the_lease_past_its_ttl(open: &Open) {
    let landing = open("renewal");
    let run = RunId::new();
    let lease = Lease::acquire(&landing, &run, TTL).await.unwrap();
    tokio::time::sleep(TTL * 3).await;
    let err = Lease::acquire(&open("renewal"), &RunId::new(), TTL)
        .await
        .unwrap_err();
    assert_eq!(held_by(&err), run.as_str());
    lease.check().await.unwrap();
    lease.release().await.unwrap();
}

async fn an_expired_lease_is_taken_over(open: &Open) {
    let landing = open("expiry");
    let stalled_run = RunId::new();
    let stalled = Lease::acquire(&landing, &stalled_run, TTL).await.unwrap();
    stalled.suspend_renewal();
    let other = open("expiry");
    let run = RunId::new();
    let err = Lease::acquire(&other, &run, TTL).await.unwrap_err();
    assert_eq!(held_by(&err), stalled_run.as_str());
    let (taker, waited) = acquire_when_free(&other, &run, TTL * 4).await;
    assert!(
        waited + Duration::from_millis(50) >= TTL - Duration::from_millis(200),
        "taken over only after expiry (waited {waited:?})"
    );
    assert_eq!(taker.generation(), stalled.generation() + 1);
    // The stalled run learns it lost the lease, and giving it back leaves the new holder alone.
    let lost = stalled.check().await.unwrap_err();
    assert!(lost.is_lost(), "{lost}");
    stalled.release().await.unwrap();
    taker.check().await.unwrap();
    let err = Lease::acquire(&open("expiry"), &RunId::new(), TTL)
        .await
        .unwrap_err();
    assert_eq!(held_by(&err), run.as_str());
    taker.release().await.unwrap();
}

/// A run whose clock ran ahead took over a lease that is still valid by the holder's clock: the
/// holder's next check sees the higher generation and fails, naming the other run.
async fn check_fails_after_another_run_took_over(open: &Open) {
    let landing = open("taken");
    let lease = Lease::acquire(&landing, &RunId::new(), TTL).await.unwrap();
    lease.check().await.unwrap();
    let intruder = RunId::new();
    let now = chrono::Utc::now();
    let record = json!({
        "format": 1,
        "generation": lease.generation() + 1,
        "run_id": intruder.as_str(),
        "started_at": intruder.started(),
        "expires_at": now + chrono::Duration::seconds(60),
        "host": "elsewhere",
        "pid": 1,
        "renewed_at": now,
        "ttl_ms": 60_000,
        "nonce": 1,
        "released": false,
    });
    let path = landing.path([LEASE_DIR, &format!("{:020}.json", lease.generation() + 1)]);
    landing
        .store()
        .put_opts(
            &path,
            PutPayload::from(serde_json::to_vec(&record).unwrap()),
            PutMode::Create.into(),
        )
        .await
        .unwrap();
    let err = lease.check().await.unwrap_err();
    match &err {
        LeaseError::TakenOver { by: Some(by), .. } => assert_eq!(by.run_id, intruder.as_str()),
        other => panic!("expected TakenOver, got {other}"),
    }
    assert!(err.to_string().contains(intruder.as_str()), "{err}");
    // Lost for good; release leaves the other run's lease in place.
    assert!(lease.check().await.unwrap_err().is_lost());
    lease.release().await.unwrap();
    let err = Lease::acquire(&open("taken"), &RunId::new(), TTL)
        .await
        .unwrap_err();
    assert_eq!(held_by(&err), intruder.as_str());
}

/// Several runs race for a free root, then (three times) for one expired lease: exactly one
/// wins each race, and every other is told who won.
async fn concurrent_takeovers_have_one_winner(open: &Open) {
    const CONTENDERS: usize = 4;
    async fn race(open: &Open, root: &str) -> Lease {
        let landings: Vec<Landing> = (0..CONTENDERS).map(|_| open(root)).collect();
        let runs: Vec<RunId> = (0..CONTENDERS).map(|_| RunId::new()).collect();
        let results = futures::future::join_all(
            landings
                .iter()
                .zip(&runs)
                .map(|(landing, run)| Lease::acquire(landing, run, TTL)),
        )
        .await;
        let mut winners = Vec::new();
        let mut losers = Vec::new();
        for (result, run) in results.into_iter().zip(&runs) {
            match result {
                Ok(lease) => winners.push((lease, run.clone())),
                Err(e) => losers.push(e),
            }
        }
        let names: Vec<String> = winners.iter().map(|(_, r)| r.to_string()).collect();
        // On a starved machine a winner can stall past its short ttl and be taken over before
        // it returns; then it is not a holder: its check fails. Exactly one holder remains.
        let mut holders = Vec::new();
        for (lease, run) in winners {
            match lease.check().await {
                Ok(()) => holders.push((lease, run)),
                Err(e) => assert!(e.is_lost(), "{e}"),
            }
        }
        assert_eq!(holders.len(), 1, "holders of {names:?}, losers: {losers:?}");
        for loser in &losers {
            assert!(names.iter().any(|n| n == held_by(loser)), "{loser}");
        }
        holders.pop().unwrap().0
    }
    let mut holder = race(open, "race").await;
    for round in 0..3 {
        holder.suspend_renewal();
        let generation = holder.generation();
        tokio::time::sleep(TTL + ALLOWANCE + Duration::from_millis(100)).await;
        let next = race(open, "race").await;
        assert!(next.generation() > generation, "round {round}");
        assert!(holder.check().await.unwrap_err().is_lost());
        drop(holder);
        holder = next;
    }
    holder.release().await.unwrap();
}

async fn suite(open: Open) {
    limited(
        "second acquire",
        second_acquire_fails_fast_naming_the_holder(&open),
    )
    .await;
    limited("release then acquire", release_then_acquire(&open)).await;
    limited("renewal", renewal_keeps_the_lease_past_its_ttl(&open)).await;
    limited("expiry", an_expired_lease_is_taken_over(&open)).await;
    limited("taken over", check_fails_after_another_run_took_over(&open)).await;
    limited("races", concurrent_takeovers_have_one_winner(&open)).await;
}

/// What the store does with conditional puts: a second `Create` is `AlreadyExists`; `Update`
/// succeeds on the current version and is a `Precondition` failure on a stale one, or is
/// `NotImplemented`. Returns whether `Update` is supported.
async fn conditional_puts(landing: &Landing) -> bool {
    let store = landing.store();
    let path = landing.path(["_probe", "object.json"]);
    let created = store
        .put_opts(&path, PutPayload::from_static(b"1"), PutMode::Create.into())
        .await
        .unwrap();
    let again = store
        .put_opts(&path, PutPayload::from_static(b"2"), PutMode::Create.into())
        .await
        .unwrap_err();
    assert!(
        matches!(again, object_store::Error::AlreadyExists { .. }),
        "second create: {again}"
    );
    let current = UpdateVersion::from(created);
    let updated = store
        .put_opts(
            &path,
            PutPayload::from_static(b"3"),
            PutMode::Update(current.clone()).into(),
        )
        .await;
    let supported = match updated {
        Ok(_) => true,
        Err(object_store::Error::NotImplemented { .. }) => false,
        Err(e) => panic!("update on the current version: {e}"),
    };
    if supported {
        let stale = store
            .put_opts(
                &path,
                PutPayload::from_static(b"4"),
                PutMode::Update(current).into(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(stale, object_store::Error::Precondition { .. }),
            "update on a stale version: {stale}"
        );
        let got = store.get(&path).await.unwrap().bytes().await.unwrap();
        assert_eq!(&got[..], b"3");
    }
    store.delete(&path).await.unwrap();
    supported
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_directory_lease() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().to_path_buf();
    let probe = Landing::local(&base.join("probe")).unwrap();
    assert!(
        !conditional_puts(&probe).await,
        "the local store has no conditional update"
    );
    suite(Arc::new(move |name: &str| {
        Landing::local(&base.join(name)).unwrap()
    }))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_lease() {
    let store = Arc::new(InMemory::new());
    assert!(conditional_puts(&Landing::from_store(store.clone(), Path::from("probe"))).await);
    suite(Arc::new(move |name: &str| {
        Landing::from_store(store.clone(), Path::from(format!("landing/{name}")))
    }))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_url_lease() {
    // `memory://` opens a store of its own each time: one landing, shared by clones.
    let landing = Landing::open("memory:///graph").unwrap();
    let run = RunId::new();
    let lease = Lease::acquire(&landing, &run, TTL).await.unwrap();
    let err = Lease::acquire(&landing.clone(), &RunId::new(), TTL)
        .await
        .unwrap_err();
    assert_eq!(held_by(&err), run.as_str());
    lease.release().await.unwrap();
    Lease::acquire(&landing, &RunId::new(), TTL)
        .await
        .unwrap()
        .release()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_lease() {
    let server = Arc::new(S3Server::start());
    let probe = Landing::open_with_options(&server.url("probe"), server.options()).unwrap();
    assert!(
        conditional_puts(&probe).await,
        "S3 (moto) takes If-None-Match and If-Match"
    );
    // Without conditional put the S3 client refuses `Create`, and so the lease.
    let mut options = server.options();
    options.push(("aws_conditional_put".into(), "disabled".into()));
    let plain = Landing::open_with_options(&server.url("plain"), options).unwrap();
    let err = Lease::acquire(&plain, &RunId::new(), TTL)
        .await
        .unwrap_err();
    assert!(matches!(err, LeaseError::Unsupported { .. }), "{err}");
    assert!(err.to_string().contains("aws_conditional_put"), "{err}");
    assert!(!err.to_string().contains(S3Server::SECRET_KEY), "{err}");
    let opener = server.clone();
    suite(Arc::new(move |name: &str| {
        Landing::open_with_options(&opener.url(&format!("graph/{name}")), opener.options()).unwrap()
    }))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_lease() {
    let azurite = Arc::new(Azurite::start());
    let probe = Landing::open_with_options(&azurite.url("probe"), azurite.options()).unwrap();
    assert!(
        conditional_puts(&probe).await,
        "Azure (Azurite) takes If-None-Match and If-Match"
    );
    let opener = azurite.clone();
    suite(Arc::new(move |name: &str| {
        Landing::open_with_options(&opener.url(&format!("graph/{name}")), opener.options()).unwrap()
    }))
    .await;
}
