//! `--about` in its three formats, the Meltano Hub definitions in `hub/` and the settings tables of
//! the README say the same things: the same settings (name, kind, required, secret) and the same
//! capabilities. All are rendered from `about.rs`'s one table; this test keeps the checked-in
//! copies equal to the renderings and the renderings equal to each other. (A YAML parser reading
//! the Hub files is in tests/meltano.rs, which has Python.)

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::Value;

/// (name, kind, required, secret) of one setting.
type Fact = (String, String, bool, bool);

fn about(exe: &str, format: &str) -> String {
    let done = run(Command::new(exe).args(["--about", "--format", format]), b"");
    assert!(
        done.success(),
        "{exe} --about --format {format}: {}",
        done.stderr
    );
    String::from_utf8(done.stdout).expect("UTF-8")
}

fn json_facts(about: &Value) -> (Vec<String>, BTreeSet<Fact>) {
    let capabilities = about["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    let settings = about_settings(about).into_iter().collect();
    (capabilities, settings)
}

/// The rows of a `| setting | kind | required | secret | description |` table.
fn table_facts(table: &str) -> BTreeSet<Fact> {
    table
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.split(" | ").collect();
            (
                cells[0]
                    .trim_start_matches("| ")
                    .trim_matches('`')
                    .to_string(),
                cells[1].to_string(),
                cells[2] == "yes",
                cells[3] == "yes",
            )
        })
        .collect()
}

/// The markdown's settings table: everything after `## Settings`.
fn markdown_table(markdown: &str) -> &str {
    markdown
        .split("## Settings\n")
        .nth(1)
        .expect("a Settings section")
}

#[test]
fn json_markdown_hub_yaml_and_readme_agree() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(crate_dir.join("README.md")).unwrap();
    for exe in [TAP, TARGET] {
        let name = Path::new(exe).file_name().unwrap().to_str().unwrap();
        let json: Value = serde_json::from_str(&about(exe, "json")).unwrap();
        assert_eq!(json["name"], name);
        let (capabilities, settings) = json_facts(&json);
        assert!(!settings.is_empty(), "{name}");

        let markdown = about(exe, "markdown");
        let listed: Vec<String> = markdown
            .lines()
            .filter_map(|l| l.strip_prefix("* `"))
            .map(|c| c.trim_end_matches('`').to_string())
            .collect();
        assert_eq!(listed, capabilities, "{name}: markdown capabilities");
        let table = markdown_table(&markdown);
        assert_eq!(table_facts(table), settings, "{name}: markdown settings");

        // The README embeds the same table, between markers naming the plugin.
        let start = format!("<!-- {name} settings: `{name} --about --format markdown` -->\n");
        let embedded = readme
            .split(&start)
            .nth(1)
            .and_then(|rest| rest.split("<!-- end -->").next())
            .unwrap_or_else(|| panic!("crates/singer/README.md lacks `{}`", start.trim()));
        assert_eq!(
            embedded.trim(),
            table.trim(),
            "crates/singer/README.md's {name} settings table differs from --about: paste \
             `{name} --about --format markdown`'s table there"
        );

        // The Hub definition is the rendering, byte for byte.
        let hub = crate_dir.join(format!("hub/{name}.yml"));
        let have = std::fs::read_to_string(&hub).unwrap_or_default();
        assert!(
            have == about(exe, "hub-yaml"),
            "{} differs from `{name} --about --format hub-yaml`; regenerate it with\n  \
             cargo run -q -p msgraph-singer --bin {name} -- --about --format hub-yaml > {}",
            hub.display(),
            Path::new("crates/singer/hub")
                .join(format!("{name}.yml"))
                .display()
        );
    }
}

#[test]
fn an_unknown_format_fails_with_one_message() {
    for exe in [TAP, TARGET] {
        let done = run(Command::new(exe).args(["--about", "--format", "yaml"]), b"");
        assert_eq!(done.code, Some(2), "{exe}");
        assert!(done.stdout.is_empty());
        assert!(
            done.stderr.contains("--format yaml")
                && done.stderr.contains("json, markdown, hub-yaml"),
            "{}",
            done.stderr
        );
    }
}
