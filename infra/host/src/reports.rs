//! The report headers components set on their responses for the host's metrics
//! (`waypost_core::report`): breaker states and retries from the carrier calls of
//! `router` and `rates`, delivery outcomes and outbox gauges from `webhooks`. The host
//! takes them off every response before it leaves, so a client never sees them, and
//! off every incoming request, so a client cannot pass one to a component. A value
//! that does not parse is ignored (and still removed).

use http::HeaderMap;
use sfv::{BareItem, ListEntry, Parser};
use waypost_core::report::{
    BREAKERS, BreakerSeen, DEAD_LETTERED, DEAD_LETTERS, DELIVERED, DeliveryReport, N, OUTBOX_DEPTH,
    RETRIED, RETRIES, STATE, UPSTREAM, WEBHOOKS,
};
use waypost_core::routing::breaker::BreakerState;

/// Every report header.
pub const ALL: [&str; 3] = [BREAKERS, RETRIES, WEBHOOKS];

/// Removes the report headers from a request (they are the components' to set).
pub fn strip(headers: &mut HeaderMap) {
    for name in ALL {
        headers.remove(name);
    }
}

/// Removes the report headers from a response and records what they say.
pub fn take(headers: &mut HeaderMap) {
    if let Some(value) = joined(headers, BREAKERS) {
        for b in breakers(&value) {
            crate::metrics::record_breaker(&b.carrier, &b.upstream, b.state);
        }
    }
    if let Some(value) = joined(headers, RETRIES) {
        for (carrier, n) in retries(&value) {
            crate::metrics::record_carrier_retries(&carrier, n);
        }
    }
    if let Some(value) = joined(headers, WEBHOOKS)
        && let Some(report) = deliveries(&value)
    {
        crate::metrics::record_deliveries(&report);
    }
    strip(headers);
}

/// Every line of header `name`, joined as one structured field.
fn joined(headers: &HeaderMap, name: &str) -> Option<String> {
    let values: Vec<&str> = headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    (!values.is_empty()).then(|| values.join(", "))
}

fn list(value: &str) -> Vec<sfv::Item> {
    Parser::new(value)
        .parse::<sfv::List>()
        .map(|members| {
            members
                .into_iter()
                .filter_map(|m| match m {
                    ListEntry::Item(item) => Some(item),
                    ListEntry::InnerList(_) => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

fn string(item: &BareItem) -> Option<String> {
    item.as_string().map(|s| s.as_str().to_string())
}

fn count(item: &BareItem) -> Option<u64> {
    item.as_integer().and_then(|n| u64::try_from(n).ok())
}

/// `"<carrier>";upstream="<id>";state=<state>` members.
fn breakers(value: &str) -> Vec<BreakerSeen> {
    list(value)
        .into_iter()
        .filter_map(|item| {
            Some(BreakerSeen {
                carrier: string(&item.bare_item)?,
                upstream: string(item.params.get(UPSTREAM)?)?,
                state: BreakerState::parse(item.params.get(STATE)?.as_token()?.as_str())?,
            })
        })
        .collect()
}

/// `"<carrier>";n=<retries>` members.
fn retries(value: &str) -> Vec<(String, u64)> {
    list(value)
        .into_iter()
        .filter_map(|item| Some((string(&item.bare_item)?, count(item.params.get(N)?)?)))
        .collect()
}

/// `delivered=<n>, retried=<n>, dead-lettered=<n>[, outbox-depth=<n>, dead-letters=<n>]`.
fn deliveries(value: &str) -> Option<DeliveryReport> {
    let dict = Parser::new(value).parse::<sfv::Dictionary>().ok()?;
    let get = |key| match dict.get(key) {
        Some(ListEntry::Item(item)) => count(&item.bare_item),
        _ => None,
    };
    Some(DeliveryReport {
        delivered: get(DELIVERED).unwrap_or(0),
        retried: get(RETRIED).unwrap_or(0),
        dead_lettered: get(DEAD_LETTERED).unwrap_or(0),
        outbox_depth: get(OUTBOX_DEPTH),
        dead_letters: get(DEAD_LETTERS),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use waypost_core::report::CallReport;

    #[test]
    fn what_components_write_is_what_the_host_reads() {
        let mut report = CallReport::default();
        report.breaker("ups", "sandbox-us", BreakerState::Open);
        report.breaker("3pl", "main", BreakerState::Closed);
        report.retried("ups", 2);
        let headers = report.headers();
        assert_eq!(breakers(&headers[0].1), report.breakers());
        assert_eq!(retries(&headers[1].1), [("ups".to_string(), 2)]);

        let tick = DeliveryReport {
            delivered: 1,
            retried: 2,
            dead_lettered: 3,
            outbox_depth: Some(4),
            dead_letters: Some(5),
        };
        assert_eq!(deliveries(&tick.header().1), Some(tick));
        let intake = DeliveryReport::of_results(["retry"]);
        assert_eq!(deliveries(&intake.header().1), Some(intake));
    }

    #[test]
    fn malformed_reports_are_ignored() {
        assert!(breakers("ups=open").is_empty());
        assert!(breakers(r#""ups";state=open"#).is_empty(), "no upstream");
        assert!(breakers(r#""ups";upstream="a";state=ajar"#).is_empty());
        assert!(retries(r#""ups";n=-1"#).is_empty());
        assert_eq!(deliveries("retried=\"x\"").unwrap().retried, 0);
        assert_eq!(deliveries("(((").map(|d| d.retried), None);
    }

    #[test]
    fn report_headers_are_removed() {
        let mut headers = HeaderMap::new();
        headers.insert(BREAKERS, "\"x\";upstream=\"y\";state=open".parse().unwrap());
        headers.append(RETRIES, "garbage(".parse().unwrap());
        headers.insert(WEBHOOKS, "delivered=0".parse().unwrap());
        headers.insert("content-type", "text/plain".parse().unwrap());
        take(&mut headers);
        assert_eq!(headers.len(), 1, "{headers:?}");
    }
}
