//! `up --proxy-protocol` behind a real HAProxy (Debian's `haproxy` package; `.ci/run`
//! installs it) sending PROXY v2 on one frontend and v1 on another, in TCP mode: the
//! component and the access log see the client HAProxy accepted, not HAProxy.

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::process::Command;
use waypost_tests::{Daemon, HostOptions, client, free_port, start_fixture};

/// HAProxy on 127.0.0.1 in front of `upstream`: `v2_port` sends PROXY v2, `v1_port`
/// PROXY v1. Stopped on drop.
struct Haproxy {
    _daemon: Daemon,
    v2_port: u16,
    v1_port: u16,
    _dir: tempfile::TempDir,
}

impl Haproxy {
    fn start(upstream: &str) -> Self {
        let (v2_port, v1_port) = (free_port(), free_port());
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("haproxy.cfg");
        std::fs::write(
            &config,
            format!(
                "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n\
                 frontend v2\n  bind 127.0.0.1:{v2_port}\n  default_backend host_v2\n\
                 backend host_v2\n  server host {upstream} send-proxy-v2\n\
                 frontend v1\n  bind 127.0.0.1:{v1_port}\n  default_backend host_v1\n\
                 backend host_v1\n  server host {upstream} send-proxy\n"
            ),
        )
        .unwrap();
        let mut command = Command::new("haproxy");
        command.arg("-db").arg("-f").arg(&config);
        Self {
            _daemon: Daemon::start(command, &[v2_port, v1_port]),
            v2_port,
            v1_port,
            _dir: dir,
        }
    }
}

/// GETs the probe's echo through `port` on a connection of its own: the connection's
/// address, and the answer.
async fn ask_echo(
    port: u16,
) -> (
    SocketAddr,
    hyper::Result<hyper::Response<hyper::body::Incoming>>,
) {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let local = tcp.local_addr().unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let request = hyper::Request::get("/plain/echo")
        .header("host", "localhost")
        .body(Empty::<Bytes>::new())
        .unwrap();
    (local, send.send_request(request).await)
}

/// `ask_echo`'s connection address and the `spin-client-addr` the component was given.
async fn echo_through(port: u16) -> (SocketAddr, String) {
    let (local, response) = ask_echo(port).await;
    let response = response.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let echo: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let told = echo["headers"]["spin-client-addr"].as_str().unwrap();
    (local, told.to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_client_haproxy_names_is_the_requests_client_and_no_header_is_no_request() {
    let host = start_fixture(HostOptions {
        args: vec!["--proxy-protocol".into()],
        ..Default::default()
    })
    .unwrap();
    let haproxy = Haproxy::start(&host.addr);
    for port in [haproxy.v2_port, haproxy.v1_port] {
        let (local, told) = echo_through(port).await;
        // HAProxy connects to the host from a port of its own; the header names ours.
        assert_eq!(told, local.to_string(), "through {port}");
        let client = format!("\"client\":\"{local}\"");
        assert!(
            host.logged_line(&["\"event\":\"request\"", &client, "/plain/echo"]),
            "{}",
            host.logs()
        );
    }

    // Straight to the host, without a header: closed unanswered, and logged.
    let direct = client().get(host.url("/plain/echo")).send().await;
    assert!(direct.is_err(), "{direct:?}");
    assert!(
        host.logged_line(&["\"event\":\"proxy_header_failed\"", "bad PROXY"]),
        "{}",
        host.logs()
    );
}

/// Without the flag the client is the connection's, and a PROXY header is what it
/// looks like to any HTTP server: a bad request line.
#[tokio::test(flavor = "multi_thread")]
async fn without_the_flag_the_connection_is_the_client_and_a_header_is_not_read() {
    let host = start_fixture(HostOptions::default()).unwrap();
    let port = host.addr.rsplit(':').next().unwrap().parse().unwrap();
    let (local, told) = echo_through(port).await;
    assert_eq!(told, local.to_string());
    let client = format!("\"client\":\"{local}\"");
    assert!(
        host.logged_line(&["\"event\":\"request\"", &client]),
        "{}",
        host.logs()
    );

    let haproxy = Haproxy::start(&host.addr);
    let (_, answer) = ask_echo(haproxy.v1_port).await;
    assert!(
        // hyper may read the 400 before it has sent the request, and call it unexpected.
        answer.as_ref().map_or(true, |r| r.status() == 400),
        "{answer:?}"
    );
}
