//! Where a landing lives: one object store plus a root prefix, built from a URL with object_store's
//! own URL parsing and `from_env` builders.

use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreScheme};
use url::Url;

/// A bad landing URL or a store that could not be configured. Messages show the URL without its
/// query string or user info, where SAS tokens and keys would live.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("landing `{url}` is not a path or a URL: {reason}")]
    BadUrl { url: String, reason: String },
    #[error(
        "landing `{url}`: unsupported scheme (use a path, file://, s3://, az://, abfss:// or gs://)"
    )]
    UnsupportedScheme { url: String },
    #[error("landing `{url}`: {source}")]
    Configure {
        url: String,
        #[source]
        source: object_store::Error,
    },
    #[error("landing directory {dir}: {source}")]
    LocalDir {
        dir: String,
        #[source]
        source: std::io::Error,
    },
}

/// An object store and the root prefix the landing lives under.
#[derive(Debug, Clone)]
pub struct Landing {
    store: Arc<dyn ObjectStore>,
    root: Path,
    display: String,
    /// Smallest part a multipart upload may use (all but the last part).
    min_part_bytes: usize,
}

/// S3 and GCS refuse multipart parts under 5 MiB (except the last).
const S3_MIN_PART_BYTES: usize = 5 * 1024 * 1024;

impl Landing {
    /// Opens a landing from a plain path, `file://`, `s3://bucket/prefix`, `az://container/prefix`,
    /// `abfss://…`, `gs://bucket/prefix` or `memory:///prefix`. Credentials and endpoints come from
    /// the environment (`AWS_*`, `AZURE_*`, `GOOGLE_*`).
    pub fn open(location: &str) -> Result<Self, StoreError> {
        Self::open_with_options(location, std::iter::empty::<(&str, &str)>())
    }

    /// Like [`Landing::open`], with store options (object_store config keys such as
    /// `aws_endpoint`, `aws_allow_http`, `azure_storage_account_key`) that override the environment.
    pub fn open_with_options<I, K, V>(location: &str, options: I) -> Result<Self, StoreError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Into<String>,
    {
        let Some(url) = parse_location(location)? else {
            return Self::local(std::path::Path::new(location));
        };
        let display = redacted(&url);
        const KNOWN: &[&str] = &[
            "file", "memory", "s3", "s3a", "az", "adl", "azure", "abfs", "abfss", "gs", "https",
        ];
        if !KNOWN.contains(&url.scheme()) {
            return Err(StoreError::UnsupportedScheme { url: display });
        }
        let (scheme, root) = ObjectStoreScheme::parse(&url).map_err(|e| StoreError::BadUrl {
            url: display.clone(),
            reason: e.to_string(),
        })?;
        let configure = |source| StoreError::Configure {
            url: display.clone(),
            source,
        };
        let min_part_bytes = match scheme {
            ObjectStoreScheme::AmazonS3 | ObjectStoreScheme::GoogleCloudStorage => {
                S3_MIN_PART_BYTES
            }
            _ => 0,
        };
        let store: Arc<dyn ObjectStore> = match scheme {
            ObjectStoreScheme::Local => {
                let path = url.to_file_path().map_err(|()| StoreError::BadUrl {
                    url: display.clone(),
                    reason: "not a local file path".into(),
                })?;
                return Self::local(&path);
            }
            ObjectStoreScheme::Memory => Arc::new(InMemory::new()),
            ObjectStoreScheme::AmazonS3 => {
                let builder = AmazonS3Builder::from_env().with_url(url.as_str());
                let builder = options.into_iter().fold(builder, |b, (k, v)| {
                    match k.as_ref().to_ascii_lowercase().parse() {
                        Ok(key) => b.with_config(key, v),
                        Err(_) => b,
                    }
                });
                Arc::new(builder.build().map_err(configure)?)
            }
            ObjectStoreScheme::MicrosoftAzure => {
                let builder = MicrosoftAzureBuilder::from_env().with_url(url.as_str());
                let builder = options.into_iter().fold(builder, |b, (k, v)| {
                    match k.as_ref().to_ascii_lowercase().parse() {
                        Ok(key) => b.with_config(key, v),
                        Err(_) => b,
                    }
                });
                Arc::new(builder.build().map_err(configure)?)
            }
            ObjectStoreScheme::GoogleCloudStorage => {
                let builder = GoogleCloudStorageBuilder::from_env().with_url(url.as_str());
                let builder = options.into_iter().fold(builder, |b, (k, v)| {
                    match k.as_ref().to_ascii_lowercase().parse() {
                        Ok(key) => b.with_config(key, v),
                        Err(_) => b,
                    }
                });
                Arc::new(builder.build().map_err(configure)?)
            }
            _ => return Err(StoreError::UnsupportedScheme { url: display }),
        };
        let root = Path::parse(root.as_ref()).map_err(|e| StoreError::BadUrl {
            url: display.clone(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            store,
            root,
            display,
            min_part_bytes,
        })
    }

    /// A landing in a local directory, created when missing.
    pub fn local(dir: &std::path::Path) -> Result<Self, StoreError> {
        let io = |source| StoreError::LocalDir {
            dir: dir.display().to_string(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let dir = dir.canonicalize().map_err(io)?;
        // Cleanup removes directories that deletes leave empty, so superseded partitions go away.
        let store = LocalFileSystem::new_with_prefix(&dir)
            .map_err(|source| StoreError::Configure {
                url: dir.display().to_string(),
                source,
            })?
            .with_automatic_cleanup(true);
        Ok(Self {
            store: Arc::new(store),
            root: Path::default(),
            display: dir.display().to_string(),
            min_part_bytes: 0,
        })
    }

    /// A landing on any store, under `root`. Its multipart parts are at least 5 MiB, which every
    /// store accepts.
    pub fn from_store(store: Arc<dyn ObjectStore>, root: Path) -> Self {
        let display = format!("{store}/{root}");
        Self {
            store,
            root,
            display,
            min_part_bytes: S3_MIN_PART_BYTES,
        }
    }

    /// The smallest multipart part this store accepts; writers raise their buffer to it.
    pub fn min_part_bytes(&self) -> usize {
        self.min_part_bytes
    }

    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The prefix every landing path starts with.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `root/part/part…`
    pub fn path<'a>(&self, parts: impl IntoIterator<Item = &'a str>) -> Path {
        parts
            .into_iter()
            .fold(self.root.clone(), |path, part| path.clone().join(part))
    }
}

impl std::fmt::Display for Landing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display)
    }
}

/// `None` for a plain filesystem path (including Windows drive letters).
fn parse_location(location: &str) -> Result<Option<Url>, StoreError> {
    if location.is_empty() {
        return Err(StoreError::BadUrl {
            url: String::new(),
            reason: "empty landing location".into(),
        });
    }
    if !location.contains("://") && !location.starts_with("memory:") {
        return Ok(None);
    }
    Url::parse(location)
        .map(Some)
        .map_err(|e| StoreError::BadUrl {
            url: location
                .split(['?', '#'])
                .next()
                .unwrap_or_default()
                .to_string(),
            reason: e.to_string(),
        })
}

fn redacted(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    let _ = shown.set_password(None);
    let _ = shown.set_username("");
    shown.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_and_file_urls_open_local_directories() {
        let dir = tempfile::tempdir().unwrap();
        let plain = Landing::open(dir.path().join("a").to_str().unwrap()).unwrap();
        assert!(dir.path().join("a").is_dir());
        assert_eq!(plain.root(), &Path::default());
        let url = Url::from_directory_path(dir.path().join("b")).unwrap();
        Landing::open(url.as_str()).unwrap();
        assert!(dir.path().join("b").is_dir());
    }

    #[test]
    fn cloud_urls_keep_their_prefix_as_root() {
        let s3 = Landing::open_with_options(
            "s3://bucket/landing/graph",
            [("aws_region", "us-east-1"), ("aws_skip_signature", "true")],
        )
        .unwrap();
        assert_eq!(s3.root().as_ref(), "landing/graph");
        let az = Landing::open_with_options(
            "az://container/prefix",
            [("azure_storage_use_emulator", "true")],
        )
        .unwrap();
        assert_eq!(az.root().as_ref(), "prefix");
        let abfss = Landing::open_with_options(
            "abfss://fs@account.dfs.core.windows.net/deep/root",
            [("azure_skip_signature", "true")],
        )
        .unwrap();
        assert_eq!(abfss.root().as_ref(), "deep/root");
        assert_eq!(
            s3.path(["users", "x.parquet"]).as_ref(),
            "landing/graph/users/x.parquet"
        );
    }

    #[test]
    fn bad_urls_are_typed_errors_without_secrets() {
        let err = Landing::open("ftp://host/x?sig=SECRET").unwrap_err();
        assert!(matches!(err, StoreError::UnsupportedScheme { .. }), "{err}");
        assert!(!err.to_string().contains("SECRET"));
        let err = Landing::open("s3://").unwrap_err();
        assert!(matches!(err, StoreError::BadUrl { .. }), "{err}");
        let err = Landing::open("").unwrap_err();
        assert!(matches!(err, StoreError::BadUrl { .. }));
    }
}
