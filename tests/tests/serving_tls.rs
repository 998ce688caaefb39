//! `up --tls-cert --tls-key` (or `SPIN_TLS_CERT` and `SPIN_TLS_KEY`): the fixture app
//! served over HTTPS with a certificate a test CA signed, to a client that trusts the
//! CA and asks for HTTP/2 or HTTP/1.1 by ALPN.

#[path = "support/pki.rs"]
mod pki;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use pki::Pki;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::ServerName;
use waypost_tests::{Host, HostOptions, start_fixture};

/// Serves the fixture over HTTPS with a certificate for `localhost`, the files named
/// by flags or, with `by_env`, by Spin's environment variables.
fn start_https(pki: &Pki, by_env: bool, extra_args: &[&str]) -> anyhow::Result<Host> {
    pki.issue("localhost", "server");
    let (cert, key) = (pki.path("server.pem"), pki.path("server-key.pem"));
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let mut env = Vec::new();
    let mut args: Vec<String> = extra_args.iter().map(|a| a.to_string()).collect();
    if by_env {
        env.push(("SPIN_TLS_CERT".into(), cert.into()));
        env.push(("SPIN_TLS_KEY".into(), key.into()));
    } else {
        args.extend([
            "--tls-cert".into(),
            cert.into(),
            "--tls-key".into(),
            key.into(),
        ]);
    }
    start_fixture(HostOptions {
        env,
        args,
        ..Default::default()
    })
}

/// A TLS session with the host, offering `alpn` only.
async fn connect(
    pki: &Pki,
    host: &Host,
    alpn: &[u8],
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    try_connect(pki, host, alpn).await.unwrap()
}

/// `connect`, or why the handshake failed (a certificate `pki` did not sign).
async fn try_connect(
    pki: &Pki,
    host: &Host,
    alpn: &[u8],
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca_der.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    let tcp = tokio::net::TcpStream::connect(&host.addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
}

/// GETs `path` over HTTP/2 (`h2`) or HTTP/1.1 (`http/1.1`): the version the answer
/// came in, its status and its body.
async fn get(pki: &Pki, host: &Host, alpn: &[u8], path: &str) -> (hyper::Version, u16, String) {
    let io = TokioIo::new(connect(pki, host, alpn).await);
    let port = host.addr.rsplit(':').next().unwrap();
    let response = if alpn == b"h2" {
        let (mut send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .unwrap();
        tokio::spawn(conn);
        let request = hyper::Request::get(format!("https://localhost:{port}{path}"))
            .body(Empty::<Bytes>::new())
            .unwrap();
        send.send_request(request).await.unwrap()
    } else {
        let (mut send, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
        tokio::spawn(conn);
        let request = hyper::Request::get(path)
            .header("host", format!("localhost:{port}"))
            .body(Empty::<Bytes>::new())
            .unwrap();
        send.send_request(request).await.unwrap()
    };
    let (version, status) = (response.version(), response.status().as_u16());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (version, status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_app_is_served_over_https_with_http2_and_http1() {
    let pki = Pki::new();
    let host = start_https(&pki, false, &[]).unwrap();
    let port = host.addr.rsplit(':').next().unwrap().to_string();
    for (alpn, version) in [
        (&b"h2"[..], hyper::Version::HTTP_2),
        (&b"http/1.1"[..], hyper::Version::HTTP_11),
    ] {
        let (got, status, body) = get(&pki, &host, alpn, "/layered/a/echo?x=1").await;
        assert_eq!((got, status), (version, 200), "{body}");
        let echo: serde_json::Value = serde_json::from_str(&body).unwrap();
        // The component is told the URL the client used: https, its authority.
        assert_eq!(
            echo["headers"]["spin-full-url"],
            format!("https://localhost:{port}/layered/a/echo?x=1"),
            "{version:?}"
        );
    }

    // Plain HTTP to the HTTPS port gets no answer, and a line in the log.
    let plain = waypost_tests::client().get(host.url("/")).send().await;
    assert!(plain.is_err(), "{plain:?}");
    assert!(
        host.logged("\"event\":\"tls_handshake_failed\""),
        "{}",
        host.final_logs()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn spins_environment_variables_name_the_files_too() {
    let pki = Pki::new();
    let host = start_https(&pki, true, &[]).unwrap();
    let (_, status, body) = get(&pki, &host, b"http/1.1", "/var/greeting").await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_does_not_finish_its_handshake_is_closed_after_the_header_read_timeout() {
    let pki = Pki::new();
    let host = start_https(&pki, false, &["--header-read-timeout", "1s"]).unwrap();
    let mut silent = tokio::net::TcpStream::connect(&host.addr).await.unwrap();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(10), silent.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "closed within 10 s: {read:?}"
    );
    // The host serves the next client.
    let (_, status, _) = get(&pki, &host, b"h2", "/").await;
    assert_eq!(status, 200);
    let client = format!("\"client\":\"{}\"", silent.local_addr().unwrap());
    assert!(
        host.logged_line(&["\"event\":\"tls_handshake_failed\"", &client, "timed out"]),
        "the silent client's line: {}",
        host.final_logs()
    );
}

/// A renewed certificate, written over the files, is served after a SIGHUP without a
/// restart; a pair that cannot be used is logged and the one in service stays.
#[tokio::test(flavor = "multi_thread")]
async fn sighup_serves_the_certificate_the_files_now_hold() {
    let pki = Pki::new();
    let host = start_https(&pki, false, &[]).unwrap();
    assert!(try_connect(&pki, &host, b"h2").await.is_ok());

    // The same name, from another CA: the files change, then the host is told.
    let renewed = Pki::new();
    renewed.issue("localhost", "server");
    for file in ["server.pem", "server-key.pem"] {
        std::fs::copy(renewed.path(file), pki.path(file)).unwrap();
    }
    assert!(
        try_connect(&pki, &host, b"h2").await.is_ok(),
        "read at start only, until told"
    );
    host.signal(libc::SIGHUP);
    assert!(host.logged("\"event\":\"tls_reloaded\""), "{}", host.logs());
    assert!(try_connect(&pki, &host, b"h2").await.is_err());
    let (_, status, _) = get(&renewed, &host, b"h2", "/").await;
    assert_eq!(status, 200);

    // A key that is not the certificate's: logged, and the renewed pair stays.
    let other = Pki::new();
    other.issue("localhost", "other");
    std::fs::copy(other.path("other-key.pem"), pki.path("server-key.pem")).unwrap();
    host.signal(libc::SIGHUP);
    assert!(
        host.logged_line(&["\"event\":\"tls_reload_failed\"", "do not make a pair"]),
        "{}",
        host.final_logs()
    );
    let (_, status, _) = get(&renewed, &host, b"http/1.1", "/").await;
    assert_eq!(status, 200);
}

#[test]
fn tls_files_up_cannot_use_stop_it_naming_them() {
    let pki = Pki::new();
    pki.issue("other.test", "other");
    let other_key = pki.path("other-key.pem");
    let error = start_https(&pki, true, &["--tls-key", other_key.to_str().unwrap()])
        .err()
        .expect("up refuses a key of another certificate")
        .to_string();
    assert!(error.contains("do not make a pair"), "{error}");

    let missing = pki.path("missing.pem");
    let error = start_https(&pki, true, &["--tls-cert", missing.to_str().unwrap()])
        .err()
        .expect("up refuses a certificate file that does not exist")
        .to_string();
    assert!(
        error.contains("--tls-cert") && error.contains("missing.pem"),
        "{error}"
    );

    // One without the other is a usage error.
    let (ok, stderr) = waypost_tests::run_host(&["up", "--tls-cert", "cert.pem"], &[]);
    assert!(!ok && stderr.contains("--tls-key"), "{stderr}");
}
