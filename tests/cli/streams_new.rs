//! `streams new` (issue 16, item 3): a declaration written from a Graph path and the shipped
//! CSDL passes `streams check` and lands exactly what graph-mock serves for it; paths that need
//! more than the CSDL knows are refused with exit 2, saying what to add.

use graph_mock::MockConfig;
use serde_json::{Value, json};
use stream_spec::{Catalog, FieldType, StreamSpec};

use crate::util::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_path_checks_and_syncs_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let declarations = dir.path().join("streams");
    let decl = declarations.to_str().unwrap();
    // Universal Print's printers: a stream this build does not ship, reached through the
    // singleton `print`.
    let new = [
        "streams",
        "new",
        "--path",
        "/print/printers",
        "--name",
        "printers",
        "--permission",
        "Printer.Read.All",
        "--out",
        decl,
    ];
    let written = msgraph_sync(new, dir.path(), &[]).await;
    assert_eq!(written.code, 0, "{written:?}");
    assert!(
        written
            .stdout
            .contains(&format!("msgraph-sync streams check {decl}"))
            && written.stdout.contains(&format!("--streams-dir {decl}")),
        "{written:?}"
    );
    let text = std::fs::read_to_string(declarations.join("printers.json")).unwrap();
    let spec = StreamSpec::from_json("printers", &text).unwrap();
    assert_eq!(spec.path, "/print/printers");
    assert_eq!(spec.entity.as_deref(), Some("microsoft.graph.printer"));
    assert_eq!(spec.permission, "Printer.Read.All");
    assert_eq!(spec.primary_key, ["id"]);
    assert!(spec.parent.is_none());
    // Fields from the CSDL: inherited ones first (entity.id), complex types as structs,
    // navigation properties (printer.jobs, printer.shares) left out.
    assert_eq!(spec.fields[0].name, "id");
    assert!(!spec.fields[0].nullable);
    let field = |name: &str| spec.field(name).unwrap_or_else(|| panic!("no {name}"));
    assert_eq!(field("is_shared").data_type, FieldType::Boolean);
    assert_eq!(
        field("registered_date_time").data_type,
        FieldType::TimestampUsUtc
    );
    assert!(matches!(field("location").data_type, FieldType::Struct(_)));
    assert!(spec.field("jobs").is_none() && spec.field("shares").is_none());
    let pretty: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(pretty["incremental"], json!({"method": "compare"}));
    assert_eq!(pretty["page_size"], json!({"cap": 999}));

    // Written once: a second run refuses to overwrite, unless told to.
    let again = msgraph_sync(new, dir.path(), &[]).await;
    assert_eq!(again.code, 2, "{again:?}");
    assert!(again.stderr.contains("--force"), "{again:?}");
    let forced = msgraph_sync(new.iter().chain(&["--force"]), dir.path(), &[]).await;
    assert_eq!(forced.code, 0, "{forced:?}");
    assert_eq!(
        std::fs::read_to_string(declarations.join("printers.json")).unwrap(),
        text
    );

    let checked = msgraph_sync(["streams", "check", decl], dir.path(), &[]).await;
    assert_eq!(checked.code, 0, "{checked:?}");
    assert!(
        checked.stdout.contains("printers: adds a stream"),
        "{checked:?}"
    );

    // graph-mock serves the same catalog; every key it holds lands, and nothing else.
    let catalog = Catalog::embedded()
        .with(Catalog::from_dir(&declarations).unwrap())
        .unwrap();
    let server = mock(MockConfig::default().catalog(catalog)).await;
    let truth = server.truth();
    let expected = truth.stream("printers").expect("the mock serves printers");
    assert!(expected.rows > 0);
    let config = write_config(dir.path(), &server, json!({"streams": ["printers"]}));
    let out = dir.path().join("landing");
    let run = msgraph_sync(
        sync_args(&config, &out, &["--streams-dir", decl]),
        dir.path(),
        &[],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_stream_matches(&out, "printers", expected);
}

#[tokio::test]
async fn a_child_path_needs_its_parent_and_gets_a_parent_column() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let run = msgraph_sync(
        [
            "streams",
            "new",
            "--path",
            "/users/{id}/messages",
            "--out",
            out,
        ],
        dir.path(),
        &[],
    )
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("key segment")
            && run.stderr.contains("--parent STREAM")
            && run.stderr.contains("`--parent users`"),
        "{run:?}"
    );
    assert!(tree(dir.path()).is_empty(), "nothing is written");

    // `--parent` without a key segment is as wrong.
    let run = msgraph_sync(
        ["streams", "new", "--path", "/devices", "--parent", "users"],
        dir.path(),
        &[],
    )
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("no key segment"), "{run:?}");

    // With it: `{parent_id}` in the path, the parent column in the key, the permission of the
    // shipped declaration of the same path.
    let run = msgraph_sync(
        [
            "streams",
            "new",
            "--path",
            "/users/{user-id}/messages",
            "--parent",
            "users",
            "--name",
            "user_messages",
            "--out",
            out,
        ],
        dir.path(),
        &[],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    let text = std::fs::read_to_string(dir.path().join("user_messages.json")).unwrap();
    let spec = StreamSpec::from_json("user_messages", &text).unwrap();
    assert_eq!(spec.path, "/users/{parent_id}/messages");
    assert_eq!(spec.primary_key, ["id", "user_id"]);
    let parent = spec.parent.as_ref().unwrap();
    assert_eq!(
        (parent.stream.as_str(), parent.column.as_str()),
        ("users", "user_id")
    );
    assert_eq!(spec.permission, "Mail.Read");
    let check = msgraph_sync(["streams", "check", out], dir.path(), &[]).await;
    assert_eq!(check.code, 0, "{check:?}");
}

#[tokio::test]
async fn the_permission_is_taken_from_a_shipped_declaration_or_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let run = msgraph_sync(
        ["streams", "new", "--path", "/devices", "--stdout"],
        dir.path(),
        &[],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    let spec = StreamSpec::from_json("devices", &run.stdout).unwrap();
    assert_eq!(spec.permission, "Device.Read.All");
    assert!(run.stderr.contains("`devices`"), "{run:?}");
    assert!(tree(dir.path()).is_empty(), "--stdout writes no file");
    // The same fields the shipped declaration was generated with (no exclusions in its source).
    let shipped = Catalog::embedded();
    assert_eq!(spec.fields, shipped.get("devices").unwrap().fields);

    let run = msgraph_sync(
        [
            "streams",
            "new",
            "--path",
            "/devices",
            "--stdout",
            "--permission",
            "Directory.Read.All",
        ],
        dir.path(),
        &[],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    let spec = StreamSpec::from_json("devices", &run.stdout).unwrap();
    assert_eq!(spec.permission, "Directory.Read.All");

    // Nothing shipped reads printers: no permission is guessed, nor an empty one written.
    let run = msgraph_sync(
        ["streams", "new", "--path", "/print/printers"],
        dir.path(),
        &[],
    )
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("pass --permission"), "{run:?}");
    let run = msgraph_sync(
        [
            "streams",
            "new",
            "--path",
            "/print/printers",
            "--permission",
            " ",
        ],
        dir.path(),
        &[],
    )
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("--permission is empty"), "{run:?}");
    assert!(tree(dir.path()).is_empty(), "nothing is written");

    // A wrong segment is named, with what could follow.
    let run = msgraph_sync(
        ["streams", "new", "--path", "/print/printerz"],
        dir.path(),
        &[],
    )
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("`printerz`") && run.stderr.contains("`printers`"),
        "{run:?}"
    );
}

/// A grandchild path (a channel's messages) takes one key per id its parent hangs under: the
/// declaration names the grandparent's column and comes out as the shipped `channel_messages`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grandchild_path_names_its_grandparents_column() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("streams");
    let out_arg = out.to_str().unwrap();
    let path = "/teams/{team-id}/channels/{channel-id}/messages";
    let args = |parent: &'static str| {
        [
            "streams",
            "new",
            "--path",
            path,
            "--name",
            "team_chatter",
            "--parent",
            parent,
            "--parent-column",
            "channel_id",
            "--out",
            out_arg,
        ]
    };
    // The teams' ids alone do not fill two keys.
    let wrong = msgraph_sync(args("teams"), dir.path(), &[]).await;
    assert_eq!(wrong.code, 2, "{wrong:?}");
    assert!(wrong.stderr.contains("2 key segment(s)"), "{wrong:?}");
    assert!(!out.join("team_chatter.json").exists());

    let written = msgraph_sync(args("channels"), dir.path(), &[]).await;
    assert_eq!(written.code, 0, "{written:?}");
    let text = std::fs::read_to_string(out.join("team_chatter.json")).unwrap();
    let spec = StreamSpec::from_json("team_chatter", &text).unwrap();
    let shipped = Catalog::embedded();
    let channel_messages = shipped.get("channel_messages").unwrap();
    assert_eq!(spec.path, channel_messages.path);
    assert_eq!(spec.primary_key, channel_messages.primary_key);
    assert_eq!(spec.parent, channel_messages.parent);
    assert_eq!(spec.permission, "ChannelMessage.Read.All");
    assert_eq!(spec.fields, channel_messages.fields);
    let checked = msgraph_sync(["streams", "check", out_arg], dir.path(), &[]).await;
    assert_eq!(checked.code, 0, "{checked:?}");
}
