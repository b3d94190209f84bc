//! Log output of a faulty run: attempts carry request ids, secrets and tokens never appear.
//! Alone in its binary, so no concurrent test shares tracing's callsite cache.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use graph_mock::auth::{AuthConfig, TEST_CLIENT_SECRET};
use graph_mock::{Faults, MockConfig};
use support::*;

#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_faulty_run_logs_request_ids_and_no_secret() {
    let faults = Faults::default()
        .throttle_rate(0.1)
        .retry_after_secs(1)
        .unavailable_rate(0.05)
        .drop_rate(0.05)
        .truncate_rate(0.05);
    let mock = start(
        MockConfig::default()
            .faults(faults)
            .auth(AuthConfig::default().with_token_ttl(Duration::from_secs(2))),
    )
    .await;
    let logs = LogBuffer::default();
    let writer = logs.clone();
    // Global, so every thread and task of the run (and the mock) writes to the buffer.
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let streams = [
        "users",
        "groups",
        "group_member",
        "mail_messages",
        "office365_active_user_detail",
    ];
    tracing::subscriber::set_global_default(subscriber).expect("first subscriber");
    let collected = run(config_for(&mock, ""), &streams).await;
    collected.result.expect("run succeeds");
    assert_matches_truth(&mock.truth(), &streams, &collected.pages);

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("request_id="),
        "attempts are logged with request ids"
    );
    assert!(
        text.contains("client_request_id="),
        "and with our client request ids"
    );
    assert!(
        !text.contains(TEST_CLIENT_SECRET),
        "the secret never appears in logs"
    );
    assert!(!text.contains("Bearer "), "no authorization header in logs");
    assert!(!text.contains("access_token"), "no token response in logs");
}
