//! Issue 17, goal 5: on a mock that enforces Graph's identity budget (resource units per app and
//! tenant over a window), a users + groups + members run paces itself from the throttle headers:
//! everything lands exactly, and the budget's 429s stay rare.

mod support;

use std::time::{Duration, Instant};

use graph_mock::{Faults, MockConfig, Sizes};
use stream_spec::Catalog;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_paces_itself_to_the_identity_budget() {
    let window = Duration::from_secs(1);
    let budget = 600;
    let faults = Faults {
        identity_budget: Some(budget),
        identity_window: window,
        ..Faults::default()
    };
    let sizes = Sizes {
        groups: 1500,
        ..Sizes::default()
    };
    let mock = start(MockConfig::default().sizes(sizes).faults(faults)).await;
    let streams = ["users", "groups", "group_member"];
    let started = Instant::now();
    let collected = run(config_for(&mock, r#""use_batch":false"#), &streams).await;
    let elapsed = started.elapsed();
    let stats = collected.result.expect("the run completes");
    let truth = mock.truth();
    let catalog = Catalog::embedded();
    for stream in streams {
        let (_, keys) = keys_of(catalog.get(stream).unwrap(), &collected.pages);
        assert_eq!(keys, truth.stream(stream).unwrap().keys, "{stream}");
    }
    let requests = mock.requests();
    let (total, throttled): (u64, u64) = streams
        .iter()
        .map(|s| (requests.requests(s), requests.count(s, 429)))
        .fold((0, 0), |(a, b), (c, d)| (a + c, b + d));
    // Every group's members cost 2 units (3, less 1 for `$select`): at 600 a second the run
    // cannot be faster than the budget refills.
    let units = 2 * 1500 + 2 + 2;
    assert!(
        elapsed >= window * (units - budget) / budget,
        "faster than the budget allows: {elapsed:?}"
    );
    let spend = mock.identity_spend().expect("the mock keeps the budget");
    assert_eq!(
        (spend.paid, spend.refused),
        (total - throttled, throttled),
        "every answered request paid once, every 429 refused by the budget"
    );
    assert!(spend.units >= units as u64, "{spend:?}");
    eprintln!(
        "{throttled} of {total} requests answered 429; {elapsed:?}, {:.0}% of the budget offered",
        spend.used() * 100.0
    );
    assert!(
        throttled * 100 <= total,
        "{throttled} of {total} requests answered 429 (stats: {:?})",
        stats.streams.get("group_member")
    );
}
