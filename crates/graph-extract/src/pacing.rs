//! Pacing by Graph's throttle headers. Identity reads share a token bucket of resource units
//! per app and tenant; each answer names the bucket (`x-ms-throttle-scope`), and past 80% says
//! how full it is (`x-ms-throttle-limit-percentage`). Per scope, the gap between request starts
//! widens while the bucket runs near empty and narrows while it does not, so a run spends the
//! budget as it refills instead of emptying it and collecting 429s. Requests are matched to a
//! scope by their path's first segment (`users`, `groups`), learned from the answers.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;

const SCOPE: &str = "x-ms-throttle-scope";
const USAGE: &str = "x-ms-throttle-limit-percentage";

/// Above this share of the bucket in use, the gap widens; below [`EASE_BELOW`] it narrows.
const SLOW_ABOVE: f64 = 0.9;
const EASE_BELOW: f64 = 0.85;
/// The first gap a scope gets when it runs hot, and the widest it gets.
const FIRST_GAP: Duration = Duration::from_micros(500);
const MAX_GAP: Duration = Duration::from_secs(1);
/// Steps per answer: small, because many answers of one scope are in flight at once and each
/// reports the same heat (a doubling per answer would overshoot by orders of magnitude).

#[derive(Default)]
pub(crate) struct Pacer {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Path family (`users`) -> the throttle scope its answers named.
    scope_of: HashMap<String, String>,
    scopes: HashMap<String, Scope>,
}

#[derive(Default)]
struct Scope {
    gap: Duration,
    /// The earliest start of the next request in the scope.
    next: Option<Instant>,
}

impl Pacer {
    /// Waits for `requests` slots of the scope `url` is in (none while its scope is unknown).
    pub async fn wait(&self, url: &str, requests: usize) {
        let start = {
            let mut state = self.state.lock().expect("pacer lock");
            let Some(scope) = state.scope_of.get(family(url)).cloned() else {
                return;
            };
            let scope = state.scopes.entry(scope).or_default();
            if scope.gap.is_zero() && scope.next.is_none() {
                return;
            }
            let now = Instant::now();
            let start = scope.next.map_or(now, |next| next.max(now));
            scope.next = Some(start + scope.gap * requests.max(1) as u32);
            start
        };
        tokio::time::sleep_until(start.into()).await;
    }

    /// Learns from an answer to `url`: its scope, how full the bucket is, and a 429's wait.
    pub fn observe(&self, url: &str, headers: &HeaderMap, retry_after: Option<Duration>) {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let Some(scope_name) = header(SCOPE) else {
            return;
        };
        let usage = header(USAGE).and_then(|v| v.trim().parse::<f64>().ok());
        let mut state = self.state.lock().expect("pacer lock");
        state
            .scope_of
            .entry(family(url).to_string())
            .or_insert_with(|| scope_name.to_string());
        let scope = state.scopes.entry(scope_name.to_string()).or_default();
        let empty = retry_after.is_some() || usage.is_some_and(|used| used >= 1.0);
        match usage {
            _ if empty => scope.gap = scope.gap.mul_f64(1.5).clamp(FIRST_GAP, MAX_GAP),
            Some(used) if used > SLOW_ABOVE => {
                scope.gap = scope.gap.mul_f64(1.1).clamp(FIRST_GAP, MAX_GAP);
            }
            Some(used) if used >= EASE_BELOW => {}
            _ => {
                scope.gap = scope.gap.mul_f64(0.95);
                if scope.gap < FIRST_GAP / 4 {
                    scope.gap = Duration::ZERO;
                }
            }
        }
        if let Some(wait) = retry_after {
            // The bucket is empty: nobody in the scope starts before it refills.
            let until = Instant::now() + wait;
            scope.next = Some(scope.next.map_or(until, |next| next.max(until)));
        }
    }

    /// The gap a scope runs at now (for tests and logs).
    #[cfg(test)]
    fn gap(&self, scope: &str) -> Duration {
        let state = self.state.lock().expect("pacer lock");
        state.scopes.get(scope).map_or(Duration::ZERO, |s| s.gap)
    }
}

/// The first segment of a URL's path after the version (`users` in `…/v1.0/users/{id}/…`).
fn family(url: &str) -> &str {
    let path = url.split_once("://").map_or(url, |(_, rest)| rest);
    let mut segments = path.split(['/', '?']).skip(1).filter(|s| !s.is_empty());
    match segments.next() {
        Some(version) if version.starts_with("v1") || version == "beta" => {
            segments.next().unwrap_or_default()
        }
        Some(first) => first,
        None => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(scope: &str, usage: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(SCOPE, scope.parse().unwrap());
        if let Some(usage) = usage {
            headers.insert(USAGE, usage.parse().unwrap());
        }
        headers
    }

    #[test]
    fn families_are_the_first_segment_after_the_version() {
        assert_eq!(family("http://127.0.0.1:1/v1.0/users?$top=5"), "users");
        assert_eq!(
            family("https://graph.microsoft.com/v1.0/groups/g/members"),
            "groups"
        );
        assert_eq!(family("http://127.0.0.1:1/graph/v1.0/users"), "graph");
    }

    #[tokio::test]
    async fn a_hot_scope_widens_its_gap_and_a_cool_one_narrows_it() {
        let pacer = Pacer::default();
        let url = "http://h/v1.0/groups/g/members";
        // Unknown scope: no wait at all.
        pacer.wait(url, 1).await;
        pacer.observe(url, &answer("T/R", Some("0.95")), None);
        pacer.observe(url, &answer("T/R", Some("0.97")), None);
        assert_eq!(pacer.gap("T/R"), FIRST_GAP.mul_f64(1.1));
        pacer.observe(url, &answer("T/R", Some("0.87")), None);
        assert_eq!(
            pacer.gap("T/R"),
            FIRST_GAP.mul_f64(1.1),
            "in the band: hold"
        );
        for _ in 0..40 {
            pacer.observe(url, &answer("T/R", None), None);
        }
        assert_eq!(pacer.gap("T/R"), Duration::ZERO);
        // Another family in the same scope shares its bucket once an answer names it; an
        // empty bucket widens the gap faster.
        pacer.observe("http://h/v1.0/users", &answer("T/R", Some("1.2")), None);
        assert_eq!(pacer.gap("T/R"), FIRST_GAP);
        pacer.observe("http://h/v1.0/users", &answer("T/R", Some("1.2")), None);
        assert_eq!(pacer.gap("T/R"), FIRST_GAP.mul_f64(1.5));
    }

    #[tokio::test]
    async fn after_a_429_nobody_in_the_scope_starts_before_the_bucket_refills() {
        let pacer = Pacer::default();
        let url = "http://h/v1.0/users";
        pacer.observe(
            url,
            &answer("T/R", Some("1.1")),
            Some(Duration::from_millis(80)),
        );
        let started = Instant::now();
        pacer.wait("http://h/v1.0/users?$skiptoken=x", 1).await;
        assert!(started.elapsed() >= Duration::from_millis(70));
        // A family never answered with a scope is not held.
        let started = Instant::now();
        pacer.wait("http://h/v1.0/chats", 1).await;
        assert!(started.elapsed() < Duration::from_millis(50));
    }
}
