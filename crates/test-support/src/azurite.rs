//! Azurite's Blob service on loopback, with one container.

use std::process::Command;

use object_store::ClientOptions;
use object_store::azure::{AzureAccessKey, AzureAuthorizer, AzureCredential};
use object_store::client::{HttpConnector, ReqwestConnector};

use crate::process::{ServerProcess, block_on};
use crate::tools::tool;

/// Azurite's Blob service with its data in a temporary directory, killed on drop.
pub struct Azurite {
    process: ServerProcess,
    container: String,
    _data: tempfile::TempDir,
}

impl Azurite {
    /// Azurite's well-known development account; public, not a secret.
    pub const ACCOUNT: &'static str = "devstoreaccount1";
    /// That account's well-known key (also public).
    pub const KEY: &'static str =
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    /// Starts Azurite on a free port and creates the container `landing`.
    pub fn start() -> Self {
        let azurite = tool("node_modules/.bin/azurite-blob");
        let data = tempfile::tempdir().expect("Azurite data dir");
        let location = data.path().to_path_buf();
        let process = ServerProcess::start("azurite-blob", |port| {
            let mut cmd = Command::new(&azurite);
            cmd.args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
                .arg("--location")
                .arg(&location)
                .arg("--skipApiVersionCheck");
            cmd
        });
        let azurite = Self {
            process,
            container: "landing".into(),
            _data: data,
        };
        azurite.create_container();
        azurite
    }

    /// The account URL: `http://127.0.0.1:<port>/devstoreaccount1`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/{}", self.process.port, Self::ACCOUNT)
    }

    /// The container created for this test.
    pub fn container(&self) -> &str {
        &self.container
    }

    /// `az://<container>/<prefix>`
    pub fn url(&self, prefix: &str) -> String {
        format!("az://{}/{}", self.container, prefix.trim_matches('/'))
    }

    /// object_store options for this instance. `AZURE_STORAGE_USE_EMULATOR` would fix the port at
    /// 10000 (or read a process-wide variable), so the account endpoint is given instead.
    pub fn options(&self) -> Vec<(String, String)> {
        [
            ("azure_storage_account_name", Self::ACCOUNT.to_string()),
            ("azure_storage_account_key", Self::KEY.to_string()),
            ("azure_storage_endpoint", self.endpoint()),
            ("azure_allow_http", "true".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// DuckDB's `CREATE SECRET` for this instance (azure extension), by connection string.
    pub fn duckdb_secret(&self) -> String {
        format!(
            "CREATE OR REPLACE SECRET landing_az (TYPE azure, CONNECTION_STRING \
             'DefaultEndpointsProtocol=http;AccountName={};AccountKey={};BlobEndpoint={};');",
            Self::ACCOUNT,
            Self::KEY,
            self.endpoint()
        )
    }

    /// The same settings as `AZURE_*` environment variables, for child processes.
    pub fn env(&self) -> Vec<(String, String)> {
        self.options()
            .into_iter()
            .map(|(k, v)| (k.to_ascii_uppercase(), v))
            .collect()
    }

    /// Creates the container with a Shared Key request signed by object_store's own authorizer.
    fn create_container(&self) {
        let url = format!("{}/{}?restype=container", self.endpoint(), self.container);
        let status = block_on(async {
            let client = ReqwestConnector::default()
                .connect(&ClientOptions::new().with_allow_http(true))
                .expect("HTTP client");
            let credential =
                AzureCredential::AccessKey(AzureAccessKey::try_new(Self::KEY).expect("key"));
            let mut request = http::Request::put(&url)
                .header("content-length", "0")
                .body(Vec::<u8>::new().into())
                .expect("request");
            AzureAuthorizer::new(&credential, Self::ACCOUNT)
                .try_authorize(&mut request)
                .expect("signing");
            client.execute(request).await.map(|r| r.status())
        });
        match status {
            Ok(status) if status.is_success() => {}
            other => panic!(
                "creating container at {url}: {other:?}\n{}",
                self.process.log_text()
            ),
        }
    }
}
