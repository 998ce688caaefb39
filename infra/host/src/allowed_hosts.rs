//! `allowed_outbound_hosts`: parsing each entry as Spin does, and matching a
//! request's URI against a component's list.

use anyhow::{Context, bail};
use ip_network::IpNetwork;
use std::net::IpAddr;

/// The suffix Spin reserves for service chaining.
pub const INTERNAL_SUFFIX: &str = ".spin.internal";

/// The host a component writes to call its own app (`http://self.alt/path`), as on Spin.
pub const SELF_HOST: &str = "self.alt";

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    /// A name, lowercased.
    Name(String),
    /// `*.example.com`, kept as `.example.com`: matches `a.example.com` and
    /// `a.b.example.com`.
    Subdomain(String),
    /// An IP address or a CIDR (`10.0.0.0/8`, `ff00::/8`): matches a request written
    /// to an address in it, never a name (the check comes before DNS, as on Spin).
    Network(IpNetwork),
    /// `self` or `self.alt`: the app's own listener, and nothing else.
    ToSelf,
}

impl HostPattern {
    fn parse(entry: &str, host: &str) -> anyhow::Result<Self> {
        Ok(match host {
            "" => bail!("`{entry}`: missing host"),
            "*" => Self::Any,
            "self" | SELF_HOST => Self::ToSelf,
            h if h.contains('/') => Self::Network(
                IpNetwork::from_str_truncate(h)
                    .ok()
                    .with_context(|| format!("`{entry}` must not contain a path"))?,
            ),
            h if h.starts_with('[') => Self::Network(
                ip_literal(h)
                    .with_context(|| format!("`{entry}`: `{h}` is not an IPv6 address"))?
                    .into(),
            ),
            h if h.starts_with("*.") => Self::Subdomain(h[1..].to_ascii_lowercase()),
            h if h.contains(':') => {
                bail!("`{entry}`: an IPv6 address goes in brackets, e.g. `[::1]`")
            }
            h if h.contains('*') => {
                bail!("`{entry}`: `*` is only allowed as a whole host or a leading `*.`")
            }
            h => match ip_literal(h) {
                Some(ip) => Self::Network(ip.into()),
                None => Self::Name(h.to_ascii_lowercase()),
            },
        })
    }

    fn matches(&self, host: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Name(name) => name == host,
            Self::Subdomain(suffix) => host.ends_with(suffix.as_str()) && host.len() > suffix.len(),
            Self::Network(network) => ip_literal(host).is_some_and(|ip| network.contains(ip)),
            Self::ToSelf => false,
        }
    }
}

/// `10.0.0.1`, or `[::1]` as a URI writes an IPv6 address.
fn ip_literal(host: &str) -> Option<IpAddr> {
    match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6),
        None => host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPattern {
    Any,
    Exact(u16),
    /// `a..b`: from `a` up to, not including, `b`, as Spin reads it.
    Range(u16, u16),
}

impl PortPattern {
    /// `port` as written after the host, if any; without one, `scheme`'s well-known port.
    fn parse(entry: &str, scheme: Option<&str>, port: Option<&str>) -> anyhow::Result<Self> {
        let number = |p: &str| {
            p.parse::<u16>()
                .with_context(|| format!("`{entry}`: bad port `{p}`"))
        };
        Ok(match port {
            None => Self::Exact(scheme.and_then(well_known_port).with_context(|| {
                format!("`{entry}`: a port is required when the scheme has no default port")
            })?),
            Some("*") => Self::Any,
            Some(p) if p.contains('/') => bail!("`{entry}` must not contain a path"),
            Some(p) => match p.split_once("..") {
                Some((a, b)) => {
                    let (a, b) = (number(a)?, number(b)?);
                    if a >= b {
                        bail!("`{entry}`: empty port range (its end is excluded, as on Spin)");
                    }
                    Self::Range(a, b)
                }
                None => Self::Exact(number(p)?),
            },
        })
    }

    fn matches(&self, port: u16) -> bool {
        match *self {
            Self::Any => true,
            Self::Exact(p) => p == port,
            Self::Range(a, b) => (a..b).contains(&port),
        }
    }
}

/// One entry of `allowed_outbound_hosts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    scheme: Option<String>,
    host: HostPattern,
    port: PortPattern,
}

impl AllowedHost {
    /// Parses `scheme://host[:port]` as Spin does: `*` for any scheme, host or port;
    /// `*.domain`; an IP address or a CIDR as the host; `self` for the app itself;
    /// `a..b` port ranges; no port for the scheme's well-known one. Entries with
    /// `{{ }}` templates are checked after expansion, so they pass here.
    pub fn parse(entry: &str) -> anyhow::Result<Option<Self>> {
        if entry.contains("{{") {
            return Ok(None);
        }
        let (scheme, rest) = entry
            .split_once("://")
            .with_context(|| format!("`{entry}` needs a scheme, e.g. `https://{entry}`"))?;
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
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = split_host_port(rest);
        let host = HostPattern::parse(entry, host)?;
        let port = PortPattern::parse(entry, scheme.as_deref(), port)?;
        Ok(Some(Self { scheme, host, port }))
    }

    fn allows_scheme(&self, scheme: &str) -> bool {
        self.scheme.as_deref().is_none_or(|s| s == scheme)
    }

    fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        self.allows_scheme(scheme) && self.host.matches(host) && self.port.matches(port)
    }
}

/// `host[:port]`, where an IPv6 address (`[::1]`) or CIDR (`ff00::/8`) has colons of
/// its own, and an empty port is none.
fn split_host_port(rest: &str) -> (&str, Option<&str>) {
    let whole_host =
        rest.ends_with(']') || (rest.contains('/') && IpNetwork::from_str_truncate(rest).is_ok());
    match rest.rsplit_once(':') {
        Some((host, port)) if !whole_host => (host, Some(port).filter(|p| !p.is_empty())),
        _ => (rest, None),
    }
}

/// The port a scheme's servers listen on unless told otherwise, as Spin knows them.
fn well_known_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        "postgres" => Some(5432),
        "mysql" => Some(3306),
        "redis" => Some(6379),
        "mqtt" => Some(1883),
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
        let Some(port) = uri.port_u16().or_else(|| well_known_port(&scheme)) else {
            return false;
        };
        self.0.iter().any(|h| h.allows(&scheme, &host, port))
    }

    /// Whether the component may call its own app (`http://self.alt/...`): an entry
    /// for `self` (or any host) with an HTTP scheme, whatever its port, as on Spin.
    pub fn allows_self(&self) -> bool {
        self.0.iter().any(|h| {
            matches!(h.host, HostPattern::Any | HostPattern::ToSelf)
                && (h.allows_scheme("http") || h.allows_scheme("https"))
        })
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
        // The end of a range is excluded, as on Spin.
        assert!(allows(
            &["http://localhost:8000..8010"],
            "http://localhost:8009/"
        ));
        assert!(!allows(
            &["http://localhost:8000..8010"],
            "http://localhost:8010/"
        ));
        assert!(AllowedHost::parse("http://localhost:8000..8000").is_err());
    }

    #[test]
    fn ip_addresses_and_networks_match_addresses_not_names() {
        assert!(allows(&["http://10.0.0.0/8"], "http://10.1.2.3/"));
        assert!(!allows(&["http://10.0.0.0/8"], "http://11.1.2.3/"));
        assert!(!allows(&["http://10.0.0.0/8"], "http://10.1.2.3:8080/"));
        assert!(allows(
            &["*://127.0.0.1/24:8080"],
            "https://127.0.0.9:8080/"
        ));
        assert!(allows(&["*://ff00::/8:80"], "http://[ff02::1]/"));
        assert!(!allows(&["*://ff00::/8:80"], "http://[fe80::1]/"));
        // A name is not an address, whatever it resolves to.
        assert!(!allows(&["http://127.0.0.0/8"], "http://localhost/"));
        // An address is compared as one, however it is written.
        assert!(allows(&["http://[::1]"], "http://[0:0::1]/"));
        assert!(allows(&["http://[::1]:8001"], "http://[::1]:8001/"));
        assert!(allows(
            &["http://[2001:db8::1]:*"],
            "http://[2001:db8::1]:9/"
        ));
        assert!(allows(&["http://192.168.1.1"], "http://192.168.1.1/"));
        assert!(!allows(&["http://192.168.1.1"], "http://192.168.1.2/"));
        for bad in [
            "*://127.0.0.0/24",
            "http://::1",
            "http://[::1",
            "http://[nope]",
        ] {
            assert!(AllowedHost::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn self_is_the_app_and_nothing_else() {
        let list = |entries: &[&str]| {
            AllowedHosts::parse_all(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap()
        };
        assert!(list(&["http://self"]).allows_self());
        assert!(list(&["https://self.alt"]).allows_self());
        assert!(list(&["*://*:*"]).allows_self());
        assert!(!list(&["https://api.ups.com", "http://127.0.0.1:*"]).allows_self());
        assert!(!list(&["redis://self"]).allows_self());
        // `self` names no host a request could be written to.
        assert!(!allows(&["http://self"], "http://self/"));
        assert!(!allows(&["http://self"], "http://self.alt/"));
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
        assert!(AllowedHost::parse("https://x:80/path").is_err());
        assert!(AllowedHost::parse("https://x/path:80").is_err());
        // Schemes Spin knows the port of need none; others do.
        assert!(AllowedHost::parse("redis://x").unwrap().is_some());
        assert!(AllowedHost::parse("tcp://x").is_err());
        assert!(AllowedHost::parse("*://x").is_err());
        assert!(AllowedHost::parse("*://x.spin.internal").is_err());
        assert!(AllowedHost::parse("https://x:").unwrap().is_some());
        assert!(AllowedHost::parse("https://{{ host }}").unwrap().is_none());
    }
}
