//! Decoding Graph JSON pages against the real generated declarations.

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Int32Type, TimeUnit, TimestampMicrosecondType};
use arrow_sink::{DecodeError, DecodeReport, EXTRA_COLUMN, PageDecoder, PageInput};
use bytes::Bytes;
use serde_json::{Value, json};
use stream_spec::Catalog;

fn decoder(stream: &str) -> PageDecoder {
    PageDecoder::new(&Catalog::embedded().get(stream).unwrap().table()).unwrap()
}

fn page(records: Value, parent_id: Option<&str>) -> PageInput {
    let body = json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users",
        "value": records,
        "@odata.nextLink": "https://graph.microsoft.com/v1.0/users?$skiptoken=X"
    });
    PageInput {
        parent: parent_id.map(stream_spec::ParentKey::top),
        body: Bytes::from(serde_json::to_vec(&body).unwrap()),
        chain_pages: None,
    }
}

fn strings(batch: &RecordBatch, column: &str) -> Vec<Option<String>> {
    let array = batch.column_by_name(column).unwrap().as_string::<i32>();
    array.iter().map(|v| v.map(str::to_string)).collect()
}

fn extras(batch: &RecordBatch) -> Vec<Option<Value>> {
    strings(batch, EXTRA_COLUMN)
        .into_iter()
        .map(|v| v.map(|t| serde_json::from_str(&t).unwrap()))
        .collect()
}

#[test]
fn plain_users_page_lands_typed_in_declared_order_with_output_names() {
    let decoder = decoder("users");
    let out = decoder
        .decode(&page(
            json!([
                {"id": "u1", "displayName": "Ada", "accountEnabled": true, "deviceEnrollmentLimit": 5,
                 "businessPhones": ["+1 555"], "createdDateTime": "2024-01-02T03:04:05Z"},
                {"id": "u2", "displayName": null, "accountEnabled": false, "businessPhones": []}
            ]),
            None,
        ))
        .unwrap();
    let batch = &out.batch;
    assert_eq!(batch.schema(), *decoder.schema().output());
    assert_eq!(batch.num_rows(), 2);
    let schema = batch.schema();
    let names: Vec<&str> = schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .take(4)
        .collect();
    assert_eq!(
        names,
        ["id", "deleted_date_time", "account_enabled", "age_group"]
    );
    assert_eq!(batch.schema().fields().last().unwrap().name(), EXTRA_COLUMN);
    assert!(!batch.schema().field_with_name("id").unwrap().is_nullable());
    assert_eq!(strings(batch, "display_name"), [Some("Ada".into()), None]);
    let enabled = batch
        .column_by_name("account_enabled")
        .unwrap()
        .as_boolean();
    assert!(enabled.value(0) && !enabled.value(1));
    let limit = batch
        .column_by_name("device_enrollment_limit")
        .unwrap()
        .as_primitive::<Int32Type>();
    assert_eq!((limit.value(0), limit.is_null(1)), (5, true));
    let phones = batch
        .column_by_name("business_phones")
        .unwrap()
        .as_list::<i32>();
    assert_eq!(phones.value_length(0), 1);
    assert_eq!(phones.value_length(1), 0);
    assert_eq!(extras(batch), [None, None]);
    assert_eq!(
        out.report,
        DecodeReport {
            pages: 1,
            records: 2,
            rows: 2,
            ..Default::default()
        }
    );
}

#[test]
fn seven_digit_fractions_are_exact_to_the_microsecond_in_utc() {
    let decoder = decoder("users");
    let out = decoder
        .decode(&page(
            json!([
                {"id": "a", "createdDateTime": "2024-01-02T03:04:05.1234567Z"},
                {"id": "b", "createdDateTime": "2024-01-02T03:04:05.9999999Z"},
                {"id": "c", "createdDateTime": "0001-01-01T00:00:00Z"},
                {"id": "d", "createdDateTime": "2024-01-02T05:04:05.5+02:00"}
            ]),
            None,
        ))
        .unwrap();
    let column = out.batch.column_by_name("created_date_time").unwrap();
    assert_eq!(
        column.data_type(),
        &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
    );
    let ts = column.as_primitive::<TimestampMicrosecondType>();
    // 2024-01-02T03:04:05Z is 1704164645 s after the epoch.
    assert_eq!(ts.value(0), 1_704_164_645_123_456);
    assert_eq!(ts.value(1), 1_704_164_645_999_999);
    assert_eq!(ts.value(2), -62_135_596_800_000_000);
    assert_eq!(ts.value(3), 1_704_164_645_500_000);
    assert!(out.report.type_conflicts.is_empty());
}

#[test]
fn null_keys_are_rejected_and_repeats_dropped_within_and_across_pages() {
    let decoder = decoder("users");
    let first = decoder
        .decode(&page(
            json!([
                {"id": "u1"}, {"id": null, "displayName": "no key"}, {"displayName": "missing key"},
                {"id": "u2"}, {"id": "u1", "displayName": "repeat in page"}
            ]),
            None,
        ))
        .unwrap();
    assert_eq!(
        strings(&first.batch, "id"),
        [Some("u1".into()), Some("u2".into())]
    );
    assert_eq!(
        (
            first.report.records,
            first.report.rows,
            first.report.rejected_null_key,
            first.report.duplicates
        ),
        (5, 2, 2, 1)
    );
    let second = decoder
        .decode(&page(
            json!([{"id": "u2"}, {"id": "u3"}, {"id": "u1"}]),
            None,
        ))
        .unwrap();
    assert_eq!(strings(&second.batch, "id"), [Some("u3".into())]);
    assert_eq!(
        (
            second.report.records,
            second.report.rows,
            second.report.rejected_null_key,
            second.report.duplicates
        ),
        (3, 1, 0, 2)
    );
    let mut total = first.report.clone();
    total.merge(&second.report);
    assert_eq!(
        (
            total.pages,
            total.records,
            total.rows,
            total.rejected_null_key,
            total.duplicates
        ),
        (2, 8, 3, 2, 3)
    );
    assert_eq!(decoder.key_guard().admitted(), 3);
}

#[test]
fn parent_column_is_filled_and_part_of_the_key() {
    let decoder = decoder("mail_messages");
    let schema = decoder.schema().output().clone();
    let user_id = schema.field_with_name("user_id").unwrap();
    assert!(!user_id.is_nullable());
    assert_eq!(
        schema.index_of("user_id").unwrap(),
        schema.fields().len() - 2
    );

    let records = json!([{"id": "m1", "subject": "hi"}, {"id": "m2"}]);
    let a = decoder
        .decode(&page(records.clone(), Some("user-a")))
        .unwrap();
    assert_eq!(
        strings(&a.batch, "user_id"),
        [Some("user-a".into()), Some("user-a".into())]
    );
    // The same message ids in another mailbox are other rows.
    let b = decoder
        .decode(&page(records.clone(), Some("user-b")))
        .unwrap();
    assert_eq!((b.report.rows, b.report.duplicates), (2, 0));
    let again = decoder.decode(&page(records, Some("user-a"))).unwrap();
    assert_eq!((again.report.rows, again.report.duplicates), (0, 2));

    let missing = decoder.decode(&page(json!([]), None)).unwrap_err();
    assert!(
        matches!(missing, DecodeError::MissingParent { .. }),
        "{missing}"
    );
}

#[test]
fn nested_structs_and_lists_round_trip_with_unicode() {
    let decoder = decoder("mail_messages");
    let out = decoder
        .decode(&page(
            json!([{
                "id": "m1",
                "subject": "Grüße 👋 \"quoted\" \\ back\nslash 日本語",
                "from": {"emailAddress": {"address": "zoë@example.com", "name": "Zoë"}},
                "toRecipients": [
                    {"emailAddress": {"address": "a@example.com", "name": "A"}},
                    {"emailAddress": {"address": "b@example.com"}}
                ],
                "body": {"contentType": "html", "content": "<p>ß</p>"}
            }, {"id": "m2", "toRecipients": null, "from": null}]),
            Some("u"),
        ))
        .unwrap();
    let batch = &out.batch;
    assert_eq!(
        strings(batch, "subject")[0].as_deref(),
        Some("Grüße 👋 \"quoted\" \\ back\nslash 日本語")
    );
    let from = batch.column_by_name("from").unwrap().as_struct();
    let address = from.column_by_name("email_address").unwrap().as_struct();
    assert_eq!(
        address
            .column_by_name("name")
            .unwrap()
            .as_string::<i32>()
            .value(0),
        "Zoë"
    );
    assert!(from.is_null(1));

    let to = batch
        .column_by_name("to_recipients")
        .unwrap()
        .as_list::<i32>();
    assert_eq!((to.value_length(0), to.is_null(1)), (2, true));
    let items = to.values().as_struct();
    let inner = items.column_by_name("email_address").unwrap().as_struct();
    let addresses = inner.column_by_name("address").unwrap().as_string::<i32>();
    let names = inner.column_by_name("name").unwrap().as_string::<i32>();
    assert_eq!(
        (addresses.value(0), addresses.value(1)),
        ("a@example.com", "b@example.com")
    );
    assert_eq!((names.value(0), names.is_null(1)), ("A", true));
    let body = batch.column_by_name("body").unwrap().as_struct();
    assert_eq!(
        body.column_by_name("content_type")
            .unwrap()
            .as_string::<i32>()
            .value(0),
        "html"
    );
    assert_eq!(extras(batch), [None, None]);
}

#[test]
fn undeclared_properties_land_in_extra_and_are_reported_by_name() {
    let decoder = decoder("mail_messages");
    let out = decoder
        .decode(&page(
            json!([
                {"id": "m1", "newTopLevel": {"k": [1, 2]}, "@odata.type": "#microsoft.graph.eventMessage",
                 "@odata.etag": "W/\"abc\"",
                 "toRecipients": [{"emailAddress": {"address": "a@x", "routing": "ü"}}]},
                {"id": "m2", "newTopLevel": 7, "meetingMessageType@odata.navigationLink": "x"},
                {"id": "m3", "@odata.etag": "W/\"def\""}
            ]),
            Some("u"),
        ))
        .unwrap();
    assert_eq!(
        extras(&out.batch),
        [
            Some(json!({
                "newTopLevel": {"k": [1, 2]},
                "@odata.type": "#microsoft.graph.eventMessage",
                "toRecipients[0].emailAddress.routing": "ü"
            })),
            Some(json!({"newTopLevel": 7})),
            None,
        ]
    );
    assert_eq!(
        out.report.new_properties,
        BTreeMap::from([
            ("@odata.type".to_string(), 1),
            ("newTopLevel".to_string(), 2),
            ("toRecipients[].emailAddress.routing".to_string(), 1),
        ])
    );
    assert_eq!(
        out.report.ignored_annotations,
        BTreeMap::from([
            ("@odata.etag".to_string(), 2),
            ("meetingMessageType@odata.navigationLink".to_string(), 1),
        ])
    );
    assert_eq!(out.report.rows, 3);
    assert!(out.report.type_conflicts.is_empty());
}

#[test]
fn a_wrong_typed_value_is_null_counted_and_kept_without_failing_the_page() {
    let decoder = decoder("users");
    let out = decoder
        .decode(&page(
            json!([
                {"id": "u1", "accountEnabled": "yes", "createdDateTime": "not a date",
                 "deviceEnrollmentLimit": 3, "displayName": 42},
                {"id": "u2", "accountEnabled": true, "deviceEnrollmentLimit": {"n": 1},
                 "assignedLicenses": [{"skuId": "s1", "disabledPlans": ["p", {"bad": 1}]}],
                 "employeeOrgData": "flat"},
                {"id": "u3", "accountEnabled": false}
            ]),
            None,
        ))
        .unwrap();
    let batch = &out.batch;
    assert_eq!(batch.num_rows(), 3);
    let enabled = batch
        .column_by_name("account_enabled")
        .unwrap()
        .as_boolean();
    assert_eq!(
        enabled.iter().collect::<Vec<_>>(),
        [None, Some(true), Some(false)]
    );
    // Numbers for a string property keep their text: not a conflict.
    assert_eq!(strings(batch, "display_name")[0].as_deref(), Some("42"));
    assert!(
        batch
            .column_by_name("employee_org_data")
            .unwrap()
            .is_null(1)
    );
    assert_eq!(
        out.report.type_conflicts,
        BTreeMap::from([
            ("account_enabled".to_string(), 1),
            ("assigned_licenses[].disabled_plans[]".to_string(), 1),
            ("created_date_time".to_string(), 1),
            ("device_enrollment_limit".to_string(), 1),
            ("employee_org_data".to_string(), 1),
        ])
    );
    assert_eq!(
        extras(batch),
        [
            Some(json!({"accountEnabled": "yes", "createdDateTime": "not a date"})),
            Some(json!({
                "deviceEnrollmentLimit": {"n": 1},
                "assignedLicenses[0].disabledPlans[1]": {"bad": 1},
                "employeeOrgData": "flat"
            })),
            None,
        ]
    );
    assert!(out.report.new_properties.is_empty());
}

#[test]
fn json_typed_fields_keep_their_json_text() {
    let decoder = decoder("users");
    let out = decoder
        .decode(&page(
            json!([{"id": "u1", "serviceProvisioningErrors": [
                {"errorDetail": "x\"y", "isResolved": false, "nested": {"n": [1.5, null]}},
                "plain"
            ]}]),
            None,
        ))
        .unwrap();
    let list = out
        .batch
        .column_by_name("service_provisioning_errors")
        .unwrap()
        .as_list::<i32>();
    let texts = list.values().as_string::<i32>();
    assert_eq!(list.value_length(0), 2);
    let first: Value = serde_json::from_str(texts.value(0)).unwrap();
    assert_eq!(
        first,
        json!({"errorDetail": "x\"y", "isResolved": false, "nested": {"n": [1.5, null]}})
    );
    assert_eq!(texts.value(1), "\"plain\"");
    assert_eq!(extras(&out.batch), [None]);
}

#[test]
fn removed_rows_from_delta_keep_their_key_and_the_annotation() {
    let decoder = decoder("drive_items");
    let spec = decoder.schema().table();
    let parent = spec.parent.as_ref().map(|_| "drive-1");
    let out = decoder
        .decode(&page(
            json!([{"id": "i1", "name": "kept.txt"}, {"id": "i2", "@removed": {"reason": "deleted"}}]),
            parent,
        ))
        .unwrap();
    assert_eq!(
        strings(&out.batch, "id"),
        [Some("i1".into()), Some("i2".into())]
    );
    assert_eq!(
        extras(&out.batch),
        [None, Some(json!({"@removed": {"reason": "deleted"}}))]
    );
    assert_eq!(out.report.removed, 1);
    assert!(out.report.new_properties.is_empty());
}

#[test]
fn empty_pages_and_malformed_bodies() {
    let decoder = decoder("users");
    let empty = decoder.decode(&page(json!([]), None)).unwrap();
    assert_eq!((empty.batch.num_rows(), empty.report.records), (0, 0));
    assert_eq!(empty.batch.schema(), *decoder.schema().output());

    let broken = PageInput {
        parent: None,
        body: Bytes::from_static(b"{\"value\": [{\"id\": "),
        chain_pages: None,
    };
    assert!(matches!(
        decoder.decode(&broken),
        Err(DecodeError::Envelope { .. })
    ));
    let no_value = PageInput {
        parent: None,
        body: Bytes::from_static(b"{\"error\": {}}"),
        chain_pages: None,
    };
    assert!(matches!(
        decoder.decode(&no_value),
        Err(DecodeError::MissingValue { .. })
    ));
    // The whole body is read in one pass: what serde_json used to reject around `value` still fails.
    let body = |b: &'static [u8]| PageInput {
        parent: None,
        body: Bytes::from_static(b),
        chain_pages: None,
    };
    for not_a_list in [
        &b"{\"value\": {\"id\": \"u1\"}}"[..],
        b"{\"value\": null}",
        b"{}",
    ] {
        assert!(
            matches!(
                decoder.decode(&body(not_a_list)),
                Err(DecodeError::MissingValue { .. })
            ),
            "{}",
            String::from_utf8_lossy(not_a_list)
        );
    }
    let trailing = decoder.decode(&body(b"{\"value\": []} {\"value\": []}"));
    assert!(matches!(trailing, Err(DecodeError::Envelope { .. })));
    let bad_utf8 = decoder.decode(&body(b"{\"value\": [{\"id\": \"\xff\"}]}"));
    assert!(bad_utf8.is_err());
    let not_an_object = decoder.decode(&body(b"{\"value\": [{\"id\": \"u1\"}, 7]}"));
    assert!(not_an_object.is_err());
    // Members around `value` in any order, nested objects among them, are skipped.
    let out = decoder
        .decode(&body(
            b"{\"@odata.count\": 1, \"x\": {\"value\": 1}, \"value\": [{\"id\": \"u1\"}], \"@odata.nextLink\": \"n\"}",
        ))
        .unwrap();
    assert_eq!(strings(&out.batch, "id"), [Some("u1".into())]);
}

#[test]
fn pages_larger_than_one_arrow_batch_decode_whole() {
    let decoder = decoder("users");
    let records: Vec<Value> = (0..2500)
        .map(|i| json!({"id": format!("u{i}"), "city": "x"}))
        .collect();
    let out = decoder.decode(&page(Value::Array(records), None)).unwrap();
    assert_eq!((out.batch.num_rows(), out.report.rows), (2500, 2500));
    assert_eq!(strings(&out.batch, "id")[2499].as_deref(), Some("u2499"));
}

#[test]
fn a_decoder_is_shared_by_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<PageDecoder>();
    let decoder = decoder("users");
    let totals: Vec<DecodeReport> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let decoder = &decoder;
                s.spawn(move || {
                    // Every thread sends ids 0..100, plus 50 of its own.
                    let mut records: Vec<Value> =
                        (0..100).map(|i| json!({"id": format!("s{i}")})).collect();
                    records.extend((0..50).map(|i| json!({"id": format!("t{t}-{i}")})));
                    decoder
                        .decode(&page(Value::Array(records), None))
                        .unwrap()
                        .report
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut total = DecodeReport::default();
    totals.iter().for_each(|r| total.merge(r));
    assert_eq!(
        (total.records, total.rows, total.duplicates),
        (600, 300, 300)
    );
}
