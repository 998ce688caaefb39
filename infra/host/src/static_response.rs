//! `static_response` on an HTTP trigger, as on Spin: a route the host answers itself,
//! without a component (`static_response = { status_code = 302, headers = { location
//! = "/v1/" } }`). Checked whole when the app loads, so serving it cannot fail.

use anyhow::{Context, bail};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The trigger's table, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticResponseToml {
    #[serde(default)]
    status_code: Option<u16>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    body: Option<String>,
}

/// Headers the host frames the response with; a static value could only contradict it.
const FRAMING: [HeaderName; 3] = [
    http::header::CONTENT_LENGTH,
    http::header::TRANSFER_ENCODING,
    http::header::CONNECTION,
];

/// A response ready to serve: the status (200 unless given), the headers as
/// written, and the body (none unless given).
#[derive(Debug, Clone)]
pub struct StaticResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl StaticResponse {
    /// `toml` checked; an error names the key at fault, below the trigger's field.
    pub fn from_toml(toml: &StaticResponseToml) -> anyhow::Result<Self> {
        let status = match toml.status_code {
            None => StatusCode::OK,
            Some(code) => StatusCode::from_u16(code)
                .ok()
                .filter(|s| !s.is_informational())
                .with_context(|| {
                    format!("status_code: {code} is not a final HTTP status (200 to 999)")
                })?,
        };
        let mut headers = HeaderMap::new();
        for (name, value) in &toml.headers {
            let field = || format!("headers.{name}");
            let header = HeaderName::from_bytes(name.as_bytes())
                .with_context(|| format!("{}: not a header name", field()))?;
            if FRAMING.contains(&header) {
                bail!("{}: the host sets this header itself", field());
            }
            let value = HeaderValue::from_str(value)
                .with_context(|| format!("{}: not a header value", field()))?;
            headers.insert(header, value);
        }
        let body = Bytes::from(toml.body.clone().unwrap_or_default());
        Ok(Self {
            status,
            headers,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<StaticResponse> {
        StaticResponse::from_toml(&toml::from_str(text).unwrap())
    }

    #[test]
    fn status_headers_and_body_are_as_written_with_spins_defaults() {
        let empty = parse("").unwrap();
        assert_eq!(empty.status, StatusCode::OK);
        assert!(empty.headers.is_empty() && empty.body.is_empty());

        let redirect =
            parse("status_code = 302\nheaders = { Location = \"/v1/\" }\nbody = \"moved\"")
                .unwrap();
        assert_eq!(redirect.status, StatusCode::FOUND);
        assert_eq!(redirect.headers["location"], "/v1/");
        assert_eq!(redirect.body, "moved");
    }

    #[test]
    fn what_could_not_be_served_is_refused_naming_its_key() {
        let error = |text: &str| format!("{:#}", parse(text).unwrap_err());
        assert!(error("status_code = 1000").contains("status_code: 1000"));
        assert!(error("status_code = 101").contains("status_code: 101"));
        assert!(error("headers = { \"bad name\" = \"x\" }").contains("headers.bad name"));
        assert!(error("headers = { x-a = \"line\\nbreak\" }").contains("headers.x-a"));
        assert!(error("headers = { content-length = \"3\" }").contains("sets this header"));
    }
}
