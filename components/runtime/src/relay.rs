//! Passing a request on to the next handler, or a response back out, with its head
//! changed and its body untouched. spin-sdk's conversion from an `http` message to a
//! `wasi:http` one gives it a new body stream and spawns a task that copies every chunk
//! of the old body into it, in each middleware, both ways. Here the new message takes
//! over the old one's body stream and trailers instead: the guest copies nothing, and
//! Wasmtime passes a body it produces itself (the client's request body) on as it is.

use http::header;
use spin_sdk::http::{HeaderMap, IntoRequest, IntoResponse, Request, Response};
use spin_sdk::wasip3::http::types::{self, ErrorCode};
use spin_sdk::wasip3::http_compat::IncomingMessage;
use spin_sdk::wasip3::{wit_bindgen, wit_future};

/// `req` as a `wasi:http` request for the next handler: its method, URI and (edited)
/// headers, with the incoming body handed over. A body the component has started to
/// read goes the usual way, the rest of it copied.
pub fn request(req: Request) -> Result<types::Request, ErrorCode> {
    let (mut parts, mut body) = req.into_parts();
    let Some(incoming) = body.take_unstarted() else {
        return Request::from_parts(parts, body).into_request();
    };
    // wasi:http carries the authority apart from the headers and refuses `Host`
    // among them. Where the URI has an authority, it wins over a `Host` header that
    // differs, as RFC 9112 (3.2.2) has a proxy do; spin-sdk's conversion fails there.
    let host = parts.headers.remove(header::HOST);
    let authority = match (parts.uri.authority(), &host) {
        (Some(authority), _) => Some(authority.as_str().to_owned()),
        (None, Some(host)) => Some(host.to_str().map_err(internal)?.to_owned()),
        (None, None) => None,
    };
    let options = incoming.get_options();
    let (contents, trailers, consumed) = hand_over(incoming);
    let (out, delivered) =
        types::Request::new(fields(parts.headers)?, Some(contents), trailers, options);
    report(delivered, consumed);
    out.set_method(&(&parts.method).into())
        .map_err(|()| ErrorCode::HttpRequestMethodInvalid)?;
    let scheme = parts.uri.scheme().map(Into::into);
    out.set_scheme(scheme.as_ref())
        .map_err(|()| ErrorCode::HttpProtocolError)?;
    out.set_authority(authority.as_deref())
        .map_err(|()| ErrorCode::HttpRequestUriInvalid)?;
    out.set_path_with_query(parts.uri.path_and_query().map(|pq| pq.as_str()))
        .map_err(|()| ErrorCode::HttpRequestUriInvalid)?;
    Ok(out)
}

/// `resp` as the `wasi:http` response to return: its status and (edited) headers, with
/// the next handler's body handed over.
pub fn response(resp: Response) -> Result<types::Response, ErrorCode> {
    let (parts, mut body) = resp.into_parts();
    let Some(incoming) = body.take_unstarted() else {
        return Response::from_parts(parts, body).into_response();
    };
    let (contents, trailers, consumed) = hand_over(incoming);
    let (out, delivered) = types::Response::new(fields(parts.headers)?, Some(contents), trailers);
    report(delivered, consumed);
    out.set_status_code(parts.status.as_u16())
        .map_err(|()| internal("status code"))?;
    Ok(out)
}

type Trailers = wit_bindgen::FutureReader<Result<Option<types::Trailers>, ErrorCode>>;
type Outcome = Result<(), ErrorCode>;

/// The message's body stream and trailers, and the writer through which the message's
/// sender learns how its body was received.
fn hand_over<M: IncomingMessage>(
    message: M,
) -> (
    wit_bindgen::StreamReader<u8>,
    Trailers,
    wit_bindgen::FutureWriter<Outcome>,
) {
    let (consumed, outcome) = wit_future::new(|| Ok(()));
    let (contents, trailers) = message.consume_body(outcome);
    (contents, trailers, consumed)
}

/// Tells the original sender what the new message's receiver reports about the body.
fn report(
    delivered: wit_bindgen::FutureReader<Outcome>,
    consumed: wit_bindgen::FutureWriter<Outcome>,
) {
    wit_bindgen::spawn(async move {
        let _ = consumed.write(delivered.await).await;
    });
}

fn fields(headers: HeaderMap) -> Result<types::Fields, ErrorCode> {
    headers.try_into().map_err(|e| internal(format!("{e:?}")))
}

fn internal(e: impl ToString) -> ErrorCode {
    ErrorCode::InternalError(Some(e.to_string()))
}
