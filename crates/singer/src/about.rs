//! `--about` for both executables: name, version, capabilities and settings (as JSON Schema, the
//! shape Meltano SDK plugins print), so Meltano can describe them.

use serde_json::{Map, Value, json};

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn settings(list: &[(&str, &str, &str)], required: &[&str]) -> Value {
    let properties: Map<String, Value> = list
        .iter()
        .map(|(name, kind, description)| {
            let mut p = json!({"type": [kind, "null"], "description": description});
            if *kind == "secret" {
                p = json!({"type": ["string", "null"], "secret": true, "writeOnly": true,
                           "description": description});
            }
            ((*name).to_string(), p)
        })
        .collect();
    json!({"type": "object", "properties": properties, "required": required})
}

/// `tap-msgraph --about`: its name, version, capabilities and settings.
pub fn tap() -> Value {
    json!({
        "name": "tap-msgraph",
        "description": "Microsoft Graph (Entra ID / Microsoft 365) Singer tap; a drop-in for \
                        singer-io/tap-ms-graph built on msgraph-sync",
        "version": VERSION,
        "capabilities": ["catalog", "properties", "discover", "state", "about"],
        "settings": settings(
            &[
                ("tenant_id", "string", "Entra tenant id (GUID or domain)"),
                ("client_id", "string", "Application (client) id"),
                ("client_secret", "secret", "Client secret (or MSGRAPH_CLIENT_SECRET)"),
                ("scope", "string", "Token scope (default https://graph.microsoft.com/.default)"),
                ("page_size", "integer", "Graph $top, 100..=999 (default 999)"),
                ("start_date", "string", "First lower bound of the bookmark streams: audit logs, chat messages (RFC 3339)"),
                ("field_names", "string", "graph (default: Graph's camelCase, as tap-ms-graph) or snake_case"),
                ("streams", "array", "Streams to sync when no catalog is given"),
                ("domains", "array", "Only users (and their children) in these UPN domains"),
                ("concurrency", "integer", "Concurrent Graph requests, 1..=64 (default 8)"),
                ("use_batch", "boolean", "First pages of child streams through $batch (default true)"),
                ("strict", "boolean", "Fail when a stream or parent was refused"),
                ("cloud", "string", "global, us_gov or china"),
                ("graph_base_url", "string", "Graph version root (tests: graph-mock)"),
                ("authority_host", "string", "Entra authority host (tests: graph-mock)"),
                ("certificate_path", "string", "PEM certificate instead of a secret"),
                ("private_key_path", "string", "PEM private key for the certificate"),
                ("use_managed_identity", "boolean", "Authenticate as the Azure managed identity"),
            ],
            &["tenant_id", "client_id"],
        ),
    })
}

/// `target-parquet-arrow --about`: its name, version, capabilities and settings.
pub fn target() -> Value {
    json!({
        "name": "target-parquet-arrow",
        "description": "Singer target landing any tap's streams as partitioned Parquet (Arrow, \
                        rayon) on local disk, S3, Azure Blob or GCS, with a run manifest",
        "version": VERSION,
        "capabilities": ["about", "activate-version"],
        "settings": settings(
            &[
                ("output", "string", "Landing root: a directory, file://, s3://, az://, abfss:// or gs:// URL"),
                ("store_options", "object", "object_store options overriding the environment"),
                ("spool_dir", "string", "Where RECORDs are spooled until the input ends (default: temp dir)"),
                ("batch_records", "integer", "RECORDs per decoded batch (default 1000)"),
                ("batch_bytes", "integer", "Bytes of RECORD JSON per decoded batch (default 2 MiB)"),
                ("decode_threads", "integer", "Decode threads (0: one per core)"),
                ("max_line_bytes", "integer", "Longest input line accepted, in bytes (default 64 MiB)"),
            ],
            &["output"],
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn about_lists_capabilities_and_required_settings() {
        let tap = tap();
        for capability in ["catalog", "discover", "state", "about"] {
            assert!(
                tap["capabilities"]
                    .as_array()
                    .unwrap()
                    .contains(&json!(capability))
            );
        }
        assert_eq!(
            tap["settings"]["properties"]["client_secret"]["secret"],
            true
        );
        assert_eq!(target()["settings"]["required"], json!(["output"]));
    }
}
