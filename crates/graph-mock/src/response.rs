//! One Graph answer before it meets the wire, and Graph's error envelope.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use serde_json::json;

/// How the answer leaves the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Normal,
    /// Close the connection without answering.
    Drop,
    /// Announce the full Content-Length, send part of the body, then close.
    Truncate,
}

/// Ids Graph puts on every answer.
#[derive(Debug, Clone)]
pub(crate) struct RequestIds {
    pub request_id: String,
    pub client_request_id: String,
}

impl RequestIds {
    /// A fresh request-id; the client's client-request-id echoed, else a fresh one.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let client_request_id = headers
            .get("client-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        Self {
            request_id: uuid::Uuid::new_v4().to_string(),
            client_request_id,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct GraphResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub transport: Transport,
    /// Entries of the page's `value` array (0 for anything but a collection page).
    pub records: u64,
}

impl GraphResponse {
    pub fn new(status: StatusCode, ids: &RequestIds) -> Self {
        let mut headers = HeaderMap::new();
        insert(&mut headers, "request-id", &ids.request_id);
        insert(&mut headers, "client-request-id", &ids.client_request_id);
        Self {
            status,
            headers,
            body: Bytes::new(),
            transport: Transport::Normal,
            records: 0,
        }
    }

    /// 200 with a JSON body (`odata.metadata=minimal`, as Graph labels it).
    pub fn json(ids: &RequestIds, body: Vec<u8>) -> Self {
        let mut response = Self::new(StatusCode::OK, ids);
        response.body = Bytes::from(body);
        response.header(
            header::CONTENT_TYPE.as_str(),
            "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8",
        );
        response
    }

    /// Graph's envelope: `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}`.
    pub fn error(status: StatusCode, code: &str, message: &str, ids: &RequestIds) -> Self {
        let body = json!({
            "error": {
                "code": code,
                "message": message,
                "innerError": {
                    "date": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string(),
                    "request-id": ids.request_id,
                    "client-request-id": ids.client_request_id,
                }
            }
        });
        let mut response = Self::new(status, ids);
        response.body = Bytes::from(body.to_string());
        response.header(header::CONTENT_TYPE.as_str(), "application/json");
        response
    }

    pub fn bad_request(code: &str, message: &str, ids: &RequestIds) -> Self {
        Self::error(StatusCode::BAD_REQUEST, code, message, ids)
    }

    pub fn not_found(path: &str, ids: &RequestIds) -> Self {
        let segment = path.rsplit('/').next().unwrap_or(path);
        Self::error(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            &format!(
                "Resource '{segment}' does not exist or one of its queried reference-property objects are not present."
            ),
            ids,
        )
    }

    pub fn header(&mut self, name: &str, value: &str) {
        insert(&mut self.headers, name, value);
    }
}

fn insert(headers: &mut HeaderMap, name: &str, value: &str) {
    if let (Ok(name), Ok(value)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        headers.insert(name, value);
    }
}
