//! RFC 9457 problem details: the one error format on the wire. Each kind of failure
//! has a stable `type` URI; the body never carries internals.

use serde::Serialize;
use serde_json::{Map, Value};

/// Base of every problem `type`; the suffix names the problem and is stable.
pub const TYPE_BASE: &str = "https://waypost.dev/problems/";

pub const CONTENT_TYPE: &str = "application/problem+json";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// RFC 9457 §3.2 extension members (`errors`, `carriers`, ...), written beside the
    /// standard ones.
    #[serde(flatten)]
    pub extensions: Map<String, Value>,
}

/// Member names an extension may not take: the standard ones and `request_id`.
const RESERVED_MEMBERS: [&str; 6] = [
    "type",
    "title",
    "status",
    "detail",
    "instance",
    "request_id",
];

impl Problem {
    /// `kind` is the stable suffix of the `type` URI, e.g. `not-found`.
    pub fn new(status: u16, kind: &str, title: &str) -> Self {
        Self {
            type_uri: format!("{TYPE_BASE}{kind}"),
            title: title.to_string(),
            status,
            detail: None,
            request_id: None,
            extensions: Map::new(),
        }
    }

    /// 413 for a body over `max_bytes`; `what` names the body ("A rate request").
    pub fn payload_too_large(what: &str, max_bytes: usize) -> Self {
        Self::new(413, "payload-too-large", "Payload Too Large")
            .with_detail(format!("{what} is at most {max_bytes} bytes."))
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn with_request_id(mut self, id: Option<&str>) -> Self {
        self.request_id = id.map(str::to_string);
        self
    }

    /// Adds an extension member. A reserved name (`type`, `status`, ...) is ignored,
    /// so an extension can never disguise the problem's standard members.
    pub fn with_extension(mut self, name: &str, value: impl Serialize) -> Self {
        if !RESERVED_MEMBERS.contains(&name) {
            let value = serde_json::to_value(value).unwrap_or(Value::Null);
            self.extensions.insert(name.to_string(), value);
        }
        self
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a problem always serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_rfc9457_members() {
        let p = Problem::new(404, "not-found", "Not Found")
            .with_detail("No route matches /x.")
            .with_request_id(Some("req-1"));
        let v: serde_json::Value = serde_json::from_str(&p.to_json()).unwrap();
        assert_eq!(v["type"], "https://waypost.dev/problems/not-found");
        assert_eq!(v["title"], "Not Found");
        assert_eq!(v["status"], 404);
        assert_eq!(v["detail"], "No route matches /x.");
        assert_eq!(v["request_id"], "req-1");
    }

    #[test]
    fn omits_absent_members() {
        let v: serde_json::Value =
            serde_json::from_str(&Problem::new(500, "internal", "Internal").to_json()).unwrap();
        assert!(v.get("detail").is_none());
        assert!(v.get("request_id").is_none());
    }

    #[test]
    fn extensions_sit_beside_standard_members() {
        let p = Problem::new(400, "invalid-request", "Invalid request")
            .with_extension(
                "errors",
                [serde_json::json!({"path": "/a", "message": "m"})],
            )
            .with_extension("status", 200)
            .with_extension("type", "forged");
        let v: serde_json::Value = serde_json::from_str(&p.to_json()).unwrap();
        assert_eq!(v["errors"][0]["path"], "/a");
        assert_eq!(v["status"], 400, "a reserved name is not overridden");
        assert_eq!(v["type"], "https://waypost.dev/problems/invalid-request");
        let text = p.to_json();
        assert_eq!(text.matches("\"status\"").count(), 1);
    }
}
