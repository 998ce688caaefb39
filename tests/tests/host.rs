//! The waypost host runs a Spin app the way Spin does: each test starts `waypost up`
//! on the fixture app (tests/fixtures/host/spin.toml) and checks one feature from
//! the outside, as a user of the host would.

use futures::FutureExt;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use waypost_tests::FIXTURE_SECRET as SECRET;
use waypost_tests::get_text as get;
use waypost_tests::{
    Host, HostOptions, client, fixture_components, fixture_manifest, free_port, metrics, run_host,
    sample, start_fixture, workspace_root,
};

fn start(extra: HostOptions) -> Host {
    start_fixture(extra).expect("host starts")
}

/// The host started with `opts` and `--metrics-listen` on a free port, and that port.
fn start_with_metrics(mut opts: HostOptions) -> (Host, u16) {
    let port = free_port();
    opts.args
        .extend(["--metrics-listen".into(), format!("127.0.0.1:{port}")]);
    (start(opts), port)
}

async fn post(host: &Host, path: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
    client()
        .post(host.url(path))
        .body(body)
        .send()
        .await
        .unwrap()
}

/// One keep-alive HTTP/1.1 connection to the host, and so one serving thread. A pooled
/// client is not enough: it may open a second connection for a request sent right
/// after the last response, before the first connection is back in its pool.
struct Connection(SendRequest<Empty<Bytes>>);

impl Connection {
    async fn open(host: &Host) -> Connection {
        let stream = tokio::net::TcpStream::connect(&host.addr).await.unwrap();
        let (send, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        Connection(send)
    }

    async fn get(&mut self, path: &str) -> (u16, String) {
        self.0.ready().await.expect("the connection is still open");
        let request = hyper::Request::get(path)
            .header("host", "127.0.0.1")
            .body(Empty::new())
            .unwrap();
        let response = self.0.send_request(request).await.unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }
}

async fn echo(host: &Host, path: &str) -> serde_json::Value {
    let r = client().get(host.url(path)).send().await.unwrap();
    assert_eq!(r.status(), 200, "echo {path}");
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn routes_follow_spin_precedence_and_set_spin_headers() {
    let host = start(HostOptions::default());
    // `/users/:user_id` beats the `/...` catch-all for one segment.
    let v = echo(&host, "/users/42/echo").await;
    assert_eq!(
        v["headers"]["spin-matched-route"], "/...",
        "two segments: wildcard"
    );
    let r = client().get(host.url("/users/42")).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "probe");

    let v = echo(&host, "/layered/a/echo?x=1").await;
    let h = &v["headers"];
    assert_eq!(h["spin-matched-route"], "/layered/...");
    assert_eq!(h["spin-raw-component-route"], "/layered/...");
    assert_eq!(h["spin-component-route"], "/layered");
    assert_eq!(h["spin-path-info"], "/a/echo");
    assert_eq!(h["spin-base-path"], "/");
    assert_eq!(
        h["spin-full-url"],
        format!("http://{}/layered/a/echo?x=1", host.addr)
    );
    assert!(
        h["spin-client-addr"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_parameter_route_reports_its_match() {
    let (host, _dir) = serve_manifest(
        r#"
[[trigger.http]]
route = "/users/:user_id/..."
component = "probe"
[[trigger.http]]
route = "/exact"
component = "probe"
[component.probe]
source = "PROBE"
"#,
    );
    let v = echo(&host, "/users/7/echo").await;
    assert_eq!(v["headers"]["spin-path-match-user-id"], "7");
    assert_eq!(v["headers"]["spin-path-info"], "/echo");
    // An exact route serves its path with or without a trailing slash, nothing longer.
    assert_eq!(get(&host, "/exact").await.0, 200);
    assert_eq!(get(&host, "/exact/").await.0, 200);
    let r = client().get(host.url("/nowhere")).send().await.unwrap();
    assert_eq!(r.status(), 404, "unmatched path");
    assert_eq!(r.headers()["content-type"], "application/problem+json");
}

/// Spin's own static-response case: the host answers these routes itself, with the
/// status (200 unless given), headers and body the manifest writes, and components
/// keep theirs.
#[tokio::test(flavor = "multi_thread")]
async fn a_static_response_is_served_by_the_host_as_the_manifest_writes_it() {
    let (host, _dir) = serve_manifest(
        r#"
[[trigger.http]]
route = "/users/:userid/..."
component = "probe"
[[trigger.http]]
route = "/..."
static_response = { status_code = 404, body = "not found" }
[[trigger.http]]
route = "/default-code"
static_response = { body = "should be 200" }
[[trigger.http]]
route = "/bob"
static_response = { status_code = 302, headers = { location = "/users/bob/echo", x-static = "yes" } }
[component.probe]
source = "PROBE"
"#,
    );
    let v = echo(&host, "/users/42/echo").await;
    assert_eq!(v["headers"]["spin-path-match-userid"], "42");
    assert_eq!(
        get(&host, "/default-code").await,
        (200, "should be 200".into())
    );
    assert_eq!(get(&host, "/no/such/user").await, (404, "not found".into()));

    let not_following = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = not_following
        .post(host.url("/bob"))
        .body("ignored")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()["location"], "/users/bob/echo");
    assert_eq!(r.headers()["x-static"], "yes");
    assert_eq!(r.headers()["content-length"], "0");
    assert!(host.logged("\"route\":\"/bob\""), "{}", host.logs());
}

#[tokio::test(flavor = "multi_thread")]
async fn middleware_runs_outermost_first_and_each_layer_is_observable() {
    let host = start(HostOptions::default());
    let r = client()
        .get(host.url("/layered/echo"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["x-layers-out"],
        "inner,outer",
        "responses unwind inner first"
    );
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        v["headers"]["x-layers"], "outer,inner",
        "the handler sees both layers"
    );

    // A layer can answer without calling the next one.
    let r = client()
        .get(host.url("/layered/echo"))
        .header("x-stop-at", "inner")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 418);
    assert_eq!(r.headers()["x-layers-out"], "outer");
    assert_eq!(r.text().await.unwrap(), "stopped at inner");

    // The same component also serves routes without middleware.
    let v = echo(&host, "/plain/echo").await;
    assert!(v["headers"].get("x-layers").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn bodies_pass_through_middleware_whole_both_ways() {
    let host = start(HostOptions::default());
    // Large enough to take many stream reads and writes in each link of the chain.
    let sent = letters(1_000_000);
    let r = post(&host, "/layered/echo", sent.clone()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-layers-out"], "inner,outer");
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["headers"]["x-layers"], "outer,inner");
    let echoed = v["body"].as_str().unwrap();
    assert_eq!(echoed.len(), sent.len(), "the handler got the whole body");
    assert!(echoed == sent, "the handler got the body unchanged");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_short_answer_leaves_with_its_length_and_a_stream_as_it_is_written() {
    let host = start(HostOptions::default());
    // The probe's `probe` is written to a stream with no length, as every wasi:http
    // body is; the host reads it to its end before the head leaves.
    for path in ["/plain/x", "/layered/x"] {
        let r = client().get(host.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-length"], "5", "{path}");
        assert!(r.headers().get("transfer-encoding").is_none(), "{path}");
        assert_eq!(r.text().await.unwrap(), "probe");
    }
    let r = client().head(host.url("/plain/x")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "");
    // No length on a 204 (RFC 9110, 8.6).
    let r = post(&host, "/plain/kv/set?store=default&key=settled", "v").await;
    assert_eq!(r.status(), 204);
    assert!(r.headers().get("content-length").is_none());
    // A response that goes on is passed on as it is written: the probe holds the
    // stream open for two minutes after its first chunk.
    for path in ["/plain/stream?first=one", "/layered/stream?first=one"] {
        let mut r = client().get(host.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers().get("content-length").is_none(), "{path}");
        let first = tokio::time::timeout(Duration::from_secs(30), r.chunk())
            .await
            .unwrap_or_else(|_| panic!("{path}: the first chunk was held back"))
            .unwrap();
        assert_eq!(first.as_deref(), Some(&b"one"[..]), "{path}");
    }
}

/// A body of `len` letters, a to z over and over.
fn letters(len: u32) -> String {
    (0..len)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_middleware_can_hand_the_request_resource_on_untouched() {
    let host = start(HostOptions::default());
    let sent = letters(200_000);
    let r = client()
        .post(host.url("/passed/echo?x=1"))
        .header("x-kept", "as sent")
        .body(sent.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["headers"]["x-kept"], "as sent");
    assert_eq!(v["headers"]["spin-matched-route"], "/passed/...");
    assert_eq!(v["path"], "/passed/echo?x=1");
    assert!(
        v["body"].as_str() == Some(sent.as_str()),
        "the body arrives whole"
    );
    assert!(
        host.logged(r#""chain":"pass -> probe""#),
        "the request went through the middleware:\n{}",
        host.logs()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn middleware_only_gets_the_capabilities_it_inherits() {
    let host = start(HostOptions::default());
    // `layer-outer` inherits `variables` from the probe; `layer-inner` inherits nothing.
    let r = client()
        .get(host.url("/layered/echo"))
        .header("x-layer-probe-var", "greeting")
        .header("x-stop-at", "inner")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500, "inner may not read variables");
    assert!(r.text().await.unwrap().contains("Undefined"));
    let r = client()
        .get(host.url("/layered/echo"))
        .header("x-layer-probe-var", "greeting")
        .header("x-stop-at", "outer")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        418,
        "outer reads the inherited variable, then stops"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn key_values_survive_a_restart() {
    let state = tempfile::tempdir().unwrap();
    let opts = HostOptions {
        state_dir: Some(state.path().to_path_buf()),
        ..Default::default()
    };
    let host = start(opts.clone());
    let r = post(&host, "/kv/set?store=default&key=tenant-a", "kept").await;
    assert_eq!(r.status(), 204);
    assert!(host.terminate().success());

    let host = start(opts);
    assert_eq!(
        get(&host, "/kv/get?store=default&key=tenant-a").await,
        (200, "kept".to_string())
    );
    assert!(state.path().join("sqlite_key_value.db").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_concurrent_increments_end_at_exactly_a_hundred() {
    let host = start(HostOptions::default());
    let c = client();
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (c, url) = (
                c.clone(),
                host.url("/kv/incr?store=default&key=counter&delta=1"),
            );
            tokio::spawn(async move { c.get(url).send().await.unwrap().status().as_u16() })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(
        get(&host, "/kv/incr?store=default&key=counter&delta=0").await,
        (200, "100".to_string())
    );
    // Stored as Spin's SQLite store stores a counter, so a `get` reads what it would
    // read on Spin.
    let stored = client()
        .get(host.url("/kv/get?store=default&key=counter"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(stored.as_ref(), 100i64.to_le_bytes());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_compare_and_swap_conflict_is_reported() {
    let host = start(HostOptions::default());
    assert_eq!(
        get(&host, "/kv/cas-conflict?store=default&key=c").await,
        (409, "cas-failed".to_string())
    );
    // The value written behind the CAS's back is kept; the stale swap changed nothing.
    assert_eq!(
        get(&host, "/kv/get?store=default&key=c").await,
        (200, "changed".to_string())
    );
    let r = post(&host, "/kv/cas?store=default&key=fresh", "mine").await;
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_the_component_was_not_granted_is_access_denied() {
    let host = start(HostOptions::default());
    assert_eq!(
        get(&host, "/kvless/kv/get?store=default&key=a").await,
        (403, "access-denied".to_string())
    );
    // Even a label that does not exist is access-denied, not no-such-store.
    assert_eq!(
        get(&host, "/kv/get?store=elsewhere&key=a").await,
        (403, "access-denied".to_string())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn variables_come_from_templates_and_the_environment() {
    let host = start(HostOptions::default());
    assert_eq!(
        get(&host, "/var/greeting").await,
        (200, "hello, world".into())
    );
    assert_eq!(get(&host, "/var/token").await, (200, SECRET.1.into()));
    let (status, body) = get(&host, "/var/undeclared").await;
    assert_eq!(status, 404);
    assert!(body.contains("Undefined"), "{body}");
    // The secret's value never reaches the host's log.
    assert!(!host.logs().contains(SECRET.1));
}

/// A component's `environment`, and `up --env` (`-e`) setting a name in every
/// component over the manifest's value, as `spin up --env` does.
#[tokio::test(flavor = "multi_thread")]
async fn components_see_their_environment_and_up_env_sets_it_in_all() {
    let host = start(HostOptions {
        args: ["-e", "REGION_HINT=from up", "--env", "SHARED=everyone"]
            .map(String::from)
            .to_vec(),
        ..Default::default()
    });
    assert_eq!(
        get(&host, "/kvless/env/PROBE_MODE").await,
        (200, "fixture".into())
    );
    assert_eq!(
        get(&host, "/kvless/env/REGION_HINT").await,
        (200, "from up".into())
    );
    assert_eq!(
        get(&host, "/kvless/env/SHARED").await,
        (200, "everyone".into())
    );
    // The probe has no `environment` of its own: it sees only what `up` set, and
    // never the host's own environment.
    assert_eq!(
        get(&host, "/plain/env/SHARED").await,
        (200, "everyone".into())
    );
    assert_eq!(get(&host, "/plain/env/PROBE_MODE").await.0, 404);
    assert_eq!(
        get(&host, "/plain/env/SPIN_VARIABLE_SECRET_TOKEN").await.0,
        404
    );
    assert_eq!(get(&host, "/plain/env/PATH").await.0, 404);

    let (ok, stderr) = run_host(&["up", "-e", "NO_EQUALS_SIGN"], &[]);
    assert!(!ok);
    assert!(
        stderr.contains("`NO_EQUALS_SIGN` is not of the form name=value"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_required_variable_stops_up_and_names_it() {
    fixture_components();
    let manifest = fixture_manifest();
    let (ok, stderr) = run_host(
        &[
            "up",
            "-f",
            manifest.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        &[],
    );
    assert!(!ok);
    assert!(stderr.contains("`secret_token`"), "{stderr}");
    assert!(stderr.contains("SPIN_VARIABLE_SECRET_TOKEN"), "{stderr}");
}

/// A one-shot upstream answering every request with `body`.
fn upstream(body: &'static str) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { break };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread")]
async fn outbound_http_reaches_allowed_hosts_only() {
    let port = upstream("carrier says hi");
    let host = start(HostOptions {
        args: vec!["--variable".into(), format!("upstream_port={port}")],
        ..Default::default()
    });
    let allowed = format!("/outbound?url=http%3A%2F%2F127.0.0.1%3A{port}%2Frates");
    assert_eq!(get(&host, &allowed).await, (200, "carrier says hi".into()));

    let other = upstream("must not be reached");
    let denied = format!("/outbound?url=http%3A%2F%2F127.0.0.1%3A{other}%2F");
    let (status, body) = get(&host, &denied).await;
    assert_eq!(
        status, 502,
        "the guest got an error, the host did not crash"
    );
    assert!(body.contains("HttpRequestDenied"), "{body}");
    assert!(host.logged("outbound_denied"));
}

/// An upstream that answers `/late` 700 ms after the request and, to `/stalled`,
/// sends a head and half its body and then nothing more for 30 s.
fn slow_upstream() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { break };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let n = s.read(&mut buf).unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                if head.starts_with("GET /late ") {
                    std::thread::sleep(Duration::from_millis(700));
                    let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nlate");
                } else {
                    let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf.");
                    std::thread::sleep(Duration::from_secs(30));
                }
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread")]
async fn an_outbound_request_waits_for_its_answer_as_long_as_its_options_say() {
    let port = slow_upstream();
    let host = start(HostOptions {
        args: vec!["--variable".into(), format!("upstream_port={port}")],
        ..Default::default()
    });
    let late = format!("/outbound?url=http%3A%2F%2F127.0.0.1%3A{port}%2Flate");
    // A connect timeout bounds connecting only, not the wait for the answer.
    assert_eq!(
        get(&host, &format!("{late}&connect_ms=200")).await,
        (200, "late".into())
    );
    let (status, body) = get(&host, &format!("{late}&first_byte_ms=200")).await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("ConnectionReadTimeout"), "{body}");

    let stalled = format!("/outbound?url=http%3A%2F%2F127.0.0.1%3A{port}%2Fstalled");
    let (status, body) = get(&host, &format!("{stalled}&between_bytes_ms=200")).await;
    assert_eq!(status, 502, "the body failed after its head: {body}");
    assert!(body.contains("ConnectionReadTimeout"), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_outbound_connection_not_made_in_its_connect_timeout_fails_as_one() {
    let unconnectable = waypost_tests::Unconnectable::new();
    let port = unconnectable.port;
    let host = start(HostOptions {
        args: vec!["--variable".into(), format!("upstream_port={port}")],
        ..Default::default()
    });
    let path = format!("/outbound?url=http%3A%2F%2F127.0.0.1%3A{port}%2F&connect_ms=300");
    let (status, body) = get(&host, &path).await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("ConnectionTimeout"), "{body}");
}

/// The fixture with `runtime_config` as its runtime config, and the probe allowed to
/// call any host on `port`.
fn start_configured(runtime_config_text: &str, port: u16) -> (Host, tempfile::TempDir) {
    start_configured_with(runtime_config_text, port, Vec::new())
}

/// `start_configured` with `args` too.
fn start_configured_with(
    runtime_config_text: &str,
    port: u16,
    mut args: Vec<String>,
) -> (Host, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let runtime_config = dir.path().join("runtime-config.toml");
    std::fs::write(&runtime_config, runtime_config_text).unwrap();
    args.extend([
        "--variable".into(),
        format!("upstream_port={port}"),
        "--runtime-config-file".into(),
        runtime_config.to_str().unwrap().into(),
    ]);
    let host = start(HostOptions {
        args,
        ..Default::default()
    });
    (host, dir)
}

const BLOCK_PRIVATE: &str = "[outbound_networking]\nblock_networks = [\"private\"]";

#[tokio::test(flavor = "multi_thread")]
async fn outbound_http_never_connects_to_a_blocked_network() {
    let port = upstream("internal service");
    let (host, _dir) = start_configured(BLOCK_PRIVATE, port);
    // By IP, by a name that resolves to it, and by the IPv4 address written as IPv6.
    for target in ["127.0.0.1", "localhost", "%5B%3A%3Affff%3A127.0.0.1%5D"] {
        let path = format!("/outbound?url=http%3A%2F%2F{target}%3A{port}%2F");
        let (status, body) = get(&host, &path).await;
        assert_eq!(status, 502, "{target}: {body}");
        assert!(body.contains("DestinationIpProhibited"), "{target}: {body}");
    }
    assert!(host.logged("outbound_prohibited"));

    // A blocked network elsewhere leaves the upstream reachable.
    let (host, _dir) = start_configured(
        "[outbound_networking]\nblock_networks = [\"10.0.0.0/8\"]",
        port,
    );
    let (status, body) = get(
        &host,
        &format!("/outbound?url=http%3A%2F%2Flocalhost%3A{port}%2F"),
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "internal service"));
    assert!(!host.logs().contains("outbound_prohibited"));
}

#[tokio::test(flavor = "multi_thread")]
async fn outbound_connections_beyond_max_connections_wait_within_their_connect_timeout() {
    let port = slow_upstream();
    let metrics_port = free_port();
    let (host, _dir) = start_configured_with(
        "[outbound_http]\nmax_connections = 1",
        port,
        vec![
            "--metrics-listen".into(),
            format!("127.0.0.1:{metrics_port}"),
        ],
    );
    let url = |path: &str| format!("/outbound?url=http%3A%2F%2F127.0.0.1%3A{port}%2F{path}");
    assert_eq!(get(&host, "/plain/x").await.0, 200, "the probe is ready");
    let counts = async || {
        let text = metrics(metrics_port).await;
        let open = sample(&text, "waypost_outbound_connections");
        let waits = sample(&text, "waypost_outbound_connection_waits_total");
        (open.unwrap(), waits.unwrap())
    };
    assert_eq!(counts().await, (0.0, 0.0));

    // The one connection: its body stalls until its between-bytes timeout, 3 s.
    let holding = {
        let path = url("stalled&between_bytes_ms=3000");
        let host_url = host.url(&path);
        tokio::spawn(async move { client().get(host_url).send().await.unwrap().status() })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(counts().await, (1.0, 0.0));
    let (status, body) = get(&host, &format!("{}&connect_ms=500", url("late"))).await;
    assert_eq!(status, 502, "no connection to be had within 500 ms: {body}");
    assert!(body.contains("ConnectionTimeout"), "{body}");
    assert_eq!(counts().await, (1.0, 1.0), "it waited, and no more opened");

    // Once the stalled call gives its connection up, the next call gets one.
    holding.await.unwrap();
    assert_eq!(
        get(&host, &format!("{}&connect_ms=5000", url("late"))).await,
        (200, "late".into())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn outbound_connections_are_not_pooled_when_the_runtime_config_says_so() {
    let (port, accepted) = keep_alive_upstream();
    let (host, _dir) = start_configured("[outbound_http]\nconnection_pooling = false", port);
    let path = format!("/outbound?url=http%3A%2F%2F127.0.0.1%3A{port}%2F");
    let mut conn = Connection::open(&host).await;
    for _ in 0..3 {
        assert_eq!(conn.get(&path).await, (200, "ok".into()));
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 3, "a connection per call");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_outbound_host_whose_name_does_not_resolve_is_a_dns_error() {
    let host = start(HostOptions::default());
    // A label longer than 63 bytes: the resolver library refuses it itself, so this
    // fails the same way on a machine with or without DNS.
    let name = format!("{}.example", "a".repeat(64));
    let (status, body) = get(&host, &format!("/outbound?url=http%3A%2F%2F{name}%3A1%2F")).await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("DnsError"), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn service_chaining_reaches_a_private_component_in_process() {
    let host = start(HostOptions::default());
    let (status, body) = get(
        &host,
        "/outbound?url=http%3A%2F%2Fbackend.spin.internal%2Fvar%2Fgreeting",
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "from backend"));
    // Chaining needs its allow-list entry like any other host.
    let (status, body) = get(&host, "/outbound?url=http%3A%2F%2Fkvless.spin.internal%2F").await;
    assert_eq!(status, 502);
    assert!(body.contains("HttpRequestDenied"), "{body}");
}

/// `http://self.alt/...` is the app itself, reached over its listener as any client
/// reaches it, for a component whose allow-list has `self`.
#[tokio::test(flavor = "multi_thread")]
async fn a_call_to_self_alt_is_served_by_the_app_through_its_listener() {
    let host = start(HostOptions::default());
    let (status, body) = get(
        &host,
        "/outbound?url=http%3A%2F%2Fself.alt%2Fplain%2Fecho%3Fx%3D1",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let echo: serde_json::Value = serde_json::from_str(&body).unwrap();
    let listener = host.url("").trim_end_matches('/').to_string();
    assert_eq!(echo["path"], "/plain/echo?x=1");
    assert_eq!(
        echo["headers"]["spin-full-url"],
        format!("{listener}/plain/echo?x=1")
    );
    let client_addr = echo["headers"]["spin-client-addr"].as_str().unwrap();
    assert!(client_addr.starts_with("127.0.0.1:"), "{client_addr}");
    // A URL with no host at all does not reach the host's hooks (Wasmtime's WASIp3
    // refuses it, as under Spin 4.1).
    let (status, body) = get(&host, "/outbound?url=%2Fplain%2Fecho").await;
    assert_eq!(status, 502);
    assert!(body.contains("HttpRequestUriInvalid"), "{body}");
    // `backend`, which the probe reaches by chaining, has no allow-list at all.
    let r = client()
        .get(host.url(
            "/outbound?url=http%3A%2F%2Fbackend.spin.internal%2Foutbound%3Furl%3D\
             http%253A%252F%252Fself.alt%252Fplain%252Fecho",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-upstream-status"], "502");
    let body = r.text().await.unwrap();
    assert!(body.contains("HttpRequestDenied"), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn files_are_mounted_read_only() {
    let host = start(HostOptions::default());
    assert_eq!(
        get(&host, "/files/static/hello.txt").await,
        (200, "hello from a mounted file\n".into())
    );
    assert_eq!(get(&host, "/files-write/static/new.txt").await.0, 403);
    // In the mounted directory, but matched by `exclude_files`.
    assert!(
        workspace_root()
            .join("tests/fixtures/host/static/excluded.key")
            .is_file()
    );
    assert_eq!(get(&host, "/files/static/excluded.key").await.0, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trapping_component_gets_a_500_problem_and_the_host_keeps_serving() {
    let host = start(HostOptions::default());
    let r = client().get(host.url("/trap")).send().await.unwrap();
    assert_eq!(r.status(), 500);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let problem: serde_json::Value = r.json().await.unwrap();
    assert_eq!(problem["status"], 500);
    assert_eq!(get(&host, "/plain").await, (200, "probe".into()));
    assert!(host.logged("\"event\":\"guest_error\""));
    // What the guest wrote to stderr (its panic message) is in the host's log, before
    // its request's access-log line.
    let logs = host.logs();
    let panicked = logs.find("probe asked to trap");
    let access = logs.find("\"path\":\"/trap\"");
    assert!(
        panicked.is_some() && panicked < access,
        "the guest's stderr, then the request's line: {logs}"
    );
}

/// `GET path` with `x-request-id: id`.
async fn get_as(host: &Host, path: &str, id: &str) -> reqwest::Response {
    let request = client().get(host.url(path)).header("x-request-id", id);
    request.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_access_line_says_how_much_of_its_response_left_and_what_cut_it_off() {
    let (host, port) = start_with_metrics(HostOptions::default());
    // Whole: a streamed body, logged once all of it is sent; a HEAD sends none.
    let r = get_as(&host, "/plain/bytes?n=100000", "whole").await;
    assert_eq!(r.bytes().await.unwrap().len(), 100_000);
    let line = host.access_line("whole");
    assert_eq!(line["response_bytes"], 100_000, "{line}");
    assert_eq!(line["response_cut"], serde_json::Value::Null, "{line}");
    let us = |field: &str| {
        line[field]
            .as_u64()
            .unwrap_or_else(|| panic!("{field}: {line}"))
    };
    assert!(us("duration_us") >= us("latency_us"), "{line}");
    let head = client()
        .head(host.url("/plain/x"))
        .header("x-request-id", "head");
    assert_eq!(head.send().await.unwrap().status(), 200);
    let line = host.access_line("head");
    assert_eq!(line["response_bytes"], 0, "{line}");
    assert_eq!(line["response_cut"], serde_json::Value::Null, "{line}");

    // The component traps after its head and first chunk have left: the client sees
    // the body broken off, and the line says the component cut it.
    let r = get_as(&host, "/plain/stream?first=early&then=trap", "trapped").await;
    assert_eq!(r.status(), 200);
    let body = r.text().await;
    assert!(body.is_err(), "ended as a whole body: {body:?}");
    let line = host.access_line("trapped");
    assert_eq!(line["status"], 200, "{line}");
    assert_eq!(line["response_bytes"], 5, "{line}");
    assert_eq!(line["response_cut"], "component", "{line}");
    assert!(host.logged("probe asked to trap mid-stream"));
    assert!(host.logged_line(&["\"event\":\"guest_error\"", "\"component\":\"probe\""]));
    assert_eq!(get(&host, "/plain/x").await, (200, "probe".into()));

    // The client goes away after the first chunk of a body that goes on.
    let mut r = get_as(&host, "/plain/stream?first=early", "left").await;
    assert_eq!(r.chunk().await.unwrap().as_deref(), Some(&b"early"[..]));
    drop(r);
    let line = host.access_line("left");
    assert_eq!(line["response_bytes"], 5, "{line}");
    assert_eq!(line["response_cut"], "connection", "{line}");
    // Logged when the client left, not when the stream would have gone on.
    assert!(line["duration_us"].as_u64().unwrap() < 60_000_000, "{line}");

    let text = metrics(port).await;
    let cut = |by: &str| {
        let series = format!("waypost_responses_cut_total{{route=\"/plain/...\",by=\"{by}\"}}");
        sample(&text, &series)
    };
    assert_eq!(cut("component"), Some(1.0), "{text}");
    assert_eq!(cut("connection"), Some(1.0), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_computing_component_does_not_hold_up_other_requests_on_its_thread() {
    // One serving thread: every connection, and every instance, shares it.
    let host = start(HostOptions {
        args: vec!["--serving-threads".into(), "1".into()],
        ..Default::default()
    });
    let computing = tokio::spawn(
        client()
            .get(host.url("/plain/busy?ms=4000"))
            .send()
            .map(|r| r.unwrap().status().as_u16()),
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Another component's instance, and the host's own endpoint, on the same thread.
    assert_eq!(get(&host, "/kvless/").await, (200, "probe".into()));
    assert_eq!(get(&host, "/.well-known/spin/health").await.0, 200);
    assert!(
        !computing.is_finished(),
        "the other requests were answered only after the computation"
    );
    assert_eq!(computing.await.unwrap(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_past_the_request_timeout_gets_504_and_its_instance_is_stopped() {
    let (host, port) = start_with_metrics(HostOptions {
        args: vec!["--request-timeout".into(), "1s".into()],
        ..Default::default()
    });
    // A loop that never waits, a guest waiting on a timer, and a loop behind middleware.
    for path in [
        "/plain/busy?ms=forever",
        "/plain/slow?ms=60000",
        "/layered/busy?ms=forever",
    ] {
        let r = client().get(host.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 504, "{path}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let problem: serde_json::Value = r.json().await.unwrap();
        assert_eq!(problem["status"], 504, "{path}");
        assert_eq!(
            problem["detail"], "The component did not answer within 1s.",
            "{path}"
        );
    }
    assert!(host.logged_line(&[
        "\"event\":\"request_timed_out\"",
        "\"component\":\"probe\"",
        "\"timeout\":\"1s\""
    ]));
    let text = metrics(port).await;
    // One per request, named by the store it was handed to (the layered chain's
    // links each run in a store of their own).
    let timeouts = |component: &str| {
        let series = format!("waypost_request_timeouts_total{{component=\"{component}\"}}");
        sample(&text, &series)
    };
    assert_eq!(timeouts("probe"), Some(2.0), "{text}");
    assert_eq!(timeouts("layer-outer"), Some(1.0), "{text}");
    assert_eq!(timeouts("layer-inner"), None, "{text}");
    // The loops went with their instances: the host is idle again, and serving.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let cpu = cpu_used_over_a_second(&host).await;
    assert!(
        cpu < 0.5,
        "{cpu} s of CPU a second after the loops timed out"
    );
    assert_eq!(
        get(&host, "/plain/slow?ms=10").await,
        (200, "slept 10".into())
    );
    // A response still being written when the time is up is cut short, not ended
    // as if it were whole.
    let r = get_as(&host, "/plain/stream?first=early", "timed-out").await;
    assert_eq!(r.status(), 200);
    let body = r.text().await;
    assert!(body.is_err(), "ended as a whole body: {body:?}");
    let line = host.access_line("timed-out");
    assert_eq!(line["response_cut"], "component", "{line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stuck_request_times_out_while_its_instance_goes_on_serving_others() {
    let host = start(HostOptions {
        args: vec![
            "--request-timeout".into(),
            "1s".into(),
            "--serving-threads".into(),
            "1".into(),
        ],
        ..Default::default()
    });
    let stuck = tokio::spawn(
        client()
            .get(host.url("/plain/slow?ms=60000"))
            .send()
            .map(|r| r.unwrap().status().as_u16()),
    );
    // Requests keep coming to the instance the stuck one waits in (one takes up to
    // 16 at once), each one newer than the stuck one.
    let mut answered = 0;
    while !stuck.is_finished() && answered < 100 {
        assert_eq!(get(&host, "/plain/slow?ms=50").await.0, 200);
        answered += 1;
    }
    assert!(
        stuck.is_finished(),
        "the stuck request was still waiting after {answered} newer ones"
    );
    assert_eq!(stuck.await.unwrap(), 504);
}

/// What `/plain/instance` answers, `count` times in a row on `connection` (which stays
/// on one serving thread): how many requests the instance that served each one had
/// served.
async fn served_on(connection: &mut Connection, count: usize) -> Vec<String> {
    let mut served = Vec::new();
    for _ in 0..count {
        let (status, body) = connection.get("/plain/instance").await;
        assert_eq!(status, 200, "{body}");
        served.push(body);
    }
    served
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_take_turns_on_the_serving_threads_each_with_its_own_instances() {
    let threads = |n: &str| HostOptions {
        args: vec![
            "--serving-threads".into(),
            n.into(),
            "--idle-instance-timeout".into(),
            "60s".into(),
        ],
        ..Default::default()
    };
    // Two threads: the second connection goes to the other thread, whose instance is
    // its own; each connection then keeps its thread.
    let host = start(threads("2"));
    let [mut a, mut b] = [Connection::open(&host).await, Connection::open(&host).await];
    assert_eq!(served_on(&mut a, 1).await, served(&[1]));
    assert_eq!(served_on(&mut b, 1).await, served(&[1]));
    assert_eq!(served_on(&mut a, 2).await, served(&[2, 3]));
    assert_eq!(served_on(&mut b, 1).await, served(&[2]));
    drop(host);
    // One thread: both connections share its instance.
    let host = start(threads("1"));
    let [mut a, mut b] = [Connection::open(&host).await, Connection::open(&host).await];
    assert_eq!(served_on(&mut a, 1).await, served(&[1]));
    assert_eq!(served_on(&mut b, 1).await, served(&[2]));
}

fn served(counts: &[u32]) -> Vec<String> {
    counts.iter().map(|n| format!("served {n}")).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_instance_serves_requests_in_turn_as_spin_reuses_wasip3_instances() {
    let host = start(HostOptions {
        args: vec!["--idle-instance-timeout".into(), "60s".into()],
        ..Default::default()
    });
    let mut connection = Connection::open(&host).await;
    assert_eq!(served_on(&mut connection, 4).await, served(&[1, 2, 3, 4]));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_instance_is_dropped_after_its_reuse_count() {
    let host = start(HostOptions {
        args: vec![
            "--max-instance-reuse-count".into(),
            "3".into(),
            "--idle-instance-timeout".into(),
            "60s".into(),
        ],
        ..Default::default()
    });
    let mut connection = Connection::open(&host).await;
    assert_eq!(
        served_on(&mut connection, 5).await,
        served(&[1, 2, 3, 1, 2])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reuse_count_one_gives_every_request_a_fresh_instance() {
    let host = start(HostOptions {
        args: vec!["--max-instance-reuse-count".into(), "1".into()],
        ..Default::default()
    });
    let mut connection = Connection::open(&host).await;
    assert_eq!(served_on(&mut connection, 3).await, served(&[1, 1, 1]));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_instance_is_dropped_after_the_idle_timeout() {
    let host = start(HostOptions {
        // One serving thread: were the connection replaced, it would still reach the
        // same workers.
        args: vec![
            "--idle-instance-timeout".into(),
            "50ms".into(),
            "--serving-threads".into(),
            "1".into(),
        ],
        ..Default::default()
    });
    let mut connection = Connection::open(&host).await;
    assert_eq!(served_on(&mut connection, 1).await, served(&[1]));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(served_on(&mut connection, 1).await, served(&[1]));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_instance_that_trapped_is_not_reused() {
    let host = start(HostOptions {
        args: vec!["--idle-instance-timeout".into(), "60s".into()],
        ..Default::default()
    });
    let mut connection = Connection::open(&host).await;
    assert_eq!(served_on(&mut connection, 2).await, served(&[1, 2]));
    assert_eq!(connection.get("/plain/trap").await.0, 500);
    assert_eq!(served_on(&mut connection, 2).await, served(&[1, 2]));
    assert!(host.logged("\"event\":\"guest_error\""));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_metrics_count_instances_started_and_alive() {
    let (host, port) = start_with_metrics(HostOptions {
        args: vec!["--idle-instance-timeout".into(), "100ms".into()],
        ..Default::default()
    });
    let mut connection = Connection::open(&host).await;
    assert_eq!(served_on(&mut connection, 3).await, served(&[1, 2, 3]));
    let text = metrics(port).await;
    let started = "waypost_instances_started_total{component=\"probe\"}";
    let alive = "waypost_instances{component=\"probe\"}";
    assert_eq!(sample(&text, started), Some(1.0), "{text}");
    assert_eq!(sample(&text, alive), Some(1.0), "{text}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let text = metrics(port).await;
    assert_eq!(sample(&text, alive), Some(0.0), "idle, dropped: {text}");
    assert_eq!(sample(&text, started), Some(1.0), "{text}");
}

#[test]
fn up_refuses_a_bad_flag_value_and_names_the_flag() {
    for (flag, value) in [
        ("--max-instance-reuse-count", "0"),
        ("--serving-threads", "0"),
        ("--busy-poll", "soon"),
        ("--header-read-timeout", "soon"),
        ("--body-read-timeout", "soon"),
        ("--response-write-timeout", "soon"),
        ("--request-timeout", "soon"),
        ("--idle-instance-timeout", "1e400"),
    ] {
        let manifest = fixture_manifest();
        let (ok, stderr) = run_host(&["up", "-f", manifest.to_str().unwrap(), flag, value], &[]);
        assert!(!ok, "{flag} {value} accepted");
        assert!(stderr.contains(flag), "{stderr}");
    }
}

async fn cpu_used_over_a_second(host: &Host) -> f64 {
    let cpu_us = || waypost_tests::cpu_time_us(&[host.pid()]).expect("the host's CPU time");
    let before = cpu_us();
    tokio::time::sleep(Duration::from_secs(1)).await;
    (cpu_us() - before) as f64 / 1e6
}

#[tokio::test(flavor = "multi_thread")]
async fn busy_polling_keeps_a_serving_thread_awake_after_a_request_then_lets_it_sleep() {
    let host = start(HostOptions {
        args: vec![
            "--busy-poll".into(),
            "3s".into(),
            "--serving-threads".into(),
            "1".into(),
        ],
        ..Default::default()
    });
    let asked = std::time::Instant::now();
    assert_eq!(get(&host, "/exact").await.0, 200);
    // Polling, the thread runs whenever the CPU lets it (about 1 s of CPU a second);
    // asleep, it uses next to nothing (0.01 s). 0.1 s is ten times from either.
    let polling = cpu_used_over_a_second(&host).await;
    assert!(
        polling >= 0.1,
        "{polling} s of CPU in the window after a request"
    );
    tokio::time::sleep(Duration::from_millis(3500).saturating_sub(asked.elapsed())).await;
    let idle = cpu_used_over_a_second(&host).await;
    assert!(idle < 0.1, "{idle} s of CPU once the window closed");
    assert_eq!(get(&host, "/exact").await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_over_the_limit_is_refused_with_413() {
    let host = start(HostOptions {
        args: vec!["--max-request-body".into(), "1024".into()],
        ..Default::default()
    });
    let r = post(&host, "/kv/set?store=default&key=big", vec![b'x'; 4096]).await;
    assert_eq!(r.status(), 413);
    assert_eq!(get(&host, "/kv/get?store=default&key=big").await.0, 404);

    // Sent chunked, with no length to refuse it by, the body is cut at the limit
    // while the component reads it. The component only sees a failed read: `kv/set`
    // refuses it (400) and `echo` takes it for an empty body (200). The client gets
    // the host's 413 either way, and nothing is stored.
    for path in ["/kv/set?store=default&key=big", "/echo"] {
        let answer = send_raw(&host, &chunked_post(path, &[b'x'; 4096])).await;
        assert!(answer.starts_with("HTTP/1.1 413"), "{path}: {answer}");
        assert!(
            answer.contains("host/payload-too-large"),
            "{path}: {answer}"
        );
    }
    assert_eq!(get(&host, "/kv/get?store=default&key=big").await.0, 404);
    // Under the limit, a chunked body arrives whole.
    let answer = send_raw(
        &host,
        &chunked_post("/kv/set?store=default&key=small", b"small"),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 204"), "{answer}");
    assert_eq!(
        get(&host, "/kv/get?store=default&key=small").await,
        (200, "small".to_string())
    );
}

/// A `connection: close` POST of `body` to `path` in one chunk.
fn chunked_post(path: &str, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\
         transfer-encoding: chunked\r\n\r\n{:x}\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request.extend_from_slice(b"\r\n0\r\n\r\n");
    request
}

/// Sends `request` on a new connection; what the host answers before it closes it.
async fn send_raw(host: &Host, request: &[u8]) -> String {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(&host.addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    answer_until_close(&mut stream).await
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_finishes_the_in_flight_request_then_exits_zero() {
    let mut host = start(HostOptions::default());
    let url = host.url("/slow?ms=3000");
    let slow = tokio::spawn(async move {
        let r = client().get(url).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    });
    tokio::time::sleep(Duration::from_millis(1000)).await;
    host.signal_term();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(host.is_running(), "still draining the slow request");
    assert!(
        client().get(host.url("/plain")).send().await.is_err(),
        "no new connections while draining"
    );
    assert_eq!(slow.await.unwrap(), (200, "slept 3000".to_string()));
    assert!(host.exit_status().success(), "exit status 0");
    // The drained request's access-log line is written before the host exits
    // (lines are written in batches; what is pending goes out on the way out).
    let logs = host.final_logs();
    assert!(
        logs.contains("\"path\":\"/slow\""),
        "the drained request's access-log line: {logs}"
    );
    // The instance that served it is dropped with the serving thread: a clean stop,
    // not a guest error.
    assert!(!logs.contains("guest_error"), "{logs}");
}

#[test]
fn a_request_whose_client_goes_away_is_logged_with_status_499() {
    let host = start(HostOptions::default());
    let mut conn = std::net::TcpStream::connect(&host.addr).unwrap();
    conn.write_all(b"GET /slow?ms=2000 HTTP/1.1\r\nhost: t\r\nx-request-id: gone-1\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    drop(conn);
    let line = host.access_line("gone-1");
    assert_eq!(line["status"], 499);
    assert_eq!(line["path"], "/slow");
    assert_eq!(line["client_closed"], true);
    assert_eq!(line["request_id"], "gone-1");
    // Well before the 2 s the guest would have slept.
    assert!(line["latency_us"].as_u64().unwrap() < 1_900_000, "{line}");
}

/// What the host answers on `stream` until it closes it (the request asked for
/// `connection: close`), within 10 s.
async fn answer_until_close(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer));
    read.await.expect("answered within 10 s").unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

/// Whether the host closes `stream` within `within`: a read that ends (or is reset)
/// rather than one still waiting. Whatever arrives first (a response) is skipped.
async fn closed_by_host(stream: &mut tokio::net::TcpStream, within: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 4096];
    let closed = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    };
    tokio::time::timeout(within, closed).await.is_ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_header_read_timeout_closes_trickling_and_idle_connections_not_slow_ones() {
    use tokio::io::AsyncWriteExt;
    let (host, port) = start_with_metrics(HostOptions {
        args: vec!["--header-read-timeout".into(), "2s".into()],
        ..Default::default()
    });
    let connect = || tokio::net::TcpStream::connect(&host.addr);
    // A head never finished (slowloris), to the app and to the metrics listener.
    let mut trickling = connect().await.unwrap();
    trickling
        .write_all(b"GET /exact HTTP/1.1\r\nhost: t\r\n")
        .await
        .unwrap();
    let mut trickling_metrics = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    trickling_metrics
        .write_all(b"GET /metrics HTTP/1.1\r\nhost: t\r\n")
        .await
        .unwrap();
    // A keep-alive connection left idle after its response.
    let mut idle = Connection::open(&host).await;
    assert_eq!(idle.get("/exact").await.0, 200);
    // A head sent in two parts, the second 500 ms later: within the timeout, served.
    let mut slow = connect().await.unwrap();
    slow.write_all(b"GET /exact HTTP/1.1\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    slow.write_all(b"host: t\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = answer_until_close(&mut slow).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    assert!(
        closed_by_host(&mut trickling, Duration::from_secs(15)).await,
        "a connection whose head never ends is still open"
    );
    assert!(
        closed_by_host(&mut trickling_metrics, Duration::from_secs(15)).await,
        "a metrics connection whose head never ends is still open"
    );
    let idle_closed = async {
        while !idle.0.is_closed() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    assert!(
        tokio::time::timeout(Duration::from_secs(15), idle_closed)
            .await
            .is_ok(),
        "an idle keep-alive connection is still open"
    );
    // Closing them is the host's ordinary work: it keeps serving.
    assert_eq!(get(&host, "/exact").await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_body_that_stalls_gets_408_and_changes_nothing() {
    use tokio::io::AsyncWriteExt;
    let host = start(HostOptions {
        args: vec!["--body-read-timeout".into(), "2s".into()],
        ..Default::default()
    });
    let head =
        |path: &str| format!("POST {path} HTTP/1.1\r\nhost: t\r\ncontent-length: 10\r\n\r\n");
    // Four of ten bytes, then nothing: straight to the component, and through a
    // chain, whose middleware passes the body on to the same component.
    for path in [
        "/kv/set?store=default&key=stalled",
        "/layered/kv/set?store=default&key=stalled",
    ] {
        // The host answers and closes the connection: what the client sends next
        // could not be told apart from the rest of this body.
        let answer = send_raw(&host, format!("{}abcd", head(path)).as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
        assert!(
            answer.contains("application/problem+json") && answer.contains("host/request-timeout"),
            "{path}: {answer}"
        );
        assert!(answer.contains("connection: close"), "{path}: {answer}");
    }
    assert_eq!(get(&host, "/kv/get?store=default&key=stalled").await.0, 404);

    // The timeout is between reads, not for the whole body: ten bytes in three parts
    // 1.5 s apart, 3 s in all, are stored whole.
    let mut slow = tokio::net::TcpStream::connect(&host.addr).await.unwrap();
    let path = "/kv/set?store=default&key=slow";
    let head = head(path).replace("\r\n\r\n", "\r\nconnection: close\r\n\r\n");
    slow.write_all(format!("{head}abcde").as_bytes())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    slow.write_all(b"fgh").await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    slow.write_all(b"ij").await.unwrap();
    let answer = answer_until_close(&mut slow).await;
    assert!(answer.starts_with("HTTP/1.1 204"), "{answer}");
    assert_eq!(
        get(&host, "/kv/get?store=default&key=slow").await,
        (200, "abcdefghij".to_string())
    );
    assert!(host.logged("\"status\":408"), "{}", host.logs());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_stops_reading_its_response_is_cut_off_and_its_instance_let_go() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (host, port) = start_with_metrics(HostOptions {
        args: vec!["--response-write-timeout".into(), "2s".into()],
        ..Default::default()
    });
    // Far more than the socket buffers between the host and the client hold.
    const LONG: usize = 64 << 20;
    let request = |id: &str| {
        format!(
            "GET /bytes?n={LONG} HTTP/1.1\r\nhost: t\r\nx-request-id: {id}\r\nconnection: close\r\n\r\n"
        )
    };
    let chunked_end = b"\r\n0\r\n\r\n";
    let body_len = |answer: &[u8]| {
        let head = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        answer[head..].iter().filter(|b| **b == b'x').count()
    };

    let instances = "waypost_instances{component=\"probe\"}";
    let mut stalled = tokio::net::TcpStream::connect(&host.addr).await.unwrap();
    stalled
        .write_all(request("stalled").as_bytes())
        .await
        .unwrap();
    // Past the idle timeout (1 s) the instance is still there: its response is not done.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sample(&metrics(port).await, instances), Some(1.0));
    // Past the write timeout and then the idle timeout, it is gone.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    assert_eq!(sample(&metrics(port).await, instances), Some(0.0));
    // What the host wrote before it gave up, then the end of the connection.
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stalled.read_to_end(&mut answer));
    read.await.expect("closed within 10 s").unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 200"));
    assert!(body_len(&answer) < LONG, "{} bytes", body_len(&answer));
    assert!(!answer.ends_with(chunked_end));
    assert!(
        host.logged("\"event\":\"response_write_timeout\""),
        "{}",
        host.logs()
    );
    let text = metrics(port).await;
    let closed = "waypost_response_write_timeouts_total";
    assert_eq!(sample(&text, closed), Some(1.0), "{text}");
    let line = host.access_line("stalled");
    assert_eq!(line["response_cut"], "connection", "{line}");
    let sent = line["response_bytes"].as_u64().unwrap();
    assert!(
        sent >= body_len(&answer) as u64 && sent < LONG as u64,
        "{line}"
    );

    // The timeout is between writes, not for the whole response: a client reading
    // at most 1 MiB every 50 ms (at least 3.2 s for all of it) keeps the host waiting
    // for each write far less than 2 s, and gets the whole response.
    let mut steady = tokio::net::TcpStream::connect(&host.addr).await.unwrap();
    steady
        .write_all(request("steady").as_bytes())
        .await
        .unwrap();
    let mut answer = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = steady.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let start = String::from_utf8_lossy(&answer[..answer.len().min(300)]);
    assert_eq!(body_len(&answer), LONG, "{start}");
    assert!(answer.ends_with(chunked_end));
    assert_eq!(sample(&metrics(port).await, closed), Some(1.0));
    let line = host.access_line("steady");
    assert_eq!(line["response_bytes"], LONG, "{line}");
    assert_eq!(line["response_cut"], serde_json::Value::Null, "{line}");
}

/// Sets process `pid`'s soft limit on open file descriptors; its previous limits.
fn set_open_files_limit(pid: u32, soft: u64) -> libc::rlimit {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    let got = unsafe { libc::prlimit(pid as i32, libc::RLIMIT_NOFILE, std::ptr::null(), &mut old) };
    assert_eq!(got, 0, "{}", std::io::Error::last_os_error());
    let new = libc::rlimit {
        rlim_cur: soft,
        rlim_max: old.rlim_max,
    };
    let set = unsafe { libc::prlimit(pid as i32, libc::RLIMIT_NOFILE, &new, std::ptr::null_mut()) };
    assert_eq!(set, 0, "{}", std::io::Error::last_os_error());
    old
}

#[tokio::test(flavor = "multi_thread")]
async fn out_of_file_descriptors_the_host_pauses_accepting_then_serves_who_waited() {
    use tokio::io::AsyncWriteExt;
    let host = start(HostOptions::default());
    assert_eq!(get(&host, "/exact").await.0, 200);
    // The limit at the highest descriptor open: what is free below it is what the
    // host can still accept; every connection after that waits in the backlog.
    let open: Vec<u64> = std::fs::read_dir(format!("/proc/{}/fd", host.pid()))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    let limit = open.iter().max().unwrap() + 1;
    let free = limit as usize - open.len();
    let old = set_open_files_limit(host.pid(), limit);
    let mut waiting = Vec::new();
    for _ in 0..free + 3 {
        waiting.push(tokio::net::TcpStream::connect(&host.addr).await.unwrap());
    }
    assert!(host.logged("Too many open files"), "{}", host.logs());
    let cpu = cpu_used_over_a_second(&host).await;
    assert!(
        cpu < 0.3,
        "{cpu} s of CPU a second while out of descriptors"
    );

    set_open_files_limit(host.pid(), old.rlim_cur);
    let mut last = waiting.pop().unwrap();
    last.write_all(b"GET /exact HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = answer_until_close(&mut last).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let errors = host.logs().matches("accept_error").count();
    assert!(errors < 100, "{errors} accept_error lines");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_every_instance_slot_busy_a_request_gets_503_and_retry_after() {
    // Room for two instances, each serving one request at a time.
    let (host, port) = start_with_metrics(HostOptions {
        env: vec![("SPIN_WASMTIME_INSTANCE_COUNT".into(), "2".into())],
        args: vec!["--max-instance-concurrent-reuse-count".into(), "1".into()],
        ..Default::default()
    });
    let slow: Vec<_> = (0..2)
        .map(|_| {
            let url = host.url("/slow?ms=3000");
            tokio::spawn(async move { client().get(url).send().await.unwrap().status() })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let busy = client().get(host.url("/exact")).send().await.unwrap();
    assert_eq!(busy.status(), 503);
    assert_eq!(busy.headers()["retry-after"], "1");
    assert_eq!(busy.headers()["content-type"], "application/problem+json");
    let problem: serde_json::Value = busy.json().await.unwrap();
    assert_eq!(
        problem["type"], "https://waypost.dev/problems/host/at-capacity",
        "{problem}"
    );
    for request in slow {
        assert_eq!(
            request.await.unwrap(),
            200,
            "the requests holding the slots"
        );
    }
    // The slots' instances are free again: the same request is served.
    assert_eq!(get(&host, "/exact").await.0, 200);
    let logs = host.logs();
    assert!(logs.contains("\"event\":\"at_capacity\""), "{logs}");
    assert!(!logs.contains("guest_error"), "{logs}");
    let text = metrics(port).await;
    let refused = "waypost_at_capacity_total{component=\"probe\"}";
    assert_eq!(sample(&text, refused), Some(1.0), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_instance_gives_its_slot_up_to_a_request_that_finds_none_free() {
    // One slot, two components, and two serving threads that new connections go to
    // in turn (each `get` is a new connection): every request needs the slot that the
    // instance before it sits idle in, kept for reuse on the other thread or by the
    // other component.
    let (host, port) = start_with_metrics(HostOptions {
        env: vec![("SPIN_WASMTIME_INSTANCE_COUNT".into(), "1".into())],
        args: vec!["--serving-threads".into(), "2".into()],
        ..Default::default()
    });
    for path in [
        "/exact",
        "/exact",
        "/exact",
        "/kvless/x",
        "/exact",
        "/kvless/x",
    ] {
        assert_eq!(get(&host, path).await.0, 200, "{path}: {}", host.logs());
    }
    let text = metrics(port).await;
    for component in ["probe", "kvless"] {
        let started = format!("waypost_instances_started_total{{component=\"{component}\"}}");
        assert!(sample(&text, &started).is_some(), "{text}");
        let refused = format!("waypost_at_capacity_total{{component=\"{component}\"}}");
        assert_eq!(sample(&text, &refused), None, "{text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chain_whose_inner_link_finds_no_slot_answers_503_through_its_middleware() {
    // `/layered` runs in three stores (its middleware are granted less than the
    // probe): the two layers take both slots, and the probe finds none.
    let host = start(HostOptions {
        env: vec![("SPIN_WASMTIME_INSTANCE_COUNT".into(), "2".into())],
        args: vec!["--serving-threads".into(), "1".into()],
        ..Default::default()
    });
    let r = client()
        .get(host.url("/layered/exact"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    let logs = host.logs();
    assert!(
        logs.contains("\"component\":\"probe\",\"event\":\"at_capacity\""),
        "{logs}"
    );
}

#[test]
fn up_refuses_a_pool_size_that_is_not_a_number_and_names_the_variable() {
    let started = start_fixture(HostOptions {
        env: vec![("SPIN_WASMTIME_INSTANCE_COUNT".into(), "lots".into())],
        ..Default::default()
    });
    let Err(e) = started else {
        panic!("started with SPIN_WASMTIME_INSTANCE_COUNT=lots");
    };
    assert!(
        e.to_string()
            .contains("SPIN_WASMTIME_INSTANCE_COUNT=lots: expected a number"),
        "{e}"
    );
}

/// Serves an app of `body` (`write_manifest`) with the default options; the
/// directory it is written in lives as long as the second half.
fn serve_manifest(body: &str) -> (Host, tempfile::TempDir) {
    fixture_components();
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path(), body);
    (Host::start(&manifest, HostOptions::default()).unwrap(), dir)
}

fn write_manifest(dir: &Path, body: &str) -> std::path::PathBuf {
    let wasm = waypost_tests::wasm(&[
        "waypost-probe",
        "waypost-layer-outer",
        "waypost-layer-inner",
    ]);
    waypost_tests::write_app(dir, body, &[("PROBE", &wasm[0]), ("OUTER", &wasm[1])])
}

fn up_fails(body: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    waypost_tests::up_refused(&write_manifest(dir.path(), body))
}

#[test]
fn bad_manifests_stop_up_with_the_file_and_field() {
    fixture_components();
    let trigger = "[[trigger.http]]\nroute = \"/...\"\ncomponent = \"probe\"\n";
    let probe = "[component.probe]\nsource = \"PROBE\"\n";

    let err = up_fails(&format!(
        "[[trigger.http]]\nroute = \"/...\"\ncomponent = \"nope\"\n{probe}"
    ));
    assert!(
        err.contains("trigger.http[0].component") && err.contains("`nope`"),
        "{err}"
    );

    let err = up_fails(&format!(
        "{trigger}[component.probe]\nsource = \"missing.wasm\"\n"
    ));
    assert!(
        err.contains("component.probe.source") && err.contains("missing.wasm"),
        "{err}"
    );

    let err = up_fails(&format!(
        "[[trigger.http]]\nroute = \"/a/.../b\"\ncomponent = \"probe\"\n{probe}"
    ));
    assert!(err.contains("trigger.http[0].route"), "{err}");

    let err = up_fails(&format!(
        "[[trigger.http]]\nroute = \"/...\"\ncomponent = \"probe\"\ndependencies.middleware = [{{ component = \"plain\" }}]\n{probe}[component.plain]\nsource = \"PROBE\"\n"
    ));
    assert!(
        err.contains("dependencies.middleware[0]") && err.contains("does not import"),
        "{err}"
    );

    let err = up_fails(&format!("{trigger}{probe}key_value_stores = [\"cache\"]\n"));
    assert!(
        err.contains("component.probe.key_value_stores[0]") && err.contains("`cache`"),
        "{err}"
    );

    let err = up_fails(&format!("{trigger}{probe}allowed_outbund_hosts = []\n"));
    assert!(err.contains("allowed_outbund_hosts"), "{err}");

    let err = up_fails(
        "[[trigger.http]]\nroute = \"/...\"\ncomponent = \"outer\"\n[component.outer]\nsource = \"OUTER\"\n",
    );
    assert!(
        err.contains("trigger.http[0].component")
            && err.contains("so it is middleware")
            && err.contains("`http-middleware` feature"),
        "{err}"
    );
}

#[test]
fn build_runs_each_components_build_command_in_its_workdir() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let manifest = dir.path().join("spin.toml");
    std::fs::write(
        &manifest,
        r#"spin_manifest_version = 2
[application]
name = "b"
[component.one]
source = "one.wasm"
[component.one.build]
command = "echo one > built-one"
[component.two]
source = "two.wasm"
[component.two.build]
command = "echo two > built-two"
workdir = "sub"
"#,
    )
    .unwrap();
    let (ok, stderr) = run_host(&["build", "-f", manifest.to_str().unwrap()], &[]);
    assert!(ok, "{stderr}");
    assert!(dir.path().join("built-one").exists());
    assert!(dir.path().join("sub/built-two").exists());

    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("echo two > built-two", "exit 3")).unwrap();
    let (ok, stderr) = run_host(&["build", "-f", manifest.to_str().unwrap()], &[]);
    assert!(!ok);
    assert!(stderr.contains("component two failed"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_runtime_config_adds_stores_and_variable_values() {
    fixture_components();
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(
        dir.path(),
        r#"
[variables]
region = { required = true }
[[trigger.http]]
route = "/..."
component = "probe"
[component.probe]
source = "PROBE"
key_value_stores = ["default", "cache"]
variables = { region = "{{ region }}" }
"#,
    );
    let runtime_config = dir.path().join("runtime-config.toml");
    std::fs::write(
        &runtime_config,
        r#"
[key_value_store.cache]
type = "spin"
path = "cache.db"

[[variables_provider]]
type = "static"
values = { region = "eu" }
"#,
    )
    .unwrap();
    let host = Host::start(
        &manifest,
        HostOptions {
            args: vec![
                "--runtime-config-file".into(),
                runtime_config.to_str().unwrap().into(),
            ],
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(get(&host, "/var/region").await, (200, "eu".into()));
    let r = post(&host, "/kv/set?store=cache&key=k", "in the cache").await;
    assert_eq!(r.status(), 204);
    assert_eq!(
        get(&host, "/kv/get?store=cache&key=k").await,
        (200, "in the cache".into())
    );
    assert_eq!(
        get(&host, "/kv/get?store=default&key=k").await.0,
        404,
        "separate stores"
    );
    assert!(
        dir.path().join("cache.db").exists(),
        "path relative to the runtime config"
    );
}

/// An upstream answering `ok` to every request, keeping connections open; with the
/// count of connections it accepted.
fn keep_alive_upstream() -> (u16, Arc<AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counted = accepted.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { break };
            counted.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                // One response per request read, on the same connection.
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
                }
            });
        }
    });
    (port, accepted)
}

#[tokio::test(flavor = "multi_thread")]
async fn outbound_connections_to_an_upstream_are_kept_alive_and_reused() {
    let (port, accepted) = keep_alive_upstream();
    let host = start(HostOptions {
        args: vec!["--variable".into(), format!("upstream_port={port}")],
        ..Default::default()
    });
    let path = format!("/outbound?url=http%3A%2F%2F127.0.0.1%3A{port}%2F");
    // One connection to the host, so one serving thread makes the five calls. The
    // upstream connection goes back to the pool on the thread that made the last call,
    // after that call's answer may already be out; a call on another serving thread in
    // that moment opens a second connection (seen once in CI).
    let mut conn = Connection::open(&host).await;
    for _ in 0..5 {
        assert_eq!(conn.get(&path).await, (200, "ok".into()));
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "one pooled connection for five calls"
    );
}

#[test]
fn a_second_host_on_the_same_state_dir_refuses_to_start() {
    let first = start(HostOptions::default());
    let manifest = fixture_manifest();
    let state = first.state_dir.to_str().unwrap().to_string();
    let (ok, stderr) = run_host(
        &[
            "up",
            "-f",
            manifest.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--state-dir",
            &state,
        ],
        &[SECRET],
    );
    assert!(!ok);
    assert!(stderr.contains("sqlite_key_value.db"), "{stderr}");
    assert!(stderr.contains("locked"), "{stderr}");
}
