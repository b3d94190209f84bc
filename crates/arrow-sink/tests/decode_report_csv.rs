//! Report CSVs: BOM, columns by header name, drift and conflicts, keys.

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Date32Type};
use arrow_sink::{EXTRA_COLUMN, PageDecoder, PageInput};
use bytes::Bytes;
use serde_json::{Value, json};
use stream_spec::Catalog;

fn csv_page(text: &str) -> PageInput {
    let mut body = b"\xEF\xBB\xBF".to_vec();
    body.extend_from_slice(text.as_bytes());
    PageInput {
        parent: None,
        body: Bytes::from(body),
        chain_pages: None,
    }
}

#[test]
fn bom_reordered_and_new_columns_land_by_header_name() {
    let decoder = PageDecoder::new(
        &Catalog::embedded()
            .get("office365_active_user_detail")
            .unwrap()
            .table(),
    )
    .unwrap();
    // Columns out of declared order, one declared column absent, one unknown column added.
    let text = "User Principal Name,Has Teams License,Report Refresh Date,Display Name,Brand New Column,Is Deleted\n\
                ada@x.com,True,2024-05-01,Ada Lovelace,n1,False\n\
                bob@x.com,maybe,2024-05-01,\"Bob, Jr. ☕\",,\n\
                ,True,2024-05-01,No UPN,n3,False\n\
                ada@x.com,False,2024-05-01,Ada again,,False\n";
    let out = decoder.decode(&csv_page(text)).unwrap();
    let batch = &out.batch;
    assert_eq!(batch.schema(), *decoder.schema().output());
    assert_eq!(batch.num_rows(), 2);

    let upn = batch
        .column_by_name("user_principal_name")
        .unwrap()
        .as_string::<i32>();
    assert_eq!((upn.value(0), upn.value(1)), ("ada@x.com", "bob@x.com"));
    let names = batch
        .column_by_name("display_name")
        .unwrap()
        .as_string::<i32>();
    assert_eq!(names.value(1), "Bob, Jr. ☕");
    let date = batch.column_by_name("report_refresh_date").unwrap();
    assert_eq!(date.data_type(), &DataType::Date32);
    // 2024-05-01 is day 19844 after the epoch.
    assert_eq!(date.as_primitive::<Date32Type>().value(0), 19844);
    let teams = batch
        .column_by_name("has_teams_license")
        .unwrap()
        .as_boolean();
    assert_eq!(teams.iter().collect::<Vec<_>>(), [Some(true), None]);
    let deleted = batch.column_by_name("is_deleted").unwrap().as_boolean();
    assert_eq!(deleted.iter().collect::<Vec<_>>(), [Some(false), None]);
    // Declared but absent from this file: all null.
    assert_eq!(
        batch
            .column_by_name("has_exchange_license")
            .unwrap()
            .null_count(),
        2
    );

    let extras: Vec<Option<Value>> = batch
        .column_by_name(EXTRA_COLUMN)
        .unwrap()
        .as_string::<i32>()
        .iter()
        .map(|v| v.map(|t| serde_json::from_str(t).unwrap()))
        .collect();
    assert_eq!(
        extras,
        [
            Some(json!({"Brand New Column": "n1"})),
            Some(json!({"Has Teams License": "maybe"})),
        ]
    );
    let report = &out.report;
    assert_eq!(
        (
            report.records,
            report.rows,
            report.rejected_null_key,
            report.duplicates
        ),
        (4, 2, 1, 1)
    );
    assert_eq!(
        report.type_conflicts,
        BTreeMap::from([("has_teams_license".to_string(), 1)])
    );
    // Counted over all rows read, before the key guard.
    assert_eq!(
        report.new_properties,
        BTreeMap::from([("Brand New Column".to_string(), 2)])
    );
}

#[test]
fn a_csv_without_bom_and_only_a_header_is_an_empty_page() {
    let decoder = PageDecoder::new(
        &Catalog::embedded()
            .get("office365_active_user_detail")
            .unwrap()
            .table(),
    )
    .unwrap();
    let page = PageInput {
        parent: None,
        body: Bytes::from_static(b"Report Refresh Date,User Principal Name\n"),
        chain_pages: None,
    };
    let out = decoder.decode(&page).unwrap();
    assert_eq!((out.batch.num_rows(), out.report.records), (0, 0));
    assert!(out.report.new_properties.is_empty());
}
