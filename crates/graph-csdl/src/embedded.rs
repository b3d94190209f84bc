//! The copy of Microsoft's Graph v1.0 CSDL compiled into the crate, zstd-compressed (see
//! `csdl/README.md`), decompressed and parsed once, on first use.

use std::sync::OnceLock;

use crate::{CsdlError, Model};

static COMPRESSED: &[u8] = include_bytes!("../csdl/cleanMetadata.xml.zst");

/// `cleanMetadata.xml` as shipped.
pub fn embedded_xml() -> Result<&'static str, CsdlError> {
    static XML: OnceLock<Result<String, CsdlError>> = OnceLock::new();
    XML.get_or_init(|| {
        let bytes =
            zstd::stream::decode_all(COMPRESSED).map_err(|e| CsdlError::Embedded(e.to_string()))?;
        String::from_utf8(bytes).map_err(|_| CsdlError::Embedded("not UTF-8".into()))
    })
    .as_deref()
    .map_err(Clone::clone)
}

/// The shipped CSDL, parsed.
pub fn embedded() -> Result<&'static Model, CsdlError> {
    static MODEL: OnceLock<Result<Model, CsdlError>> = OnceLock::new();
    MODEL
        .get_or_init(|| Model::parse(embedded_xml()?))
        .as_ref()
        .map_err(Clone::clone)
}
