//! One request to a simulated carrier, with the readers every endpoint uses: headers,
//! query, form and JSON bodies, and the date "today".

use super::failure::Failure;
use super::{Carrier, SandboxRequest, dates};
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::Date;

/// The request as an endpoint sees it.
pub(crate) struct Call<'a> {
    pub carrier: Carrier,
    pub request: &'a SandboxRequest<'a>,
    /// Unix seconds, from the component.
    pub now_secs: i64,
}

impl<'a> Call<'a> {
    /// The path after the carrier prefix, `/` when empty.
    pub fn path(&self) -> &'a str {
        match self.request.path {
            "" => "/",
            p => p,
        }
    }

    /// The first value of header `name` (case-insensitive), trimmed.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.header_values(name).next()
    }

    /// Every value of header `name`, trimmed, in order.
    pub fn header_values(&self, name: &str) -> impl Iterator<Item = &'a str> {
        let name = name.to_string();
        self.request
            .headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(&name))
            .map(|(_, v)| v.trim())
    }

    /// The first value of query parameter `name`, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.request.query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// The body as `application/x-www-form-urlencoded` pairs.
    pub fn form(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(self.request.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    /// The body as a JSON object.
    pub fn json(&self) -> Result<Value, Failure> {
        match serde_json::from_slice::<Value>(self.request.body) {
            Ok(v) if v.is_object() => Ok(v),
            Ok(_) => Err(Failure::malformed(
                "The request body must be a JSON object.",
            )),
            Err(_) => Err(Failure::malformed("The request body is not valid JSON.")),
        }
    }

    /// Whether the body is JSON by its content type (or, without one, by its first byte).
    pub fn body_is_json(&self) -> bool {
        match self.header("content-type") {
            Some(ct) => ct.to_ascii_lowercase().contains("json"),
            None => self.request.body.trim_ascii_start().first() == Some(&b'{'),
        }
    }

    /// Today's date (UTC) at the time of the call.
    pub fn today(&self) -> Date {
        dates::today(self.now_secs)
    }

    /// A stable, UUID-shaped id derived from the request (FedEx `transactionId`): the
    /// same request always gets the same id.
    pub fn transaction_id(&self) -> String {
        let mut h = Sha256::new();
        for part in [self.request.method, self.path(), self.request.query] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        h.update(self.request.body);
        let hex = format!("{:x}", h.finalize());
        format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )
    }
}
