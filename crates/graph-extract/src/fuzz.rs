//! Issue 15, item 11: config files, `Retry-After` values and token answers as a careless user or
//! a broken identity endpoint writes them. Invariants: no panic, no hang, and a secret in the
//! input never comes back in an error unless the input itself moved it out of its secret field.
//! Sizes: `MSGRAPH_SYNC_FUZZ_CASES` (see RELIABILITY.md).

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use test_support::fuzz::inputs::{json_value, key, mutated, secret_still_in_place, text};
use test_support::fuzz::proptest::collection::vec;
use test_support::fuzz::proptest::prelude::*;
use test_support::fuzz::{fuzz, fuzz_cases};

use crate::auth::entra::read_token_answer;
use crate::auth::managed_identity::read_identity_answer;
use crate::retry::{Failure, RetryPolicy, parse_retry_after};

const SECRET: &str = "S3cr3t-Fuzz-0b9f";

fn config_text() -> impl Strategy<Value = Vec<u8>> {
    let number = prop_oneof![
        any::<i64>().prop_map(|n| json!(n)),
        text().prop_map(Value::String),
        Just(json!("999")),
        Just(json!(1e300)),
        json_value(),
    ];
    (
        prop::option::of(number.clone()),
        prop::option::of(number),
        prop::option::of(prop_oneof![
            Just(json!("global")),
            Just(json!("usgov")),
            json_value()
        ]),
        prop::option::of(text()),
        vec(text(), 0..3),
        vec((key(), json_value()), 0..3),
    )
        .prop_map(
            |(page_size, concurrency, cloud, start_date, domains, extra)| {
                let mut config = json!({
                    "tenant_id": "00000000-0000-0000-0000-000000000001",
                    "client_id": "00000000-0000-0000-0000-000000000002",
                    "client_secret": SECRET,
                    "domains": domains,
                });
                let object = config.as_object_mut().expect("an object");
                for (k, v) in [
                    ("page_size", page_size),
                    ("concurrency", concurrency),
                    ("cloud", cloud),
                    ("start_date", start_date.map(Value::String)),
                ] {
                    if let Some(v) = v {
                        object.insert(k.into(), v);
                    }
                }
                for (k, v) in extra {
                    if !k.contains("secret") {
                        object.insert(k, v);
                    }
                }
                serde_json::to_vec_pretty(&config).expect("serializable")
            },
        )
}

#[test]
fn fuzz_config_files() {
    fuzz(
        "config files (graph-extract)",
        fuzz_cases(),
        Duration::from_millis(50),
        || mutated(config_text(), 0..3),
        |bytes| {
            let bytes = bytes.0;
            let Ok(text) = std::str::from_utf8(&bytes) else {
                return Ok(()); // the binary reads the file as UTF-8 first and says so
            };
            if let Err(e) = crate::Config::from_json(text) {
                let message = e.to_string();
                prop_assert!(!message.is_empty());
                if secret_still_in_place(&bytes, SECRET, &["client_secret"]) {
                    prop_assert!(!message.contains(SECRET), "secret echoed: {message}");
                }
            }
            Ok(())
        },
    );
}

#[test]
fn fuzz_retry_after() {
    let policy = RetryPolicy {
        max_attempts: 6,
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(2),
        default_retry_after: Duration::from_secs(7),
        max_retry_after: Duration::from_secs(60),
    };
    let value = prop_oneof![
        "[0-9]{1,30}",
        "-?[0-9]{0,20}\\.?[0-9]{0,20}(e[+-]?[0-9]{1,4})?",
        Just("NaN".to_string()),
        Just("inf".to_string()),
        Just("-0".to_string()),
        Just("Wed, 21 Oct 2015 07:28:00 GMT".to_string()),
        Just("Fri, 31 Dec 9999 23:59:59 GMT".to_string()),
        "\\PC{0,40}",
    ];
    let statuses = prop_oneof![Just(429u16), Just(503), Just(504), 100u16..600];
    fuzz(
        "Retry-After values",
        fuzz_cases() * 4,
        Duration::from_millis(10),
        move || (value, statuses, 1u32..8),
        move |(value, status, attempt)| {
            let now = SystemTime::now();
            let _ = parse_retry_after(&value, now);
            if let Some(delay) =
                policy.next_delay(attempt, Failure::Status(status, Some(&value)), now)
            {
                prop_assert!(delay <= policy.max_retry_after.max(policy.max_delay));
            }
            Ok(())
        },
    );
}

/// An answer from Entra's token endpoint or a managed-identity endpoint, well-formed or not.
fn token_answer() -> impl Strategy<Value = (u16, test_support::fuzz::inputs::Blob)> {
    let lifetime = prop_oneof![
        any::<u64>().prop_map(|n| json!(n)),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n.to_string())),
        Just(json!("1e20")),
        Just(json!(-1)),
        Just(json!(3599.5)),
        json_value(),
    ];
    let body = prop_oneof![
        (lifetime.clone(), prop::option::of(lifetime)).prop_map(|(expires_in, expires_on)| {
            let mut body = json!({
                "token_type": "Bearer",
                "access_token": SECRET,
                "refresh_token": SECRET,
                "expires_in": expires_in,
            });
            if let Some(on) = expires_on {
                body["expires_on"] = on;
            }
            serde_json::to_vec(&body).expect("serializable")
        }),
        (text(), vec(any::<u64>(), 0..3)).prop_map(|(description, codes)| {
            serde_json::to_vec(&json!({
                "error": "invalid_client",
                "error_description": description,
                "error_codes": codes,
                "trace_id": "t",
            }))
            .expect("serializable")
        }),
        json_value().prop_map(|v| serde_json::to_vec(&v).expect("serializable")),
        vec(any::<u8>(), 0..64),
    ];
    let status = prop_oneof![
        Just(200u16),
        Just(400),
        Just(401),
        Just(429),
        Just(503),
        100u16..600
    ];
    (status, mutated(body, 0..3))
}

#[test]
fn fuzz_token_answers() {
    fuzz(
        "token answers (Entra and managed identity)",
        fuzz_cases() * 2,
        Duration::from_millis(20),
        token_answer,
        |(status, body)| {
            let body = body.0;
            let now = SystemTime::now();
            let latest = now + Duration::from_secs(24 * 3600);
            let in_place = secret_still_in_place(&body, SECRET, &["access_token", "refresh_token"]);
            match read_token_answer("https://login.example/token", status, &body, now) {
                Ok(answer) => prop_assert!(answer.access.expires_at <= latest),
                Err(e) => {
                    let message = format!("{e} {e:?}");
                    if in_place {
                        prop_assert!(!message.contains(SECRET), "token echoed: {message}");
                    }
                }
            }
            match read_identity_answer("http://169.254.169.254/identity", status, &body, now) {
                Ok(token) => prop_assert!(token.expires_at <= latest),
                Err(e) => {
                    let message = format!("{e} {e:?}");
                    if in_place {
                        prop_assert!(!message.contains(SECRET), "token echoed: {message}");
                    }
                }
            }
            Ok(())
        },
    );
}
