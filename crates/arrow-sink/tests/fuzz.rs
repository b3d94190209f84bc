//! Issue 15, item 11: Graph pages and report CSVs as a broken or hostile server sends them —
//! truncated, wrong types, deep nesting, huge strings, invalid UTF-8, duplicate keys, BOMs,
//! quotes, CRLF, ragged rows. Invariants: no panic, no hang, an error names the stream, a
//! well-formed page always decodes, and a run commits the good pages whole and no part of a bad
//! one. Sizes: `MSGRAPH_SYNC_FUZZ_CASES` (see RELIABILITY.md).

use std::collections::BTreeSet;
use std::time::Duration;

use arrow::array::{Array, AsArray};
use arrow_sink::{Landing, PageDecoder, PageInput, RunInput, SinkOptions, SinkRun};
use bytes::Bytes;
use serde_json::{Map, Value, json};
use stream_spec::{BodyFormat, StreamSpec, Table};
use test_support::fuzz::inputs::{deep, json_value, key, mutated, text};
use test_support::fuzz::proptest::collection::vec;
use test_support::fuzz::proptest::prelude::*;
use test_support::fuzz::{fuzz, fuzz_cases};

/// The table of a shipped declaration.
fn spec(name: &str, json: &str) -> Table {
    StreamSpec::from_json(name, json)
        .expect("a shipped declaration")
        .table()
}

fn users() -> Table {
    spec("users", include_str!("../../../schemas/users.json"))
}

fn mail_messages() -> Table {
    spec(
        "mail_messages",
        include_str!("../../../schemas/mail_messages.json"),
    )
}

fn mailbox_usage() -> Table {
    spec(
        "mailbox_usage_detail",
        include_str!("../../../schemas/mailbox_usage_detail.json"),
    )
}

fn graph_names(spec: &Table) -> Vec<String> {
    spec.fields.iter().map(|f| f.graph.clone()).collect()
}

/// A record: a string id, then declared properties (any value, so often the wrong type) and
/// undeclared ones.
fn record(names: Vec<String>) -> impl Strategy<Value = Value> {
    let name = prop_oneof![3 => prop::sample::select(names), 1 => key()];
    ("[a-f0-9-]{1,36}", vec((name, json_value()), 0..12)).prop_map(|(id, pairs)| {
        let mut object: Map<String, Value> = pairs.into_iter().collect();
        object.insert("id".into(), Value::String(id));
        Value::Object(object)
    })
}

/// Something a server might put in a record beyond its declared shape, now and then enormous.
#[derive(Debug, Clone)]
enum Hostile {
    None,
    /// An undeclared property nested this deep.
    Deep(usize),
    /// A string property of this many bytes.
    Huge(usize),
}

fn hostile() -> impl Strategy<Value = Hostile> {
    prop_oneof![
        12 => Just(Hostile::None),
        1 => prop_oneof![Just(200usize), Just(5_000), Just(100_000)].prop_map(Hostile::Deep),
        1 => (1usize..4).prop_map(|mb| Hostile::Huge(mb << 20)),
    ]
}

/// A body of `format` (a Graph collection page, or record lines), as bytes, with any hostile
/// part spliced into its first record.
fn page_bytes(format: BodyFormat, records: &[Value], hostile: &Hostile) -> Vec<u8> {
    let (mut text, first_record) = match format {
        BodyFormat::RecordLines => {
            let lines: Vec<String> = records.iter().map(Value::to_string).collect();
            (lines.join("\n"), "{")
        }
        _ => {
            let body = json!({
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users",
                "value": records,
                "@odata.nextLink": "https://graph.microsoft.com/v1.0/users?$skiptoken=x",
            });
            (body.to_string(), "\"value\":[{")
        }
    };
    let splice = match hostile {
        Hostile::None => return text.into_bytes(),
        Hostile::Deep(depth) => format!("\"nested\":{},", deep(*depth)),
        Hostile::Huge(bytes) => format!("\"blob\":\"{}\",", "x".repeat(*bytes)),
    };
    if let Some(first) = text.find(first_record) {
        text.insert_str(first + first_record.len(), &splice);
    }
    text.into_bytes()
}

fn page(body: Vec<u8>) -> PageInput {
    child_page(body, None)
}

/// A page of a child stream comes with its parent's id.
fn child_page(body: Vec<u8>, parent_id: Option<&str>) -> PageInput {
    PageInput {
        parent: parent_id.map(stream_spec::ParentKey::top),
        body: Bytes::from(body),
        chain_pages: None,
    }
}

/// Pages of one stream, well-formed or mutated: decoding never panics; an error names the
/// stream; a page left whole decodes, one row per distinct id at most.
fn pages_target(target: &str, spec: Table) {
    let names = graph_names(&spec);
    let format = spec.format;
    let strategy = move || {
        (vec(record(names), 0..8), hostile(), any::<bool>()).prop_flat_map(
            move |(records, hostile, mutate)| {
                let bytes = page_bytes(format, &records, &hostile);
                let mutations = if mutate { 1..4 } else { 0..1 };
                let count = records.len();
                (
                    mutated(Just(bytes), mutations),
                    Just(count),
                    Just(hostile),
                    Just(mutate),
                )
            },
        )
    };
    let stream = spec.name.clone();
    let parent_id = spec.parent.as_ref().map(|_| "00000000-parent");
    fuzz(
        target,
        fuzz_cases(),
        Duration::from_millis(200),
        strategy,
        move |(body, records, hostile, mutated)| {
            let decoder = PageDecoder::new(&spec).expect("declaration decodes");
            match decoder.decode(&child_page(body.0, parent_id)) {
                Ok(decoded) => {
                    if !mutated {
                        prop_assert!(decoded.batch.num_rows() <= records);
                    }
                }
                Err(e) => {
                    let message = e.to_string();
                    prop_assert!(
                        message.contains(&format!("`{stream}`")),
                        "the error names the stream: {message}"
                    );
                    prop_assert!(
                        mutated,
                        "a well-formed page failed ({hostile:?}): {message}"
                    );
                }
            }
            Ok(())
        },
    );
}

#[test]
fn fuzz_graph_pages_users() {
    pages_target("graph pages (users)", users());
}

#[test]
fn fuzz_graph_pages_mail_messages() {
    pages_target("graph pages (mail_messages)", mail_messages());
}

/// What a Singer target feeds: the same records, one per line, no envelope.
#[test]
fn fuzz_record_lines_mail_messages() {
    let mut table = mail_messages();
    table.format = BodyFormat::RecordLines;
    pages_target("record lines (mail_messages)", table);
}

/// A usage-report CSV: header from the declared columns (some dropped, some unknown), cells
/// of any text quoted or not, CRLF or LF, a BOM or not, rows of the wrong length.
fn report_csv() -> impl Strategy<Value = Vec<u8>> {
    let names = graph_names(&mailbox_usage());
    let header =
        prop::sample::subsequence(names.clone(), 0..=names.len()).prop_flat_map(|columns| {
            let extra = vec("[A-Za-z ]{1,12}", 0..2);
            extra.prop_map(move |extra| {
                let mut header = columns.clone();
                header.extend(extra);
                header
            })
        });
    let cell = prop_oneof![
        Just(String::new()),
        Just("2026-11-30".to_string()),
        Just("True".to_string()),
        Just("12345678901234567890".to_string()),
        text(),
        "[a-z]{1,8}@contoso\\.com",
    ];
    let row = vec((cell, any::<bool>()), 0..16);
    (
        header,
        vec(row, 0..12),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(header, rows, bom, crlf, trailing)| {
            let eol = if crlf { "\r\n" } else { "\n" };
            let quote = |s: &str, quoted: bool| match quoted {
                true => format!("\"{}\"", s.replace('"', "\"\"")),
                false => s.to_string(),
            };
            let mut out = String::new();
            if bom {
                out.push('\u{feff}');
            }
            out.push_str(
                &header
                    .iter()
                    .map(|h| quote(h, false))
                    .collect::<Vec<_>>()
                    .join(","),
            );
            for row in rows {
                out.push_str(eol);
                let cells: Vec<String> = row.iter().map(|(c, q)| quote(c, *q)).collect();
                out.push_str(&cells.join(","));
            }
            if trailing {
                out.push_str(eol);
            }
            out.into_bytes()
        })
}

#[test]
fn fuzz_report_csv() {
    let spec = mailbox_usage();
    fuzz(
        "report CSV (mailbox_usage_detail)",
        fuzz_cases(),
        Duration::from_millis(100),
        || mutated(report_csv(), 0..3),
        move |body| {
            let decoder = PageDecoder::new(&spec).expect("declaration decodes");
            if let Err(e) = decoder.decode(&page(body.0)) {
                let message = e.to_string();
                prop_assert!(
                    message.contains("`mailbox_usage_detail`"),
                    "the error names the stream: {message}"
                );
            }
            Ok(())
        },
    );
}

/// A whole run over good and broken pages: the good ones land whole, the broken ones not at all
/// (each is named in the manifest), and the run commits.
#[test]
fn fuzz_run_commits_good_pages_whole_and_bad_ones_not_at_all() {
    let runtime = test_support::fuzz::runtime();
    let handle = runtime.handle().clone();
    // Each case is a run on disk: an eighth of the inputs of the decode-only targets.
    let cases = (fuzz_cases() / 8).max(8);
    let strategy = || vec((1usize..40, any::<bool>(), 0.05..0.95f64), 1..8);
    fuzz(
        "runs over broken pages",
        cases,
        Duration::from_secs(5),
        strategy,
        move |pages| {
            handle.block_on(async {
                let dir = tempfile::tempdir().unwrap();
                let landing = Landing::open(dir.path().to_str().unwrap()).unwrap();
                let run = SinkRun::start(&landing, &[users()], SinkOptions::default())
                    .await
                    .unwrap();
                let sender = run.sender("users").unwrap();
                let (mut good_ids, mut bad_ids) = (BTreeSet::new(), BTreeSet::new());
                let mut first = 0;
                for &(count, broken, cut) in &pages {
                    let ids: Vec<String> =
                        (first..first + count).map(|i| format!("u{i}")).collect();
                    first += count;
                    let records: Vec<Value> = ids
                        .iter()
                        .map(|id| json!({"id": id, "displayName": "x"}))
                        .collect();
                    let mut body = page_bytes(BodyFormat::GraphPage, &records, &Hostile::None);
                    if broken {
                        body.truncate((body.len() as f64 * cut) as usize);
                        bad_ids.extend(ids);
                    } else {
                        good_ids.extend(ids);
                    }
                    sender.send(page(body)).await.unwrap();
                }
                drop(sender);
                let manifest = run.finish(RunInput::default()).await.unwrap();
                let broken = pages.iter().filter(|p| p.1).count();
                prop_assert_eq!(manifest.skipped.len(), broken);
                let landed = manifest.streams["users"].rows;
                prop_assert_eq!(landed, good_ids.len() as u64);
                let seen = landed_ids(dir.path());
                prop_assert_eq!(&seen, &good_ids);
                prop_assert!(seen.is_disjoint(&bad_ids));
                Ok(())
            })
        },
    );
}

/// Every `id` in the landing's users files, read back with the Parquet reader.
fn landed_ids(root: &std::path::Path) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    let mut dirs = vec![root.join("users")];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                let file = std::fs::File::open(&path).unwrap();
                let reader =
                    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                        .unwrap()
                        .build()
                        .unwrap();
                for batch in reader {
                    let batch = batch.unwrap();
                    let column = batch.column_by_name("id").unwrap().as_string::<i32>();
                    for i in 0..column.len() {
                        ids.insert(column.value(i).to_string());
                    }
                }
            }
        }
    }
    ids
}
