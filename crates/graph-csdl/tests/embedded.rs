//! The CSDL compiled into the crate is the one beside the clone (`../shared/msgraph`, where CI
//! has it), so the shipped copy and the generated `schemas/` never drift apart.

use std::path::Path;

#[test]
fn the_embedded_csdl_is_the_shared_one() {
    let shared =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/msgraph/cleanMetadata.xml");
    let embedded = graph_csdl::embedded_xml().expect("the embedded CSDL decompresses");
    match std::fs::read_to_string(&shared) {
        Ok(text) => assert!(
            text == embedded,
            "crates/graph-csdl/csdl/cleanMetadata.xml.zst differs from {}: recompress it (see \
             crates/graph-csdl/csdl/README.md)",
            shared.display()
        ),
        Err(e) => eprintln!(
            "{}: {e}; only the embedded copy is checked",
            shared.display()
        ),
    }
    // Either way it is a whole CSDL document.
    let model = graph_csdl::embedded().expect("the embedded CSDL parses");
    assert!(model.types.len() > 1000 && model.entity_sets.contains_key("users"));
    assert!(model.singletons.contains_key("print"));
}

#[test]
fn the_licence_ships_beside_it() {
    let licence = Path::new(env!("CARGO_MANIFEST_DIR")).join("csdl/LICENSE");
    let text = std::fs::read_to_string(licence).unwrap();
    assert!(text.starts_with("MIT License") && text.contains("Microsoft Graph"));
}
