//! Configuration shared with the CLI. Reads singer-io/tap-ms-graph's `config.json` unchanged and adds
//! our own options; every validation error names the field and what it accepts.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use url::Url;

use crate::auth::AuthSettings;

/// Token scope when the config gives none: the permissions granted to the app.
pub const DEFAULT_SCOPE: &str = "https://graph.microsoft.com/.default";
/// `page_size` when the config gives none: the largest `$top` directory collections take.
pub const DEFAULT_PAGE_SIZE: u32 = 999;
/// The `page_size` values accepted.
pub const PAGE_SIZE_RANGE: std::ops::RangeInclusive<u32> = 100..=999;
/// `concurrency` when the config gives none.
pub const DEFAULT_CONCURRENCY: usize = 8;
/// The `concurrency` values accepted.
pub const CONCURRENCY_RANGE: std::ops::RangeInclusive<usize> = 1..=64;
/// `events_window_days` when the config gives none.
pub const DEFAULT_EVENTS_WINDOW_DAYS: u32 = 365;
/// Ten years each way: calendarView/delta expands recurring series over the whole window.
pub const EVENTS_WINDOW_DAYS_RANGE: std::ops::RangeInclusive<u32> = 1..=3650;

/// Environment variables that override the file's identifiers. Secrets come from the environment
/// through [`AuthSettings::with_env_from`] (`MSGRAPH_CLIENT_SECRET`, `AZURE_CLIENT_SECRET`, ...).
pub const ENV_OVERRIDES: &[(&str, &str)] = &[
    ("MSGRAPH_TENANT_ID", "tenant_id"),
    ("MSGRAPH_CLIENT_ID", "client_id"),
];

/// The Microsoft cloud to talk to; sets both hosts unless they are given explicitly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cloud {
    /// Microsoft's global cloud (`graph.microsoft.com`, `login.microsoftonline.com`).
    #[default]
    Global,
    /// US Government (`graph.microsoft.us`, `login.microsoftonline.us`).
    UsGov,
    /// China (`microsoftgraph.chinacloudapi.cn`, `login.chinacloudapi.cn`).
    China,
}

impl Cloud {
    /// The names [`Cloud::parse`] accepts, for error messages.
    pub const ALLOWED: &'static str = "global, us_gov, china";

    /// The cloud the config's `cloud` field names; `None` for an unknown name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "global" => Some(Cloud::Global),
            "us_gov" => Some(Cloud::UsGov),
            "china" => Some(Cloud::China),
            _ => None,
        }
    }

    /// Graph's v1.0 root in this cloud, without a trailing slash.
    pub fn graph_base_url(self) -> &'static str {
        match self {
            Cloud::Global => "https://graph.microsoft.com/v1.0",
            Cloud::UsGov => "https://graph.microsoft.us/v1.0",
            Cloud::China => "https://microsoftgraph.chinacloudapi.cn/v1.0",
        }
    }

    /// Entra's login host in this cloud.
    pub fn authority_host(self) -> &'static str {
        match self {
            Cloud::Global => "https://login.microsoftonline.com",
            Cloud::UsGov => "https://login.microsoftonline.us",
            Cloud::China => "https://login.chinacloudapi.cn",
        }
    }
}

/// Why a config could not be read, or was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Shown without the values serde_json quotes (a secret given the wrong type would be
    /// echoed); the line and column still say where. Deliberately not a `#[source]`: error
    /// chains would print the unredacted text.
    #[error("config is not valid JSON or misses a field: {}", redacted_json_error(.0))]
    Parse(serde_json::Error),
    /// The config file could not be read.
    #[error("reading config {path}: {source}")]
    Io {
        /// The file's path, as given.
        path: String,
        /// Why reading it failed.
        #[source]
        source: std::io::Error,
    },
    /// A number outside the field's range.
    #[error("config field `{field}` is {value}; allowed: {min}..={max}")]
    OutOfRange {
        /// The config field.
        field: &'static str,
        /// The value given, as text.
        value: String,
        /// Smallest value allowed.
        min: i64,
        /// Largest value allowed.
        max: i64,
    },
    /// A value the field does not accept.
    #[error("config field `{field}` is `{value}`; allowed: {allowed}")]
    InvalidValue {
        /// The config field.
        field: &'static str,
        /// The value given.
        value: String,
        /// What the field accepts, in words.
        allowed: &'static str,
    },
    /// A required field is empty.
    #[error("config field `{field}` must not be empty")]
    Missing {
        /// The config field.
        field: &'static str,
    },
}

/// serde_json's message with every quoted value replaced by `"…"`: `invalid type: string "…",
/// expected u32 at line 3 column 18`. Names in backticks stay when they look like a setting
/// (`snake_case`), as typos need them; any other (a secret pasted where a key belongs, which
/// serde_json reports as an unknown field before the syntax error after it) becomes `…`.
pub fn redacted_json_error(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find(['"', '`']) {
        let quote = rest.as_bytes()[at] as char;
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let end = match quote {
            // serde_json writes a quoted value with Debug-style escapes.
            '"' => closing_quote(rest),
            _ => rest.find('`'),
        };
        let Some(end) = end else {
            out.push('…');
            return out;
        };
        let inner = &rest[..end];
        match quote == '`' && looks_like_setting(inner) {
            true => out.push_str(inner),
            false => out.push('…'),
        }
        out.push(quote);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The index of the `"` closing a Debug-escaped string that starts at `text`.
fn closing_quote(text: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match (escaped, c) {
            (true, _) => escaped = false,
            (false, '\\') => escaped = true,
            (false, '"') => return Some(i),
            _ => {}
        }
    }
    None
}

fn looks_like_setting(name: &str) -> bool {
    name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Validated configuration. Build it with [`Config::from_json`] / [`Config::from_path`].
#[derive(Clone)]
pub struct Config {
    /// The Entra tenant to read (`MSGRAPH_TENANT_ID` overrides the file).
    pub tenant_id: String,
    /// The app registration's client id (`MSGRAPH_CLIENT_ID` overrides the file).
    pub client_id: String,
    /// OAuth scope of the tokens (default [`DEFAULT_SCOPE`]).
    pub scope: String,
    /// Rows asked per page (`$top`, capped where a stream declares less), and per report CSV page.
    pub page_size: u32,
    /// The first lower bound of the bookmark streams (the audit logs, chat messages): without a
    /// bookmark, `audit_logs_directory` gets `$filter=activityDateTime ge <start_date>`, and so
    /// on, as each stream's declaration says; every other stream ignores it.
    pub start_date: Option<DateTime<Utc>>,
    /// `calendar_events` reads `calendarView/delta` over this many days before and after the run
    /// that starts its delta chain (Graph fixes the window on the first call).
    pub events_window_days: u32,
    /// Sets `graph_base_url` and `authority_host` where the config gives neither.
    pub cloud: Cloud,
    /// Version root, e.g. `https://graph.microsoft.com/v1.0`, without a trailing slash.
    pub graph_base_url: String,
    /// Entra's login host, e.g. `https://login.microsoftonline.com`, without a trailing slash.
    pub authority_host: String,
    /// Restrict users (and everything fanned out over them) to these UPN domains.
    pub domains: Vec<String>,
    /// Selected streams; empty means every declared stream.
    pub streams: Vec<String>,
    /// Extra or overriding stream declarations (`<stream>.json`, the shape of `schemas/`), read
    /// at run time: a Graph collection the build does not ship needs no rebuild. A relative
    /// path in a config file is relative to that file.
    pub streams_dir: Option<std::path::PathBuf>,
    /// Global limit of concurrent Graph requests.
    pub concurrency: usize,
    /// Skipped streams or parents fail the run at the end.
    pub strict: bool,
    /// Fetch first pages of child streams through `$batch`.
    pub use_batch: bool,
    /// How to authenticate (client secret, certificate, ...); its `Debug` redacts secrets.
    pub auth: AuthSettings,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .field("page_size", &self.page_size)
            .field("start_date", &self.start_date)
            .field("events_window_days", &self.events_window_days)
            .field("cloud", &self.cloud)
            .field("graph_base_url", &self.graph_base_url)
            .field("authority_host", &self.authority_host)
            .field("domains", &self.domains)
            .field("streams", &self.streams)
            .field("streams_dir", &self.streams_dir)
            .field("concurrency", &self.concurrency)
            .field("strict", &self.strict)
            .field("use_batch", &self.use_batch)
            .field("auth", &self.auth)
            .finish()
    }
}

/// The file as written; numbers may arrive as strings (Meltano often stringifies settings).
#[derive(Deserialize)]
struct RawConfig {
    tenant_id: String,
    client_id: String,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    page_size: Option<NumberOrString>,
    #[serde(default)]
    start_date: Option<String>,
    #[serde(default)]
    events_window_days: Option<NumberOrString>,
    #[serde(default)]
    cloud: Option<String>,
    #[serde(default)]
    graph_base_url: Option<String>,
    #[serde(default)]
    authority_host: Option<String>,
    #[serde(default)]
    domains: Vec<String>,
    #[serde(default)]
    streams: Vec<String>,
    #[serde(default)]
    streams_dir: Option<std::path::PathBuf>,
    #[serde(default)]
    concurrency: Option<NumberOrString>,
    #[serde(default)]
    strict: Option<BoolOrString>,
    #[serde(default)]
    use_batch: Option<BoolOrString>,
    #[serde(flatten)]
    auth: AuthSettings,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrString {
    Number(i64),
    Text(String),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum BoolOrString {
    Bool(bool),
    Text(String),
}

impl Config {
    /// Reads a config file, with environment overrides for secrets.
    pub fn from_path(path: &std::path::Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let mut config = Self::from_json_with_env(&text, |k| std::env::var(k).ok())?;
        if let (Some(dir), Some(base)) = (&config.streams_dir, path.parent())
            && dir.is_relative()
        {
            config.streams_dir = Some(base.join(dir));
        }
        Ok(config)
    }

    /// The shipped stream declarations with those of [`Config::streams_dir`] added.
    pub fn catalog(&self) -> Result<stream_spec::Catalog, stream_spec::SpecError> {
        stream_spec::Catalog::embedded_with(self.streams_dir.as_deref())
    }

    /// Parses config JSON without looking at the environment.
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        Self::from_json_with_env(text, |_| None)
    }

    /// Parses config JSON; `env` supplies [`ENV_OVERRIDES`], which win over the file.
    pub fn from_json_with_env(
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        // The file is small and read once: a Value here is fine, and lets overrides fill missing keys.
        let mut value: serde_json::Value =
            serde_json::from_str(text).map_err(ConfigError::Parse)?;
        if let Some(object) = value.as_object_mut() {
            for (var, key) in ENV_OVERRIDES {
                if let Some(v) = env(var).filter(|v| !v.is_empty()) {
                    object.insert((*key).to_string(), serde_json::Value::String(v));
                }
            }
        }
        let mut raw: RawConfig = serde_json::from_value(value).map_err(ConfigError::Parse)?;
        raw.auth = raw.auth.with_env_from(|k| env(k).filter(|v| !v.is_empty()));
        raw.into_config()
    }

    /// Where and as whom to authenticate, for [`crate::auth::provider`] and the login helpers.
    pub fn auth_context(
        &self,
        http: reqwest::Client,
    ) -> Result<crate::auth::AuthContext, ConfigError> {
        let authority_host =
            url::Url::parse(&self.authority_host).map_err(|_| ConfigError::InvalidValue {
                field: "authority_host",
                value: self.authority_host.clone(),
                allowed: "an absolute http:// or https:// URL",
            })?;
        Ok(crate::auth::AuthContext {
            tenant_id: self.tenant_id.clone(),
            client_id: self.client_id.clone(),
            scope: self.scope.clone(),
            authority_host,
            http,
        })
    }

    /// Checks fields changed after parsing (the CLI overrides some from flags).
    pub fn validate(&self) -> Result<(), ConfigError> {
        non_empty("tenant_id", &self.tenant_id)?;
        non_empty("client_id", &self.client_id)?;
        if !PAGE_SIZE_RANGE.contains(&self.page_size) {
            return Err(out_of_range(
                "page_size",
                self.page_size.to_string(),
                PAGE_SIZE_RANGE.start().to_owned().into(),
                PAGE_SIZE_RANGE.end().to_owned().into(),
            ));
        }
        if !CONCURRENCY_RANGE.contains(&self.concurrency) {
            return Err(out_of_range(
                "concurrency",
                self.concurrency.to_string(),
                *CONCURRENCY_RANGE.start() as i64,
                *CONCURRENCY_RANGE.end() as i64,
            ));
        }
        if !EVENTS_WINDOW_DAYS_RANGE.contains(&self.events_window_days) {
            return Err(out_of_range(
                "events_window_days",
                self.events_window_days.to_string(),
                (*EVENTS_WINDOW_DAYS_RANGE.start()).into(),
                (*EVENTS_WINDOW_DAYS_RANGE.end()).into(),
            ));
        }
        check_base_url("graph_base_url", &self.graph_base_url)?;
        check_base_url("authority_host", &self.authority_host)?;
        for domain in &self.domains {
            check_domain(domain)?;
        }
        Ok(())
    }
}

impl RawConfig {
    fn into_config(self) -> Result<Config, ConfigError> {
        let cloud = match self.cloud.as_deref() {
            None => Cloud::Global,
            Some(name) => Cloud::parse(name).ok_or_else(|| ConfigError::InvalidValue {
                field: "cloud",
                value: name.to_string(),
                allowed: Cloud::ALLOWED,
            })?,
        };
        let page_size = match self.page_size {
            None => DEFAULT_PAGE_SIZE,
            Some(n) => {
                let n = integer("page_size", n)?;
                u32::try_from(n)
                    .ok()
                    .filter(|n| PAGE_SIZE_RANGE.contains(n))
                    .ok_or_else(|| out_of_range("page_size", n.to_string(), 100, 999))?
            }
        };
        let concurrency = match self.concurrency {
            None => DEFAULT_CONCURRENCY,
            Some(n) => {
                let n = integer("concurrency", n)?;
                usize::try_from(n).unwrap_or(0)
            }
        };
        let events_window_days = match self.events_window_days {
            None => DEFAULT_EVENTS_WINDOW_DAYS,
            Some(n) => {
                let n = integer("events_window_days", n)?;
                // Out of u32 reads as 0, which validate() reports with the allowed range.
                u32::try_from(n).unwrap_or(0)
            }
        };
        let config = Config {
            tenant_id: self.tenant_id,
            client_id: self.client_id,
            scope: self.scope.unwrap_or_else(|| DEFAULT_SCOPE.to_string()),
            page_size,
            start_date: self
                .start_date
                .as_deref()
                .map(parse_start_date)
                .transpose()?,
            events_window_days,
            cloud,
            graph_base_url: trim_base(self.graph_base_url, cloud.graph_base_url()),
            authority_host: trim_base(self.authority_host, cloud.authority_host()),
            domains: self.domains,
            streams: self.streams,
            streams_dir: self.streams_dir.filter(|d| !d.as_os_str().is_empty()),
            concurrency,
            strict: boolean("strict", self.strict, false)?,
            use_batch: boolean("use_batch", self.use_batch, true)?,
            auth: self.auth,
        };
        config.validate()?;
        Ok(config)
    }
}

fn trim_base(explicit: Option<String>, cloud_default: &str) -> String {
    explicit
        .unwrap_or_else(|| cloud_default.to_string())
        .trim_end_matches('/')
        .to_string()
}

fn integer(field: &'static str, n: NumberOrString) -> Result<i64, ConfigError> {
    match n {
        NumberOrString::Number(n) => Ok(n),
        NumberOrString::Text(t) => t.trim().parse().map_err(|_| ConfigError::InvalidValue {
            field,
            value: t,
            allowed: "an integer",
        }),
    }
}

fn boolean(
    field: &'static str,
    value: Option<BoolOrString>,
    default: bool,
) -> Result<bool, ConfigError> {
    match value {
        None => Ok(default),
        Some(BoolOrString::Bool(b)) => Ok(b),
        Some(BoolOrString::Text(t)) => match t.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" => Ok(false),
            _ => Err(ConfigError::InvalidValue {
                field,
                value: t,
                allowed: "true, false",
            }),
        },
    }
}

fn out_of_range(field: &'static str, value: String, min: i64, max: i64) -> ConfigError {
    ConfigError::OutOfRange {
        field,
        value,
        min,
        max,
    }
}

fn non_empty(field: &'static str, value: &str) -> Result<(), ConfigError> {
    if value.trim().is_empty() {
        return Err(ConfigError::Missing { field });
    }
    Ok(())
}

fn check_base_url(field: &'static str, value: &str) -> Result<(), ConfigError> {
    let invalid = || ConfigError::InvalidValue {
        field,
        value: value.to_string(),
        allowed: "an absolute http:// or https:// URL without query or fragment",
    };
    let url = Url::parse(value).map_err(|_| invalid())?;
    let scheme_ok = matches!(url.scheme(), "http" | "https");
    if !scheme_ok || url.host().is_none() || url.query().is_some() || url.fragment().is_some() {
        return Err(invalid());
    }
    // Plain HTTP would put the token and tenant data on the wire: only a local mock or proxy.
    if url.scheme() == "http" && !is_loopback(&url) {
        return Err(ConfigError::InvalidValue {
            field,
            value: value.to_string(),
            allowed: "an https:// URL (http:// only on a loopback host: localhost, 127.0.0.0/8, [::1])",
        });
    }
    Ok(())
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

fn check_domain(domain: &str) -> Result<(), ConfigError> {
    let valid = !domain.is_empty()
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '.' || c == '-');
    if !valid {
        return Err(ConfigError::InvalidValue {
            field: "domains",
            value: domain.to_string(),
            allowed: "DNS domain names such as contoso.com",
        });
    }
    Ok(())
}

/// `2024-01-31T00:00:00Z` or a bare `2024-01-31` (midnight UTC), as Singer configs write it.
fn parse_start_date(text: &str) -> Result<DateTime<Utc>, ConfigError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| ConfigError::InvalidValue {
            field: "start_date",
            value: text.to_string(),
            allowed: "an RFC 3339 timestamp or YYYY-MM-DD",
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAP_CONFIG: &str = r#"{"tenant_id":"t","client_id":"c","client_secret":"s3cret",
        "start_date":"2024-01-01T00:00:00Z"}"#;

    /// A secret given where a number belongs is not repeated; where the mistake is still is.
    #[test]
    fn parse_errors_do_not_repeat_values() {
        let err = serde_json::from_str::<u32>(r#""s3cret \"quoted\" tail""#).unwrap_err();
        assert!(err.to_string().contains("s3cret"), "serde_json quotes it");
        let shown = redacted_json_error(&err);
        assert!(
            !shown.contains("s3cret") && !shown.contains("tail"),
            "{shown}"
        );
        assert!(shown.contains("line 1 column"), "{shown}");
        // A secret where a key belongs is reported as an unknown field: its name is hidden,
        // a mistyped setting's is not.
        let err = serde_json::from_str::<TypoProbe>(r#"{"S3cr3t~x.Y"}"#).unwrap_err();
        assert!(!redacted_json_error(&err).contains("S3cr3t"), "{err}");
        let err = serde_json::from_str::<TypoProbe>(r#"{"page_sise": 1}"#).unwrap_err();
        let shown = redacted_json_error(&err);
        assert!(
            shown.contains("`page_sise`") && shown.contains("`page_size`"),
            "{shown}"
        );
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct TypoProbe {
        page_size: Option<u32>,
    }

    #[test]
    fn tap_ms_graph_config_reads_unchanged_with_defaults() {
        let c = Config::from_json(TAP_CONFIG).unwrap();
        assert_eq!(c.scope, DEFAULT_SCOPE);
        assert_eq!(c.page_size, 999);
        assert_eq!(c.graph_base_url, "https://graph.microsoft.com/v1.0");
        assert_eq!(c.authority_host, "https://login.microsoftonline.com");
        assert!(c.use_batch && !c.strict);
        assert_eq!(c.events_window_days, 365);
        assert_eq!(
            c.start_date.unwrap().to_rfc3339(),
            "2024-01-01T00:00:00+00:00"
        );
    }

    #[test]
    fn page_size_outside_range_names_field_and_range() {
        for bad in ["50", "1000", "-1"] {
            let text = format!(r#"{{"tenant_id":"t","client_id":"c","page_size":{bad}}}"#);
            let err = Config::from_json(&text).unwrap_err();
            assert!(matches!(
                err,
                ConfigError::OutOfRange {
                    field: "page_size",
                    ..
                }
            ));
            assert!(err.to_string().contains("page_size") && err.to_string().contains("100..=999"));
        }
        let ok = Config::from_json(r#"{"tenant_id":"t","client_id":"c","page_size":"500"}"#);
        assert_eq!(ok.unwrap().page_size, 500);
    }

    #[test]
    fn cloud_sets_both_hosts_and_explicit_urls_win() {
        let c = Config::from_json(r#"{"tenant_id":"t","client_id":"c","cloud":"us_gov"}"#).unwrap();
        assert_eq!(c.graph_base_url, "https://graph.microsoft.us/v1.0");
        assert_eq!(c.authority_host, "https://login.microsoftonline.us");
        let c = Config::from_json(
            r#"{"tenant_id":"t","client_id":"c","cloud":"china","graph_base_url":"http://127.0.0.1:9/v1.0/"}"#,
        )
        .unwrap();
        assert_eq!(c.graph_base_url, "http://127.0.0.1:9/v1.0");
        assert_eq!(c.authority_host, "https://login.chinacloudapi.cn");
        let err = Config::from_json(r#"{"tenant_id":"t","client_id":"c","cloud":"mars"}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`cloud`") && err.contains("global, us_gov, china"),
            "{err}"
        );
    }

    #[test]
    fn plain_http_only_on_loopback_hosts() {
        let config = |field: &str, url: &str| {
            Config::from_json(&format!(
                r#"{{"tenant_id":"t","client_id":"c","{field}":"{url}"}}"#
            ))
        };
        for field in ["graph_base_url", "authority_host"] {
            for url in [
                "http://127.0.0.1:9",
                "http://127.0.0.2:9",
                "http://[::1]:9",
                "http://localhost:9",
                "https://proxy.example",
            ] {
                assert!(config(field, url).is_ok(), "{field} {url}");
            }
            for url in [
                "http://graph.example",
                "http://10.0.0.1:8080",
                "http://localhost.example",
            ] {
                let err = config(field, url).unwrap_err().to_string();
                assert!(
                    err.contains(field) && err.contains("loopback"),
                    "{url}: {err}"
                );
            }
        }
    }

    #[test]
    fn invalid_values_are_typed_and_name_the_field() {
        let cases = [
            (r#""graph_base_url":"ftp://x""#, "graph_base_url"),
            (r#""domains":["a b"]"#, "domains"),
            (r#""start_date":"yesterday""#, "start_date"),
            (r#""strict":"maybe""#, "strict"),
            (r#""concurrency":0"#, "concurrency"),
            (r#""events_window_days":0"#, "events_window_days"),
            (r#""events_window_days":"a year""#, "events_window_days"),
        ];
        for (extra, field) in cases {
            let text = format!(r#"{{"tenant_id":"t","client_id":"c",{extra}}}"#);
            let err = Config::from_json(&text).unwrap_err();
            assert!(err.to_string().contains(field), "{extra}: {err}");
        }
        let missing = Config::from_json(r#"{"client_id":"c"}"#)
            .unwrap_err()
            .to_string();
        assert!(missing.contains("tenant_id"), "{missing}");
    }

    #[test]
    fn env_overrides_win_and_debug_redacts_the_secret() {
        let c = Config::from_json_with_env(r#"{"client_id":"c"}"#, |k| match k {
            "MSGRAPH_TENANT_ID" => Some("from-env".into()),
            "MSGRAPH_CLIENT_SECRET" => Some("hunter2-env".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.tenant_id, "from-env");
        assert_eq!(c.auth.client_secret.as_deref(), Some("hunter2-env"));
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2") && shown.contains("<redacted>"));
    }
}
