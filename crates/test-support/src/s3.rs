//! moto's S3 server on loopback, with one bucket.

use std::process::Command;

use object_store::ClientOptions;
use object_store::client::{HttpConnector, ReqwestConnector};

use crate::process::{ServerProcess, block_on};
use crate::tools::tool;

/// A real S3 endpoint (moto's server mode), killed on drop.
pub struct S3Server {
    process: ServerProcess,
    bucket: String,
}

impl S3Server {
    /// The access key the server accepts (moto takes any).
    pub const ACCESS_KEY: &'static str = "testing";
    /// The secret key that goes with it.
    pub const SECRET_KEY: &'static str = "testing";
    /// The region the bucket is in.
    pub const REGION: &'static str = "us-east-1";

    /// Starts the server on a free port and creates the bucket `landing`.
    pub fn start() -> Self {
        let moto = tool("venv/bin/moto_server");
        let process = ServerProcess::start("moto_server", |port| {
            let mut cmd = Command::new(&moto);
            cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
            cmd
        });
        let server = Self {
            process,
            bucket: "landing".into(),
        };
        server.create_bucket();
        server
    }

    /// The server's `http://127.0.0.1:<port>` URL.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.process.port)
    }

    /// The bucket created for this test.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// `s3://<bucket>/<prefix>`
    pub fn url(&self, prefix: &str) -> String {
        format!("s3://{}/{}", self.bucket, prefix.trim_matches('/'))
    }

    /// object_store options that point an S3 client at this server.
    pub fn options(&self) -> Vec<(String, String)> {
        [
            ("aws_endpoint", self.endpoint()),
            ("aws_allow_http", "true".into()),
            ("aws_access_key_id", Self::ACCESS_KEY.into()),
            ("aws_secret_access_key", Self::SECRET_KEY.into()),
            ("aws_region", Self::REGION.into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// [`Self::options`] as a JSON object, as configs carry them (`store_options`, `params`).
    pub fn options_json(&self) -> serde_json::Map<String, serde_json::Value> {
        self.options()
            .into_iter()
            .map(|(k, v)| (k, serde_json::Value::String(v)))
            .collect()
    }

    /// DuckDB's `CREATE SECRET` for this server (httpfs), scoped to the bucket.
    pub fn duckdb_secret(&self) -> String {
        format!(
            "CREATE OR REPLACE SECRET landing_s3 (TYPE s3, KEY_ID '{}', SECRET '{}', REGION '{}', \
             ENDPOINT '127.0.0.1:{}', URL_STYLE 'path', USE_SSL false, SCOPE 's3://{}');",
            Self::ACCESS_KEY,
            Self::SECRET_KEY,
            Self::REGION,
            self.process.port,
            self.bucket
        )
    }

    /// The same settings as `AWS_*` environment variables, for child processes.
    pub fn env(&self) -> Vec<(String, String)> {
        self.options()
            .into_iter()
            .map(|(k, v)| match k.as_str() {
                "aws_endpoint" => ("AWS_ENDPOINT_URL".into(), v),
                _ => (k.to_ascii_uppercase(), v),
            })
            .collect()
    }

    /// Copies every object under `prefix` to `dir` (same relative paths), so a landing on S3 can
    /// be read back with the local DuckDB checks.
    pub fn download(&self, prefix: &str, dir: &std::path::Path) -> usize {
        use object_store::aws::AmazonS3Builder;
        use object_store::{ObjectStore, ObjectStoreExt};
        let mut builder = AmazonS3Builder::new().with_bucket_name(&self.bucket);
        for (key, value) in self.options() {
            builder = builder.with_config(key.parse().expect("an S3 option"), value);
        }
        let store = builder.build().expect("S3 client");
        let prefix = object_store::path::Path::from(prefix.trim_matches('/'));
        block_on(async {
            use futures::TryStreamExt;
            let objects: Vec<_> = store
                .list(Some(&prefix))
                .try_collect()
                .await
                .expect("listing the bucket");
            for object in &objects {
                let relative =
                    object.location.as_ref()[prefix.as_ref().len()..].trim_start_matches('/');
                let local = dir.join(relative);
                std::fs::create_dir_all(local.parent().expect("a parent")).expect("mkdir");
                let bytes = store
                    .get(&object.location)
                    .await
                    .expect("get")
                    .bytes()
                    .await
                    .expect("body");
                std::fs::write(&local, &bytes).expect("written");
            }
            objects.len()
        })
    }

    /// Keys of the multipart uploads begun in the bucket and neither completed nor aborted: what
    /// S3 keeps billing for.
    pub fn open_multipart_uploads(&self) -> Vec<String> {
        let url = format!("{}/{}?uploads", self.endpoint(), self.bucket);
        let body = block_on(async {
            let client = ReqwestConnector::default()
                .connect(&ClientOptions::new().with_allow_http(true))
                .expect("HTTP client");
            let request = http::Request::get(&url)
                .body(Vec::<u8>::new().into())
                .expect("request");
            let response = client.execute(request).await.expect("listing uploads");
            assert!(
                response.status().is_success(),
                "{url}: {}",
                response.status()
            );
            response.into_body().bytes().await.expect("body")
        });
        let xml = String::from_utf8_lossy(&body);
        // ListMultipartUploadsResult: one <Upload><Key>…</Key>… per open upload.
        xml.split("<Upload>")
            .skip(1)
            .filter_map(|upload| {
                let start = upload.find("<Key>")? + "<Key>".len();
                let end = upload[start..].find("</Key>")? + start;
                Some(upload[start..end].to_string())
            })
            .collect()
    }

    /// moto accepts unsigned requests, so a plain PUT creates the bucket.
    fn create_bucket(&self) {
        let url = format!("{}/{}", self.endpoint(), self.bucket);
        let status = block_on(async {
            let client = ReqwestConnector::default()
                .connect(&ClientOptions::new().with_allow_http(true))
                .expect("HTTP client");
            let request = http::Request::put(&url)
                .body(Vec::<u8>::new().into())
                .expect("request");
            client.execute(request).await.map(|r| r.status())
        });
        match status {
            Ok(status) if status.is_success() => {}
            other => panic!(
                "creating bucket at {url}: {other:?}\n{}",
                self.process.log_text()
            ),
        }
    }
}
