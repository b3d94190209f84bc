//! The `graph-mock` binary prints where it serves and answers there.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Kills the server even when an assertion fails first.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn binary_prints_urls_and_serves() {
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_graph-mock"))
            .args(["--users", "3", "--port", "0"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let started = Instant::now();
    let mut graph = None;
    while graph.is_none() && started.elapsed() < Duration::from_secs(20) {
        let Some(Ok(line)) = lines.next() else { break };
        graph = line
            .trim()
            .strip_prefix("graph:")
            .map(|url| url.trim().to_string());
    }
    let graph = graph.expect("prints the graph URL");
    let base = graph.trim_end_matches("/v1.0");
    let truth: serde_json::Value = reqwest::get(format!("{base}/_admin/truth"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    drop(child);
    assert_eq!(truth["streams"]["users"]["rows"], 3);
}
