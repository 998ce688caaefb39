//! Who a request is from, once authenticated: the tenant, the principal (an API key, a
//! user or service, an AI agent) and the scopes it holds.

use crate::config::Tenant;
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};
use std::collections::BTreeSet;
use std::fmt;

/// The caller within its tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// An API key, by the first 16 hex digits of its SHA-256 hash: stable, unique in
    /// practice, and no secret (labels are for humans and need not be unique).
    Key { id: String },
    /// A person or service: the token's `sub`.
    User { subject: String },
    /// An AI agent: the token's `sub`, and the human or service sponsoring it (the
    /// issuer's `agent_claim`).
    Agent { id: String, sponsor: String },
    /// The region's operator, by the admin token (`/admin` routes only; no tenant).
    Operator,
}

/// Characters escaped in principal ids: everything but unreserved and a few harmless
/// marks, so `;`, `=`, `%`, spaces, controls and non-ASCII never reach a header raw.
const ID_ESCAPES: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'%')
    .add(b';')
    .add(b'=')
    .add(b',')
    .add(b'\\')
    .add(0x7f);

fn escape(id: &str) -> String {
    utf8_percent_encode(id, ID_ESCAPES).to_string()
}

fn unescape(text: &str) -> Option<String> {
    percent_decode_str(text)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

impl Principal {
    /// `key`, `user` or `agent`: what quotas and logs group by.
    pub fn kind(&self) -> &'static str {
        match self {
            Principal::Key { .. } => "key",
            Principal::User { .. } => "user",
            Principal::Agent { .. } => "agent",
            Principal::Operator => "operator",
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Principal::Key { id } | Principal::Agent { id, .. } => id,
            Principal::User { subject } => subject,
            Principal::Operator => "admin",
        }
    }

    pub fn sponsor(&self) -> Option<&str> {
        match self {
            Principal::Agent { sponsor, .. } => Some(sponsor),
            _ => None,
        }
    }

    /// Reads the `x-waypost-principal` form written by `Display`.
    pub fn parse(text: &str) -> Option<Principal> {
        let (kind, rest) = text.split_once(':')?;
        match kind {
            "key" => Some(Principal::Key {
                id: unescape(rest)?,
            }),
            "operator" if rest == "admin" => Some(Principal::Operator),
            "user" => Some(Principal::User {
                subject: unescape(rest)?,
            }),
            "agent" => {
                let (id, sponsor) = rest.split_once(";sponsor=")?;
                Some(Principal::Agent {
                    id: unescape(id)?,
                    sponsor: unescape(sponsor)?,
                })
            }
            _ => None,
        }
    }
}

/// `key:<id>`, `user:<sub>`, `agent:<id>;sponsor=<sponsor>`, ids percent-encoded.
impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::Agent { id, sponsor } => {
                write!(f, "agent:{};sponsor={}", escape(id), escape(sponsor))
            }
            other => write!(f, "{}:{}", other.kind(), escape(other.id())),
        }
    }
}

/// The scopes a caller holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scopes {
    /// A full-access API key (no `scopes` in its config): written `*`.
    All,
    /// These scopes only: written space separated, sorted.
    Only(BTreeSet<String>),
}

impl Scopes {
    pub fn none() -> Scopes {
        Scopes::Only(BTreeSet::new())
    }

    pub fn grants(&self, scope: &str) -> bool {
        match self {
            Scopes::All => true,
            Scopes::Only(held) => held.contains(scope),
        }
    }

    /// Parses `x-waypost-scopes`.
    pub fn parse(text: &str) -> Option<Scopes> {
        if text == "*" {
            return Some(Scopes::All);
        }
        let mut held = BTreeSet::new();
        for scope in text.split(' ').filter(|s| !s.is_empty()) {
            if !is_scope_token(scope) {
                return None;
            }
            held.insert(scope.to_string());
        }
        Some(Scopes::Only(held))
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scopes::All => f.write_str("*"),
            Scopes::Only(held) => {
                let list: Vec<&str> = held.iter().map(String::as_str).collect();
                f.write_str(&list.join(" "))
            }
        }
    }
}

/// An RFC 6749 scope-token (`1*NQCHAR`), other than `*`, which Waypost reserves for
/// "every scope".
pub fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope != "*"
        && scope
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5b | 0x5d..=0x7e))
}

/// The outcome of the authentication phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// The tenant's config record (its plan, residency, carriers...).
    pub tenant: Tenant,
    pub principal: Principal,
    pub scopes: Scopes,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_round_trip_through_their_header_form() {
        let cases = [
            (
                Principal::Key {
                    id: "7df7805936c5e360".into(),
                },
                "key:7df7805936c5e360",
            ),
            (
                Principal::User {
                    subject: "auth0|64f0c1".into(),
                },
                "user:auth0|64f0c1",
            ),
            (
                Principal::Agent {
                    id: "agent-7".into(),
                    sponsor: "ops@globex.example".into(),
                },
                "agent:agent-7;sponsor=ops@globex.example",
            ),
            (Principal::Operator, "operator:admin"),
        ];
        for (principal, text) in cases {
            assert_eq!(principal.to_string(), text);
            assert_eq!(Principal::parse(text), Some(principal));
        }
    }

    #[test]
    fn only_the_admin_operator_parses() {
        assert_eq!(Principal::parse("operator:root"), None);
        assert_eq!(Principal::parse("operator:"), None);
    }

    #[test]
    fn an_agent_id_cannot_smuggle_a_sponsor() {
        let tricky = Principal::Agent {
            id: "x;sponsor=admin".into(),
            sponsor: "bob smith\r\nx-evil: 1".into(),
        };
        let text = tricky.to_string();
        assert_eq!(text.matches(";sponsor=").count(), 1);
        assert!(!text.contains(['\r', '\n', ' ']));
        assert_eq!(Principal::parse(&text), Some(tricky));
    }

    #[test]
    fn scopes_are_written_sorted_and_read_back() {
        let scopes = Scopes::Only(["rates", "carriers"].map(String::from).into());
        assert_eq!(scopes.to_string(), "carriers rates");
        assert_eq!(Scopes::parse("carriers rates"), Some(scopes));
        assert_eq!(Scopes::parse("*"), Some(Scopes::All));
        assert_eq!(Scopes::parse(""), Some(Scopes::none()));
        assert_eq!(Scopes::parse("a \"b"), None);
        assert!(Scopes::All.grants("anything"));
        assert!(!Scopes::none().grants("rates"));
    }
}
