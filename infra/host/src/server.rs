//! The HTTP trigger's listener: routes each request to its chain with the headers
//! Spin gives a component, enforces the body limit, turns failures into
//! problem+json, hands each response to the access log (`crate::access_log`), and
//! shuts down gracefully.

use crate::app::{App, Target};
use crate::outbound::SelfOrigin;
use crate::request_body::Cut;
use crate::routes::RouteMatch;
use crate::settle::Settled;
use crate::static_response::StaticResponse;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use wasmtime_wasi_http::Error as HttpError;
use waypost_core::problem::{CONTENT_TYPE, Problem};

pub struct ServerOptions {
    /// What a request body may be (`crate::request_body`).
    pub body: crate::request_body::Bounds,
    pub shutdown_grace: Duration,
    /// `up --busy-poll`: how long a serving thread polls after a request before it
    /// sleeps (`crate::busy_poll`); `None`: it sleeps at once.
    pub busy_poll: Option<Duration>,
    /// `up --header-read-timeout`: how long a connection may take to send a request's
    /// head, counted from when it is ready for one (accepted, or the previous response
    /// written), so it also closes idle keep-alive connections. `None`: no limit.
    pub header_read_timeout: Option<Duration>,
    /// `up --response-write-timeout`: how long a write to a client may wait for the
    /// client to read (between writes, not for the whole response); then the
    /// connection is closed. `None`: no limit.
    pub response_write_timeout: Option<Duration>,
    /// `up --tls-cert --tls-key`: connections are TLS, each given the header-read
    /// timeout for its handshake (`crate::server_tls`).
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// `up --proxy-protocol`: each connection names its client in a PROXY header
    /// first, read within the header-read timeout (`crate::proxy_protocol`).
    pub proxy_protocol: bool,
    /// `up --http1-max-buf-size`: the most of an HTTP/1 request head read (hyper
    /// answers a larger one 431). `None`: hyper's default.
    pub http1_max_buf_size: Option<usize>,
}

/// The smallest `http1_max_buf_size` hyper takes (it panics below it).
pub const MIN_HTTP1_BUF: usize = 8192;

/// Serves until SIGINT or SIGTERM, then stops accepting, lets in-flight requests
/// finish (up to the grace period) and returns.
///
/// Connections are handed out in turn to serving threads, one per core, each with a
/// single-threaded runtime (`crate::serving`): a request, its component's instances
/// and its response stay on one thread. On Tokio's work-stealing runtime every
/// wake-up inside a store also woke the idle worker thread, which doubled the context
/// switches of a request through middleware.
pub async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    opts: ServerOptions,
) -> anyhow::Result<()> {
    app.serving_at(SelfOrigin::listener(
        listener.local_addr()?,
        opts.tls.is_some(),
    ));
    let opts = Arc::new(opts);
    let mut threads = Vec::new();
    let mut handoffs = Vec::new();
    for slot in 0..crate::serving::count() {
        let (handoff, accepted) = tokio::sync::mpsc::unbounded_channel();
        let (app, opts) = (app.clone(), opts.clone());
        let (done, finished) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name(format!("serve-{slot}"))
            .spawn(move || {
                crate::serving::enter(slot);
                let drained = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map(|runtime| runtime.block_on(serve_connections(app, accepted, opts)));
                let _ = done.send(drained);
            })?;
        handoffs.push(handoff);
        threads.push(finished);
    }
    let mut shutdown = Box::pin(shutdown_signal());
    for next in (0..handoffs.len()).cycle() {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut shutdown => break,
        };
        let (stream, client) = match accepted {
            Ok(conn) => conn,
            Err(e) => {
                crate::log::event("accept_error", &[("error", &e.to_string())]);
                if let Some(pause) = accept_backoff(&e) {
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = &mut shutdown => break,
                    }
                }
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        match stream.into_std() {
            Ok(stream) => {
                let _ = handoffs[next].send((stream, client));
            }
            Err(e) => crate::log::event("accept_error", &[("error", &e.to_string())]),
        }
    }
    drop(listener);
    drop(handoffs);
    crate::log::event("shutdown", &[("detail", "draining in-flight requests")]);
    let mut cut_short = false;
    for finished in threads {
        match finished.await {
            Ok(Ok(drained)) => cut_short |= !drained,
            Ok(Err(e)) => return Err(anyhow::Error::from(e).context("starting a serving thread")),
            Err(_) => anyhow::bail!("a serving thread panicked"),
        }
    }
    if cut_short {
        crate::log::event(
            "shutdown",
            &[("detail", "grace period over; dropped connections")],
        );
    }
    Ok(())
}

/// How long to stop accepting after `accept` failed for want of a file descriptor or
/// memory, or `None` for an error of one connection's own (reset before it was
/// accepted), after which the next is accepted at once. Out of descriptors, the
/// pending connection stays in the backlog and `accept` fails again at once until one
/// is closed: retrying without a pause spins a core and floods the log.
pub fn accept_backoff(e: &std::io::Error) -> Option<Duration> {
    const PAUSE: Duration = Duration::from_millis(100);
    let exhausted = [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM];
    e.raw_os_error()
        .is_some_and(|code| exhausted.contains(&code))
        .then_some(PAUSE)
}

/// Serves one client connection (plain, or TLS after its handshake) until it closes.
fn serve_connection<IO>(
    builder: &auto::Builder<TokioExecutor>,
    watcher: hyper_util::server::graceful::Watcher,
    io: IO,
    app: Arc<App>,
    opts: Arc<ServerOptions>,
    client: SocketAddr,
) -> impl Future<Output = ()> + Send + 'static
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let (app, opts) = (app.clone(), opts.clone());
        async move { Ok::<_, std::convert::Infallible>(handle(app, &opts, req, client).await) }
    });
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    let conn = watcher.watch(conn.into_owned());
    async move {
        if let Err(e) = conn.await
            && write_timed_out(&*e)
        {
            crate::metrics::record_response_write_timeout();
            crate::log::event("response_write_timeout", &[("client", &client.to_string())]);
        }
    }
}

/// Serves `stream` from `client`: over TLS, after its handshake, when serving HTTPS.
async fn serve_stream<IO>(
    builder: Arc<auto::Builder<TokioExecutor>>,
    watcher: hyper_util::server::graceful::Watcher,
    stream: IO,
    app: Arc<App>,
    opts: Arc<ServerOptions>,
    client: SocketAddr,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    match opts.tls.clone() {
        None => serve_connection(&builder, watcher, stream, app, opts, client).await,
        Some(acceptor) => {
            if let Some(tls) = tls_handshake(&acceptor, stream, &opts, client).await {
                serve_connection(&builder, watcher, tls, app, opts, client).await;
            }
        }
    }
}

/// The client a connection's PROXY header names and the stream after it, or `None`
/// (logged) when it sends no valid header within the header-read timeout.
async fn proxy_header<IO>(
    stream: IO,
    peer: SocketAddr,
    opts: &ServerOptions,
) -> Option<(SocketAddr, crate::proxy_protocol::Prefixed<IO>)>
where
    IO: tokio::io::AsyncRead + Unpin,
{
    let header = crate::proxy_protocol::accept(stream, peer);
    within_header_read_timeout(opts, header, || "timed out".to_string())
        .await
        .inspect_err(|error| {
            crate::log::event(
                "proxy_header_failed",
                &[("peer", &peer.to_string()), ("error", error)],
            );
        })
        .ok()
}

/// The TLS session of a connection, or `None` (logged) when its handshake fails or
/// takes longer than the header-read timeout.
async fn tls_handshake<IO>(
    acceptor: &tokio_rustls::TlsAcceptor,
    stream: IO,
    opts: &ServerOptions,
    client: SocketAddr,
) -> Option<tokio_rustls::server::TlsStream<IO>>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let handshake = acceptor.accept(stream);
    let timed_out = || std::io::ErrorKind::TimedOut.into();
    match within_header_read_timeout(opts, handshake, timed_out).await {
        Ok(tls) => Some(tls),
        Err(e) => {
            let client = client.to_string();
            let error = e.to_string();
            crate::log::event(
                "tls_handshake_failed",
                &[("client", &client), ("error", &error)],
            );
            None
        }
    }
}

/// `step` (what a connection does before its first request: a PROXY header, a TLS
/// handshake), failing with `timed_out()` after the header-read timeout.
async fn within_header_read_timeout<T, E>(
    opts: &ServerOptions,
    step: impl Future<Output = Result<T, E>>,
    timed_out: impl FnOnce() -> E,
) -> Result<T, E> {
    match opts.header_read_timeout {
        Some(limit) => tokio::time::timeout(limit, step)
            .await
            .unwrap_or_else(|_| Err(timed_out())),
        None => step.await,
    }
}

/// One serving thread: serves the connections handed to it until the hand-off closes,
/// then waits for them to finish, up to the grace period. Whether they all did.
async fn serve_connections(
    app: Arc<App>,
    mut accepted: tokio::sync::mpsc::UnboundedReceiver<(std::net::TcpStream, SocketAddr)>,
    opts: Arc<ServerOptions>,
) -> bool {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    if let Some(window) = opts.busy_poll {
        crate::busy_poll::start(window);
    }
    // Configured once per thread and shared by its connections.
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(opts.header_read_timeout);
    if let Some(bytes) = opts.http1_max_buf_size {
        builder.http1().max_buf_size(bytes);
    }
    let builder = Arc::new(builder);
    while let Some((stream, client)) = accepted.recv().await {
        let Ok(stream) = tokio::net::TcpStream::from_std(stream) else {
            continue;
        };
        let mut stream = tokio_io_timeout::TimeoutWriter::new(stream);
        stream.set_timeout(opts.response_write_timeout);
        let stream = Box::pin(stream);
        let (app, opts, watcher) = (app.clone(), opts.clone(), graceful.watcher());
        let builder = Arc::clone(&builder);
        tokio::spawn(async move {
            if !opts.proxy_protocol {
                return serve_stream(builder, watcher, stream, app, opts, client).await;
            }
            if let Some((client, stream)) = proxy_header(stream, client, &opts).await {
                serve_stream(builder, watcher, stream, app, opts, client).await;
            }
        });
    }
    tokio::select! {
        _ = graceful.shutdown() => true,
        _ = tokio::time::sleep(opts.shutdown_grace) => false,
    }
}

/// Whether a connection ended because a write to its client timed out
/// (`--response-write-timeout`), as opposed to any other failure of the connection.
fn write_timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    crate::error_chain::causes(e).any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::TimedOut)
    })
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("install SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

pub type HostBody = http_body_util::combinators::UnsyncBoxBody<Bytes, HttpError>;

/// Response headers components set for the host's log and metrics only (the caller's
/// tenant from `auth`, the carrier from the router); removed before the response leaves.
const REPORT_TENANT: &str = "x-waypost-tenant";
const REPORT_CARRIER: &str = "x-waypost-carrier";

async fn handle(
    app: Arc<App>,
    opts: &ServerOptions,
    mut req: Request<Incoming>,
    client: SocketAddr,
) -> Response<HostBody> {
    let started = Instant::now();
    crate::busy_poll::request_arrived(started);
    let crate::otlp::ServerTrace { traceparent, span } =
        crate::otlp::server_trace(req.headers_mut());
    crate::reports::strip(req.headers_mut());
    let request_bytes = content_length(req.headers());
    let request =
        crate::access_log::RequestLine::new(app.clone(), client, &req, started, traceparent);
    let (response, route, component, chain) = dispatch(&app, opts, req, client).await;
    let (mut parts, body) = response.into_parts();
    let mut take = |name: &str| {
        parts
            .headers
            .remove(name)
            .and_then(|v| v.to_str().ok().map(str::to_string))
    };
    let tenant = take(REPORT_TENANT).filter(|t| !t.is_empty());
    let carrier = take(REPORT_CARRIER);
    crate::reports::take(&mut parts.headers);
    let latency = started.elapsed();
    let status = parts.status;
    crate::metrics::record_request(
        route.as_deref().unwrap_or("(none)"),
        tenant.as_deref(),
        status.as_u16(),
        latency.as_secs_f64(),
    );
    if status == StatusCode::TOO_MANY_REQUESTS
        && let Some(policy) = parts
            .headers
            .get("ratelimit-policy")
            .and_then(|v| v.to_str().ok())
    {
        crate::metrics::record_rate_limited(policy);
    }
    let answer = crate::access_log::Answer {
        status,
        latency,
        route,
        component,
        chain,
        tenant,
        carrier,
        request_bytes,
        span,
    };
    let body = request.answered(answer, &parts.headers, body);
    Response::from_parts(parts, body)
}

async fn dispatch(
    app: &Arc<App>,
    opts: &ServerOptions,
    req: Request<Incoming>,
    client: SocketAddr,
) -> (
    Response<HostBody>,
    Option<String>,
    Option<String>,
    Option<String>,
) {
    let path = req.uri().path();
    if let Some(spin) = path.strip_prefix("/.well-known/spin/") {
        let response = match spin {
            "health" => text(StatusCode::OK, "OK"),
            "info" => json(
                StatusCode::OK,
                serde_json::json!({ "name": app.name, "host": "waypost" }),
            ),
            _ => empty(StatusCode::NOT_FOUND),
        };
        return (response, None, None, None);
    }
    let Some((matched, target)) = app.route(path) else {
        return (
            problem(
                StatusCode::NOT_FOUND,
                "not-found",
                "No route matches this path.",
            ),
            None,
            None,
            None,
        );
    };
    let route = matched.raw_route.clone();
    let chain = match target {
        Target::Chain(chain) => chain,
        Target::Static(response) => return (static_response(&response), Some(route), None, None),
    };
    let component = chain.links.last().map(|l| l.component.clone());
    let chain_desc = Some(chain.describe().to_string());
    if let Some(len) = content_length(req.headers())
        && len > opts.body.max_bytes as u64
    {
        return (
            too_large(opts.body.max_bytes),
            Some(route),
            component,
            chain_desc,
        );
    }
    let head = req.method() == http::Method::HEAD;
    let (mut parts, body) = req.into_parts();
    // HTTP/2 gives the authority in the URI, not in a Host header.
    let host = parts
        .headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()))
        .unwrap_or("localhost")
        .to_string();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .to_string();
    let scheme = if opts.tls.is_some() { "https" } else { "http" };
    let full_url = format!("{scheme}://{host}{path_and_query}");
    parts.uri = match full_url.parse() {
        Ok(uri) => uri,
        Err(_) => {
            return (
                problem(
                    StatusCode::BAD_REQUEST,
                    "bad-request",
                    "The request URL is not valid.",
                ),
                Some(route),
                component,
                chain_desc,
            );
        }
    };
    parts.headers.remove(http::header::CONNECTION);
    set_spin_headers(&mut parts.headers, &matched, &full_url, &client.to_string());
    let (body, cut) = crate::request_body::bounded(body, &opts.body);
    let request = Request::from_parts(parts, body);
    let outcome = app.run(chain, 0, request).await;
    let response = match (cut.and_then(|cut| cut.get()), outcome) {
        // The host cut the body short; what the component made of that is moot.
        (Some(Cut::TooLarge), _) => too_large(opts.body.max_bytes),
        (Some(Cut::Stalled(waited)), _) => body_stalled(waited),
        (None, Ok(response)) if head => response,
        (None, Ok(response)) => settled(response).await,
        (None, Err(HttpError::ConnectionLimitReached)) => at_capacity(),
        (None, Err(HttpError::HttpResponseTimeout)) => timed_out(app.request_timeout()),
        (None, Err(e)) => {
            crate::log::event(
                "request_failed",
                &[("route", &route), ("error", &e.to_string())],
            );
            problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "The component failed to handle the request.",
            )
        }
    };
    (response, Some(route), component, chain_desc)
}

/// A component's answer with its body settled (`crate::settle`): a body that ended at
/// once leaves whole, with its length, in one write.
async fn settled(response: Response<HostBody>) -> Response<HostBody> {
    let (mut parts, body) = response.into_parts();
    // A length would be wrong on these (RFC 9110, 8.6).
    if never_has_body(parts.status) || parts.headers.contains_key(http::header::TRANSFER_ENCODING) {
        return Response::from_parts(parts, body);
    }
    let body = match crate::settle::settle(body).await {
        Settled::Whole(bytes) => {
            parts
                .headers
                .entry(http::header::CONTENT_LENGTH)
                .or_insert_with(|| HeaderValue::from(bytes.len()));
            Full::new(bytes).map_err(|e| match e {}).boxed_unsync()
        }
        Settled::Streaming(rest) => rest.boxed_unsync(),
    };
    Response::from_parts(parts, body)
}

/// Whether a response with `status` has no body whatever its component wrote (1xx,
/// 204, 304): hyper sends none.
pub fn never_has_body(status: StatusCode) -> bool {
    status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
}

/// The request headers Spin adds for a component.
pub fn set_spin_headers(headers: &mut HeaderMap, m: &RouteMatch, full_url: &str, client: &str) {
    let mut set = |name: HeaderName, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set(HeaderName::from_static("spin-full-url"), full_url);
    set(HeaderName::from_static("spin-path-info"), &m.path_info);
    set(
        HeaderName::from_static("spin-matched-route"),
        &m.based_route,
    );
    set(HeaderName::from_static("spin-base-path"), "/");
    set(
        HeaderName::from_static("spin-raw-component-route"),
        &m.raw_route,
    );
    set(
        HeaderName::from_static("spin-component-route"),
        &m.component_route,
    );
    set(HeaderName::from_static("spin-client-addr"), client);
    for (name, value) in &m.params {
        let name = format!(
            "spin-path-match-{}",
            name.replace('_', "-").to_ascii_lowercase()
        );
        if let Ok(name) = HeaderName::try_from(name) {
            set(name, value);
        }
    }
}

/// The `content-length` a request or response declares, if it is a number.
fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

fn full(status: StatusCode, content_type: &str, body: Bytes) -> Response<HostBody> {
    let mut response = Response::new(Full::new(body).map_err(|e| match e {}).boxed_unsync());
    *response.status_mut() = status;
    if !content_type.is_empty() {
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_str(content_type).unwrap(),
        );
    }
    response
}

/// A trigger's `static_response`, whatever the request (its body unread).
fn static_response(response: &StaticResponse) -> Response<HostBody> {
    let mut answer = full(response.status, "", response.body.clone());
    *answer.headers_mut() = response.headers.clone();
    answer
}

fn empty(status: StatusCode) -> Response<HostBody> {
    full(status, "", Bytes::new())
}

fn text(status: StatusCode, body: &'static str) -> Response<HostBody> {
    full(status, "text/plain", Bytes::from_static(body.as_bytes()))
}

fn json(status: StatusCode, body: serde_json::Value) -> Response<HostBody> {
    full(status, "application/json", Bytes::from(body.to_string()))
}

/// An RFC 9457 problem document for failures the host itself answers.
pub fn problem(status: StatusCode, kind: &str, detail: &str) -> Response<HostBody> {
    let title = status.canonical_reason().unwrap_or("Error");
    let body = Problem::new(status.as_u16(), &format!("host/{kind}"), title).with_detail(detail);
    full(status, CONTENT_TYPE, Bytes::from(body.to_json()))
}

fn too_large(limit: usize) -> Response<HostBody> {
    problem(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload-too-large",
        &format!("The request body exceeds the limit of {limit} bytes."),
    )
}

/// The client left a request body unfinished for `waited` while a component waited
/// to read it. The connection is closed after this answer: where the body stopped,
/// what the client sends next cannot be read as a new request.
fn body_stalled(waited: Duration) -> Response<HostBody> {
    let mut response = problem(
        StatusCode::REQUEST_TIMEOUT,
        "request-timeout",
        &format!(
            "No more of the request body arrived in {}.",
            humantime::format_duration(waited)
        ),
    );
    response
        .headers_mut()
        .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// The component did not answer within `up --request-timeout`; its instance is
/// dropped (`crate::workers`).
fn timed_out(timeout: Option<Duration>) -> Response<HostBody> {
    let within = timeout
        .map(|t| format!(" within {}", humantime::format_duration(t)))
        .unwrap_or_default();
    problem(
        StatusCode::GATEWAY_TIMEOUT,
        "component-timeout",
        &format!("The component did not answer{within}."),
    )
}

/// Every instance slot of the pooling allocator is in use (`crate::app::App::run`).
/// When the chain's first store found no slot, no component has seen the request and
/// the client may send it again.
fn at_capacity() -> Response<HostBody> {
    let mut response = problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "at-capacity",
        "Every component instance is busy; retry shortly.",
    );
    response
        .headers_mut()
        .insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepting_pauses_when_the_host_is_out_of_descriptors_not_for_a_connections_error() {
        let os = std::io::Error::from_raw_os_error;
        for exhausted in [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM] {
            assert!(
                accept_backoff(&os(exhausted)).is_some(),
                "{}",
                os(exhausted)
            );
        }
        for connection in [
            libc::ECONNABORTED,
            libc::EPROTO,
            libc::EHOSTUNREACH,
            libc::EINTR,
        ] {
            assert_eq!(accept_backoff(&os(connection)), None, "{}", os(connection));
        }
    }
}
