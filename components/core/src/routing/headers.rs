//! Header hygiene between the caller and the carrier.
//!
//! Upstream, a request keeps its end-to-end headers (content type, accept, tracing,
//! `x-request-id`, the carrier's own headers) and loses:
//!
//! - hop-by-hop headers (RFC 9110 §7.6.1) and every header `Connection` names, and
//!   `Expect` (the gateway buffers the body);
//! - `Host` (the client sets the upstream's);
//! - the caller's credentials and cookies: `Authorization`, `X-Api-Key`, `DPoP`,
//!   `Cookie` (auth already strips credentials; this is the second line), and
//!   `Idempotency-Key` (the gateway's, per tenant; a carrier seeing it could merge two
//!   tenants' keys on a shared account);
//! - the caller's address (`Forwarded`, `X-Forwarded-*`, `X-Real-IP`): carriers are
//!   called by the gateway on the tenant's behalf;
//! - every `x-waypost-*` header, then `x-waypost-deadline` is set to the call's budget
//!   and `x-waypost-retry` to the retry number (or kept as it arrived).
//!
//! The component adds the carrier credentials after this filter.
//!
//! Back to the caller, a response loses hop-by-hop headers, `Set-Cookie` (carrier
//! sessions must not land on the gateway's domain), `Alt-Svc` and
//! `Strict-Transport-Security` (they describe the carrier's host), `Server` and
//! `X-Powered-By`, `WWW-Authenticate` (a challenge for the gateway's credentials to the
//! carrier, which the caller cannot answer) and any `x-waypost-*` a carrier sent.

use super::deadline::{CallBudget, DEADLINE_HEADER};
use super::retry::{RETRY_HEADER, retry_marker};
use crate::auth::credential::Headers;
use crate::auth::identity::WAYPOST_PREFIX;

/// Hop-by-hop headers (RFC 9110 §7.6.1, plus the legacy `keep-alive` and
/// `proxy-connection`).
/// The request headers Spin adds for the component (`spin-full-url`, `spin-client-addr`,
/// ...): they describe the gateway's side, not the caller's request, and never go
/// upstream.
const SPIN_PREFIX: &str = "spin-";

pub const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

const REQUEST_DROPPED: [&str; 10] = [
    "host",
    "expect",
    "authorization",
    "x-api-key",
    "dpop",
    "cookie",
    "idempotency-key",
    "forwarded",
    "x-real-ip",
    "content-length",
];

const RESPONSE_DROPPED: [&str; 6] = [
    "set-cookie",
    "alt-svc",
    "strict-transport-security",
    "server",
    "x-powered-by",
    "www-authenticate",
];

/// The names listed in `Connection` headers (lower case).
fn connection_named(headers: &Headers) -> Vec<String> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
        .flat_map(|(_, v)| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

fn filtered(headers: &Headers, drop: impl Fn(&str) -> bool) -> Vec<(String, String)> {
    let named = connection_named(headers);
    headers
        .iter()
        .filter(|(n, _)| {
            let lower = n.to_ascii_lowercase();
            !HOP_BY_HOP.contains(&lower.as_str())
                && !named.contains(&lower)
                && !lower.starts_with(WAYPOST_PREFIX)
                && !lower.starts_with(SPIN_PREFIX)
                && !drop(&lower)
        })
        .cloned()
        .collect()
}

/// The headers of the upstream request: the caller's, filtered, then the call's
/// deadline and the retry mark (`retry`: this attempt's retry number, `None` for the
/// first attempt). `Content-Length` is left to the HTTP client, which knows the body.
pub fn upstream_request_headers(
    incoming: &Headers,
    call: &CallBudget,
    retry: Option<u32>,
) -> Vec<(String, String)> {
    let mut headers = filtered(incoming, |n| {
        REQUEST_DROPPED.contains(&n) || n.starts_with("x-forwarded-")
    });
    headers.push((DEADLINE_HEADER.to_string(), call.forward_deadline.clone()));
    let arrived = incoming
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(RETRY_HEADER))
        .map(|(_, v)| v.clone());
    match (retry, arrived) {
        (Some(n), _) => headers.push(retry_marker(n)),
        (None, Some(value)) => headers.push((RETRY_HEADER.to_string(), value)),
        (None, None) => {}
    }
    headers
}

/// The carrier response's headers that go back to the caller.
pub fn downstream_response_headers(upstream: &Headers) -> Vec<(String, String)> {
    filtered(upstream, |n| RESPONSE_DROPPED.contains(&n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::testkit::headers as pairs;

    fn budget() -> CallBudget {
        CallBudget {
            connect_timeout_ms: 2_000,
            timeout_ms: 4_200,
            forward_deadline: "4200".into(),
            capped_by_deadline: true,
        }
    }

    fn names(h: &[(String, String)]) -> Vec<&str> {
        h.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[test]
    fn the_upstream_request_keeps_end_to_end_headers_only() {
        let incoming = pairs(&[
            ("Host", "eu.waypost.example"),
            ("Connection", "keep-alive, X-Secret-Hop"),
            ("X-Secret-Hop", "1"),
            ("Keep-Alive", "timeout=5"),
            ("Transfer-Encoding", "chunked"),
            ("TE", "trailers"),
            ("Upgrade", "h2c"),
            ("Authorization", "Bearer caller-token"),
            ("X-Api-Key", "globex_secret"),
            ("Cookie", "session=1"),
            ("Idempotency-Key", "k1"),
            ("X-Forwarded-For", "203.0.113.9"),
            ("Forwarded", "for=203.0.113.9"),
            ("x-waypost-tenant", "globex"),
            ("x-waypost-identity-mac", "mac"),
            ("x-waypost-deadline", "9000"),
            ("spin-full-url", "http://127.0.0.1:3000/v1/carriers/ups/x"),
            ("spin-client-addr", "203.0.113.9:5000"),
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
            ("x-request-id", "req-1"),
            ("transId", "carrier-specific"),
        ]);
        let out = upstream_request_headers(&incoming, &budget(), None);
        assert_eq!(
            out,
            pairs(&[
                ("Content-Type", "application/json"),
                ("Accept", "application/json"),
                (
                    "traceparent",
                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
                ),
                ("x-request-id", "req-1"),
                ("transId", "carrier-specific"),
                ("x-waypost-deadline", "4200"),
            ])
        );
    }

    #[test]
    fn a_retried_request_is_marked_and_an_arriving_mark_is_kept() {
        let out = upstream_request_headers(&[], &budget(), Some(1));
        assert!(out.contains(&("x-waypost-retry".into(), "1".into())));
        let marked = pairs(&[("X-Waypost-Retry", "2")]);
        let out = upstream_request_headers(&marked, &budget(), None);
        assert_eq!(names(&out), ["x-waypost-deadline", "x-waypost-retry"]);
        assert_eq!(out[1].1, "2");
    }

    #[test]
    fn the_response_loses_carrier_internals() {
        let upstream = pairs(&[
            ("Content-Type", "application/json"),
            ("Set-Cookie", "carrier=1"),
            ("Connection", "close"),
            ("Transfer-Encoding", "chunked"),
            ("Server", "carrier-edge/1.2"),
            ("Strict-Transport-Security", "max-age=1"),
            ("WWW-Authenticate", "Bearer realm=\"carrier\""),
            ("x-waypost-tenant", "spoofed"),
            ("ETag", "\"v1\""),
            ("Retry-After", "3"),
        ]);
        assert_eq!(
            downstream_response_headers(&upstream),
            pairs(&[
                ("Content-Type", "application/json"),
                ("ETag", "\"v1\""),
                ("Retry-After", "3"),
            ])
        );
    }
}
