//! `schemas/*.json` are generated: they must match what `cargo xtask gen-schemas` writes today,
//! and they must say what the rest of the project relies on.

use std::collections::BTreeMap;
use std::fs;

use graph_csdl::{Model, types};
use stream_spec::{Catalog, FieldType, PageSize, StreamKind, StreamSpec};
use xtask::gen_schemas::{self, reports};

/// The streams the catalog declares: one `catalog/<stream>.toml` each.
fn catalog_streams() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(gen_schemas::default_catalog_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().to_string())
        .collect();
    names.sort();
    names
}

fn committed() -> Catalog {
    Catalog::from_dir(&gen_schemas::default_schemas_dir()).expect("schemas/ loads")
}

fn read_dir_texts(dir: &std::path::Path) -> BTreeMap<String, String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            (name, fs::read_to_string(&p).unwrap())
        })
        .collect()
}

#[test]
fn committed_schemas_are_what_the_generator_writes() {
    let files = gen_schemas::generate(
        &gen_schemas::default_metadata_dir(),
        &gen_schemas::default_catalog_dir(),
    )
    .expect("generator runs on catalog/ and ../shared/msgraph");
    let out = tempfile::tempdir().unwrap();
    gen_schemas::write(out.path(), &files).unwrap();
    let fresh = read_dir_texts(out.path());
    let committed = read_dir_texts(&gen_schemas::default_schemas_dir());
    let stale: std::collections::BTreeSet<&String> = fresh
        .keys()
        .chain(committed.keys())
        .filter(|name| fresh.get(*name) != committed.get(*name))
        .collect();
    assert!(
        stale.is_empty(),
        "schemas/ is out of date for {stale:?}: run `cargo xtask gen-schemas` and commit schemas/"
    );
}

#[test]
fn every_stream_is_declared_once() {
    let catalog = committed();
    let mut names: Vec<&str> = catalog
        .streams()
        .iter()
        .map(|s| s.stream.as_str())
        .collect();
    names.sort();
    assert_eq!(names, catalog_streams());
    for spec in catalog.streams() {
        if let Some(parent) = &spec.parent {
            catalog.get(&parent.stream).expect("parent stream declared");
            assert!(
                spec.field(&parent.column).is_none(),
                "{}: parent column is added by the sink",
                spec.stream
            );
        }
        for key in &spec.primary_key {
            if let Some(field) = spec.field(key) {
                assert!(!field.nullable, "{}: key {key} is nullable", spec.stream);
            }
        }
    }
}

#[test]
fn users_have_the_expected_typed_columns() {
    let catalog = committed();
    let users = catalog.get("users").unwrap();
    assert_eq!(
        users.field("user_principal_name").unwrap().data_type,
        FieldType::Utf8
    );
    assert_eq!(
        users.field("created_date_time").unwrap().data_type,
        FieldType::TimestampUsUtc
    );
    assert_eq!(
        users.field("account_enabled").unwrap().data_type,
        FieldType::Boolean
    );
    let id = users.field("id").unwrap();
    assert!(!id.nullable);
    // Inherited properties come first: entity.id, then directoryObject.deletedDateTime.
    assert_eq!(users.fields[0].name, "id");
    assert_eq!(users.fields[1].name, "deleted_date_time");
    // Single-user-only properties and navigation properties are not declared.
    for absent in [
        "about_me",
        "skills",
        "mailbox_settings",
        "sign_in_activity",
        "manager",
        "photo",
    ] {
        assert!(users.field(absent).is_none(), "users declares {absent}");
    }
    assert_eq!(users.page_size, PageSize::Cap(999));
    assert_eq!(users.permission, "User.Read.All");
}

#[test]
fn mail_recipients_are_lists_of_structs() {
    let catalog = committed();
    let mail = catalog.get("mail_messages").unwrap();
    assert!(mail.outlook_mailbox_limit);
    assert_eq!(mail.page_size, PageSize::Cap(1000));
    assert_eq!(mail.path, "/users/{parent_id}/messages");
    let FieldType::List(item) = &mail.field("to_recipients").unwrap().data_type else {
        panic!("to_recipients is not a list");
    };
    let FieldType::Struct(recipient) = item.as_ref() else {
        panic!("recipient is not a struct")
    };
    let FieldType::Struct(address) = &recipient[0].data_type else {
        panic!("emailAddress is not a struct")
    };
    let names: Vec<&str> = address.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["address", "name"]);
}

#[test]
fn paging_rules_follow_graph() {
    let catalog = committed();
    assert_eq!(
        catalog.get("chat_messages").unwrap().page_size,
        PageSize::Cap(50)
    );
    assert_eq!(
        catalog.get("audit_logs_signins").unwrap().page_size,
        PageSize::Cap(1000)
    );
    for refusing in [
        "directory_roles",
        "directory_role_templates",
        "subscribed_skus",
    ] {
        assert_eq!(
            catalog.get(refusing).unwrap().page_size,
            PageSize::Unsupported,
            "{refusing}"
        );
    }
    let drive_items = catalog.get("drive_items").unwrap();
    assert_eq!(drive_items.kind, StreamKind::Delta);
    let teams = catalog.get("teams").unwrap();
    assert_eq!(
        teams.query["$filter"],
        "resourceProvisioningOptions/Any(x:x eq 'Team')"
    );
}

#[test]
fn mixed_member_streams_carry_the_odata_type() {
    let catalog = committed();
    for stream in [
        "group_member",
        "group_owner",
        "directory_role_member",
        "team_member",
    ] {
        let spec = catalog.get(stream).unwrap();
        assert_eq!(spec.fields[0].graph, "@odata.type", "{stream}");
        assert_eq!(spec.fields[0].name, "odata_type");
        assert!(spec.field("display_name").is_some(), "{stream}");
    }
    assert!(
        catalog
            .get("group_member")
            .unwrap()
            .field("user_principal_name")
            .is_some()
    );
    assert!(
        catalog
            .get("team_member")
            .unwrap()
            .field("user_id")
            .is_some()
    );
    assert_eq!(
        catalog
            .get("directory_role_member")
            .unwrap()
            .parent
            .as_ref()
            .unwrap()
            .column,
        "role_id"
    );
}

#[test]
fn report_streams_follow_their_catalog_columns() {
    let catalog = committed();
    let mailbox = catalog.get("mailbox_usage_detail").unwrap();
    assert_eq!(mailbox.kind, StreamKind::Report);
    assert_eq!(mailbox.path, "/reports/getMailboxUsageDetail(period='D7')");
    assert_eq!(
        mailbox.primary_key,
        ["report_refresh_date", "user_principal_name"]
    );
    assert_eq!(mailbox.permission, "Reports.Read.All");
    assert_eq!(mailbox.entity, None);
    let storage = mailbox.field("storage_used_byte").unwrap();
    assert_eq!(storage.graph, "Storage Used (Byte)");
    assert_eq!(storage.data_type, FieldType::Int64);
    assert_eq!(
        mailbox.field("report_refresh_date").unwrap().data_type,
        FieldType::Date
    );
    assert_eq!(
        mailbox.field("has_archive").unwrap().data_type,
        FieldType::Boolean
    );
    assert_eq!(mailbox.fields.len(), 17);
    let teams = catalog.get("teams_user_activity_user_detail").unwrap();
    assert_eq!(teams.fields.len(), 33);
    assert_eq!(
        teams.field("audio_duration").unwrap().data_type,
        FieldType::Utf8
    );
    assert_eq!(
        teams.field("audio_duration_in_seconds").unwrap().data_type,
        FieldType::Int64
    );
    assert_eq!(
        teams.field("post_messages").unwrap().data_type,
        FieldType::Int64
    );
    assert_eq!(
        teams.field("assigned_products").unwrap().data_type,
        FieldType::Utf8
    );
}

#[test]
fn report_column_rule() {
    use reports::report_column_type as t;
    assert_eq!(t("Deleted Date"), FieldType::Date);
    assert_eq!(t("Is Deleted"), FieldType::Boolean);
    assert_eq!(t("Has OneDrive License"), FieldType::Boolean);
    assert_eq!(t("Deleted Item Size (Byte)"), FieldType::Int64);
    assert_eq!(t("Meeting Created Count"), FieldType::Int64);
    assert_eq!(t("Site URL"), FieldType::Utf8);
}

#[test]
fn a_catalog_entry_with_a_mistake_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| fs::write(dir.path().join(name), text).unwrap();
    write(
        "some_report.toml",
        "kind = \"report\"\npath = \"/reports/getX(period='D7')\"\nprimary_key = [\"site_id\"]\n\
         page_size = \"unsupported\"\npermission = \"Reports.Read.All\"\n\
         columns = [\"Report Refresh Date\", \"Site URL\"]\n[incremental]\nmethod = \"append\"\n",
    );
    let err = gen_schemas::generate(&gen_schemas::default_metadata_dir(), dir.path()).unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("some_report.toml") && text.contains("`site_id`"),
        "{text}"
    );

    write("some_report.toml", "kind = \"report\"\npth = \"/x\"\n");
    let err = gen_schemas::generate(&gen_schemas::default_metadata_dir(), dir.path()).unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("some_report.toml") && text.contains("pth"),
        "{text}"
    );
}

const SMALL_CSDL: &str = r#"<?xml version="1.0"?>
<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx"><edmx:DataServices>
<Schema Namespace="microsoft.graph" Alias="graph" xmlns="http://docs.oasis-open.org/odata/ns/edm">
  <EnumType Name="color"><Member Name="red" Value="0" /></EnumType>
  <EntityType Name="entity" Abstract="true"><Key><PropertyRef Name="id" /></Key>
    <Property Name="id" Type="Edm.String" Nullable="false" /></EntityType>
  <EntityType Name="thing" BaseType="graph.entity">
    <Property Name="color" Type="graph.color" />
    <Property Name="node" Type="graph.node" />
    <Property Name="tags" Type="Collection(Edm.String)" Nullable="false" />
    <Property Name="size" Type="Edm.Int64" />
    <Property Name="blob" Type="Edm.Stream" />
    <NavigationProperty Name="owner" Type="graph.thing" />
  </EntityType>
  <ComplexType Name="node">
    <Property Name="label" Type="Edm.String" />
    <Property Name="child" Type="graph.node" />
  </ComplexType>
  <ComplexType Name="empty" />
</Schema></edmx:DataServices></edmx:Edmx>"#;

#[test]
fn csdl_inheritance_types_and_recursion() {
    let model = Model::parse(SMALL_CSDL).unwrap();
    let props = model.all_properties("microsoft.graph.thing").unwrap();
    let names: Vec<&str> = props.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["id", "color", "node", "tags", "size", "blob"]);
    let fields: Vec<_> = props.iter().map(|p| types::field(&model, p)).collect();
    assert!(!fields[0].nullable);
    assert_eq!(fields[1].data_type, FieldType::Utf8);
    // node -> child is node again: the recursion is cut to JSON at the second visit.
    let FieldType::Struct(node) = &fields[2].data_type else {
        panic!("node is not a struct")
    };
    assert_eq!(node[0].name, "label");
    assert_eq!(node[1].data_type, FieldType::Json);
    assert_eq!(
        fields[3].data_type,
        FieldType::List(Box::new(FieldType::Utf8))
    );
    assert!(!fields[3].nullable);
    assert_eq!(fields[4].data_type, FieldType::Int64);
    assert_eq!(fields[5].data_type, FieldType::Json);
    assert!(model.types.contains_key("microsoft.graph.empty"));
}

#[test]
fn a_missing_metadata_dir_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = gen_schemas::generate(dir.path(), &gen_schemas::default_catalog_dir()).unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("cleanMetadata.xml") && text.contains("--metadata"),
        "{text}"
    );
}

#[test]
fn generated_text_is_pretty_json_that_parses_back() {
    let dir = gen_schemas::default_schemas_dir();
    let text = fs::read_to_string(dir.join("users.json")).unwrap();
    assert!(text.ends_with("}\n"));
    assert!(text.starts_with("{\n  \"stream\": \"users\","));
    StreamSpec::from_json("users", &text).unwrap();
}

#[test]
fn incremental_methods_are_declared_as_issue_14_lists() {
    use stream_spec::{BookmarkOperator, Incremental};
    let catalog = committed();
    let method = |stream: &str| catalog.get(stream).unwrap().incremental.clone();
    for (stream, path, tombstone) in [
        ("users", "/users/delta", "@removed"),
        ("groups", "/groups/delta", "@removed"),
        ("applications", "/applications/delta", "@removed"),
        ("service_principals", "/servicePrincipals/delta", "@removed"),
        (
            "drive_items",
            "/users/{parent_id}/drive/root/delta",
            "deleted",
        ),
        (
            "mail_messages",
            "/users/{parent_id}/mailFolders/{folder_id}/messages/delta",
            "@removed",
        ),
        (
            "contacts",
            "/users/{parent_id}/contactFolders/{folder_id}/contacts/delta",
            "@removed",
        ),
        (
            "calendar_events",
            "/users/{parent_id}/calendarView/delta",
            "@removed",
        ),
    ] {
        let Incremental::Delta(delta) = method(stream) else {
            panic!("{stream} is not delta");
        };
        assert_eq!(
            (delta.path.as_str(), delta.tombstone.as_str()),
            (path, tombstone)
        );
        // calendarView/delta refuses $select and needs its window.
        assert_eq!(delta.select, stream != "calendar_events", "{stream}");
        assert_eq!(delta.window, stream == "calendar_events", "{stream}");
    }
    let Incremental::Delta(mail) = method("mail_messages") else {
        unreachable!()
    };
    let folders = mail.folders.unwrap();
    assert_eq!(folders.children.as_deref(), Some("childFolders"));
    assert_eq!(folders.query["includeHiddenFolders"], "true");
    let Incremental::Delta(contacts) = method("contacts") else {
        unreachable!()
    };
    assert_eq!(
        contacts.folders.unwrap().default_path.as_deref(),
        Some("/users/{parent_id}/contacts/delta")
    );
    for (stream, property, retention) in [
        ("audit_logs_directory", "activityDateTime", Some(30)),
        ("audit_logs_signins", "createdDateTime", Some(30)),
        ("chat_messages", "lastModifiedDateTime", None),
    ] {
        let Incremental::Bookmark(b) = method(stream) else {
            panic!("{stream} is not bookmark");
        };
        assert_eq!(
            (b.property.as_str(), b.retention_days),
            (property, retention)
        );
        let gt = stream == "chat_messages";
        assert_eq!(b.operator == BookmarkOperator::Gt, gt, "{stream}");
        assert_eq!(b.order_by.is_some(), gt, "{stream}");
    }
    for spec in catalog.streams() {
        let expected = match spec.incremental {
            Incremental::Delta(_) | Incremental::Bookmark(_) => continue,
            _ if spec.kind == StreamKind::Report => Incremental::Append,
            _ => Incremental::Compare,
        };
        assert_eq!(spec.incremental, expected, "{}", spec.stream);
    }
}

/// README's permission table names every stream once, with the permission its declaration
/// says (the part before any "(+ …)" note).
#[test]
fn readme_permission_table_matches_the_declarations() {
    let readme = fs::read_to_string(gen_schemas::workspace_root().join("README.md")).unwrap();
    let table = readme
        .split("### Permissions")
        .nth(1)
        .expect("README has a Permissions section");
    let catalog = committed();
    let mut listed = Vec::new();
    // The first table of the section: from its header to the first line that is not a row.
    let rows = table
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'));
    for row in rows.skip(2) {
        let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
        assert_eq!(cells.len(), 5, "{row}");
        let permission = cells[4].split(" (+").next().unwrap().trim();
        let names: Vec<&str> = cells[0].split('`').skip(1).step_by(2).collect();
        assert!(!names.is_empty(), "{row}");
        for name in names {
            let spec = catalog
                .get(name)
                .unwrap_or_else(|_| panic!("README lists `{name}`, which is not declared"));
            assert_eq!(
                spec.permission, permission,
                "README's permission for `{name}`"
            );
            listed.push(name.to_string());
        }
    }
    listed.sort();
    assert_eq!(
        listed,
        catalog_streams(),
        "README lists every stream exactly once"
    );
}

/// Issue 16: a stream's facts live in its declaration. No stream name is spelled in the
/// non-test code of graph-extract, arrow-sink or graph-mock (the mock's sizes, borrowed rows and
/// tied values are `[mock]` hints in the declarations; its scenarios are data files).
#[test]
fn no_stream_name_is_spelled_in_library_code() {
    let names = catalog_streams();
    let root = gen_schemas::workspace_root();
    let mut found = Vec::new();
    for krate in ["graph-extract", "arrow-sink", "graph-mock"] {
        let src = root.join("crates").join(krate).join("src");
        let mut files = Vec::new();
        let mut dirs = vec![src.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    files.push(path);
                }
            }
        }
        // Modules declared `#[cfg(test)] mod name;` are tests as a whole.
        let mut test_modules = std::collections::BTreeSet::new();
        for file in &files {
            let text = fs::read_to_string(file).unwrap();
            let lines: Vec<&str> = text.lines().map(str::trim).collect();
            for pair in lines.windows(2) {
                if pair[0] == "#[cfg(test)]"
                    && let Some(name) = pair[1]
                        .strip_prefix("mod ")
                        .and_then(|m| m.strip_suffix(';'))
                {
                    test_modules.insert(format!("{name}.rs"));
                }
            }
        }
        for file in files {
            let name = file.file_name().unwrap().to_string_lossy().to_string();
            if test_modules.contains(&name) {
                continue;
            }
            let text = fs::read_to_string(&file).unwrap();
            // Test modules sit at the end of each file; comments and docs may name streams.
            let code = text.split("#[cfg(test)]").next().unwrap();
            for (n, line) in code.lines().enumerate() {
                let line = line.trim_start();
                if line.starts_with("//") {
                    continue;
                }
                for stream in &names {
                    if line.contains(&format!("\"{stream}\"")) {
                        found.push(format!(
                            "{}:{}: \"{stream}\"",
                            file.strip_prefix(&root).unwrap().display(),
                            n + 1
                        ));
                    }
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "stream names in library code (move the fact into the declaration): {found:#?}"
    );
}
