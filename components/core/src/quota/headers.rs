//! The rate-limit response header fields, as in draft-ietf-httpapi-ratelimit-headers-11
//! (May 2026; the syntax is unchanged since -09): both are Structured Field Lists
//! (RFC 9651) of items named by a String.
//!
//! - `RateLimit-Policy: "<name>";q=<quota>;w=<window seconds>` (§3): the policy.
//! - `RateLimit: "<name>";r=<remaining>;t=<seconds>` (§4): what is left of it now and
//!   the effective window, the seconds within which no more than `r` units can be used.

use sfv::{ItemSerializer, KeyRef, StringRef, key_ref};

pub const RATELIMIT: &str = "ratelimit";
pub const RATELIMIT_POLICY: &str = "ratelimit-policy";
pub const RETRY_AFTER: &str = "retry-after";

const Q: &KeyRef = key_ref("q");
const W: &KeyRef = key_ref("w");
const R: &KeyRef = key_ref("r");
const T: &KeyRef = key_ref("t");

/// `"<name>";q=<quota>;w=<window_secs>`; `None` for a name that is not printable ASCII
/// (config ids always are).
pub fn policy_value(name: &str, quota: u32, window_secs: u32) -> Option<String> {
    let name = StringRef::from_str(name).ok()?;
    Some(
        ItemSerializer::new()
            .bare_item(name)
            .parameter(Q, quota)
            .parameter(W, window_secs)
            .finish(),
    )
}

/// `"<name>";r=<remaining>;t=<reset_secs>`; `None` as for [`policy_value`].
pub fn ratelimit_value(name: &str, remaining: u32, reset_secs: u32) -> Option<String> {
    let name = StringRef::from_str(name).ok()?;
    Some(
        ItemSerializer::new()
            .bare_item(name)
            .parameter(R, remaining)
            .parameter(T, reset_secs)
            .finish(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_follow_the_draft_examples() {
        assert_eq!(
            policy_value("default", 100, 10).as_deref(),
            Some(r#""default";q=100;w=10"#)
        );
        assert_eq!(
            ratelimit_value("default", 50, 30).as_deref(),
            Some(r#""default";r=50;t=30"#)
        );
    }

    #[test]
    fn names_are_quoted_strings() {
        assert_eq!(
            ratelimit_value(r#"a"b"#, 0, 1).as_deref(),
            Some(r#""a\"b";r=0;t=1"#)
        );
        assert_eq!(policy_value("café", 1, 1), None);
    }
}
