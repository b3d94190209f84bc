//! What a long run shows while it goes: indicatif bars on a terminal, periodic log lines elsewhere
//! (CI, `--json-logs`), and per-stream timings for the final summary.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often a non-terminal run logs a progress line.
const LOG_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, Default)]
pub struct StreamProgress {
    pub pages: u64,
    pub rows: u64,
    pub bytes: u64,
    first: Option<Instant>,
    last: Option<Instant>,
}

impl StreamProgress {
    /// From the first page to the last one received.
    pub fn seconds(&self) -> f64 {
        match (self.first, self.last) {
            (Some(first), Some(last)) => (last - first).as_secs_f64(),
            _ => 0.0,
        }
    }

    fn rate(&self, now: Instant) -> f64 {
        let elapsed = self.first.map(|f| (now - f).as_secs_f64()).unwrap_or(0.0);
        if elapsed > 0.0 {
            self.rows as f64 / elapsed
        } else {
            0.0
        }
    }
}

struct Inner {
    started: Instant,
    streams: Mutex<BTreeMap<String, StreamProgress>>,
    bars: Option<(MultiProgress, BTreeMap<String, ProgressBar>)>,
}

/// Cheap to clone; every clone updates the same counters.
#[derive(Clone)]
pub struct Progress {
    inner: Arc<Inner>,
}

impl Progress {
    /// Bars when stderr is a terminal and logs are for humans; log lines otherwise.
    pub fn start(streams: &[String], json_logs: bool) -> Self {
        let bars = (std::io::stderr().is_terminal() && !json_logs).then(|| bars_for(streams));
        let progress = Self {
            inner: Arc::new(Inner {
                started: Instant::now(),
                streams: Mutex::new(
                    streams
                        .iter()
                        .map(|s| (s.clone(), StreamProgress::default()))
                        .collect(),
                ),
                bars,
            }),
        };
        if progress.inner.bars.is_none() {
            let weak = Arc::downgrade(&progress.inner);
            tokio::spawn(async move {
                let mut ticker = tokio::time::interval(LOG_EVERY);
                ticker.tick().await;
                loop {
                    ticker.tick().await;
                    let Some(inner) = weak.upgrade() else { break };
                    log_line(&inner);
                }
            });
        }
        progress
    }

    pub fn page(&self, stream: &str, rows: u64, bytes: u64) {
        let now = Instant::now();
        let snapshot = {
            let mut streams = self.inner.streams.lock().expect("progress lock");
            // Landed streams are inserted at start; looking up first avoids a String per page.
            if !streams.contains_key(stream) {
                streams.insert(stream.to_string(), StreamProgress::default());
            }
            let entry = streams.get_mut(stream).expect("inserted above");
            entry.pages += 1;
            entry.rows += rows;
            entry.bytes += bytes;
            entry.first.get_or_insert(now);
            entry.last = Some(now);
            *entry
        };
        if let Some((_, bars)) = &self.inner.bars
            && let Some(bar) = bars.get(stream)
        {
            bar.set_position(snapshot.rows);
            bar.set_message(format!(
                "{} pages  {:.0} rows/s",
                snapshot.pages,
                snapshot.rate(now)
            ));
        }
    }

    pub fn streams(&self) -> BTreeMap<String, StreamProgress> {
        self.inner.streams.lock().expect("progress lock").clone()
    }

    /// Stops the bars (the summary follows on stdout).
    pub fn finish(&self) {
        if let Some((multi, bars)) = &self.inner.bars {
            for bar in bars.values() {
                bar.finish();
            }
            let _ = multi.clear();
        }
    }
}

fn bars_for(streams: &[String]) -> (MultiProgress, BTreeMap<String, ProgressBar>) {
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
    let width = streams.iter().map(String::len).max().unwrap_or(10);
    let style = ProgressStyle::with_template(&format!(
        "{{spinner}} {{prefix:<{width}}} {{pos:>10}} rows  {{msg}}"
    ))
    .expect("a valid progress template");
    let bars = streams
        .iter()
        .map(|stream| {
            let bar = multi.add(ProgressBar::no_length().with_style(style.clone()));
            bar.set_prefix(stream.clone());
            bar.enable_steady_tick(Duration::from_millis(200));
            (stream.clone(), bar)
        })
        .collect();
    (multi, bars)
}

fn log_line(inner: &Inner) {
    let now = Instant::now();
    let streams = inner.streams.lock().expect("progress lock").clone();
    let rows: u64 = streams.values().map(|s| s.rows).sum();
    let pages: u64 = streams.values().map(|s| s.pages).sum();
    let busy: Vec<String> = streams
        .iter()
        .filter(|(_, s)| s.last.is_some_and(|l| now - l < LOG_EVERY))
        .map(|(name, s)| format!("{name} {} rows ({:.0}/s)", s.rows, s.rate(now)))
        .collect();
    tracing::info!(
        target: "msgraph_sync::progress",
        elapsed_s = (now - inner.started).as_secs(),
        rows,
        pages,
        "{}",
        if busy.is_empty() {
            "waiting for Graph".to_string()
        } else {
            busy.join(", ")
        }
    );
}
