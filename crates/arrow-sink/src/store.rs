//! Where a landing lives: one object store plus a root prefix, built from a URL with object_store's
//! own URL parsing and `from_env` builders.

use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::buffered::BufWriter;
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
    /// The landing is neither a path nor a URL object_store can parse.
    #[error("landing `{url}` is not a path or a URL: {reason}")]
    BadUrl {
        /// The landing URL, without query string or user info.
        url: String,
        /// What was wrong with it.
        reason: String,
    },
    /// The URL's scheme is none of those supported.
    #[error(
        "landing `{url}`: unsupported scheme (use a path, file://, s3://, az://, abfss:// or gs://)"
    )]
    UnsupportedScheme {
        /// The landing URL, without query string or user info.
        url: String,
    },
    /// object_store could not build the store from the URL, options and environment.
    #[error("landing `{url}`: {source}")]
    Configure {
        /// The landing URL, without query string or user info.
        url: String,
        /// object_store's error.
        #[source]
        source: object_store::Error,
    },
    /// A store option is not one of object_store's config keys for this store.
    #[error(
        "landing `{url}`: unknown store option `{key}` (options are object_store config keys; for \
         this store, e.g. {valid})"
    )]
    UnknownOption {
        /// The landing URL, without query string or user info.
        url: String,
        /// The option given.
        key: String,
        /// Some valid keys for this store, comma-separated.
        valid: String,
    },
    /// The local landing directory could not be created or resolved.
    #[error("landing directory {dir}: {source}")]
    LocalDir {
        /// The directory.
        dir: String,
        /// The I/O error.
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
                let mut builder = AmazonS3Builder::from_env().with_url(url.as_str());
                for (key, value) in parsed_options::<object_store::aws::AmazonS3ConfigKey, _, _, _>(
                    &display, options,
                )? {
                    builder = builder.with_config(key, value);
                }
                Arc::new(builder.build().map_err(configure)?)
            }
            ObjectStoreScheme::MicrosoftAzure => {
                let mut builder = MicrosoftAzureBuilder::from_env().with_url(url.as_str());
                for (key, value) in parsed_options::<object_store::azure::AzureConfigKey, _, _, _>(
                    &display, options,
                )? {
                    builder = builder.with_config(key, value);
                }
                Arc::new(builder.build().map_err(configure)?)
            }
            ObjectStoreScheme::GoogleCloudStorage => {
                let mut builder = GoogleCloudStorageBuilder::from_env().with_url(url.as_str());
                for (key, value) in parsed_options::<object_store::gcp::GoogleConfigKey, _, _, _>(
                    &display, options,
                )? {
                    builder = builder.with_config(key, value);
                }
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

    /// An upload to `path`: one PUT when it stays under `part_bytes`, else a multipart upload in
    /// parts of `part_bytes` (raised to the store's minimum), at most `concurrency` in flight.
    pub fn upload(&self, path: Path, part_bytes: usize, concurrency: usize) -> BufWriter {
        BufWriter::with_capacity(
            Arc::clone(&self.store),
            path,
            part_bytes.max(self.min_part_bytes),
        )
        .with_max_concurrency(concurrency)
    }

    /// The object store the landing lives in (paths from [`Landing::path`] lie under the root).
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

/// A store option key for `K`'s store, or the error naming it with keys that store does take:
/// a mistyped key (say, for server-side encryption) must not be dropped silently.
fn parsed_options<K, I, N, V>(url: &str, options: I) -> Result<Vec<(K, String)>, StoreError>
where
    K: std::str::FromStr,
    I: IntoIterator<Item = (N, V)>,
    N: AsRef<str>,
    V: Into<String>,
{
    options
        .into_iter()
        .map(
            |(name, value)| match name.as_ref().to_ascii_lowercase().parse::<K>() {
                Ok(key) => Ok((key, value.into())),
                Err(_) => Err(StoreError::UnknownOption {
                    url: url.to_string(),
                    key: name.as_ref().to_string(),
                    valid: OPTION_EXAMPLES
                        .iter()
                        .filter(|k| k.parse::<K>().is_ok())
                        .copied()
                        .collect::<Vec<_>>()
                        .join(", "),
                }),
            },
        )
        .collect()
}

/// Keys shown in the unknown-option message, filtered to those the store at hand accepts.
const OPTION_EXAMPLES: &[&str] = &[
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "aws_region",
    "aws_endpoint",
    "aws_allow_http",
    "aws_virtual_hosted_style_request",
    "aws_server_side_encryption",
    "aws_sse_kms_key_id",
    "aws_sse_bucket_key_enabled",
    "aws_skip_signature",
    "azure_storage_account_name",
    "azure_storage_account_key",
    "azure_storage_sas_key",
    "azure_storage_client_id",
    "azure_storage_client_secret",
    "azure_storage_tenant_id",
    "azure_storage_endpoint",
    "azure_storage_use_emulator",
    "azure_allow_http",
    "google_service_account",
    "google_service_account_key",
    "google_application_credentials",
    "google_bucket",
];

/// Files and directories this process creates get no permission bits for "others" (umask 027):
/// a local landing holds mail. For binaries to call once at start-up (unix; a no-op elsewhere).
pub fn keep_local_files_private() {
    #[cfg(unix)]
    // SAFETY: umask only sets the process's file-creation mask; it cannot fail.
    unsafe {
        libc::umask(0o027);
    }
}

/// `location` as errors and summaries may show it: a local path as is; a URL without its query,
/// fragment and user info, where SAS tokens and keys would live.
pub fn redact_location(location: &str) -> String {
    match parse_location(location) {
        Ok(Some(url)) => redacted(&url),
        Ok(None) => location.to_string(),
        // Not even a URL: keep the scheme and what follows any user info, drop the query.
        Err(_) => {
            let base = location.split(['?', '#']).next().unwrap_or_default();
            match base.split_once("://") {
                Some((scheme, rest)) => match rest.split_once('@') {
                    Some((_, host)) => format!("{scheme}://{host}"),
                    None => base.to_string(),
                },
                None => base.to_string(),
            }
        }
    }
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
    fn a_mistyped_store_option_is_refused_naming_it_and_the_real_ones() {
        let err = Landing::open_with_options(
            "s3://bucket/prefix",
            [
                ("aws_region", "eu-west-1"),
                ("aws_server_side_encrpytion", "aws:kms"),
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("`aws_server_side_encrpytion`"), "{err}");
        assert!(
            err.contains("aws_server_side_encryption") && !err.contains("azure_"),
            "{err}"
        );
        let err = Landing::open_with_options("az://container/p", [("aws_region", "x")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`aws_region`") && err.contains("azure_storage_account_key"),
            "{err}"
        );
        assert!(
            Landing::open_with_options("s3://bucket/prefix", [("AWS_REGION", "eu-west-1")]).is_ok()
        );
    }

    #[test]
    fn locations_are_shown_without_secrets() {
        assert_eq!(
            redact_location("az://user:key@container/p?sv=2024&sig=s3cr3t"),
            "az://container/p"
        );
        assert_eq!(redact_location("/data/landing"), "/data/landing");
        let shown = redact_location("ftp://u:hunter2@host/x?sig=abc");
        assert!(
            !shown.contains("hunter2") && !shown.contains("sig="),
            "{shown}"
        );
    }

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
