//! `[[client_tls]]` of the runtime config: the fixture's probe (and `kvless`, the
//! same component under another id) call an HTTPS upstream whose certificate a test
//! CA signed, and which may require a client certificate that CA signed. The same
//! upstream stands for the gateway `config push` calls and for an OTLP collector.
//! A real NGINX checks what the host sends over each HTTP version. Every
//! certificate is made by the test, in its own directory.

use http_body_util::Full;
use hyper::Request;
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio_rustls::rustls;
#[path = "support/pki.rs"]
mod pki;
use pki::Pki;
use waypost_tests::{Daemon, Host, HostOptions, client, free_port, start_fixture, workspace_root};

/// A sampled trace context: the host exports its span.
const TRACE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
/// What the upstream answers over HTTP/2, which it offers by ALPN unless told not to.
const BODY: &str = "hello over HTTP/2.0";

/// A running `tls_upstream`.
struct Upstream {
    port: u16,
    /// The handshakes that succeeded.
    handshakes: Arc<AtomicUsize>,
    /// The method and path of every request, in order.
    requests: Arc<Mutex<Vec<String>>>,
}

/// An HTTPS upstream on 127.0.0.1 with a certificate for `localhost`, offering HTTP/2
/// and HTTP/1.1 by ALPN (HTTP/1.1 only without `http2`), answering every request with
/// `hello over <its HTTP version>` on kept-alive connections, `/slow` after 300 ms.
/// With `require_client_cert`, a handshake without a client certificate the CA signed
/// fails.
async fn tls_upstream(pki: &Pki, require_client_cert: bool, http2: bool) -> Upstream {
    let (cert, key) = pki.issue("localhost", "server");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = if require_client_cert {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(pki.ca_der.clone()).unwrap();
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder.with_single_cert(vec![cert], key).unwrap();
    config.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    let handshakes = Arc::new(AtomicUsize::new(0));
    let counted = handshakes.clone();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let recorded = requests.clone();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let counted = counted.clone();
            let recorded = recorded.clone();
            tokio::spawn(async move {
                match acceptor.accept(tcp).into_fallible().await {
                    Ok(tls) => {
                        counted.fetch_add(1, Ordering::SeqCst);
                        let answer = hyper::service::service_fn(|req: Request<Incoming>| {
                            let line = format!("{} {}", req.method(), req.uri().path());
                            recorded.lock().unwrap().push(line);
                            async move {
                                if req.uri().path() == "/slow" {
                                    tokio::time::sleep(Duration::from_millis(300)).await;
                                }
                                let body = format!("hello over {:?}", req.version());
                                Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                                    Bytes::from(body),
                                )))
                            }
                        });
                        let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(tls), answer)
                            .await;
                    }
                    // The alert is sent; reading what the client sent meanwhile until it
                    // closes keeps the close from being a reset that could overtake it.
                    Err((_, mut tcp)) => {
                        let mut sink = [0u8; 4096];
                        let drain =
                            async { while tcp.read(&mut sink).await.is_ok_and(|n| n > 0) {} };
                        let _ = tokio::time::timeout(Duration::from_secs(5), drain).await;
                    }
                }
            });
        }
    });
    Upstream {
        port,
        handshakes,
        requests,
    }
}

fn start(pki: &Pki, runtime_config: &str, upstream_port: u16) -> Host {
    try_start(pki, runtime_config, upstream_port).expect("host starts")
}

/// Writes `runtime_config` next to the PKI's files and serves the fixture with it.
fn try_start(pki: &Pki, runtime_config: &str, upstream_port: u16) -> anyhow::Result<Host> {
    try_start_with(pki, runtime_config, upstream_port, HostOptions::default())
}

/// `try_start` with `extra`'s environment and arguments too.
fn try_start_with(
    pki: &Pki,
    runtime_config: &str,
    upstream_port: u16,
    extra: HostOptions,
) -> anyhow::Result<Host> {
    let path = pki.path("runtime-config.toml");
    std::fs::write(&path, runtime_config).unwrap();
    let mut args = vec![
        "--variable".into(),
        format!("upstream_port={upstream_port}"),
        "--runtime-config-file".into(),
        path.to_str().unwrap().into(),
    ];
    args.extend(extra.args);
    start_fixture(HostOptions { args, ..extra })
}

/// The component under `prefix` GETs `https://localhost:<port>/`.
async fn call(host: &Host, prefix: &str, port: u16) -> (u16, String) {
    get(host, prefix, port, "").await
}

/// The component under `prefix` GETs `https://localhost:<port>/<path>`.
async fn get(host: &Host, prefix: &str, port: u16, path: &str) -> (u16, String) {
    let path = format!("{prefix}/outbound?url=https%3A%2F%2Flocalhost%3A{port}%2F{path}");
    let r = client().get(host.url(&path)).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

const PROBE_TRUSTS_THE_CA: &str = r#"
[[client_tls]]
component_ids = ["probe"]
hosts = ["LocalHost"]
ca_roots_file = "ca.pem"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn an_https_upstream_is_checked_against_the_roots_the_component_is_given() {
    let pki = Pki::new();
    let port = tls_upstream(&pki, false, true).await.port;

    // With no entry, the platform's and webpki's roots, which do not know the test CA.
    let host = start(&pki, "", port);
    let (status, body) = call(&host, "", port).await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("TlsCertificateError"), "{body}");
    drop(host);

    let host = start(&pki, PROBE_TRUSTS_THE_CA, port);
    assert_eq!(call(&host, "", port).await, (200, BODY.into()));
    // The entry is the probe's: the same upstream is unknown to another component.
    let (status, body) = call(&host, "/kvless", port).await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("TlsCertificateError"), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_certificate_is_presented_only_for_the_component_its_entry_names() {
    let pki = Pki::new();
    pki.issue("probe.client.test", "probe-client");
    let port = tls_upstream(&pki, true, true).await.port;
    let host = start(
        &pki,
        &format!(
            "{PROBE_TRUSTS_THE_CA}client_cert_file = \"probe-client.pem\"\n\
             client_private_key_file = \"probe-client-key.pem\"\n\
             [[client_tls]]\ncomponent_ids = [\"kvless\"]\nhosts = [\"localhost\"]\n\
             ca_roots_file = \"ca.pem\"\n"
        ),
        port,
    );
    assert_eq!(call(&host, "", port).await, (200, BODY.into()));
    // The probe's connection now waits in its pool, kept alive. The other component's
    // call does not get it: it connects with no certificate, and the upstream refuses.
    let (status, body) = call(&host, "/kvless", port).await;
    assert_eq!(status, 502, "{body}");
    assert!(
        body.contains("TlsAlertReceived") && body.contains("CertificateRequired"),
        "{body}"
    );
    assert_eq!(call(&host, "", port).await, (200, BODY.into()));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upstream_offering_http2_gets_it_and_concurrent_calls_share_its_connection() {
    let pki = Pki::new();
    let Upstream {
        port, handshakes, ..
    } = tls_upstream(&pki, false, true).await;
    let host = start(&pki, PROBE_TRUSTS_THE_CA, port);
    assert_eq!(call(&host, "", port).await, (200, BODY.into()));
    // Eight calls at once, each answered after 300 ms: over HTTP/1.1 each would need
    // a connection of its own.
    let calls = (0..8).map(|_| get(&host, "", port, "slow"));
    for answer in futures::future::join_all(calls).await {
        assert_eq!(answer, (200, BODY.into()));
    }
    assert_eq!(handshakes.load(Ordering::SeqCst), 1);
    drop(host);

    // An upstream that offers HTTP/1.1 only is called with it.
    let http1_only = tls_upstream(&pki, false, false).await.port;
    let host = start(&pki, PROBE_TRUSTS_THE_CA, http1_only);
    assert_eq!(
        call(&host, "", http1_only).await,
        (200, "hello over HTTP/1.1".into())
    );
}

/// NGINX on 127.0.0.1 for one test: HTTPS with HTTP/2 (the `localhost` certificate
/// the PKI issues) on `https_port`, plain HTTP/1.1 on `http_port` and plain HTTP/2
/// only (h2c) on `h2c_port`, each answering `nginx over <protocol> host=<the host
/// it was asked for>`. Stopped on drop.
struct Nginx {
    _daemon: Daemon,
    https_port: u16,
    http_port: u16,
    h2c_port: u16,
}

impl Nginx {
    fn start(pki: &Pki) -> Self {
        pki.issue("localhost", "nginx");
        let (https_port, http_port, h2c_port) = (free_port(), free_port(), free_port());
        let dir = pki.path("nginx");
        std::fs::create_dir_all(&dir).unwrap();
        let dir = dir.display();
        let answer = r#"return 200 "nginx over $server_protocol host=$http_host";"#;
        let conf = format!(
            "daemon off;\nmaster_process off;\npid {dir}/nginx.pid;\nerror_log stderr;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {dir}/body;\n\
             proxy_temp_path {dir}/proxy;\n  fastcgi_temp_path {dir}/fastcgi;\n\
             uwsgi_temp_path {dir}/uwsgi;\n  scgi_temp_path {dir}/scgi;\n\
             server {{\n    listen 127.0.0.1:{https_port} ssl http2;\n\
             ssl_certificate {cert};\n    ssl_certificate_key {key};\n\
             location / {{ {answer} }}\n  }}\n\
             server {{\n    listen 127.0.0.1:{http_port};\n    location / {{ {answer} }}\n  }}\n\
             server {{\n    listen 127.0.0.1:{h2c_port} http2;\n    location / {{ {answer} }}\n  }}\n}}\n",
            cert = pki.path("nginx.pem").display(),
            key = pki.path("nginx-key.pem").display(),
        );
        let conf_path = pki.path("nginx/nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let mut command = std::process::Command::new("nginx");
        command
            .arg("-p")
            .arg(pki.path("nginx"))
            .arg("-c")
            .arg(&conf_path);
        Self {
            _daemon: Daemon::start(command, &[https_port, http_port, h2c_port]),
            https_port,
            http_port,
            h2c_port,
        }
    }
}

/// NGINX before 1.29.1 refuses an HTTP/2 request that has a `Host` header beside its
/// `:authority` (400, "client sent duplicate host header"), and an HTTP/1.1 request
/// without one. The host sends each what it expects.
#[tokio::test(flavor = "multi_thread")]
async fn nginx_serves_calls_over_http2_and_http1() {
    let pki = Pki::new();
    let nginx = Nginx::start(&pki);
    let host = start(&pki, PROBE_TRUSTS_THE_CA, nginx.https_port);
    let (status, body) = call(&host, "", nginx.https_port).await;
    assert_eq!(
        (status, body.as_str()),
        (
            200,
            format!("nginx over HTTP/2.0 host=localhost:{}", nginx.https_port).as_str()
        )
    );
    drop(host);

    let host = start(&pki, "", nginx.http_port);
    let (status, body) = call_plain(&host, "127.0.0.1", nginx.http_port).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        format!("nginx over HTTP/1.1 host=127.0.0.1:{}", nginx.http_port)
    );
}

/// The component under the root GETs `http://<host>:<port>/`.
async fn call_plain(host: &Host, upstream: &str, port: u16) -> (u16, String) {
    let path = format!("/outbound?url=http%3A%2F%2F{upstream}%3A{port}%2F");
    let r = client().get(host.url(&path)).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// `SPIN_OUTBOUND_H2C_PRIOR_KNOWLEDGE=host:port`, as on Spin: plain-HTTP calls to
/// that authority, as written, speak HTTP/2 at once; others speak HTTP/1.1.
#[tokio::test(flavor = "multi_thread")]
async fn h2c_prior_knowledge_speaks_http2_in_plain_text_to_the_authority_named() {
    let pki = Pki::new();
    let nginx = Nginx::start(&pki);
    let authority = format!("127.0.0.1:{}", nginx.h2c_port);
    let env = vec![(
        "SPIN_OUTBOUND_H2C_PRIOR_KNOWLEDGE".into(),
        authority.clone(),
    )];
    let options = HostOptions {
        env,
        ..Default::default()
    };
    let host = try_start_with(&pki, "", nginx.h2c_port, options).unwrap();
    let (status, body) = call_plain(&host, "127.0.0.1", nginx.h2c_port).await;
    assert_eq!(
        (status, body),
        (200, format!("nginx over HTTP/2.0 host={authority}"))
    );
    // The same listener by another name is not the authority named: HTTP/1.1, which
    // an HTTP/2-only listener does not answer.
    let (status, body) = call_plain(&host, "localhost", nginx.h2c_port).await;
    assert_eq!(
        (status, body.as_str()),
        (502, "ErrorCode::HttpProtocolError")
    );
}

/// `up` with `runtime_config` stops before serving; what it printed.
fn refused(pki: &Pki, runtime_config: &str) -> String {
    let path = pki.path("runtime-config.toml");
    let Err(error) = try_start(pki, runtime_config, 1) else {
        panic!("up served with {runtime_config}");
    };
    let error = error.to_string();
    assert!(error.contains(path.to_str().unwrap()), "{error}");
    error
}

#[test]
fn a_client_tls_entry_up_cannot_use_stops_it_naming_the_entry() {
    let pki = Pki::new();
    pki.issue("probe.client.test", "probe-client");
    pki.issue("other.client.test", "other-client");
    let entry = "[[client_tls]]\nhosts = [\"localhost\"]\nca_roots_file = \"ca.pem\"\n";

    let misspelt = refused(&pki, &format!("{entry}component_ids = [\"prober\"]\n"));
    assert!(misspelt.contains("[[client_tls]] 1"), "{misspelt}");
    assert!(misspelt.contains("`prober`"), "{misspelt}");

    let mismatched = refused(
        &pki,
        &format!(
            "{entry}component_ids = [\"probe\"]\nclient_cert_file = \"probe-client.pem\"\n\
             client_private_key_file = \"other-client-key.pem\"\n"
        ),
    );
    assert!(mismatched.contains("do not make a pair"), "{mismatched}");

    let missing = refused(
        &pki,
        "[[client_tls]]\ncomponent_ids = [\"probe\"]\nhosts = [\"localhost\"]\n\
         ca_roots_file = \"no-such-ca.pem\"\n",
    );
    let file = pki.path("no-such-ca.pem").display().to_string();
    assert!(missing.contains(&file), "{missing}");
}

/// The host's own HTTPS clients trust what components' calls no entry governs trust:
/// the platform's roots (named here by `SSL_CERT_FILE`, as on any Linux) and webpki's.
#[tokio::test(flavor = "multi_thread")]
async fn config_push_checks_the_gateway_against_the_platforms_roots() {
    let pki = Pki::new();
    let gateway = tls_upstream(&pki, false, true).await;
    let push = |env: Vec<(&'static str, String)>| {
        let document = workspace_root().join("infra/regions/local/gateway.toml");
        let to = format!("https://localhost:{}", gateway.port);
        tokio::task::spawn_blocking(move || {
            let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            env.push(("WAYPOST_ADMIN_TOKEN", "token"));
            waypost_tests::run_host(
                &["config", "push", document.to_str().unwrap(), "--to", &to],
                &env,
            )
        })
    };
    let (ok, stderr) = push(Vec::new()).await.unwrap();
    assert!(!ok && stderr.contains("cannot reach"), "{stderr}");
    assert!(stderr.contains("certificate"), "{stderr}");
    assert!(gateway.requests.lock().unwrap().is_empty());

    let ca = pki.path("ca.pem").to_str().unwrap().to_string();
    let (ok, stderr) = push(vec![("SSL_CERT_FILE", ca)]).await.unwrap();
    assert!(ok, "{stderr}");
    assert_eq!(*gateway.requests.lock().unwrap(), ["PUT /admin/config"]);
}

/// The OTel SDKs' TLS variables: the collector's CA, and the client certificate a
/// collector behind mutual TLS asks for.
#[tokio::test(flavor = "multi_thread")]
async fn spans_reach_an_https_collector_with_the_otel_tls_variables() {
    let pki = Pki::new();
    pki.issue("exporter.client.test", "exporter");
    let collector = tls_upstream(&pki, true, true).await;
    let exported = || {
        let requests = collector.requests.lock().unwrap();
        requests.iter().filter(|r| *r == "POST /v1/traces").count()
    };
    let start_exporting = |client_certificate: bool| {
        let mut env = vec![(
            "OTEL_EXPORTER_OTLP_CERTIFICATE".to_string(),
            pki.path("ca.pem").to_str().unwrap().to_string(),
        )];
        if client_certificate {
            for (var, file) in [
                (
                    "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
                    "exporter.pem",
                ),
                ("OTEL_EXPORTER_OTLP_CLIENT_KEY", "exporter-key.pem"),
            ] {
                env.push((var.into(), pki.path(file).to_str().unwrap().into()));
            }
        }
        let args = vec![
            "--otlp-endpoint".to_string(),
            format!("https://localhost:{}", collector.port),
        ];
        try_start_with(
            &pki,
            "",
            1,
            HostOptions {
                env,
                args,
                ..Default::default()
            },
        )
    };
    let traced = async |host: &Host| {
        client()
            .get(host.url("/"))
            .header("traceparent", TRACE)
            .send()
            .await
            .unwrap();
    };

    let host = start_exporting(true).unwrap();
    traced(&host).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while exported() == 0 {
        assert!(std::time::Instant::now() < deadline, "{}", host.logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !host.logs().contains("otlp_export_failed"),
        "{}",
        host.logs()
    );
    drop(host);

    // Without its certificate the collector refuses the exporter, which says so.
    let before = exported();
    let host = start_exporting(false).unwrap();
    traced(&host).await;
    assert!(host.logged("otlp_export_failed"), "{}", host.logs());
    assert_eq!(exported(), before);
    drop(host);

    // A file that cannot be read stops `up`, naming its variable.
    let Err(error) = try_start_with(
        &pki,
        "",
        1,
        HostOptions {
            env: vec![
                (
                    "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE".into(),
                    pki.path("exporter.pem").to_str().unwrap().into(),
                ),
                (
                    "OTEL_EXPORTER_OTLP_CLIENT_KEY".into(),
                    pki.path("no-such-key.pem").to_str().unwrap().into(),
                ),
            ],
            args: vec![
                "--otlp-endpoint".into(),
                format!("https://localhost:{}", collector.port),
            ],
            ..Default::default()
        },
    ) else {
        panic!("up served with a key file that does not exist");
    };
    let error = error.to_string();
    assert!(
        error.contains("OTEL_EXPORTER_OTLP_CLIENT_KEY") && error.contains("no-such-key.pem"),
        "{error}"
    );
}
