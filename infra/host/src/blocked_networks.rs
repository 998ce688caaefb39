//! `[outbound_networking] block_networks` of the runtime config, as Spin applies it to
//! outbound HTTP: CIDRs, and `"private"` for every address that is not globally
//! routable (loopback, RFC 1918, link-local such as a cloud's metadata service, ...).
//!
//! The check is made on the addresses a new connection is made to, after DNS, so a
//! public-looking name that resolves to an internal address is refused as well as an
//! IP literal. Blocked addresses are left out; when every address of a name is blocked
//! the guest gets `destination-ip-prohibited`. A name that does not resolve is
//! `dns-error`, as on Spin.

use hyper_util::client::legacy::connect::dns::Name;
use ip_network::IpNetwork;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use wasmtime_wasi_http::Error as HttpError;

/// One entry of `block_networks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub enum BlockedNetwork {
    Cidr(IpNetwork),
    /// Every address that is not globally routable.
    Private,
}

impl TryFrom<String> for BlockedNetwork {
    type Error = String;

    fn try_from(entry: String) -> Result<Self, String> {
        if entry == "private" {
            return Ok(Self::Private);
        }
        IpNetwork::from_str_truncate(&entry)
            .map(Self::Cidr)
            .map_err(|e| {
                format!("`{entry}` is neither a CIDR such as `10.0.0.0/8` nor \"private\" ({e})")
            })
    }
}

/// The networks no outbound connection may go to.
#[derive(Debug, Clone, Default)]
pub struct BlockedNetworks {
    networks: Vec<IpNetwork>,
    private: bool,
}

impl BlockedNetworks {
    pub fn new(entries: &[BlockedNetwork]) -> Self {
        let mut blocked = Self::default();
        for entry in entries {
            match entry {
                BlockedNetwork::Cidr(network) => blocked.networks.push(*network),
                BlockedNetwork::Private => blocked.private = true,
            }
        }
        blocked
    }

    pub fn is_empty(&self) -> bool {
        !self.private && self.networks.is_empty()
    }

    pub fn is_blocked(&self, ip: IpAddr) -> bool {
        if self.private && !IpNetwork::from(ip).is_global() {
            return true;
        }
        if self.networks.iter().any(|network| network.contains(ip)) {
            return true;
        }
        // An IPv4 address written as IPv6 (`::ffff:10.0.0.1`) must not slip past a
        // blocked IPv4 network.
        match ip {
            IpAddr::V6(v6) => v6
                .to_ipv4()
                .is_some_and(|v4| self.is_blocked(IpAddr::V4(v4))),
            IpAddr::V4(_) => false,
        }
    }

    /// `addrs` without the blocked ones; refused when every one was blocked.
    fn allowed(&self, addrs: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, AddressRefused> {
        if self.is_empty() || addrs.is_empty() {
            return Ok(addrs);
        }
        let (blocked, allowed): (Vec<_>, Vec<_>) =
            addrs.into_iter().partition(|a| self.is_blocked(a.ip()));
        if allowed.is_empty() {
            return Err(AddressRefused::Prohibited(blocked));
        }
        Ok(allowed)
    }

    /// Whether `uri` names an IP address that is blocked. The connector resolves
    /// names only, so IP literals are checked here.
    pub fn blocks_literal(&self, uri: &http::Uri) -> bool {
        if self.is_empty() {
            return false;
        }
        let host = uri.host().unwrap_or_default();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        host.parse::<IpAddr>().is_ok_and(|ip| self.is_blocked(ip))
    }
}

/// Why a name gave no address to connect to.
#[derive(Debug)]
pub enum AddressRefused {
    Lookup(std::io::Error),
    /// Every address the name resolved to is blocked.
    Prohibited(Vec<SocketAddr>),
}

impl std::fmt::Display for AddressRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Lookup(e) => write!(f, "name not resolved: {e}"),
            Self::Prohibited(addrs) => write!(f, "every address is blocked: {addrs:?}"),
        }
    }
}

impl std::error::Error for AddressRefused {}

impl AddressRefused {
    /// The `wasi:http` error the guest gets, as Spin reports it.
    pub fn error_code(&self) -> HttpError {
        match self {
            Self::Lookup(_) => HttpError::DnsError {
                rcode: Some("address not available".into()),
                info_code: Some(0),
            },
            Self::Prohibited(_) => HttpError::DestinationIpProhibited,
        }
    }
}

/// The connector's resolver: the system's (`getaddrinfo`, on a blocking thread, as
/// hyper-util's own), less the blocked addresses.
#[derive(Debug, Clone, Default)]
pub struct GuardedResolver {
    blocked: Arc<BlockedNetworks>,
}

impl GuardedResolver {
    pub fn new(blocked: Arc<BlockedNetworks>) -> Self {
        Self { blocked }
    }
}

impl tower_service::Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = AddressRefused;
    type Future =
        Pin<Box<dyn Future<Output = Result<Self::Response, AddressRefused>> + Send + 'static>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), AddressRefused>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let blocked = self.blocked.clone();
        Box::pin(async move {
            // Port 0: the connector sets the URI's port on each address.
            let addrs = tokio::net::lookup_host((name.as_str(), 0))
                .await
                .map_err(AddressRefused::Lookup)?
                .collect();
            Ok(blocked.allowed(addrs)?.into_iter())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_service::Service;

    fn blocked(entries: &[&str]) -> BlockedNetworks {
        let entries: Vec<BlockedNetwork> = entries
            .iter()
            .map(|e| BlockedNetwork::try_from(e.to_string()).unwrap())
            .collect();
        BlockedNetworks::new(&entries)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_entry_is_a_cidr_or_private() {
        assert_eq!(
            BlockedNetwork::try_from("private".to_string()),
            Ok(BlockedNetwork::Private)
        );
        // Host bits are dropped, as Spin does.
        assert_eq!(
            BlockedNetwork::try_from("10.1.2.3/8".to_string()),
            BlockedNetwork::try_from("10.0.0.0/8".to_string())
        );
        for bad in ["10.0.0.0/33", "10.0.0.1", "intranet", "Private", ""] {
            let error = BlockedNetwork::try_from(bad.to_string()).unwrap_err();
            assert!(error.contains(&format!("`{bad}`")), "{error}");
        }
    }

    #[test]
    fn a_cidr_blocks_its_addresses_in_either_notation() {
        let b = blocked(&["123.123.0.0/16", "2001::/96"]);
        assert!(b.is_blocked(ip("123.123.123.123")));
        assert!(b.is_blocked(ip("::ffff:123.123.123.123")));
        assert!(b.is_blocked(ip("2001::1000")));
        assert!(!b.is_blocked(ip("123.100.100.100")));
        assert!(!b.is_blocked(ip("2002::1000")));
        assert!(!b.is_blocked(ip("127.0.0.1")));
    }

    #[test]
    fn private_blocks_every_address_not_globally_routable() {
        let b = blocked(&["private"]);
        for private in [
            "0.0.0.0",
            "10.10.10.10",
            "100.64.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "172.16.0.1",
            "192.168.1.1",
            "::1",
            "::ffff:10.10.10.10",
            "fc00::f00d",
            "fe80::1",
        ] {
            assert!(b.is_blocked(ip(private)), "{private}");
        }
        assert!(!b.is_blocked(ip("123.123.123.123")));
        assert!(!b.is_blocked(ip("2600::beef")));
    }

    #[test]
    fn blocked_addresses_are_left_out_and_refused_only_when_none_is_left() {
        let b = blocked(&["10.0.0.0/8"]);
        let inside: SocketAddr = "10.0.0.1:443".parse().unwrap();
        let outside: SocketAddr = "123.1.1.1:443".parse().unwrap();
        assert_eq!(b.allowed(vec![inside, outside]).unwrap(), vec![outside]);
        assert!(matches!(
            b.allowed(vec![inside]),
            Err(AddressRefused::Prohibited(addrs)) if addrs == vec![inside]
        ));
        assert_eq!(
            BlockedNetworks::default().allowed(vec![inside]).unwrap(),
            vec![inside]
        );
    }

    #[test]
    fn ip_literals_are_checked_in_the_uri() {
        let b = blocked(&["private"]);
        assert!(b.blocks_literal(&"http://127.0.0.1:8080/x".parse().unwrap()));
        assert!(b.blocks_literal(&"https://[::1]/".parse().unwrap()));
        assert!(!b.blocks_literal(&"https://123.1.1.1/".parse().unwrap()));
        // A name is resolved first, by the connector's resolver.
        assert!(!b.blocks_literal(&"http://localhost/".parse().unwrap()));
        assert!(!BlockedNetworks::default().blocks_literal(&"http://127.0.0.1/".parse().unwrap()));
    }

    #[tokio::test]
    async fn the_resolver_refuses_a_name_whose_every_address_is_blocked() {
        let name = |s: &str| s.parse::<Name>().unwrap();
        let mut guarded = GuardedResolver::new(Arc::new(blocked(&["127.0.0.0/8", "::1/128"])));
        let refused = guarded.call(name("localhost")).await.unwrap_err();
        assert!(
            matches!(refused, AddressRefused::Prohibited(_)),
            "{refused}"
        );
        assert!(matches!(
            refused.error_code(),
            HttpError::DestinationIpProhibited
        ));

        let mut open = GuardedResolver::new(Arc::new(blocked(&["10.0.0.0/8"])));
        let addrs: Vec<_> = open.call(name("localhost")).await.unwrap().collect();
        assert!(addrs.iter().any(|a| a.ip().is_loopback()), "{addrs:?}");

        // A label longer than 63 bytes is refused by the resolver library itself,
        // so this fails the same way with or without a network.
        let unresolvable = format!("{}.example", "a".repeat(64));
        let refused = open.call(name(&unresolvable)).await.unwrap_err();
        assert!(matches!(refused, AddressRefused::Lookup(_)), "{refused}");
        assert!(matches!(refused.error_code(), HttpError::DnsError { .. }));
    }
}
