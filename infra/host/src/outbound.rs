//! Outbound HTTP capability: the pooled client, each instance's hooks (its
//! `allowed_outbound_hosts` checked by `allowed_hosts`), and service chaining to
//! `http://<component>.spin.internal` in-process.

use crate::allowed_hosts::{AllowedHosts, INTERNAL_SUFFIX, SELF_HOST};
use crate::blocked_networks::{AddressRefused, BlockedNetworks, GuardedResolver};
use crate::client_tls::{ClientTls, ComponentTls};
use crate::connection_cap::{CappedConnector, ConnectionCap};
use crate::runtime_config::OutboundSettings;
use crate::upstream_timeouts::{self, TimedConnector, Timeouts, with_connect_timeout};
use http::uri::Scheme;
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

pub type ResponseFuture =
    Pin<Box<dyn Future<Output = Result<http::Response<WasiBody>, HttpError>> + Send>>;

/// Where service-chained requests go: implemented by the app, which owns the
/// components.
pub trait InProcess: Send + Sync {
    fn dispatch_to_component(
        self: Arc<Self>,
        component: &str,
        request: http::Request<WasiBody>,
    ) -> Option<ResponseFuture>;

    /// Where `http://self.alt/...` goes, once the app is served.
    fn self_origin(&self) -> Option<&SelfOrigin>;
}

/// The app's own listener, where a component's call to `self.alt` is sent, over
/// the network, as on Spin: through routing, middleware and limits like any
/// client's request.
#[derive(Debug, Clone)]
pub struct SelfOrigin {
    scheme: Scheme,
    authority: http::uri::Authority,
}

impl SelfOrigin {
    /// The listener bound at `addr`, serving HTTPS with `tls`. An unspecified address
    /// (`0.0.0.0`, `[::]`) is called at loopback, which it includes.
    pub fn listener(addr: SocketAddr, tls: bool) -> Self {
        let ip = match addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        let authority = SocketAddr::new(ip, addr.port())
            .to_string()
            .parse()
            .expect("a socket address is an authority");
        let scheme = if tls { Scheme::HTTPS } else { Scheme::HTTP };
        Self { scheme, authority }
    }

    /// `request`, sent here instead, with its path and query.
    fn direct<B>(&self, request: &mut http::Request<B>) {
        let mut parts = request.uri().clone().into_parts();
        parts.scheme = Some(self.scheme.clone());
        parts.authority = Some(self.authority.clone());
        parts
            .path_and_query
            .get_or_insert_with(|| http::uri::PathAndQuery::from_static("/"));
        *request.uri_mut() =
            http::Uri::from_parts(parts).expect("a scheme, an authority and a path make a URI");
    }
}

type HttpsConnector =
    TimedConnector<CappedConnector<hyper_rustls::HttpsConnector<HttpConnector<GuardedResolver>>>>;

type Pool = Client<HttpsConnector, WasiBody>;

/// The pooled, keep-alive client shared by every instance.
#[derive(Clone)]
pub struct OutboundClient {
    /// Pool 0 for plain HTTP and for HTTPS no `[[client_tls]]` entry governs; pool
    /// `i + 1` for entry `i`'s, so no connection crosses from one TLS identity to another.
    pools: Arc<[Pool]>,
    /// Plain-HTTP calls to this authority, and its HTTP/2-only pool.
    h2c: Option<Arc<(String, Pool)>>,
    blocked: Arc<BlockedNetworks>,
}

impl OutboundClient {
    /// A client that connects to no address in `settings.blocked`, keeps at most
    /// `settings.max_connections` open across its pools, pools them unless told not
    /// to, speaks TLS as `tls` says, and HTTP/2 in plain text to the
    /// `settings.h2c_prior_knowledge` authority.
    pub fn new(settings: OutboundSettings, tls: &ClientTls) -> anyhow::Result<Self> {
        let blocked = Arc::new(settings.blocked);
        let cap = ConnectionCap::new(
            settings.max_connections,
            crate::metrics::outbound_connections(),
        );
        let mut builder = Client::builder(TokioExecutor::new());
        builder
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(if settings.pooling { 256 } else { 0 });
        let default = crate::client_tls::default_config()?;
        let pools = std::iter::once(&default)
            .chain(tls.configs())
            .map(|config| pool(&builder, config, &blocked, cap.clone()))
            .collect();
        let h2c = settings.h2c_prior_knowledge.map(|authority| {
            let pool = pool(builder.clone().http2_only(true), &default, &blocked, cap);
            Arc::new((authority, pool))
        });
        Ok(Self {
            pools,
            h2c,
            blocked,
        })
    }

    /// The pool for `uri`: the h2c one for its authority over plain HTTP, else the
    /// one `tls` gives it.
    fn pool_for(&self, uri: &http::Uri, tls: &ComponentTls) -> &Pool {
        match self.h2c.as_deref() {
            Some((authority, pool))
                if uri.scheme() == Some(&Scheme::HTTP)
                    && uri.authority().map(|a| a.as_str()) == Some(authority.as_str()) =>
            {
                pool
            }
            _ => &self.pools[tls.pool_for(uri)],
        }
    }

    /// Sends `request` through the pool `tls` gives it, within its `options`'
    /// timeouts (`upstream_timeouts`).
    async fn send(
        &self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        tls: &ComponentTls,
    ) -> Result<http::Response<WasiBody>, HttpError> {
        if self.blocked.blocks_literal(request.uri()) {
            return Err(HttpError::DestinationIpProhibited);
        }
        let timeouts = Timeouts::of(options);
        let pool = self.pool_for(request.uri(), tls);
        let sending = with_connect_timeout(timeouts.connect, pool.request(request));
        let response = tokio::time::timeout(timeouts.first_byte, sending)
            .await
            .map_err(|_| HttpError::ConnectionReadTimeout)?
            .map_err(|e| {
                if upstream_timeouts::is_connect_timeout(&e) {
                    HttpError::ConnectionTimeout
                } else if let Some(refused) = crate::error_chain::find::<AddressRefused>(&e) {
                    refused.error_code()
                } else if let Some(tls) = crate::error_chain::find::<rustls::Error>(&e) {
                    tls_error_code(tls)
                } else if let Some(alert) = tls_alert_by_text(&e) {
                    alert
                } else if e.is_connect() {
                    HttpError::ConnectionRefused
                } else {
                    HttpError::HttpProtocolError
                }
            })?;
        Ok(response.map(|body| {
            upstream_timeouts::between_bytes(body.map_err(HttpError::from), timeouts.between_bytes)
        }))
    }
}

fn pool(
    builder: &hyper_util::client::legacy::Builder,
    tls: &rustls::ClientConfig,
    blocked: &Arc<BlockedNetworks>,
    cap: ConnectionCap,
) -> Pool {
    let tcp = upstream_timeouts::tcp_connector(GuardedResolver::new(blocked.clone()));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls.clone())
        .https_or_http()
        .enable_all_versions()
        .wrap_connector(tcp);
    builder.build(TimedConnector(CappedConnector::new(https, cap)))
}

/// What the guest learns of a failed TLS handshake: a certificate it could not
/// verify, the server's alert (a client certificate it wanted or refused), or else a
/// protocol error, as Spin says of every TLS failure.
fn tls_error_code(error: &rustls::Error) -> HttpError {
    match error {
        rustls::Error::InvalidCertificate(_) => HttpError::TlsCertificateError,
        rustls::Error::AlertReceived(alert) => HttpError::TlsAlertReceived {
            alert_id: Some(u8::from(*alert)),
            alert_message: Some(format!("{alert:?}")),
        },
        _ => HttpError::TlsProtocolError,
    }
}

/// An alert that ended an HTTP/2 connection after its handshake (under TLS 1.3, a
/// server that wants a client certificate says so then). HTTP/2 hands each call the
/// connection's I/O error again by its text alone, so it is known by rustls's wording.
fn tls_alert_by_text(error: &(dyn std::error::Error + 'static)) -> Option<HttpError> {
    crate::error_chain::causes(error).find_map(|e| {
        let name = e
            .to_string()
            .strip_prefix("received fatal alert: ")?
            .to_string();
        Some(HttpError::TlsAlertReceived {
            alert_id: None,
            alert_message: Some(name),
        })
    })
}

/// The `wasi:http` hooks of one instance: its allow-list, its TLS per host, the
/// shared client, and the app for service chaining.
pub struct OutboundHooks {
    pub component: Arc<str>,
    pub allowed: Arc<AllowedHosts>,
    pub tls: Arc<ComponentTls>,
    pub client: OutboundClient,
    pub app: Arc<dyn InProcess>,
}

type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), HttpError>> + Send>
    {
        let done: fn() -> IoFuture = || Box::new(async { Ok(()) });
        // The host the guest wrote (before a call to `self.alt` is sent to the listener).
        let host = request
            .uri()
            .host()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let to_self = host == SELF_HOST;
        let allowed = if to_self {
            self.allowed.allows_self()
        } else {
            self.allowed.allows(request.uri())
        };
        if !allowed {
            crate::log::event(
                "outbound_denied",
                &[
                    ("component", &self.component),
                    ("uri", &redact_uri(request.uri())),
                ],
            );
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        if to_self {
            match self.app.self_origin() {
                Some(origin) => origin.direct(&mut request),
                None => return Box::new(async { Err(HttpError::HttpRequestUriInvalid) }),
            }
        }
        // With OTLP export on, a CLIENT span; the request carries it as the parent.
        let traced = crate::otlp::ClientCall::begin(&self.component, &mut request);
        if let Some(target) = host.strip_suffix(INTERNAL_SUFFIX) {
            let target = target.to_string();
            let app = self.app.clone();
            return Box::new(async move {
                let result = match app.dispatch_to_component(&target, request) {
                    Some(fut) => fut.await,
                    None => Err(HttpError::DestinationNotFound),
                };
                if let Some(call) = traced {
                    call.end(&result);
                }
                Ok((result?, done()))
            });
        }
        let client = self.client.clone();
        let component = self.component.clone();
        let tls = self.tls.clone();
        Box::new(async move {
            let uri = request.uri().clone();
            let result = client.send(request, options, &tls).await;
            if let Err(HttpError::DestinationIpProhibited) = result {
                crate::log::event(
                    "outbound_prohibited",
                    &[
                        ("component", &component),
                        ("uri", &redact_uri(&uri)),
                        ("detail", "every address of the host is in block_networks"),
                    ],
                );
            }
            if let Some(call) = traced {
                call.end(&result);
            }
            Ok((result?, done()))
        })
    }

    fn is_supported_scheme(&mut self, scheme: &Scheme) -> bool {
        *scheme == Scheme::HTTP || *scheme == Scheme::HTTPS
    }

    /// No `Host` header, as on Spin: the client writes one from the URI over
    /// HTTP/1.1, and HTTP/2 carries the authority instead. A `Host` beside
    /// `:authority` is a 400 from NGINX before 1.29.1 ("duplicate host header").
    fn set_host_header(&mut self) -> bool {
        false
    }
}

/// The URI without its query, which may carry credentials.
pub fn redact_uri(uri: &http::Uri) -> String {
    format!(
        "{}://{}{}",
        uri.scheme_str().unwrap_or("http"),
        uri.authority().map(|a| a.as_str()).unwrap_or(""),
        uri.path()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_to_self_goes_to_the_listener_with_its_path_and_query() {
        let direct = |addr: &str, tls: bool, uri: &str| {
            let mut request = http::Request::get(uri).body(()).unwrap();
            SelfOrigin::listener(addr.parse().unwrap(), tls).direct(&mut request);
            request.uri().to_string()
        };
        assert_eq!(
            direct("127.0.0.1:3000", false, "http://self.alt/v1/rates?x=1"),
            "http://127.0.0.1:3000/v1/rates?x=1"
        );
        assert_eq!(
            direct("0.0.0.0:3000", true, "https://self.alt:8443"),
            "https://127.0.0.1:3000/"
        );
        assert_eq!(
            direct("[::]:3000", false, "http://self.alt/a"),
            "http://[::1]:3000/a"
        );
    }

    #[test]
    fn a_tls_alert_is_known_as_one_whether_it_comes_whole_or_as_text() {
        // `Error` has no `PartialEq`; its `Debug` says everything it holds.
        let code = |e: Option<HttpError>| format!("{e:?}");
        let alert = rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired);
        assert_eq!(
            code(Some(tls_error_code(&alert))),
            code(Some(HttpError::TlsAlertReceived {
                alert_id: Some(116),
                alert_message: Some("CertificateRequired".into()),
            }))
        );
        // As HTTP/2 passes it on: an I/O error with rustls's wording only.
        let text = std::io::Error::new(std::io::ErrorKind::InvalidData, alert.to_string());
        assert_eq!(
            code(tls_alert_by_text(&text)),
            code(Some(HttpError::TlsAlertReceived {
                alert_id: None,
                alert_message: Some("CertificateRequired".into()),
            }))
        );
        assert!(tls_alert_by_text(&std::io::Error::other("connection reset")).is_none());
        let expired = rustls::Error::InvalidCertificate(rustls::CertificateError::Expired);
        assert_eq!(
            code(Some(tls_error_code(&expired))),
            code(Some(HttpError::TlsCertificateError))
        );
        assert_eq!(
            code(Some(tls_error_code(&rustls::Error::HandshakeNotComplete))),
            code(Some(HttpError::TlsProtocolError))
        );
    }
}
