//! What drift detection, conflict counting and keys cost on the fast path: plain arrow-json over
//! the same `value` span versus the full `PageDecoder`; and the same records as record lines (a
//! Singer target's input) versus as a Graph page. Printed, never asserted (timings belong in
//! benchmarks); run with `cargo test -p arrow-sink --release --test decode_timing -- --nocapture`.

use std::time::{Duration, Instant};

use arrow::json::ReaderBuilder;
use arrow_sink::{PageDecoder, PageInput};
use bytes::Bytes;
use serde_json::{Value, json};
use stream_spec::{BodyFormat, Catalog};

const RECORDS: usize = 1000;
const ROUNDS: usize = 20;

fn message(i: usize) -> Value {
    json!({
        "@odata.etag": format!("W/\"CQAAABYAAAB{i}\""),
        "id": format!("AAMkAGI2TG93AAA{i:08}"),
        "createdDateTime": "2024-01-02T03:04:05.1234567Z",
        "receivedDateTime": "2024-01-02T03:04:05Z",
        "subject": format!("Quarterly numbers – draft {i} ✓"),
        "bodyPreview": "Hi team, please find the numbers attached. Grüße",
        "importance": "normal",
        "isRead": i.is_multiple_of(2),
        "hasAttachments": false,
        "categories": ["Blue", "Work"],
        "body": {"contentType": "html", "content": "<html><body><p>Hello</p></body></html>"},
        "from": {"emailAddress": {"name": "Ada Lovelace", "address": "ada@contoso.com"}},
        "toRecipients": [
            {"emailAddress": {"name": "Bob", "address": "bob@contoso.com"}},
            {"emailAddress": {"name": "Zoë", "address": "zoe@contoso.com"}}
        ],
        "flag": {"flagStatus": "notFlagged"}
    })
}

fn best_of(rounds: usize, mut f: impl FnMut()) -> Duration {
    (0..rounds)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

#[test]
fn print_fast_path_cost_of_drift_and_keys() {
    let spec = Catalog::embedded().get("mail_messages").unwrap().table();
    let records: Vec<Value> = (0..RECORDS).map(message).collect();
    let body =
        Bytes::from(serde_json::to_vec(&json!({"@odata.context": "x", "value": records})).unwrap());
    let value_span = serde_json::to_vec(&records).unwrap();
    let decode_schema = PageDecoder::new(&spec).unwrap().schema().decode().clone();

    let plain = best_of(ROUNDS, || {
        let mut decoder = ReaderBuilder::new(decode_schema.clone())
            .with_flatten(true)
            .with_coerce_primitive(true)
            .with_ignore_type_conflicts(true)
            .with_batch_size(1024)
            .build_decoder()
            .unwrap();
        decoder.decode(&value_span).unwrap();
        let batch = decoder.flush().unwrap().unwrap();
        assert_eq!(batch.num_rows(), RECORDS);
    });
    let decoder = PageDecoder::new(&spec).unwrap();
    let mut round = 0;
    let full = best_of(ROUNDS, || {
        // Another mailbox each round: keys include the parent, so every row lands as new.
        round += 1;
        let page = PageInput {
            parent: Some(stream_spec::ParentKey::top(format!("user-{round}"))),
            body: body.clone(),
            chain_pages: None,
        };
        let out = decoder.decode(&page).unwrap();
        assert_eq!(out.report.rows, RECORDS as u64);
    });
    let mb = body.len() as f64 / 1e6;
    println!(
        "page of {RECORDS} messages, {mb:.2} MB: plain arrow-json {:.2} ms ({:.0} MB/s), \
         PageDecoder with drift/conflicts/keys {:.2} ms ({:.0} MB/s), overhead {:.0}%",
        plain.as_secs_f64() * 1e3,
        mb / plain.as_secs_f64(),
        full.as_secs_f64() * 1e3,
        mb / full.as_secs_f64(),
        (full.as_secs_f64() / plain.as_secs_f64() - 1.0) * 100.0
    );
}

#[test]
fn print_record_lines_cost_against_a_graph_page() {
    let graph = Catalog::embedded().get("mail_messages").unwrap().table();
    let mut lines = graph.clone();
    lines.format = BodyFormat::RecordLines;
    let records: Vec<Value> = (0..RECORDS).map(message).collect();
    let page = Bytes::from(serde_json::to_vec(&json!({"value": records})).unwrap());
    let mut text = Vec::new();
    for record in &records {
        serde_json::to_writer(&mut text, record).unwrap();
        text.push(b'\n');
    }
    let text = Bytes::from(text);
    let time = |table: &stream_spec::Table, body: &Bytes| {
        let decoder = PageDecoder::new(table).unwrap();
        let mut round = 0;
        best_of(ROUNDS, || {
            round += 1;
            let page = PageInput {
                parent: Some(stream_spec::ParentKey::top(format!("user-{round}"))),
                body: body.clone(),
                chain_pages: None,
            };
            assert_eq!(decoder.decode(&page).unwrap().report.rows, RECORDS as u64);
        })
    };
    let (as_page, as_lines) = (time(&graph, &page), time(&lines, &text));
    println!(
        "{RECORDS} messages: Graph page {:.2} ms, record lines {:.2} ms ({:+.0}%)",
        as_page.as_secs_f64() * 1e3,
        as_lines.as_secs_f64() * 1e3,
        (as_lines.as_secs_f64() / as_page.as_secs_f64() - 1.0) * 100.0
    );
}
