//! `--about` for both executables, from ONE table per plugin ([`TAP`], [`TARGET`]): the JSON
//! (settings as JSON Schema, the shape Meltano SDK plugins print), the markdown (whose settings
//! table the README embeds) and the Meltano Hub definition (`crates/singer/hub/*.yml`) are all
//! rendered from it, and `tests/about.rs` keeps the checked-in copies equal to the renderings.

use serde_json::{Map, Value, json};

const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Where the plugins are documented and built (the Hub's `repo` and `docs`).
const REPO: &str = "https://github.com/msgraph-sync/msgraph-sync";
/// The wheel `cargo xtask wheel` builds carries both executables (and `msgraph-sync`).
const PIP_URL: &str = "msgraph-sync";

/// A setting's type. The Hub's `kind` and JSON Schema's `type` use the same word for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text (also paths, URLs, timestamps).
    String,
    /// A whole number; Meltano may send it as a string, which the executables accept.
    Integer,
    /// true or false; also accepted as a string.
    Boolean,
    /// A JSON array.
    Array,
    /// A JSON object.
    Object,
}

impl Kind {
    /// The word for it in JSON Schema, the Hub and the tables.
    pub fn name(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::Integer => "integer",
            Kind::Boolean => "boolean",
            Kind::Array => "array",
            Kind::Object => "object",
        }
    }
}

/// One setting a plugin reads from its config file.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// The config key.
    pub name: &'static str,
    /// Its type.
    pub kind: Kind,
    /// Never shown by Meltano (`sensitive: true`, JSON Schema `secret`/`writeOnly`).
    pub secret: bool,
    /// The plugin refuses a config without it.
    pub required: bool,
    /// One line for `--about`, the README and the Hub.
    pub description: &'static str,
}

const fn setting(name: &'static str, kind: Kind, description: &'static str) -> Setting {
    Setting {
        name,
        kind,
        secret: false,
        required: false,
        description,
    }
}

impl Setting {
    const fn secret(self) -> Self {
        Setting {
            secret: true,
            ..self
        }
    }

    const fn required(self) -> Self {
        Setting {
            required: true,
            ..self
        }
    }
}

/// One plugin: everything `--about` and the Hub definition say about it.
#[derive(Debug)]
pub struct Plugin {
    /// The executable's name, also the plugin's name.
    pub name: &'static str,
    /// Meltano's namespace (the prefix of its environment variables).
    pub namespace: &'static str,
    /// The Hub's plugin type directory: `extractors` or `loaders`.
    pub hub_type: &'static str,
    /// The Hub's human-readable name.
    pub label: &'static str,
    /// One sentence: what it is.
    pub description: &'static str,
    /// Meltano capabilities, exactly those implemented.
    pub capabilities: &'static [&'static str],
    /// Every config key the executable reads.
    pub settings: &'static [Setting],
}

use Kind::{Array, Boolean, Integer, Object, String as Text};

/// `tap-msgraph`. `properties` is left out although `--properties` is accepted: the Hub asks taps
/// to declare `catalog` or `properties`, not both, and Meltano then passes `--catalog`.
pub const TAP: Plugin = Plugin {
    name: "tap-msgraph",
    namespace: "tap_msgraph",
    hub_type: "extractors",
    label: "Microsoft Graph (msgraph-sync)",
    description: "Microsoft Graph (Entra ID / Microsoft 365) Singer tap; a drop-in for \
                  singer-io/tap-ms-graph built on msgraph-sync",
    capabilities: &[
        "catalog",
        "discover",
        "state",
        "about",
        "activate-version",
        "batch",
    ],
    settings: TAP_SETTINGS,
};

#[rustfmt::skip] // one setting a line: the table is read more than written
const TAP_SETTINGS: &[Setting] = &[
    setting("tenant_id", Text, "Entra tenant id (GUID or domain)").required(),
    setting("client_id", Text, "Application (client) id").required(),
    setting("client_secret", Text, "Client secret (or MSGRAPH_CLIENT_SECRET)").secret(),
    setting("scope", Text, "Token scope (default https://graph.microsoft.com/.default)"),
    setting("page_size", Integer, "Graph $top, 100..=999 (default 999)"),
    setting("start_date", Text, "First lower bound of the bookmark streams: audit logs, chat messages (RFC 3339)"),
    setting("events_window_days", Integer, "Days of calendar_events before and after the first run, 1..=3650 (default 365)"),
    setting("field_names", Text, "graph (default: Graph's camelCase, as tap-ms-graph) or snake_case"),
    setting("batch_config", Object, "Meltano SDK batch_config: records in Parquet or JSONL files under storage.root (file://, s3://, az://), sent as BATCH messages"),
    setting("streams", Array, "Streams to sync when no catalog is given"),
    setting("streams_dir", Text, "Directory of extra stream declarations (one JSON file per stream), relative to the config file"),
    setting("domains", Array, "Only users (and their children) in these UPN domains"),
    setting("concurrency", Integer, "Concurrent Graph requests, 1..=64 (default 8)"),
    setting("use_batch", Boolean, "First pages of child streams through $batch (default true)"),
    setting("strict", Boolean, "Fail when a stream or parent was refused"),
    setting("cloud", Text, "global, us_gov or china"),
    setting("graph_base_url", Text, "Graph version root (tests: graph-mock)"),
    setting("authority_host", Text, "Entra authority host (tests: graph-mock)"),
    setting("certificate_path", Text, "PEM certificate instead of a secret"),
    setting("private_key_path", Text, "PEM private key for the certificate"),
    setting("refresh_token", Text, "Delegated auth: a refresh token (or MSGRAPH_REFRESH_TOKEN)").secret(),
    setting("token_cache_path", Text, "Delegated auth: file the rotated refresh token is kept in (mode 0600)"),
    setting("use_managed_identity", Boolean, "Authenticate as the Azure managed identity"),
    setting("managed_identity_client_id", Text, "Client id of a user-assigned managed identity"),
    setting("federated_token_file", Text, "Workload identity federation: file holding the federated token"),
];

/// `target-parquet-arrow`.
pub const TARGET: Plugin = Plugin {
    name: "target-parquet-arrow",
    namespace: "target_parquet_arrow",
    hub_type: "loaders",
    label: "Parquet (Arrow, msgraph-sync)",
    description: "Singer target landing any tap's streams as partitioned Parquet (Arrow, rayon) \
                  on local disk, S3, Azure Blob or GCS, with a run manifest",
    // `batch`: it reads BATCH messages (target/batch.rs).
    capabilities: &["about", "activate-version", "batch"],
    settings: TARGET_SETTINGS,
};

#[rustfmt::skip]
const TARGET_SETTINGS: &[Setting] = &[
    setting("output", Text, "Landing root: a directory, file://, s3://, az://, abfss:// or gs:// URL (alias destination_path)").required(),
    setting("store_options", Object, "object_store options overriding the environment"),
    setting("spool_dir", Text, "Where RECORDs are spooled until the input ends (default: temp dir)"),
    setting("batch_records", Integer, "RECORDs per decoded batch (default 1000)"),
    setting("batch_bytes", Integer, "Bytes of RECORD JSON per decoded batch (default 2 MiB)"),
    setting("decode_threads", Integer, "Decode threads (0: one per core)"),
    setting("max_line_bytes", Integer, "Longest input line accepted, in bytes (default 64 MiB)"),
];

/// The formats `--format` takes with `--about`.
pub const FORMATS: &str = "json, markdown, hub-yaml";

impl Plugin {
    /// `--about --format=FORMAT`; an error naming the allowed formats for any other.
    pub fn render(&self, format: &str) -> Result<String, String> {
        match format {
            "json" => Ok(serde_json::to_string_pretty(&self.json()).expect("JSON renders")),
            "markdown" => Ok(self.markdown()),
            "hub-yaml" => Ok(self.hub_yaml()),
            other => Err(format!(
                "--format {other}: not a format of --about; allowed: {FORMATS}"
            )),
        }
    }

    /// `--about --format json`: settings as JSON Schema, the shape Meltano SDK plugins print.
    pub fn json(&self) -> Value {
        let properties: Map<String, Value> = self
            .settings
            .iter()
            .map(|s| {
                let mut p = json!({"type": [s.kind.name(), "null"], "description": s.description});
                if s.secret {
                    p["secret"] = json!(true);
                    p["writeOnly"] = json!(true);
                }
                (s.name.to_string(), p)
            })
            .collect();
        let required: Vec<&str> = self.required().collect();
        json!({
            "name": self.name,
            "description": self.description,
            "version": VERSION,
            "capabilities": self.capabilities,
            "settings": {"type": "object", "properties": properties, "required": required},
        })
    }

    fn required(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.settings.iter().filter(|s| s.required).map(|s| s.name)
    }

    /// `--about --format markdown`: description, capabilities and the settings table.
    pub fn markdown(&self) -> String {
        let capabilities: String = self
            .capabilities
            .iter()
            .map(|c| format!("* `{c}`\n"))
            .collect();
        format!(
            "# `{}`\n\n{}\n\nVersion {VERSION}, built with msgraph-sync.\n\n## Capabilities\n\n\
             {capabilities}\n## Settings\n\n{}",
            self.name,
            self.description,
            self.settings_table()
        )
    }

    /// The markdown settings table, also embedded in crates/singer/README.md.
    pub fn settings_table(&self) -> String {
        let mut table = String::from(
            "| setting | kind | required | secret | description |\n|---|---|---|---|---|\n",
        );
        for s in self.settings {
            let yes = |b: bool| if b { "yes" } else { "" };
            table.push_str(&format!(
                "| `{}` | {} | {} | {} | {} |\n",
                s.name,
                s.kind.name(),
                yes(s.required),
                yes(s.secret),
                s.description.replace('|', "\\|")
            ));
        }
        table
    }

    /// The Meltano Hub definition (`_data/meltano/<type>/<name>/<variant>.yml`). Strings are
    /// written as JSON strings, which YAML reads as they are: no YAML library, no quoting rules.
    pub fn hub_yaml(&self) -> String {
        let q = |text: &str| serde_json::to_string(text).expect("a string renders");
        let mut y = format!(
            "# Meltano Hub definition of {name}, generated by `{name} --about --format=hub-yaml`\n\
             # (tests/about.rs fails when this copy differs). Hub path:\n\
             # _data/meltano/{hub_type}/{name}/msgraph-sync.yml\n",
            name = self.name,
            hub_type = self.hub_type
        );
        y.push_str(&format!("name: {}\n", q(self.name)));
        y.push_str(&format!("namespace: {}\n", q(self.namespace)));
        y.push_str("variant: \"msgraph-sync\"\n");
        y.push_str(&format!("label: {}\n", q(self.label)));
        y.push_str(&format!("description: {}\n", q(self.description)));
        y.push_str(&format!("pip_url: {}\n", q(PIP_URL)));
        y.push_str(&format!("executable: {}\n", q(self.name)));
        y.push_str(&format!("repo: {}\n", q(REPO)));
        y.push_str(&format!(
            "docs: {}\n",
            q(&format!("{REPO}/blob/main/crates/singer/README.md"))
        ));
        y.push_str("maintenance_status: \"active\"\n");
        y.push_str("keywords:\n- \"microsoft-graph\"\n- \"parquet\"\n- \"rust\"\n");
        y.push_str("capabilities:\n");
        for c in self.capabilities {
            y.push_str(&format!("- {}\n", q(c)));
        }
        y.push_str("settings:\n");
        for s in self.settings {
            y.push_str(&format!("- name: {}\n", q(s.name)));
            y.push_str(&format!("  kind: {}\n", q(s.kind.name())));
            if s.secret {
                y.push_str("  sensitive: true\n");
            }
            y.push_str(&format!("  description: {}\n", q(s.description)));
        }
        y.push_str("settings_group_validation:\n- ");
        let required: Vec<String> = self.required().map(q).collect();
        y.push_str(&format!("[{}]\n", required.join(", ")));
        y
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_says_what_the_table_says() {
        let tap = TAP.json();
        assert_eq!(
            tap["capabilities"],
            json!([
                "catalog",
                "discover",
                "state",
                "about",
                "activate-version",
                "batch"
            ])
        );
        let secret = &tap["settings"]["properties"]["client_secret"];
        assert_eq!(
            (&secret["secret"], &secret["writeOnly"]),
            (&json!(true), &json!(true))
        );
        assert_eq!(
            tap["settings"]["properties"]["page_size"]["type"],
            json!(["integer", "null"])
        );
        assert_eq!(
            tap["settings"]["required"],
            json!(["tenant_id", "client_id"])
        );
        assert_eq!(TARGET.json()["settings"]["required"], json!(["output"]));
    }

    #[test]
    fn every_setting_is_named_once() {
        for plugin in [&TAP, &TARGET] {
            let mut names: Vec<_> = plugin.settings.iter().map(|s| s.name).collect();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), plugin.settings.len(), "{}", plugin.name);
        }
    }

    #[test]
    fn an_unknown_format_names_the_allowed_ones() {
        let error = TAP.render("yaml").unwrap_err();
        assert!(error.contains("json, markdown, hub-yaml"), "{error}");
    }
}
