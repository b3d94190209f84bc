//! The fuzz suite's runner: proptest with a case count from the environment, a watchdog that
//! turns a hang into a failure, and one line per target saying how many inputs were tried.
//!
//! `MSGRAPH_SYNC_FUZZ_CASES` sets the inputs per target (default 256: CI's smoke size);
//! `MSGRAPH_SYNC_FUZZ_REPORT=FILE` appends `target<TAB>inputs<TAB>seconds` per target, which is
//! how RELIABILITY.md's table is made.

use std::io::Write;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

pub use proptest;

const DEFAULT_CASES: u32 = 256;

/// A two-worker tokio runtime, for targets that drive async code (a sink run) per input.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Inputs per target for this run.
pub fn fuzz_cases() -> u32 {
    std::env::var("MSGRAPH_SYNC_FUZZ_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(DEFAULT_CASES)
}

/// Runs `test` on `cases` inputs drawn from the strategy `make` builds (shrinking any failure
/// to a minimal one) on a thread of its own: a panic fails the case, and no answer within
/// `per_case` per input (plus a minute) fails the target as a hang.
pub fn fuzz<S, M>(
    target: &str,
    cases: u32,
    per_case: Duration,
    make: M,
    test: impl Fn(S::Value) -> Result<(), TestCaseError> + Send + 'static,
) where
    // Built on the fuzz thread: recursive strategies are not `Send`.
    M: FnOnce() -> S + Send + 'static,
    S: Strategy,
    S::Value: std::fmt::Debug,
{
    let started = Instant::now();
    let (done, outcome) = mpsc::channel();
    let name = target.to_string();
    std::thread::Builder::new()
        .name(format!("fuzz-{target}"))
        // The stack a decode thread (rayon's default) or a tokio worker has: code that recurses
        // on deeply nested input must overflow here as it would in a run.
        .stack_size(2 << 20)
        .spawn(move || {
            let mut runner = TestRunner::new(Config {
                cases,
                failure_persistence: None,
                // Shrinking a 10^5-deep input could outlast the watchdog; a few steps suffice.
                max_shrink_iters: 256,
                ..Config::default()
            });
            let result = runner.run(&make(), test).map_err(|e| describe(&name, e));
            let _ = done.send(result);
        })
        .expect("fuzz thread");
    let limit = per_case * cases + Duration::from_secs(60);
    match outcome.recv_timeout(limit) {
        Ok(Ok(())) => {}
        Ok(Err(failure)) => panic!("{failure}"),
        Err(_) => panic!(
            "fuzz {target}: no answer within {limit:?} for {cases} inputs (a hang or a crawl)"
        ),
    }
    let seconds = started.elapsed().as_secs_f64();
    println!("fuzz {target}: {cases} inputs, no failure, {seconds:.1} s");
    if let Some(path) = std::env::var_os("MSGRAPH_SYNC_FUZZ_REPORT") {
        let line = format!("{target}\t{cases}\t{seconds:.1}\n");
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut file| file.write_all(line.as_bytes()));
    }
}

/// The failure with its minimal input, cut short: fuzz inputs can be megabytes.
fn describe<T: std::fmt::Debug>(target: &str, error: TestError<T>) -> String {
    let text = match error {
        TestError::Abort(reason) => format!("aborted: {reason}"),
        TestError::Fail(reason, input) => format!("{reason}\nminimal input: {input:?}"),
    };
    let mut cut = text.len().min(4096);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("fuzz {target} failed: {}", &text[..cut])
}

/// Generators shared by the fuzz targets.
pub mod inputs {
    use proptest::collection::vec;
    use proptest::prelude::*;
    use serde_json::{Map, Value, json};

    /// Any JSON value, a few levels deep, with the odd strings hostile input carries.
    pub fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| json!(f)),
            Just(json!(u64::MAX)),
            Just(json!(1e308)),
            text().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                vec(inner.clone(), 0..6).prop_map(Value::Array),
                vec((key(), inner), 0..6)
                    .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
            ]
        })
    }

    /// Property names: plain, Graph's annotations, and odd ones.
    pub fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z]{1,12}",
            Just("id".to_string()),
            Just("@odata.type".to_string()),
            Just("@removed".to_string()),
            Just("value".to_string()),
            Just("@odata.nextLink".to_string()),
            text(),
        ]
    }

    /// Strings with escapes, control characters, astral characters, dates and numbers in text.
    pub fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "\\PC{0,24}",
            "[\\x00-\\x1f\"\\\\/]{0,8}",
            Just("2024-03-01T10:20:30.1234567Z".to_string()),
            Just("9999-12-31T23:59:59Z".to_string()),
            Just("0001-01-01T00:00:00Z".to_string()),
            Just("not a date".to_string()),
            Just("12345678901234567890".to_string()),
            Just("𝄞 é ✓".to_string()),
        ]
    }

    /// Whether `text` parses as JSON in which `secret` occurs only as the value of one of
    /// `secret_keys`: then no error may repeat it. Text that does not parse cannot have moved it.
    pub fn secret_still_in_place(text: &[u8], secret: &str, secret_keys: &[&str]) -> bool {
        fn elsewhere(
            value: &Value,
            secret: &str,
            secret_keys: &[&str],
            under_secret: bool,
        ) -> bool {
            match value {
                Value::String(s) => s.contains(secret) && !under_secret,
                Value::Array(items) => items
                    .iter()
                    .any(|v| elsewhere(v, secret, secret_keys, false)),
                Value::Object(map) => map.iter().any(|(k, v)| {
                    k.contains(secret)
                        || elsewhere(v, secret, secret_keys, secret_keys.contains(&k.as_str()))
                }),
                _ => false,
            }
        }
        match serde_json::from_slice::<Value>(text) {
            Ok(value) => !elsewhere(&value, secret, secret_keys, false),
            Err(_) => true,
        }
    }

    /// JSON text nested `depth` levels deep, objects and arrays alternating.
    pub fn deep(depth: usize) -> String {
        let mut text = String::with_capacity(depth * 7);
        for level in 0..depth {
            text.push_str(if level % 2 == 0 { "{\"d\":" } else { "[" });
        }
        text.push('1');
        for level in (0..depth).rev() {
            text.push(if level % 2 == 0 { '}' } else { ']' });
        }
        text
    }

    /// One change to well-formed input, of the kinds broken servers and taps send.
    #[derive(Debug, Clone)]
    pub enum Mutation {
        /// Cut at this fraction of the length (a dropped connection).
        Truncate(f64),
        /// Overwrite the byte at this fraction with this byte.
        Flip(f64, u8),
        /// Insert bytes that are not UTF-8 at this fraction.
        InvalidUtf8(f64),
        /// Insert this text at this fraction.
        Insert(f64, String),
        /// Repeat the slice between the two fractions (duplicate keys and records).
        Repeat(f64, f64),
        /// Delete the slice between the two fractions.
        Delete(f64, f64),
    }

    /// Any one mutation, its places as fractions of the input's length.
    pub fn mutation() -> impl Strategy<Value = Mutation> {
        let at = 0.0..1.0f64;
        prop_oneof![
            at.clone().prop_map(Mutation::Truncate),
            (at.clone(), any::<u8>()).prop_map(|(a, b)| Mutation::Flip(a, b)),
            at.clone().prop_map(Mutation::InvalidUtf8),
            (
                at.clone(),
                prop_oneof![
                    Just(",".to_string()),
                    Just("\"".to_string()),
                    Just("{".to_string()),
                    Just("]".to_string()),
                    Just("null".to_string()),
                    Just("\\u00".to_string()),
                    Just("\r\n".to_string()),
                    Just("\u{feff}".to_string()),
                    "\\PC{0,8}",
                ]
            )
                .prop_map(|(a, s)| Mutation::Insert(a, s)),
            (at.clone(), at.clone()).prop_map(|(a, b)| Mutation::Repeat(a, b)),
            (at.clone(), at).prop_map(|(a, b)| Mutation::Delete(a, b)),
        ]
    }

    /// Input bytes, shown as (lossy) text when a failure is reported.
    #[derive(Clone)]
    pub struct Blob(pub Vec<u8>);

    impl std::fmt::Debug for Blob {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{:?}", String::from_utf8_lossy(&self.0))
        }
    }

    /// `base` with a number of mutations drawn from `count`.
    pub fn mutated(
        base: impl Strategy<Value = Vec<u8>>,
        count: std::ops::Range<usize>,
    ) -> impl Strategy<Value = Blob> {
        (base, vec(mutation(), count)).prop_map(|(mut bytes, mutations)| {
            for m in mutations {
                apply(&mut bytes, &m);
            }
            Blob(bytes)
        })
    }

    /// Applies `mutation` to `bytes` in place.
    pub fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
        let at = |f: f64, len: usize| ((f * len as f64) as usize).min(len);
        let len = bytes.len();
        match mutation {
            Mutation::Truncate(f) => bytes.truncate(at(*f, len)),
            Mutation::Flip(f, b) => {
                if len > 0 {
                    let i = at(*f, len - 1);
                    bytes[i] = *b;
                }
            }
            Mutation::InvalidUtf8(f) => {
                let i = at(*f, len);
                bytes.splice(i..i, [0xff, 0xc3]);
            }
            Mutation::Insert(f, s) => {
                let i = at(*f, len);
                bytes.splice(i..i, s.bytes());
            }
            Mutation::Repeat(a, b) => {
                let (i, j) = (at(a.min(*b), len), at(a.max(*b), len));
                let slice = bytes[i..j].to_vec();
                bytes.splice(j..j, slice);
            }
            Mutation::Delete(a, b) => {
                let (i, j) = (at(a.min(*b), len), at(a.max(*b), len));
                bytes.drain(i..j);
            }
        }
    }
}
