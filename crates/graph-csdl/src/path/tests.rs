use super::*;
use crate::embedded;

fn graph() -> &'static Model {
    embedded().expect("the shipped CSDL parses")
}

#[test]
fn an_entity_set_is_a_collection_of_its_type() {
    let devices = graph().resolve_path("/devices").unwrap();
    assert_eq!(
        devices,
        ResolvedPath {
            path: "/devices".into(),
            entity: "microsoft.graph.device".into(),
            keyed: false,
            keys: 0,
            last_segment: "devices".into(),
        }
    );
    // Graph's version root and a trailing slash are accepted; Graph ignores case, the CSDL's
    // spelling is written.
    let again = graph().resolve_path("/v1.0/Devices/").unwrap();
    assert_eq!(again, devices);
    let principals = graph().resolve_path("/serviceprincipals").unwrap();
    assert_eq!(principals.path, "/servicePrincipals");
}

#[test]
fn a_singleton_goes_on_through_its_navigation_properties() {
    let printers = graph().resolve_path("/print/printers").unwrap();
    assert_eq!(printers.entity, "microsoft.graph.printer");
    assert_eq!(printers.path, "/print/printers");
    assert_eq!(printers.last_segment, "printers");
    assert!(!printers.keyed);
    let policies = graph()
        .resolve_path("/identity/conditionalAccess/policies")
        .unwrap();
    assert_eq!(policies.entity, "microsoft.graph.conditionalAccessPolicy");
}

#[test]
fn a_key_segment_into_a_collection_makes_a_child_path() {
    for (path, entity) in [
        ("/users/{parent_id}/messages", "microsoft.graph.message"),
        ("/users/{id}/messages", "microsoft.graph.message"),
        ("/teams/{team-id}/channels", "microsoft.graph.channel"),
        ("/chats/{x}/messages", "microsoft.graph.chatMessage"),
        ("/groups/{id}/owners", "microsoft.graph.directoryObject"),
        // `jobs` is inherited: printer's base type printerBase declares it.
        ("/print/printers/{id}/jobs", "microsoft.graph.printJob"),
    ] {
        let resolved = graph().resolve_path(path).unwrap();
        assert_eq!(resolved.entity, entity, "{path}");
        assert!(resolved.keyed, "{path}");
        assert!(resolved.path.contains("/{parent_id}/"), "{path}");
    }
    let channels = graph().resolve_path("/teams/{id}/channels").unwrap();
    assert_eq!(channels.path, "/teams/{parent_id}/channels");
    assert_eq!(channels.last_segment, "channels");
    // A single-valued navigation property, then a collection below it.
    let items = graph()
        .resolve_path("/users/{id}/drive/root/children")
        .unwrap();
    assert_eq!(items.entity, "microsoft.graph.driveItem");
}

#[test]
fn a_cast_segment_narrows_the_type() {
    let users = graph()
        .resolve_path("/groups/{id}/members/microsoft.graph.user")
        .unwrap();
    assert_eq!(users.entity, "microsoft.graph.user");
    assert_eq!(users.last_segment, "members");
    // A cast to an unrelated type is not one.
    let err = graph()
        .resolve_path("/groups/{id}/members/microsoft.graph.printer")
        .unwrap_err();
    assert!(matches!(err, PathError::KeyExpected { .. }), "{err}");
}

#[test]
fn an_unknown_segment_is_named_with_what_could_follow() {
    let err = graph().resolve_path("/print/printerz").unwrap_err();
    let PathError::UnknownSegment {
        segment,
        after,
        candidates,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!((segment.as_str(), after.as_str()), ("printerz", "/print"));
    assert_eq!(candidates[0], "printers");
    let text = err.to_string();
    assert!(
        text.contains("`printerz` after `/print`")
            && text.contains("navigation property of microsoft.graph.print")
            && text.contains("did you mean `printers`"),
        "{text}"
    );

    let text = graph().resolve_path("/devicez").unwrap_err().to_string();
    assert!(
        text.contains("`devicez`")
            && text.contains("entity set or singleton")
            && text.contains("`devices`"),
        "{text}"
    );

    // Nothing near: a few of the names there are, and how many.
    let text = graph()
        .resolve_path("/users/{id}/zzzzzzzz")
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("`zzzzzzzz` after `/users/{parent_id}`")
            && text.contains("it has: ")
            && text.contains(" in all)"),
        "{text}"
    );
}

#[test]
fn paths_that_name_no_collection_are_refused_saying_why() {
    let cases = [
        ("devices", "starts with `/`"),
        ("/devices?$top=5", "without a query"),
        ("/", "names no collection"),
        (
            "/print",
            "is one microsoft.graph.print, not a collection: a stream reads a collection; \
             below it: connectors, operations, printers,",
        ),
        ("/users/{id}", "not a collection"),
        ("/users/{id}/manager", "not a collection"),
        ("/users/delta", "goes on with a key"),
        ("/print/{id}", "a key follows a collection"),
    ];
    for (path, says) in cases {
        let err = graph().resolve_path(path).unwrap_err().to_string();
        assert!(err.contains(says), "{path}: {err}");
    }
}

#[test]
fn suggestions_rank_by_distance() {
    assert_eq!(distance("printerz", "printers"), 1);
    assert_eq!(distance("", "abc"), 3);
    assert_eq!(distance("kitten", "sitting"), 3);
    assert!(is_near("mesages", "messages"));
    assert!(is_near("serv", "servicePrincipals"));
    assert!(!is_near("zzzzzzzz", "messages"));
}

#[test]
fn a_grandchild_path_names_its_ancestors_keys() {
    let resolved = graph()
        .resolve_path("/teams/{team-id}/channels/{channel-id}/messages")
        .unwrap();
    assert_eq!(resolved.entity, "microsoft.graph.chatMessage");
    assert_eq!(resolved.keys, 2);
    assert_eq!(
        resolved.with_ancestors(&["team_id"]).as_deref(),
        Some("/teams/{team_id}/channels/{parent_id}/messages")
    );
    assert_eq!(resolved.with_ancestors(&[]), None);
}
