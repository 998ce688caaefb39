//! The access log: one line per request, written when its response has ended, as
//! NGINX and Envoy write theirs, so that the line says how the response ended: whole,
//! cut off by the component (its body failed, or its instance was dropped before the
//! body ended), or cut off by the connection (the client went away, or stopped
//! reading). A request whose client goes away before the response head is ready is
//! logged with status 499. The request's SERVER span ends with its line.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};
use wasmtime_wasi_http::Error as HttpError;

use crate::app::App;
use crate::server::HostBody;

/// What every access-log line says about a request, known before it is dispatched.
/// Dropped unanswered (hyper drops the request's future when the client closes the
/// connection before the response head is ready), it logs the request with status
/// 499, as NGINX does, so the request is not missing from the log.
pub struct RequestLine {
    answered: bool,
    app: Arc<App>,
    /// The client's address: the connection's, or the one its PROXY header names.
    client: SocketAddr,
    method: http::Method,
    path: String,
    started: Instant,
    traceparent: String,
    request_id: Option<String>,
}

impl RequestLine {
    /// The line of `request`, which arrived at `started` from `client`.
    pub fn new<B>(
        app: Arc<App>,
        client: SocketAddr,
        request: &http::Request<B>,
        started: Instant,
        traceparent: String,
    ) -> Self {
        Self {
            answered: false,
            app,
            client,
            method: request.method().clone(),
            path: request.uri().path().to_string(),
            started,
            traceparent,
            request_id: request_id(request.headers()),
        }
    }

    /// The request has its response head (`headers`): its line is now `answer`'s,
    /// written when `body` (the response's) ends, is cut off, or is dropped. A request
    /// sent without an `x-request-id` is logged under the response's, if it has one
    /// (`auth` gives every request one).
    pub fn answered(
        mut self,
        answer: Answer,
        headers: &http::HeaderMap,
        body: HostBody,
    ) -> HostBody {
        self.answered = true;
        if self.request_id.is_none() {
            self.request_id = request_id(headers);
        }
        let bodiless =
            self.method == http::Method::HEAD || crate::server::never_has_body(answer.status);
        http_body_util::BodyExt::boxed_unsync(LoggedBody {
            body,
            request: self,
            answer,
            bodiless,
            sent: 0,
            logged: false,
        })
    }

    /// The fields every request's line has, for `status` after `latency`.
    fn line(&self, status: u16, latency: Duration) -> AccessLine<'_> {
        AccessLine {
            ts: crate::log::now_rfc3339(),
            event: "request",
            client: Some(self.client),
            method: self.method.as_str(),
            path: &self.path,
            status,
            latency_us: micros(latency),
            traceparent: &self.traceparent,
            region: self.app.variable("region"),
            request_id: self.request_id.as_deref(),
            ..AccessLine::default()
        }
    }
}

impl Drop for RequestLine {
    fn drop(&mut self) {
        if self.answered {
            return;
        }
        let line = AccessLine {
            client_closed: true,
            ..self.line(499, self.started.elapsed())
        };
        crate::log::access(&line);
    }
}

/// What the host knew of a request once its response head was ready.
pub struct Answer {
    pub status: http::StatusCode,
    /// From the request's arrival to its response head.
    pub latency: Duration,
    pub route: Option<String>,
    pub component: Option<String>,
    pub chain: Option<String>,
    pub tenant: Option<String>,
    pub carrier: Option<String>,
    pub request_bytes: Option<u64>,
    pub span: Option<crate::otlp::SpanStart>,
}

/// How a response ended short of its whole body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// The component's body failed, or its instance was dropped before it ended (a
    /// trap, the request timeout).
    Component,
    /// The connection ended first: the client closed it, or stopped reading for the
    /// response write timeout.
    Connection,
}

impl Cut {
    pub fn as_str(self) -> &'static str {
        match self {
            Cut::Component => "component",
            Cut::Connection => "connection",
        }
    }
}

/// A response body that writes its request's access-log line when it ends.
struct LoggedBody {
    body: HostBody,
    request: RequestLine,
    answer: Answer,
    /// Whether hyper sends no body for this response whatever it holds (a HEAD
    /// request, 1xx, 204, 304), so dropping it unread is its end.
    bodiless: bool,
    /// Body bytes handed to the connection.
    sent: u64,
    logged: bool,
}

impl LoggedBody {
    fn log(&mut self, cut: Option<Cut>) {
        if std::mem::replace(&mut self.logged, true) {
            return;
        }
        let (request, answer) = (&self.request, &mut self.answer);
        let base = request.line(answer.status.as_u16(), answer.latency);
        let line = AccessLine {
            duration_us: Some(micros(request.started.elapsed())),
            span_id: answer.span.as_ref().map(|span| span.span_id_hex()),
            route: answer.route.as_deref(),
            component: answer.component.as_deref(),
            chain: answer.chain.as_deref(),
            tenant: answer.tenant.as_deref(),
            carrier: answer.carrier.as_deref(),
            request_bytes: answer.request_bytes,
            response_bytes: Some(self.sent),
            response_cut: cut.map(Cut::as_str),
            ..base
        };
        if let Some(span) = answer.span.take() {
            crate::otlp::record(server_span(span, &line));
        }
        crate::log::access(&line);
        if let Some(cut) = cut {
            let route = answer.route.as_deref().unwrap_or("(none)");
            crate::metrics::record_response_cut(route, cut);
        }
    }
}

impl Body for LoggedBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        let frame = ready!(Pin::new(&mut self.body).poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    self.sent += data.len() as u64;
                }
                if self.body.is_end_stream() {
                    self.log(None);
                }
            }
            Some(Err(_)) => self.log(Some(Cut::Component)),
            None => self.log(None),
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for LoggedBody {
    fn drop(&mut self) {
        let whole = self.bodiless || self.body.is_end_stream();
        self.log((!whole).then_some(Cut::Connection));
    }
}

fn request_id(headers: &http::HeaderMap) -> Option<String> {
    let id = headers.get("x-request-id")?.to_str().ok()?;
    Some(id.to_string())
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// One request's access-log line, serialized from its fields without building a JSON
/// map first (it is written for every request). The fields are in alphabetical order,
/// the order the host's other lines (`serde_json` maps) print theirs in.
#[derive(serde::Serialize, Default)]
struct AccessLine<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    carrier: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    chain: Option<&'a str>,
    /// Serialized as `ip:port`, as `Display` writes it; always set (an `Option` only
    /// so the line has a `Default` for the fields a request may lack).
    client: Option<SocketAddr>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    client_closed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    component: Option<&'a str>,
    /// From the request's arrival to the end of its response body.
    #[serde(skip_serializing_if = "Option::is_none")]
    duration_us: Option<u64>,
    event: &'static str,
    /// From the request's arrival to its response head.
    latency_us: u64,
    method: &'a str,
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_cut: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    route: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    span_id: Option<String>,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant: Option<&'a str>,
    traceparent: &'a str,
    ts: String,
}

/// The request's SERVER span, from what its access-log line says.
fn server_span(span: crate::otlp::SpanStart, line: &AccessLine) -> crate::otlp::Span {
    use crate::otlp::Value;
    let mut attributes: Vec<(&'static str, Value)> = vec![
        ("http.request.method", line.method.into()),
        ("http.response.status_code", line.status.into()),
        ("url.path", line.path.into()),
    ];
    for (value, attribute) in [
        (line.route, "http.route"),
        (line.tenant, "waypost.tenant"),
        (line.carrier, "waypost.carrier"),
        (line.region, "waypost.region"),
        (line.chain, "waypost.chain"),
        (line.component, "waypost.component"),
        (line.request_id, "waypost.request_id"),
        (line.response_cut, "waypost.response_cut"),
    ] {
        if let Some(value) = value {
            attributes.push((attribute, value.into()));
        }
    }
    let name = match line.route {
        Some(route) => format!("{} {route}", line.method),
        None => line.method.to_string(),
    };
    span.end(
        name,
        crate::otlp::Kind::Server,
        attributes,
        span_error(line),
    )
}

/// Why the request's span failed, if it did: a 5xx answer, or a response cut off.
fn span_error(line: &AccessLine) -> Option<String> {
    match line.response_cut {
        Some(cut) => Some(format!("response cut off by the {cut}")),
        None => (line.status >= 500).then(|| line.status.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_span_fails_on_a_5xx_or_a_response_cut_off_after_a_2xx_head() {
        let line = |status, cut: Option<Cut>| AccessLine {
            status,
            response_cut: cut.map(Cut::as_str),
            ..AccessLine::default()
        };
        assert_eq!(span_error(&line(200, None)), None);
        assert_eq!(span_error(&line(404, None)), None);
        assert_eq!(span_error(&line(503, None)).as_deref(), Some("503"));
        assert_eq!(
            span_error(&line(200, Some(Cut::Component))).as_deref(),
            Some("response cut off by the component")
        );
        assert_eq!(
            span_error(&line(200, Some(Cut::Connection))).as_deref(),
            Some("response cut off by the connection")
        );
    }
}
