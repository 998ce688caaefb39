//! `Deprecation` and `Sunset` headers for routes marked `deprecated`.
//!
//! - `Deprecation` (RFC 9745) is a structured-field date, `@<unix seconds>`, when the
//!   deprecation date is known. The config records only *that* a route is deprecated,
//!   not since when, so routes get `Deprecation: true`, the form of the drafts before
//!   RFC 9745 that clients still recognise.
//! - `Sunset` (RFC 8594) is an HTTP-date (IMF-fixdate) of the route's `sunset`.

use crate::config::Route;
use std::time::{Duration, UNIX_EPOCH};

pub const DEPRECATION: &str = "deprecation";
pub const SUNSET: &str = "sunset";

/// The `Deprecation` value: `@<unix>` for a known date, else `true`.
pub fn deprecation_value(since_unix: Option<i64>) -> String {
    match since_unix {
        Some(t) => format!("@{t}"),
        None => "true".to_string(),
    }
}

/// An IMF-fixdate (`Sun, 30 Jun 2027 00:00:00 GMT`); `None` before 1970.
pub fn http_date(unix: i64) -> Option<String> {
    let secs = u64::try_from(unix).ok()?;
    Some(httpdate::fmt_http_date(
        UNIX_EPOCH + Duration::from_secs(secs),
    ))
}

/// The headers a response on `route` carries: none unless it is deprecated.
pub fn deprecation_headers(route: &Route) -> Vec<(String, String)> {
    if !route.deprecated {
        return Vec::new();
    }
    let mut headers = vec![(DEPRECATION.to_string(), deprecation_value(None))];
    if let Some(sunset) = route
        .sunset
        .as_ref()
        .and_then(|s| s.unix_seconds())
        .and_then(http_date)
    {
        headers.push((SUNSET.to_string(), sunset));
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Timestamp;

    fn route(deprecated: bool, sunset: Option<&str>) -> Route {
        Route {
            id: "ups-rating-v1601".into(),
            path: "/v1/carriers/ups/api/rating/v1601/{*path}".into(),
            methods: vec![],
            scopes: vec![],
            weight: 1,
            deprecated,
            sunset: sunset.map(Timestamp::parse),
            deadline_ms: None,
        }
    }

    #[test]
    fn a_deprecated_route_with_a_sunset_gets_both_headers() {
        assert_eq!(
            deprecation_headers(&route(true, Some("2027-06-30T00:00:00Z"))),
            [
                ("deprecation".to_string(), "true".to_string()),
                (
                    "sunset".to_string(),
                    "Wed, 30 Jun 2027 00:00:00 GMT".to_string()
                ),
            ]
        );
    }

    #[test]
    fn without_a_sunset_only_deprecation_and_a_live_route_nothing() {
        assert_eq!(
            deprecation_headers(&route(true, None)),
            [("deprecation".to_string(), "true".to_string())]
        );
        assert!(deprecation_headers(&route(false, None)).is_empty());
    }

    #[test]
    fn deprecation_dates_are_structured_field_dates() {
        assert_eq!(deprecation_value(Some(1_688_169_599)), "@1688169599");
        assert_eq!(
            http_date(0).as_deref(),
            Some("Thu, 01 Jan 1970 00:00:00 GMT")
        );
        assert_eq!(http_date(-1), None);
    }
}
