//! Declared schema to Arrow: every generated declaration converts, the hash is stable, renaming
//! shares buffers.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int32Array, ListArray, StringArray, StructArray};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, Fields};
use arrow_sink::schema::rename_columns;
use arrow_sink::{EXTRA_COLUMN, StreamSchema, arrow_schema, schema_hash};
use stream_spec::Catalog;

#[test]
fn every_generated_declaration_converts_with_keys_non_null() {
    let catalog = Catalog::embedded();
    assert!(!catalog.streams().is_empty());
    for spec in catalog.streams() {
        let table = spec.table();
        let schema = StreamSchema::new(&table).unwrap_or_else(|e| panic!("{}: {e}", table.name));
        let output = schema.output();
        assert_eq!(
            output.fields().len(),
            table.fields.len() + table.parent_columns().len() + 1,
            "{}: declared fields, parent-key columns, _extra",
            table.name
        );
        assert_eq!(output.fields().last().unwrap().name(), EXTRA_COLUMN);
        for key in &table.primary_key {
            assert!(
                !output.field_with_name(key).unwrap().is_nullable(),
                "{}.{key}",
                table.name
            );
        }
        assert!(schema.hash().starts_with("sha256:") && schema.hash().len() == 71);
    }
}

#[test]
fn schema_hash_is_stable_and_follows_the_table_shape() {
    let catalog = Catalog::embedded();
    let users = catalog.get("users").unwrap().table();
    assert_eq!(schema_hash(&users), schema_hash(&users.clone()));
    let mut renamed = users.clone();
    renamed.fields[1].name = "deleted_at".into();
    assert_ne!(schema_hash(&users), schema_hash(&renamed));
    // What does not shape the table (the source: permission, path) does not change the hash.
    let mut other_source = catalog.get("users").unwrap().clone();
    other_source.permission = "Directory.Read.All".into();
    other_source.path = "/beta/users".into();
    assert_eq!(schema_hash(&users), schema_hash(&other_source.table()));
    assert_ne!(
        schema_hash(&users),
        schema_hash(&catalog.get("groups").unwrap().table())
    );
}

/// Landed files and manifests carry the hash: splitting tables out of declarations must not
/// change it for a shipped stream (values computed before the split).
#[test]
fn shipped_streams_hash_as_before_tables_were_split_out() {
    let catalog = Catalog::embedded();
    let hash = |stream: &str| schema_hash(&catalog.get(stream).unwrap().table());
    let before = [
        (
            "users",
            "sha256:6f0b07b22b3a49c7fa8ef5564a946ba578288f6d06b455a64a36fd7870bfdedd",
        ),
        (
            "mail_messages",
            "sha256:531111109dacb126472d5a0e22333f718095b628e0175f6df8cda89e1d1085a9",
        ),
        // Kind `delta`, a grandchild, a report: every part of the canonical form.
        (
            "drive_items",
            "sha256:fd9a911b4dc451b9800d829fd5e130ce149d14f6643f4f5a8323a96b5ba7bb09",
        ),
        (
            "channel_messages",
            "sha256:befc26693cf3249fa168af899e9389c6d6973ceddeb538bb87b7a6c4cdaa70c0",
        ),
        (
            "mailbox_usage_detail",
            "sha256:1034d0031ef07283df85f5b8ef28a0f82a727d41bf5a5b898158efe37469f876",
        ),
    ];
    for (stream, expected) in before {
        assert_eq!(hash(stream), expected, "{stream}");
    }
}

#[test]
fn timestamps_are_utc_microseconds_and_json_is_text() {
    let users = Catalog::embedded().get("users").unwrap().table();
    let schema = arrow_schema(&users).unwrap();
    assert_eq!(
        schema
            .field_with_name("created_date_time")
            .unwrap()
            .data_type(),
        &DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, Some("UTC".into()))
    );
    let errors = schema
        .field_with_name("service_provisioning_errors")
        .unwrap();
    let DataType::List(item) = errors.data_type() else {
        panic!("{errors}")
    };
    assert_eq!(item.data_type(), &DataType::Utf8);
}

#[test]
fn renaming_rebuilds_structs_and_lists_over_the_same_buffers() {
    // Graph-named input: struct {emailAddress: Utf8, n: Int32} and list<struct{...}>.
    let graph_fields = Fields::from(vec![
        Field::new("emailAddress", DataType::Utf8, true),
        Field::new("n", DataType::Int32, true),
    ]);
    let strings: ArrayRef = Arc::new(StringArray::from(vec![Some("a@x"), None, Some("c@x")]));
    let ints: ArrayRef = Arc::new(Int32Array::from(vec![1, 2, 3]));
    let graph_struct = StructArray::try_new(
        graph_fields.clone(),
        vec![strings.clone(), ints.clone()],
        None,
    )
    .unwrap();
    let graph_list = ListArray::try_new(
        Arc::new(Field::new_list_field(DataType::Struct(graph_fields), true)),
        OffsetBuffer::from_lengths([2, 1, 0]),
        Arc::new(graph_struct.clone()),
        None,
    )
    .unwrap();

    let output_struct_fields = Fields::from(vec![
        Field::new("email_address", DataType::Utf8, true),
        Field::new("n", DataType::Int32, true),
    ]);
    let output = Fields::from(vec![
        Field::new(
            "sender",
            DataType::Struct(output_struct_fields.clone()),
            true,
        ),
        Field::new(
            "to_recipients",
            DataType::List(Arc::new(Field::new_list_field(
                DataType::Struct(output_struct_fields),
                true,
            ))),
            true,
        ),
    ]);
    let renamed = rename_columns(
        vec![Arc::new(graph_struct), Arc::new(graph_list.clone())],
        &output,
    )
    .unwrap();
    assert_eq!(renamed[0].data_type(), output[0].data_type());
    assert_eq!(renamed[1].data_type(), output[1].data_type());

    let sender = renamed[0].as_struct();
    assert_eq!(
        sender
            .column_by_name("email_address")
            .unwrap()
            .as_string::<i32>()
            .value(2),
        "c@x"
    );
    let renamed_strings = sender.column(0).as_string::<i32>();
    let original_strings = strings.as_string::<i32>();
    // Same allocations: the rename moved Arcs, it copied no column data.
    assert_eq!(
        renamed_strings.values().as_ptr(),
        original_strings.values().as_ptr()
    );
    assert_eq!(
        renamed_strings.offsets().as_ptr(),
        original_strings.offsets().as_ptr()
    );
    assert_eq!(
        sender
            .column(1)
            .as_primitive::<arrow::datatypes::Int32Type>()
            .values()
            .as_ptr(),
        ints.as_primitive::<arrow::datatypes::Int32Type>()
            .values()
            .as_ptr()
    );
    let list = renamed[1].as_list::<i32>();
    assert_eq!(list.offsets().as_ptr(), graph_list.offsets().as_ptr());
    let inner = list.values().as_struct().column(0).as_string::<i32>();
    assert_eq!(inner.values().as_ptr(), original_strings.values().as_ptr());
}
