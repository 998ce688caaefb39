//! RFC 9457 problem details: the one error format on the wire. Each kind of failure
//! has a stable `type` URI; the body never carries internals.

use serde::Serialize;

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
}

impl Problem {
    /// `kind` is the stable suffix of the `type` URI, e.g. `not-found`.
    pub fn new(status: u16, kind: &str, title: &str) -> Self {
        Self {
            type_uri: format!("{TYPE_BASE}{kind}"),
            title: title.to_string(),
            status,
            detail: None,
            request_id: None,
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn with_request_id(mut self, id: Option<&str>) -> Self {
        self.request_id = id.map(str::to_string);
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
}
