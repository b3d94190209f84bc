//! Usage-report streams: a catalog entry's CSV header to fields (Graph's report CSVs carry no
//! types, so a rule on the header names gives them).

use anyhow::{bail, ensure};
use stream_spec::{Field, FieldType, StreamKind, StreamSpec, report_column_name};

use super::catalog::Entry;

/// The declaration of the usage report `stream`: one field per CSV header column, named by
/// [`report_column_name`] and typed by [`report_column_type`]; key columns are not nullable.
pub fn report_spec(stream: &str, def: &Entry) -> anyhow::Result<StreamSpec> {
    ensure!(
        def.path.contains("(period='D7')"),
        "path `{}` lacks (period='D7')",
        def.path
    );
    ensure!(
        !def.columns.is_empty(),
        "no `columns`: list the CSV header, e.g. columns = [\"Report Refresh Date\", ...]"
    );
    let fields: Vec<Field> = def
        .columns
        .iter()
        .map(|header| {
            let name = report_column_name(header);
            Field {
                graph: header.clone(),
                nullable: !def.primary_key.contains(&name),
                name,
                data_type: report_column_type(header),
            }
        })
        .collect();
    if let Some(missing) = def
        .primary_key
        .iter()
        .find(|k| !fields.iter().any(|f| &f.name == *k))
    {
        bail!("primary key `{missing}` is not a column");
    }
    Ok(StreamSpec {
        selected_by_default: def.selected_by_default,
        mock: def.mock.clone(),
        stream: stream.to_string(),
        kind: StreamKind::Report,
        path: def.path.clone(),
        parent: None,
        primary_key: def.primary_key.clone(),
        query: def.query.clone(),
        page_size: def.page_size,
        entity: None,
        permission: def.permission.clone(),
        outlook_mailbox_limit: false,
        domain_property: None,
        incremental: def.incremental.clone(),
        fields,
    })
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
