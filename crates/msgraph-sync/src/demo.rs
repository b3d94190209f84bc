//! `sync --demo`: the mock tenant in-process, so a new user lands every stream with no credentials.

use graph_extract::Config;
use graph_mock::auth::{TEST_CLIENT_ID, TEST_CLIENT_SECRET, TEST_TENANT_ID};
use graph_mock::{MockConfig, MockServer};

pub const DEFAULT_OUTPUT: &str = "msgraph-demo";

pub struct Demo {
    server: MockServer,
}

impl Demo {
    pub async fn start(catalog: stream_spec::Catalog) -> anyhow::Result<Self> {
        let server = MockServer::start(MockConfig::default().catalog(catalog)).await?;
        eprintln!("demo tenant serving on {}", server.graph_url());
        Ok(Self { server })
    }

    /// The config a user would write, pointing at the demo tenant.
    pub fn config(&self) -> Config {
        let json = serde_json::json!({
            "tenant_id": TEST_TENANT_ID,
            "client_id": TEST_CLIENT_ID,
            "client_secret": TEST_CLIENT_SECRET,
            "graph_base_url": self.server.graph_url(),
            "authority_host": self.server.authority_host(),
        });
        Config::from_json(&json.to_string()).expect("the demo config is valid")
    }
}

pub fn print_try_this(output: &str) {
    println!();
    println!("Try it with DuckDB:");
    println!(
        "  duckdb -c \"SELECT department, count(*) AS users FROM read_parquet('{output}/users/**/*.parquet', \
         hive_partitioning=true, union_by_name=true) GROUP BY ALL ORDER BY users DESC\""
    );
    // The views script's command is in the summary above, as after every sync.
}
