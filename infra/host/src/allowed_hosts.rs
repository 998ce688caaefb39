//! `allowed_outbound_hosts`: parsing each entry as Spin does, and matching a
//! request's URI against a component's list.

use anyhow::{Context, bail};

/// The suffix Spin reserves for service chaining.
pub const INTERNAL_SUFFIX: &str = ".spin.internal";

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    Exact(String),
    /// `*.example.com` matches `a.example.com` and `a.b.example.com`.
    Subdomain(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPattern {
    Any,
    Exact(u16),
    Range(u16, u16),
    /// No port written: the scheme's default (80 for http, 443 for https).
    SchemeDefault,
}

/// One entry of `allowed_outbound_hosts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    scheme: Option<String>,
    host: HostPattern,
    port: PortPattern,
}

impl AllowedHost {
    /// Parses `scheme://host[:port]`; `*` for any scheme, host or port, `*.domain`,
    /// and `a..b` port ranges. Entries with `{{ }}` templates are checked after
    /// expansion, so they pass here.
    pub fn parse(entry: &str) -> anyhow::Result<Option<Self>> {
        if entry.contains("{{") {
            return Ok(None);
        }
        let (scheme, rest) = entry
            .split_once("://")
            .with_context(|| format!("`{entry}` needs a scheme, e.g. `https://{entry}`"))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') {
            bail!("`{entry}` must not contain a path");
        }
        let scheme = match scheme {
            "*" => None,
            s if s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-')
                && !s.is_empty() =>
            {
                Some(s.to_ascii_lowercase())
            }
            _ => bail!("`{entry}`: invalid scheme `{scheme}`"),
        };
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || p.is_empty() => (h, Some(p)),
            _ => (rest, None),
        };
        let host = match host {
            "" => bail!("`{entry}`: missing host"),
            "*" => HostPattern::Any,
            h if h.starts_with("*.") => HostPattern::Subdomain(h[1..].to_ascii_lowercase()),
            h if h.contains('*') => {
                bail!("`{entry}`: `*` is only allowed as a whole host or a leading `*.`")
            }
            h => HostPattern::Exact(h.to_ascii_lowercase()),
        };
        let port = match port {
            None => {
                if (scheme.is_none() || !matches!(scheme.as_deref(), Some("http" | "https")))
                    && !matches!(host, HostPattern::Exact(ref h) if h.ends_with(INTERNAL_SUFFIX) || h == "self")
                {
                    bail!("`{entry}`: a port is required when the scheme has no default port");
                }
                PortPattern::SchemeDefault
            }
            Some("*") => PortPattern::Any,
            Some(p) => match p.split_once("..") {
                Some((a, b)) => {
                    let (a, b): (u16, u16) = (
                        a.parse()
                            .with_context(|| format!("`{entry}`: bad port range"))?,
                        b.parse()
                            .with_context(|| format!("`{entry}`: bad port range"))?,
                    );
                    if a > b {
                        bail!("`{entry}`: empty port range");
                    }
                    PortPattern::Range(a, b)
                }
                None => PortPattern::Exact(
                    p.parse()
                        .with_context(|| format!("`{entry}`: bad port `{p}`"))?,
                ),
            },
        };
        Ok(Some(Self { scheme, host, port }))
    }

    fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        let scheme_ok = self.scheme.as_deref().is_none_or(|s| s == scheme);
        let host_ok = match &self.host {
            HostPattern::Any => true,
            HostPattern::Exact(h) => h == host,
            HostPattern::Subdomain(suffix) => {
                host.ends_with(suffix.as_str()) && host.len() > suffix.len()
            }
        };
        let port_ok = match self.port {
            PortPattern::Any => true,
            PortPattern::Exact(p) => p == port,
            PortPattern::Range(a, b) => (a..=b).contains(&port),
            PortPattern::SchemeDefault => Some(port) == default_port(scheme),
        };
        scheme_ok && host_ok && port_ok
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// A component's whole allow-list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts(Vec<AllowedHost>);

impl AllowedHosts {
    /// Parses entries whose templates have already been expanded.
    pub fn parse_all(entries: &[String]) -> anyhow::Result<Self> {
        let mut hosts = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let host = AllowedHost::parse(entry)
                .with_context(|| format!("allowed_outbound_hosts[{i}]"))?
                .with_context(|| {
                    format!("allowed_outbound_hosts[{i}]: unexpanded template in `{entry}`")
                })?;
            hosts.push(host);
        }
        Ok(Self(hosts))
    }

    pub fn allows(&self, uri: &http::Uri) -> bool {
        let scheme = uri.scheme_str().unwrap_or("http").to_ascii_lowercase();
        let Some(host) = uri.host() else { return false };
        let host = host.to_ascii_lowercase();
        let Some(port) = uri.port_u16().or_else(|| default_port(&scheme)) else {
            return false;
        };
        self.0.iter().any(|h| h.allows(&scheme, &host, port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(entries: &[&str], uri: &str) -> bool {
        let entries: Vec<String> = entries.iter().map(|s| s.to_string()).collect();
        AllowedHosts::parse_all(&entries)
            .unwrap()
            .allows(&uri.parse().unwrap())
    }

    #[test]
    fn exact_host_and_default_port() {
        assert!(allows(
            &["https://api.ups.com"],
            "https://api.ups.com/rating"
        ));
        assert!(!allows(
            &["https://api.ups.com"],
            "http://api.ups.com/rating"
        ));
        assert!(!allows(
            &["https://api.ups.com"],
            "https://api.ups.com:8443/"
        ));
        assert!(!allows(&["https://api.ups.com"], "https://evil.com/"));
    }

    #[test]
    fn wildcards_for_scheme_host_port() {
        assert!(allows(&["*://*:*"], "http://anything:1234/"));
        assert!(allows(&["http://127.0.0.1:*"], "http://127.0.0.1:5555/"));
        assert!(allows(&["https://*.fedex.com"], "https://apis.fedex.com/"));
        assert!(!allows(&["https://*.fedex.com"], "https://fedex.com/"));
        assert!(allows(
            &["http://localhost:8000..8010"],
            "http://localhost:8005/"
        ));
        assert!(!allows(
            &["http://localhost:8000..8010"],
            "http://localhost:8011/"
        ));
    }

    #[test]
    fn service_chaining_needs_its_entry() {
        assert!(allows(
            &["http://sandbox.spin.internal"],
            "http://sandbox.spin.internal/x"
        ));
        assert!(allows(
            &["http://*.spin.internal"],
            "http://router.spin.internal/"
        ));
        assert!(!allows(
            &["http://sandbox.spin.internal"],
            "http://router.spin.internal/"
        ));
        assert!(!allows(&[], "http://router.spin.internal/"));
    }

    #[test]
    fn invalid_entries_are_rejected() {
        assert!(AllowedHost::parse("api.ups.com").is_err());
        assert!(AllowedHost::parse("https://api.ups.com/path").is_err());
        assert!(AllowedHost::parse("https://a*b.com").is_err());
        assert!(AllowedHost::parse("https://x:notaport").is_err());
        assert!(AllowedHost::parse("redis://x").is_err());
        assert!(AllowedHost::parse("https://{{ host }}").unwrap().is_none());
    }
}
