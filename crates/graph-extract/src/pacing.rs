//! Pacing by Graph's throttle headers. Identity reads share a token bucket of resource units
//! per app and tenant; each answer names the bucket (`x-ms-throttle-scope`), and past 80% says
//! how full it is (`x-ms-throttle-limit-percentage`). Per scope, the requests in flight are held
//! to a window that adapts like TCP's congestion window: it shrinks by a factor when the bucket
//! runs near empty and grows by one request per round trip while it does not. A window, unlike a
//! gap between starts, bounds what is already sent when the bucket turns hot, so a run spends the
//! budget as it refills instead of emptying it and collecting 429s. Requests are matched to a
//! scope by their path's first segment (`users`, `groups`), learned from the answers.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use tokio::sync::Notify;

const SCOPE: &str = "x-ms-throttle-scope";
const USAGE: &str = "x-ms-throttle-limit-percentage";

/// Above this share of the bucket in use the window shrinks; below [`EASE_BELOW`] (or with no
/// share reported, which Graph does below 80%) it grows; between, it holds. How full the bucket
/// runs costs nothing as long as it is never full (refill lost) nor empty (429s), so the band
/// sits low in the 80–100% Graph reports, leaving the most room for what is already in flight.
const SLOW_ABOVE: f64 = 0.85;
const EASE_BELOW: f64 = 0.8;
/// Window factors: hot, and nearly empty (a share from [`NEARLY_EMPTY`], or a 429).
const HOT_FACTOR: f64 = 0.8;
const NEARLY_EMPTY: f64 = 0.95;
const EMPTY_FACTOR: f64 = 0.5;
/// A window grown this wide limits nothing the run's `concurrency` does not: the scope is free.
const FREE_ABOVE: f64 = 512.0;

#[derive(Default)]
pub(crate) struct Pacer {
    state: Mutex<State>,
    /// Woken when a slot is freed or a hold ends.
    freed: Notify,
}

#[derive(Default)]
struct State {
    /// Path family (`users`) -> the throttle scope its answers named.
    scope_of: HashMap<String, String>,
    scopes: HashMap<String, Scope>,
    /// Requests in flight per family, counted before its scope is known, so the first window
    /// starts from what was really sent.
    in_flight: HashMap<String, usize>,
}

#[derive(Default)]
struct Scope {
    /// Requests allowed in flight (never below 1); `None` while the scope has not run hot.
    window: Option<f64>,
    /// Nobody in the scope starts before this (a 429's `Retry-After`).
    hold_until: Option<Instant>,
    /// The last shrink: answers to requests sent before it say nothing of the new window.
    shrunk_at: Option<Instant>,
}

/// Slots held by one request (or one `$batch` envelope's items) until dropped.
pub(crate) struct Paced<'a> {
    pacer: &'a Pacer,
    families: Vec<String>,
    sent: Instant,
}

impl Paced<'_> {
    /// When the slots were granted: the answers' heat describes the window of that moment.
    pub fn sent(&self) -> Instant {
        self.sent
    }
}

impl Drop for Paced<'_> {
    fn drop(&mut self) {
        let mut state = self.pacer.lock();
        for family in &self.families {
            if let Some(n) = state.in_flight.get_mut(family) {
                *n = n.saturating_sub(1);
            }
        }
        drop(state);
        self.pacer.freed.notify_waiters();
    }
}

impl State {
    fn scope_in_flight(&self, scope: &str) -> usize {
        self.scope_of
            .iter()
            .filter(|(_, s)| s.as_str() == scope)
            .map(|(family, _)| self.in_flight.get(family).copied().unwrap_or(0))
            .sum()
    }

    /// Takes a slot for every URL at once, or says until when to wait (`None`: until a slot is
    /// freed). All or nothing, so envelopes waiting for slots never hold some of them.
    fn try_take(&mut self, urls: &[&str], now: Instant) -> Result<Vec<String>, Option<Instant>> {
        let mut wanted: HashMap<&str, usize> = HashMap::new();
        for url in urls {
            if let Some(scope) = self.scope_of.get(family(url)) {
                *wanted.entry(scope.as_str()).or_default() += 1;
            }
        }
        for (scope_name, &n) in &wanted {
            let Some(scope) = self.scopes.get(*scope_name) else {
                continue;
            };
            if let Some(until) = scope.hold_until.filter(|&until| until > now) {
                return Err(Some(until));
            }
            let busy = self.scope_in_flight(scope_name);
            // An envelope wider than the window still goes, alone.
            if let Some(window) = scope.window
                && busy > 0
                && (busy + n) as f64 > window
            {
                return Err(None);
            }
        }
        let families: Vec<String> = urls.iter().map(|url| family(url).to_string()).collect();
        for family in &families {
            *self.in_flight.entry(family.clone()).or_default() += 1;
        }
        Ok(families)
    }
}

impl Pacer {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a slot in the scope of each URL (none while a scope is unknown or free) and
    /// holds them until the returned guard is dropped.
    pub async fn acquire(&self, urls: &[&str]) -> Paced<'_> {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            // Registered before the check, so a slot freed in between still wakes this waiter.
            freed.as_mut().enable();
            let now = Instant::now();
            let taken = self.lock().try_take(urls, now);
            match taken {
                Ok(families) => {
                    return Paced {
                        pacer: self,
                        families,
                        sent: now,
                    };
                }
                Err(Some(until)) => tokio::time::sleep_until(until.into()).await,
                Err(None) => freed.await,
            }
        }
    }

    /// Learns from an answer to `url`, sent at `sent`: its scope, how full the bucket is, and a
    /// 429's wait.
    pub fn observe(
        &self,
        url: &str,
        sent: Instant,
        headers: &HeaderMap,
        retry_after: Option<Duration>,
    ) {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let Some(scope_name) = header(SCOPE) else {
            return;
        };
        let usage = header(USAGE).and_then(|v| v.trim().parse::<f64>().ok());
        let mut state = self.lock();
        state
            .scope_of
            .entry(family(url).to_string())
            .or_insert_with(|| scope_name.to_string());
        let busy = state.scope_in_flight(scope_name);
        let scope = state.scopes.entry(scope_name.to_string()).or_default();
        let now = Instant::now();
        // A share of 100% and more is past nearly empty, and past hot.
        let nearly_empty = retry_after.is_some() || usage.is_some_and(|used| used >= NEARLY_EMPTY);
        let hot = nearly_empty || usage.is_some_and(|used| used > SLOW_ABOVE);
        let cool = usage.is_none_or(|used| used < EASE_BELOW);
        let mut grown = false;
        if hot {
            // Once per round trip: the answers already on their way report the same heat.
            if scope.shrunk_at.is_none_or(|at| sent >= at) {
                let window = scope.window.unwrap_or(busy.max(1) as f64);
                // Running free until now, it ran at full `concurrency`: far too fast.
                let factor = match nearly_empty || scope.window.is_none() {
                    true => EMPTY_FACTOR,
                    false => HOT_FACTOR,
                };
                scope.window = Some((window * factor).max(1.0));
                scope.shrunk_at = Some(now);
            }
        } else if cool && let Some(window) = scope.window {
            // One more request per round trip: a window's worth of answers adds one.
            let wider = window + 1.0 / window;
            scope.window = (wider < FREE_ABOVE).then_some(wider);
            grown = true;
        }
        if let Some(wait) = retry_after {
            // The bucket is empty: nobody in the scope starts before it refills.
            let until = now + wait;
            scope.hold_until = Some(scope.hold_until.map_or(until, |held| held.max(until)));
        }
        drop(state);
        if grown {
            // A wider window admits more of those waiting.
            self.freed.notify_waiters();
        }
    }

    /// The window a scope runs at now (`None`: free), for tests.
    #[cfg(test)]
    fn window(&self, scope: &str) -> Option<f64> {
        self.lock().scopes.get(scope).and_then(|s| s.window)
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
    async fn a_hot_scope_shrinks_its_window_once_per_round_and_a_cool_one_grows_it() {
        let pacer = Pacer::default();
        let url = "http://h/v1.0/groups/g/members";
        // Unknown scope: slots are granted, and counted.
        let urls = [url];
        let sent: Vec<_> = futures::future::join_all((0..10).map(|_| pacer.acquire(&urls))).await;
        pacer.observe(url, sent[0].sent(), &answer("T/R", Some("0.9")), None);
        assert_eq!(
            pacer.window("T/R"),
            Some(10.0 * EMPTY_FACTOR),
            "from what was in flight, halved the first time"
        );
        // Answers to requests sent before the shrink report the same heat: no second shrink.
        pacer.observe(url, sent[1].sent(), &answer("T/R", Some("0.97")), None);
        assert_eq!(pacer.window("T/R"), Some(5.0));
        pacer.observe(url, Instant::now(), &answer("T/R", Some("0.9")), None);
        assert_eq!(pacer.window("T/R"), Some(5.0 * HOT_FACTOR), "a round later");
        pacer.observe(url, sent[2].sent(), &answer("T/R", Some("0.82")), None);
        assert_eq!(pacer.window("T/R"), Some(4.0), "in the band: hold");
        drop(sent);
        pacer.observe(url, Instant::now(), &answer("T/R", None), None);
        assert_eq!(pacer.window("T/R"), Some(4.0 + 1.0 / 4.0));
        for _ in 0..150_000 {
            pacer.observe(url, Instant::now(), &answer("T/R", None), None);
        }
        assert_eq!(pacer.window("T/R"), None, "grown free");
        // Another family in the same scope shares its window once an answer names it; an
        // empty bucket halves it.
        let users = "http://h/v1.0/users";
        let urls = [users];
        let held: Vec<_> = futures::future::join_all((0..6).map(|_| pacer.acquire(&urls))).await;
        pacer.observe(users, Instant::now(), &answer("T/R", Some("1.2")), None);
        assert_eq!(pacer.window("T/R"), Some(3.0));
        drop(held);
    }

    #[tokio::test]
    async fn the_window_bounds_what_is_in_flight_and_frees_slots_on_drop() {
        let pacer = Pacer::default();
        let url = "http://h/v1.0/users";
        let urls = [url];
        let first: Vec<_> = futures::future::join_all((0..4).map(|_| pacer.acquire(&urls))).await;
        pacer.observe(url, first[0].sent(), &answer("T/R", Some("1.0")), None);
        assert_eq!(pacer.window("T/R"), Some(2.0));
        drop(first);
        let a = pacer.acquire(&[url]).await;
        let b = pacer.acquire(&[url]).await;
        let third = tokio::time::timeout(Duration::from_millis(50), pacer.acquire(&urls)).await;
        assert!(third.is_err(), "a third request waits for a slot");
        drop(a);
        let third = tokio::time::timeout(Duration::from_secs(5), pacer.acquire(&urls)).await;
        assert!(third.is_ok(), "a freed slot admits it");
        drop((b, third));
        // An envelope wider than the window goes alone, never holding part of its slots.
        let five = [url; 5];
        let wide = tokio::time::timeout(Duration::from_secs(5), pacer.acquire(&five)).await;
        assert!(wide.is_ok());
    }

    #[tokio::test]
    async fn after_a_429_nobody_in_the_scope_starts_before_the_bucket_refills() {
        let pacer = Pacer::default();
        let url = "http://h/v1.0/users";
        pacer.observe(
            url,
            Instant::now(),
            &answer("T/R", Some("1.1")),
            Some(Duration::from_millis(80)),
        );
        let started = Instant::now();
        drop(pacer.acquire(&["http://h/v1.0/users?$skiptoken=x"]).await);
        assert!(started.elapsed() >= Duration::from_millis(70));
        // A family never answered with a scope is not held.
        let started = Instant::now();
        drop(pacer.acquire(&["http://h/v1.0/chats"]).await);
        assert!(started.elapsed() < Duration::from_millis(50));
    }
}
