//! The `graph-mock` binary as a child process, for benchmarks that must not share their cores'
//! scheduler with the mock (the in-process mock runs on the measured program's tokio runtime).

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, bail};
use serde_json::{Value, json};

/// A running `graph-mock`; killed on drop.
pub struct MockProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`: the admin endpoints live below it.
    pub base: String,
    /// `http://127.0.0.1:PORT/v1.0`
    pub graph: String,
    pub authority: String,
    /// Tenant id, client id, client secret of the mock's test app (the secret is never printed).
    pub credentials: [String; 3],
}

impl Drop for MockProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl MockProcess {
    /// Starts `bin --port 0 <args>` and reads its banner (URLs and the test app's credentials).
    pub fn start(bin: &Path, args: &[String]) -> anyhow::Result<Self> {
        let mut child = Command::new(bin)
            .args(["--port", "0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let stdout = child.stdout.take().expect("piped");
        let mut mock = Self {
            child,
            base: String::new(),
            graph: String::new(),
            authority: String::new(),
            credentials: Default::default(),
        };
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line?;
            if line.starts_with("Ctrl-C") {
                break;
            }
            let Some((key, value)) = line.trim().split_once(':') else {
                continue;
            };
            let value = value.trim().to_string();
            match key {
                "graph" => mock.graph = value,
                "authority host" => mock.authority = value,
                "tenant id" => mock.credentials[0] = value,
                "client id" => mock.credentials[1] = value,
                "client secret" => mock.credentials[2] = value,
                "admin" => {
                    mock.base = value
                        .split_once("/_admin/")
                        .map_or(value.as_str(), |(base, _)| base)
                        .to_string();
                }
                _ => {}
            }
        }
        if mock.graph.is_empty()
            || mock.base.is_empty()
            || mock.credentials.iter().any(String::is_empty)
        {
            bail!(
                "graph-mock exited or changed its banner (no graph or admin URL, or no credentials)"
            );
        }
        Ok(mock)
    }

    /// A msgraph-sync / graph-extract config for the mock's test app, with `extra` merged in.
    pub fn client_config(&self, extra: Value) -> Value {
        let [tenant, client, secret] = &self.credentials;
        let mut config = json!({"tenant_id": tenant, "client_id": client, "client_secret": secret,
                                "graph_base_url": self.graph, "authority_host": self.authority});
        if let (Some(config), Value::Object(extra)) = (config.as_object_mut(), extra) {
            config.extend(extra);
        }
        config
    }

    /// The URL of one of the mock's admin endpoints, e.g. `requests`.
    pub fn admin_url(&self, endpoint: &str) -> String {
        format!("{}/_admin/{endpoint}", self.base)
    }
}
