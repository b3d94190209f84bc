//! The six usage-report streams, read from `reports.md` (`## stream` sections listing the Graph path,
//! the suggested primary key and the CSV header columns).

use anyhow::{Context, bail, ensure};
use stream_spec::{Field, FieldType, PageSize, StreamKind, StreamSpec, report_column_name};

/// Every report needs this application permission.
const REPORTS_PERMISSION: &str = "Reports.Read.All";

/// Parses reports.md into report stream declarations, in document order.
pub fn report_streams(markdown: &str) -> anyhow::Result<Vec<StreamSpec>> {
    let mut specs = Vec::new();
    for section in markdown.split("\n## ").skip(1) {
        let (heading, body) = section.split_once('\n').unwrap_or((section, ""));
        let stream = heading.trim();
        if stream.contains(' ') {
            // Prose sections such as "Common to all six".
            continue;
        }
        specs.push(
            report_stream(stream, body)
                .with_context(|| format!("reports.md section `{stream}`"))?,
        );
    }
    ensure!(
        !specs.is_empty(),
        "reports.md has no `## <stream>` sections"
    );
    Ok(specs)
}

fn report_stream(stream: &str, body: &str) -> anyhow::Result<StreamSpec> {
    let path_line = bullet(body, "Graph path:").context("no `- Graph path:` line")?;
    // The first backticked path is the period form; the `(date=...)` form is an alternative.
    let path = path_line
        .split('`')
        .nth(1)
        .context("Graph path is not in backticks")?
        .to_string();
    ensure!(
        path.contains("(period='D7')"),
        "path `{path}` lacks (period='D7')"
    );
    let key_line =
        bullet(body, "Suggested primary key:").context("no `- Suggested primary key:` line")?;
    // "report_refresh_date + site_url (the CSV has no site id column)": drop the remark.
    let key_text = key_line.split(" (").next().unwrap_or(key_line);
    let primary_key: Vec<String> = key_text.split('+').map(|k| k.trim().to_string()).collect();

    let mut fields = Vec::new();
    for line in body.lines() {
        let Some(item) = line.strip_prefix("  - ") else {
            continue;
        };
        let Some((header, name)) = item.split_once(" -> ") else {
            continue;
        };
        let name = name.trim();
        ensure!(
            report_column_name(header) == name,
            "column `{header}` is listed as `{name}`, but report_column_name gives `{}`",
            report_column_name(header)
        );
        fields.push(Field {
            graph: header.to_string(),
            name: name.to_string(),
            data_type: report_column_type(header),
            nullable: !primary_key.iter().any(|k| k == name),
        });
    }
    ensure!(!fields.is_empty(), "no `  - Header -> name` column lines");
    if let Some(missing) = primary_key
        .iter()
        .find(|k| !fields.iter().any(|f| &f.name == *k))
    {
        bail!("primary key `{missing}` is not a column");
    }
    Ok(StreamSpec {
        stream: stream.to_string(),
        kind: StreamKind::Report,
        path,
        parent: None,
        primary_key,
        query: Default::default(),
        page_size: PageSize::Unsupported,
        entity: None,
        permission: REPORTS_PERMISSION.to_string(),
        outlook_mailbox_limit: false,
        incremental: stream_spec::Incremental::Append,
        fields,
    })
}

/// The text after `- <label>` on the section's bullet line.
fn bullet<'a>(body: &'a str, label: &str) -> Option<&'a str> {
    body.lines()
        .find_map(|l| l.strip_prefix("- ")?.strip_prefix(label))
        .map(str::trim)
}

/// Report CSV columns carry no types; the rule, in order:
/// - `... Date` -> date (`Report Refresh Date`, `Last Activity Date`, `... License Assign Date`);
/// - `Is ...` / `Has ...` -> boolean;
/// - counts, byte sizes, seconds and the numeric `Report Period` (days: `7`) -> int64, where the
///   header has a `Count`, `(Byte)`, `In Seconds` or `Messages` word or is `Report Period`;
/// - everything else (names, URLs, ids, product lists, ISO-8601 durations such as `Audio Duration`)
///   -> utf8.
pub fn report_column_type(header: &str) -> FieldType {
    let words: Vec<&str> = header.split_whitespace().collect();
    let first = words.first().copied().unwrap_or_default();
    let last = words.last().copied().unwrap_or_default();
    if last == "Date" {
        FieldType::Date
    } else if first == "Is" || first == "Has" {
        FieldType::Boolean
    } else if words
        .iter()
        .any(|w| matches!(*w, "Count" | "(Byte)" | "Messages"))
        || header.ends_with("In Seconds")
        || header == "Report Period"
    {
        FieldType::Int64
    } else {
        FieldType::Utf8
    }
}
