//! Optional OTLP trace export: `waypost up --otlp-endpoint URL`, or the standard
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `OTEL_EXPORTER_OTLP_ENDPOINT` (the flag wins).
//!
//! Spans, in the W3C trace of each request (the caller's `traceparent`, or one the host
//! starts):
//!
//! - one SERVER span per request the host answers, named `<METHOD> <route>`, child of
//!   the caller's span; the `traceparent` the components see (and forward upstream)
//!   names this span as the parent;
//! - one CLIENT span per outbound request that carries a `traceparent` (carrier calls,
//!   service chaining to `*.spin.internal`), child of the span the component forwarded;
//!   the request leaves with this span as the parent. It ends when the response
//!   headers arrive.
//!
//! Only sampled traces (`traceparent` flags `01`) are recorded; without an endpoint,
//! trace context passes through unchanged. Spans go into a bounded queue and a
//! background task posts them as OTLP/HTTP JSON (`POST <endpoint>`, hand-written with
//! serde_json: no protobuf or gRPC stack) every second or every [`BATCH`] spans. A
//! request never waits for the collector: a full queue, or an export that fails or
//! times out, drops the spans, counts them in `waypost_otlp_dropped_spans_total` and
//! logs one line per outage (`otlp_spans_dropped`, `otlp_export_failed`), then one
//! when export works again (`otlp_export_recovered`).

use anyhow::{Context, bail};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};

/// Spans waiting for export, at most; more are dropped.
const QUEUE: usize = 4096;
/// Spans per export request, at most.
pub const BATCH: usize = 512;
/// How long a span waits for its batch to fill, at most.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// How long one export may take (connect, send, answer).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for the last batch.
const SHUTDOWN_FLUSH: Duration = Duration::from_secs(5);

const TRACES_PATH: &str = "/v1/traces";

// ------------------------------------------------------------------ trace context

/// A W3C `traceparent` (version 00).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: [u8; 16],
    /// The sender's span: the parent of whoever receives it.
    pub span_id: [u8; 8],
    pub flags: u8,
}

impl TraceParent {
    /// `00-<32 hex>-<16 hex>-<2 hex>`, lower case, with non-zero ids.
    pub fn parse(v: &str) -> Option<TraceParent> {
        let mut parts = v.split('-');
        let (version, trace, span, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || version != "00" {
            return None;
        }
        let tp = TraceParent {
            trace_id: unhex(trace)?,
            span_id: unhex(span)?,
            flags: unhex::<1>(flags)?[0],
        };
        (tp.trace_id != [0; 16] && tp.span_id != [0; 8]).then_some(tp)
    }

    /// A new trace, sampled.
    pub fn random() -> TraceParent {
        TraceParent {
            trace_id: random_id(),
            span_id: random_id(),
            flags: 1,
        }
    }

    pub fn header(&self) -> String {
        format!(
            "00-{}-{}-{:02x}",
            hex(&self.trace_id),
            hex(&self.span_id),
            self.flags
        )
    }

    pub fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }
}

/// A new trace or span id, from the thread's CSPRNG (seeded from the OS and reseeded
/// as it goes): not a `getrandom` system call per request.
fn random_id<const N: usize>() -> [u8; N] {
    let mut id = [0u8; N];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut id);
    nonzero(id)
}

/// `id`, or 1 if it is all zeros (an invalid trace or span id).
fn nonzero<const N: usize>(mut id: [u8; N]) -> [u8; N] {
    if id == [0; N] {
        id[N - 1] = 1;
    }
    id
}

fn hex(bytes: &[u8]) -> String {
    base16ct::lower::encode_string(bytes)
}

fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let s = s.as_bytes();
    if s.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, pair) in s.chunks(2).enumerate() {
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

// ------------------------------------------------------------------------- spans

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Server = 2,
    Client = 3,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(s)
    }
}

impl From<u16> for Value {
    fn from(n: u16) -> Value {
        Value::Int(i64::from(n))
    }
}

/// A span that has started: its ids and start time.
#[derive(Debug, Clone, Copy)]
pub struct SpanStart {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub parent: Option<[u8; 8]>,
    start: SystemTime,
}

impl SpanStart {
    pub fn span_id_hex(&self) -> String {
        hex(&self.span_id)
    }

    /// The `traceparent` that names this span as the parent.
    pub fn traceparent(&self, flags: u8) -> TraceParent {
        TraceParent {
            trace_id: self.trace_id,
            span_id: self.span_id,
            flags,
        }
    }

    pub fn end(
        self,
        name: String,
        kind: Kind,
        attributes: Vec<(&'static str, Value)>,
        error: Option<String>,
    ) -> Span {
        Span {
            start: self,
            name,
            kind,
            end: SystemTime::now(),
            attributes,
            error,
        }
    }
}

/// A finished span.
#[derive(Debug, Clone)]
pub struct Span {
    start: SpanStart,
    name: String,
    kind: Kind,
    end: SystemTime,
    attributes: Vec<(&'static str, Value)>,
    /// The span failed (status ERROR), with this message.
    error: Option<String>,
}

/// The trace context of a request the host serves.
pub struct ServerTrace {
    /// The request's `traceparent` as it arrived, or as the host started it (logged).
    pub traceparent: String,
    /// The SERVER span, when spans are exported and the trace is sampled.
    pub span: Option<SpanStart>,
}

/// Reads the request's trace context and sets the `traceparent` the components see: the
/// caller's, a new trace when there is none (or it is invalid), and with export on,
/// one naming the host's SERVER span as the parent.
pub fn server_trace(headers: &mut HeaderMap) -> ServerTrace {
    let caller = headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(TraceParent::parse);
    let context = caller.unwrap_or_else(TraceParent::random);
    let span = (enabled() && context.sampled()).then(|| SpanStart {
        trace_id: context.trace_id,
        // A trace the host starts begins with this span; the caller's span is the parent.
        span_id: if caller.is_some() {
            random_id()
        } else {
            context.span_id
        },
        parent: caller.map(|c| c.span_id),
        start: SystemTime::now(),
    });
    let forwarded = span.map_or(context, |s| s.traceparent(context.flags));
    let traceparent = context.header();
    if caller != Some(forwarded) {
        let value = if forwarded == context {
            HeaderValue::from_str(&traceparent)
        } else {
            HeaderValue::from_str(&forwarded.header())
        };
        if let Ok(value) = value {
            headers.insert("traceparent", value);
        }
    }
    ServerTrace { traceparent, span }
}

/// An outbound request being traced (a CLIENT span).
pub struct ClientCall {
    start: SpanStart,
    method: String,
    url: String,
    host: String,
    port: Option<u16>,
    component: String,
}

impl ClientCall {
    /// Starts a CLIENT span for a request that carries a sampled `traceparent`, and
    /// makes the request carry this span as its parent instead.
    pub fn begin<B>(component: &str, request: &mut http::Request<B>) -> Option<ClientCall> {
        if !enabled() {
            return None;
        }
        let context = request
            .headers()
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .and_then(TraceParent::parse)
            .filter(TraceParent::sampled)?;
        let start = SpanStart {
            trace_id: context.trace_id,
            span_id: random_id(),
            parent: Some(context.span_id),
            start: SystemTime::now(),
        };
        let value = HeaderValue::from_str(&start.traceparent(context.flags).header()).ok()?;
        request.headers_mut().insert("traceparent", value);
        let uri = request.uri();
        Some(ClientCall {
            start,
            method: request.method().to_string(),
            url: crate::outbound::redact_uri(uri),
            host: uri.host().unwrap_or_default().to_string(),
            port: uri.port_u16(),
            component: component.to_string(),
        })
    }

    /// Ends the span with the response's status or the error.
    pub fn end<B, E: std::fmt::Display>(self, result: &Result<http::Response<B>, E>) {
        let mut attributes: Vec<(&'static str, Value)> = vec![
            ("http.request.method", self.method.as_str().into()),
            ("url.full", self.url.into()),
            ("server.address", self.host.as_str().into()),
            ("waypost.component", self.component.into()),
        ];
        if let Some(port) = self.port {
            attributes.push(("server.port", port.into()));
        }
        let error = match result {
            Ok(response) => {
                let status = response.status().as_u16();
                attributes.push(("http.response.status_code", status.into()));
                (status >= 400).then(|| status.to_string())
            }
            Err(e) => Some(e.to_string()),
        };
        if let Some(kind) = &error {
            attributes.push(("error.type", kind.as_str().into()));
        }
        let name = format!("{} {}", self.method, self.host);
        record(self.start.end(name, Kind::Client, attributes, error));
    }
}

// ---------------------------------------------------------------------- exporter

/// Extra headers on every export request.
pub type ExportHeaders = Vec<(HeaderName, HeaderValue)>;

/// Where spans go and what describes this process.
pub struct Config {
    pub endpoint: Endpoint,
    /// Resource attributes (`service.name`, ...).
    pub resource: Vec<(&'static str, String)>,
}

/// The collector: its traces URL, the headers and the TLS its exports are sent with.
pub struct Endpoint {
    pub url: Uri,
    /// Extra request headers (`OTEL_EXPORTER_OTLP_HEADERS`), e.g. a collector's key.
    pub headers: ExportHeaders,
    pub tls: rustls::ClientConfig,
}

/// Names what is configured only: header values may be credentials and the TLS
/// configuration may hold a client key.
impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("Endpoint")
            .field("url", &crate::outbound::redact_uri(&self.url))
            .field("headers", &headers)
            .finish_non_exhaustive()
    }
}

/// The collector from `--otlp-endpoint` (`flag`) or the standard environment
/// variables (`env`); `None` when export is off.
///
/// `--otlp-endpoint` and `OTEL_EXPORTER_OTLP_ENDPOINT` are the collector's base URL
/// (`/v1/traces` is appended unless the path already ends with it);
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is used as it is. `OTEL_SDK_DISABLED=true`
/// turns the environment's endpoint off (not the flag). The TLS files are read here,
/// so one that cannot be used stops `up` (`tls`).
pub fn endpoint(
    flag: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<Option<Endpoint>> {
    let env = |name: &str| {
        env(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let disabled = env("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let (source, url) = match flag {
        Some(base) => ("--otlp-endpoint", signal_url(base)),
        None if disabled => return Ok(None),
        None => match (
            env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
            env("OTEL_EXPORTER_OTLP_ENDPOINT"),
        ) {
            (Some(url), _) => ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", url),
            (None, Some(base)) => ("OTEL_EXPORTER_OTLP_ENDPOINT", signal_url(&base)),
            (None, None) => return Ok(None),
        },
    };
    let uri: Uri = match url.parse() {
        Ok(uri) => uri,
        Err(_) => bail!("{source}: `{url}` is not a URL (e.g. http://collector:4318)"),
    };
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        bail!("{source}: `{url}` is not an http(s) URL (e.g. http://collector:4318)");
    }
    let headers = match signal_var(env, "HEADERS") {
        Some((var, raw)) => parse_headers(&var, &raw)?,
        None => Vec::new(),
    };
    Ok(Some(Endpoint {
        url: uri,
        headers,
        tls: tls(env)?,
    }))
}

/// `OTEL_EXPORTER_OTLP_TRACES_<SETTING>`, else `OTEL_EXPORTER_OTLP_<SETTING>`: the
/// variable set and its value.
fn signal_var(env: impl Fn(&str) -> Option<String>, setting: &str) -> Option<(String, String)> {
    [
        format!("OTEL_EXPORTER_OTLP_TRACES_{setting}"),
        format!("OTEL_EXPORTER_OTLP_{setting}"),
    ]
    .into_iter()
    .find_map(|var| env(&var).map(|value| (var, value)))
}

/// The exports' TLS, as the OTel SDKs take it: `..._CERTIFICATE` (PEM) replaces the
/// roots the host trusts by default (the platform's and webpki's), and
/// `..._CLIENT_CERTIFICATE` with `..._CLIENT_KEY` is presented when the collector
/// asks for a client certificate. Errors name the variable.
fn tls(env: impl Fn(&str) -> Option<String>) -> anyhow::Result<rustls::ClientConfig> {
    use crate::client_tls::{own_client_config, read_certs, read_key};
    let roots = match signal_var(&env, "CERTIFICATE") {
        Some((var, path)) => Some(read_certs(Path::new(&path)).context(var)?),
        None => None,
    };
    let ((cert_var, cert), (key_var, key)) = match (
        signal_var(&env, "CLIENT_CERTIFICATE"),
        signal_var(&env, "CLIENT_KEY"),
    ) {
        (None, None) => return own_client_config(roots, None),
        (Some(cert), Some(key)) => (cert, key),
        (Some((var, _)), None) => bail!("{var} needs OTEL_EXPORTER_OTLP_CLIENT_KEY"),
        (None, Some((var, _))) => bail!("{var} needs OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"),
    };
    let chain = read_certs(Path::new(&cert)).context(cert_var.clone())?;
    let key = read_key(Path::new(&key)).context(key_var.clone())?;
    own_client_config(roots, Some((chain, key)))
        .with_context(|| format!("{cert_var} and {key_var}"))
}

fn signal_url(base: &str) -> String {
    let base = base.trim().trim_end_matches('/');
    if base.ends_with(TRACES_PATH) {
        base.to_string()
    } else {
        format!("{base}{TRACES_PATH}")
    }
}

/// `key=value,key=value` (values percent-encoded), as the OTel spec writes them. The
/// values may be credentials: errors name the entry, never its value.
fn parse_headers(var: &str, raw: &str) -> anyhow::Result<ExportHeaders> {
    let mut headers = Vec::new();
    for (i, entry) in raw.split(',').enumerate() {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let parsed = entry.split_once('=').and_then(|(k, v)| {
            let name = HeaderName::from_bytes(k.trim().as_bytes()).ok()?;
            let value = HeaderValue::from_bytes(&percent_decode(v.trim())?).ok()?;
            Some((name, value))
        });
        match parsed {
            Some(header) => headers.push(header),
            None => bail!(
                "{var}: entry {} is not `name=value` with a valid header name and value",
                i + 1
            ),
        }
    }
    Ok(headers)
}

fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let pair = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(pair, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

enum Message {
    Span(Box<Span>),
    /// Export what is queued now, then answer.
    Flush(oneshot::Sender<()>),
}

struct Exporter {
    queue: mpsc::Sender<Message>,
    /// Spans are being dropped for a full queue (logged once until an export works).
    dropping: AtomicBool,
}

static EXPORTER: OnceLock<Exporter> = OnceLock::new();

/// Whether spans are exported.
pub fn enabled() -> bool {
    EXPORTER.get().is_some()
}

/// Starts the exporter (once; inside the Tokio runtime).
pub fn start(config: Config) -> anyhow::Result<()> {
    let (queue, rx) = mpsc::channel(QUEUE);
    let exporter = Exporter {
        queue,
        dropping: AtomicBool::new(false),
    };
    if EXPORTER.set(exporter).is_err() {
        bail!("the OTLP exporter is already running");
    }
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(EXPORT_TIMEOUT));
    let https = crate::client_tls::own_client_connector(config.endpoint.tls.clone(), http);
    let client = Client::builder(TokioExecutor::new()).build(https);
    tokio::spawn(run(rx, client, config));
    Ok(())
}

/// Queues a finished span; never waits (a full queue drops it).
pub fn record(span: Span) {
    let Some(exporter) = EXPORTER.get() else {
        return;
    };
    if exporter
        .queue
        .try_send(Message::Span(Box::new(span)))
        .is_err()
    {
        crate::metrics::record_otlp_dropped(1);
        if !exporter.dropping.swap(true, Ordering::Relaxed) {
            crate::log::event(
                "otlp_spans_dropped",
                &[(
                    "detail",
                    "the span export queue is full (the collector is slow or down): dropping spans; logged once until an export succeeds",
                )],
            );
        }
    }
}

/// Exports what is queued (at shutdown), waiting at most a few seconds.
pub async fn flush() {
    let Some(exporter) = EXPORTER.get() else {
        return;
    };
    let (tx, rx) = oneshot::channel();
    let _ = tokio::time::timeout(SHUTDOWN_FLUSH, async {
        if exporter.queue.send(Message::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    })
    .await;
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

async fn run(mut rx: mpsc::Receiver<Message>, client: HttpsClient, config: Config) {
    let mut failing = false;
    while let Some(first) = rx.recv().await {
        let mut batch = Vec::new();
        let mut flushed = None;
        match first {
            Message::Span(span) => batch.push(*span),
            Message::Flush(ack) => flushed = Some(ack),
        }
        let deadline = tokio::time::Instant::now() + FLUSH_EVERY;
        while flushed.is_none() && batch.len() < BATCH {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(Message::Span(span))) => batch.push(*span),
                Ok(Some(Message::Flush(ack))) => flushed = Some(ack),
                Ok(None) | Err(_) => break,
            }
        }
        if !batch.is_empty() {
            export(&client, &config, &batch, &mut failing).await;
        }
        if let Some(ack) = flushed {
            let _ = ack.send(());
        }
    }
}

async fn export(client: &HttpsClient, config: &Config, batch: &[Span], failing: &mut bool) {
    let n = batch.len() as u64;
    let body = encode(&config.resource, batch);
    let mut request = hyper::Request::post(config.endpoint.url.clone())
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("a valid export request");
    for (name, value) in &config.endpoint.headers {
        request.headers_mut().insert(name.clone(), value.clone());
    }
    let sent = tokio::time::timeout(EXPORT_TIMEOUT, async {
        let response = client.request(request).await.map_err(|e| {
            let mut message = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                message = format!("{message}: {cause}");
                source = cause.source();
            }
            message
        })?;
        let status = response.status();
        let _ = response.into_body().collect().await;
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("the collector answered {status}"))
        }
    })
    .await
    .unwrap_or_else(|_| Err(format!("no answer within {}s", EXPORT_TIMEOUT.as_secs())));
    match sent {
        Ok(()) => {
            crate::metrics::record_otlp_exported(n);
            if let Some(exporter) = EXPORTER.get() {
                exporter.dropping.store(false, Ordering::Relaxed);
            }
            if std::mem::take(failing) {
                crate::log::event(
                    "otlp_export_recovered",
                    &[(
                        "endpoint",
                        &crate::outbound::redact_uri(&config.endpoint.url),
                    )],
                );
            }
        }
        Err(error) => {
            crate::metrics::record_otlp_dropped(n);
            if !std::mem::replace(failing, true) {
                crate::log::event(
                    "otlp_export_failed",
                    &[
                        (
                            "endpoint",
                            &crate::outbound::redact_uri(&config.endpoint.url),
                        ),
                        ("error", &error),
                        (
                            "detail",
                            "dropping spans until the collector answers; logged once per outage",
                        ),
                    ],
                );
            }
        }
    }
}

fn unix_nanos(t: SystemTime) -> String {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
        .to_string()
}

fn attribute(key: &str, value: &Value) -> serde_json::Value {
    let value = match value {
        Value::Str(s) => serde_json::json!({ "stringValue": s }),
        // OTLP/JSON writes 64-bit integers as strings (proto3 JSON mapping).
        Value::Int(n) => serde_json::json!({ "intValue": n.to_string() }),
    };
    serde_json::json!({ "key": key, "value": value })
}

/// One `ExportTraceServiceRequest` in OTLP/JSON: trace and span ids in hex, times in
/// Unix nanoseconds.
fn encode(resource: &[(&'static str, String)], spans: &[Span]) -> Vec<u8> {
    let spans: Vec<serde_json::Value> = spans
        .iter()
        .map(|s| {
            let mut span = serde_json::json!({
                "traceId": hex(&s.start.trace_id),
                "spanId": hex(&s.start.span_id),
                "name": s.name,
                "kind": s.kind as i32,
                "startTimeUnixNano": unix_nanos(s.start.start),
                "endTimeUnixNano": unix_nanos(s.end),
                "attributes": s.attributes.iter().map(|(k, v)| attribute(k, v)).collect::<Vec<_>>(),
                "status": match &s.error {
                    Some(message) => serde_json::json!({ "code": 2, "message": message }),
                    None => serde_json::json!({}),
                },
            });
            if let Some(parent) = s.start.parent {
                span["parentSpanId"] = hex(&parent).into();
            }
            span
        })
        .collect();
    let resource: Vec<serde_json::Value> = resource
        .iter()
        .map(|(k, v)| attribute(k, &Value::Str(v.clone())))
        .collect();
    serde_json::json!({
        "resourceSpans": [{
            "resource": { "attributes": resource },
            "scopeSpans": [{
                "scope": { "name": "waypost", "version": env!("CARGO_PKG_VERSION") },
                "spans": spans,
            }],
        }],
    })
    .to_string()
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn traceparents_parse_strictly_and_round_trip() {
        let tp = TraceParent::parse(TRACE).unwrap();
        assert_eq!(tp.header(), TRACE);
        assert!(tp.sampled());
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xx",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad}");
        }
        let new = TraceParent::random();
        assert_eq!(TraceParent::parse(&new.header()), Some(new));
    }

    #[test]
    fn without_export_the_callers_context_passes_unchanged() {
        let mut headers = HeaderMap::new();
        headers.insert("traceparent", TRACE.parse().unwrap());
        let trace = server_trace(&mut headers);
        assert_eq!(trace.traceparent, TRACE);
        assert!(trace.span.is_none());
        assert_eq!(headers["traceparent"], TRACE);
        // None, or an invalid one: a new trace, set on the request.
        let mut headers = HeaderMap::new();
        headers.insert("traceparent", "garbage".parse().unwrap());
        let trace = server_trace(&mut headers);
        assert_eq!(headers["traceparent"], trace.traceparent.as_str());
        assert!(TraceParent::parse(&trace.traceparent).is_some());
    }

    #[test]
    fn the_endpoint_comes_from_the_flag_then_the_environment() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let url = |flag: Option<&str>, vars: &'static [(&'static str, &'static str)]| {
            endpoint(flag, env(vars))
                .unwrap()
                .map(|e| e.url.to_string())
        };
        assert_eq!(url(None, &[]), None);
        assert_eq!(
            url(Some("http://collector:4318"), &[]).as_deref(),
            Some("http://collector:4318/v1/traces")
        );
        assert_eq!(
            url(Some("http://collector:4318/v1/traces"), &[]).as_deref(),
            Some("http://collector:4318/v1/traces")
        );
        let both: &'static [(&str, &str)] = &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4318/"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "https://traces:443/custom",
            ),
        ];
        assert_eq!(
            url(None, both).as_deref(),
            Some("https://traces:443/custom")
        );
        assert_eq!(
            url(None, &both[..1]).as_deref(),
            Some("http://base:4318/v1/traces")
        );
        assert_eq!(
            url(Some("http://flag:4318"), both).as_deref(),
            Some("http://flag:4318/v1/traces"),
            "the flag wins"
        );
        let off: &'static [(&str, &str)] = &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4318"),
            ("OTEL_SDK_DISABLED", "true"),
        ];
        assert_eq!(url(None, off), None);
        let err = endpoint(Some("collector:4318"), env(&[])).unwrap_err();
        assert!(err.to_string().starts_with("--otlp-endpoint:"), "{err}");
        let err = endpoint(None, env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://x")])).unwrap_err();
        assert!(
            err.to_string().starts_with("OTEL_EXPORTER_OTLP_ENDPOINT:"),
            "{err}"
        );
    }

    #[test]
    fn collector_headers_are_read_and_never_echoed() {
        let vars: &'static [(&str, &str)] = &[(
            "OTEL_EXPORTER_OTLP_HEADERS",
            "x-api-key=s3cr%3Dt, x-team = ops",
        )];
        let get = |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        let headers = endpoint(Some("http://c:4318"), get)
            .unwrap()
            .unwrap()
            .headers;
        assert_eq!(headers[0].1, "s3cr=t");
        assert_eq!(
            headers[1],
            ("x-team".parse().unwrap(), "ops".parse().unwrap())
        );
        let err = parse_headers("OTEL_EXPORTER_OTLP_HEADERS", "ok=1,secret-without-equals")
            .unwrap_err()
            .to_string();
        assert!(err.contains("entry 2") && !err.contains("secret"), "{err}");
    }

    #[test]
    fn tls_files_come_from_the_traces_variables_first_and_errors_name_them() {
        let refused = |vars: &[(&str, &str)]| {
            let get = |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            };
            let error = endpoint(Some("https://c:4318"), get).err();
            format!("{:#}", error.expect("refused"))
        };
        let error = refused(&[
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/all.pem"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
                "/nonexistent/traces.pem",
            ),
        ]);
        assert!(
            error.starts_with("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE: ")
                && error.contains("/nonexistent/traces.pem"),
            "{error}"
        );
        let error = refused(&[(
            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
            "/nonexistent/c.pem",
        )]);
        assert_eq!(
            error,
            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE needs OTEL_EXPORTER_OTLP_CLIENT_KEY"
        );
        let error = refused(&[("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", "/nonexistent/k.pem")]);
        assert_eq!(
            error,
            "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY needs OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"
        );
        let error = refused(&[
            (
                "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
                "/nonexistent/c.pem",
            ),
            ("OTEL_EXPORTER_OTLP_CLIENT_KEY", "/nonexistent/k.pem"),
        ]);
        assert!(error.contains("/nonexistent/"), "{error}");
        // None set: the default roots, no client certificate.
        let endpoint = endpoint(Some("https://c:4318"), |_| None).unwrap().unwrap();
        assert!(!endpoint.tls.client_auth_cert_resolver.has_certs());
    }

    #[test]
    fn spans_encode_as_otlp_json() {
        let tp = TraceParent::parse(TRACE).unwrap();
        let start = SpanStart {
            trace_id: tp.trace_id,
            span_id: [1, 2, 3, 4, 5, 6, 7, 8],
            parent: Some(tp.span_id),
            start: UNIX_EPOCH + Duration::from_nanos(1_000),
        };
        let mut span = start.end(
            "GET /v1/rates".into(),
            Kind::Server,
            vec![
                ("http.route", "/v1/rates".into()),
                ("http.response.status_code", 502u16.into()),
            ],
            Some("502".into()),
        );
        span.end = UNIX_EPOCH + Duration::from_nanos(3_000);
        let body: serde_json::Value =
            serde_json::from_slice(&encode(&[("service.name", "waypost".into())], &[span]))
                .unwrap();
        let rs = &body["resourceSpans"][0];
        assert_eq!(
            rs["resource"]["attributes"][0],
            serde_json::json!({"key": "service.name", "value": {"stringValue": "waypost"}})
        );
        let s = &rs["scopeSpans"][0]["spans"][0];
        assert_eq!(s["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(s["spanId"], "0102030405060708");
        assert_eq!(s["parentSpanId"], "00f067aa0ba902b7");
        assert_eq!(s["kind"], 2);
        assert_eq!(s["startTimeUnixNano"], "1000");
        assert_eq!(s["endTimeUnixNano"], "3000");
        assert_eq!(s["status"]["code"], 2);
        assert_eq!(
            s["attributes"][1],
            serde_json::json!({"key": "http.response.status_code", "value": {"intValue": "502"}})
        );
    }
}
