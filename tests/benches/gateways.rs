//! The gateway benchmark: Waypost against the gateways users run today (HAProxy,
//! NGINX + njs) with the same policy, side by side in one run, on 127.0.0.1.
//!
//! ```text
//! cargo bench -p waypost-tests --bench gateways              # 10 s per measurement
//! BENCH_SECONDS=5 cargo bench -p waypost-tests --bench gateways
//! cargo bench -p waypost-tests --bench gateways -- haproxy waypost-jwt   # some rows
//! ```
//!
//! It builds the RELEASE host and the app's components (`waypost_tests::APP_COMPONENTS`,
//! one cargo call each), then starts
//! - a native upstream: an in-process hyper server answering every request `200` with
//!   a fixed 31-byte JSON body;
//! - Waypost: `waypost up` on `tests/benches/gateways/spin.toml` (the app's components
//!   and chains, the router and rates allowed to call 127.0.0.1, plus a route without
//!   quota), with the demo's runtime config for its secrets, and pushes
//!   `tests/benches/gateways/gateway.toml` through `PUT /admin/config` (one tenant
//!   `bench`, an API key, an HS256 issuer, one per-tenant limit that never triggers,
//!   the `generic` carriers `bench` and `bench-nq` on the native upstream, the simulated
//!   UPS, FedEx, DHL and USPS, a DHL webhook intake);
//! - HAProxy (`gateways/haproxy.cfg`) and NGINX with njs (`gateways/nginx.conf`,
//!   `gateways/jwt.js`), each verifying the HS256 JWT, counting a per-tenant rate limit
//!   that never triggers, and routing `/v1/carriers/bench/...` to the native upstream.
//!
//! Then, for each scenario: two or more checked requests (status and body; for the
//! JWT gateways also a wrong-secret token and no credential, which must get 401), and
//! only if they pass, `wrk -t1 --latency` at 1 and at 32 connections, each after a
//! warm-up of its own:
//!
//! | scenario          | request                                                  | path through          |
//! |-------------------|----------------------------------------------------------|-----------------------|
//! | `direct`          | `GET /bench` on the native upstream                      | nothing (the floor)   |
//! | `waypost-key`     | `GET /v1/carriers/bench/bench`, `X-Api-Key`              | auth → quota → router → upstream |
//! | `waypost-jwt`     | the same with `Authorization: Bearer <HS256 JWT>`        | auth → quota → router → upstream |
//! | `waypost-noquota` | `GET /v1/carriers/bench-nq/bench`, `X-Api-Key`           | auth → router → upstream |
//! | `haproxy`         | `GET /v1/carriers/bench/bench`, bearer JWT               | HAProxy 2.6 → upstream |
//! | `nginx`           | the same                                                 | NGINX + njs → upstream |
//! | `single`          | UPS tracking through the router, `x-sandbox-latency-ms: 20` | auth → quota → router → sandbox |
//! | `rates-1`         | `POST /v1/rates` asking UPS only, 20 ms                  | auth → quota → rates → 1 carrier |
//! | `rates`           | `POST /v1/rates` asking UPS, FedEx, DHL, USPS, 20 ms each | auth → quota → rates → 4 carriers at once |
//! | `direct-post`     | webhooks.lua's POSTs on the native upstream              | nothing (webhook floor) |
//! | `webhooks`        | `POST /webhooks/dhl/bench`, static token, 10% duplicates | webhooks (verify, normalize, claim once) |
//!
//! The table: `req/s` (events/s for webhooks), `p50`/`p99`/`p99.9` in µs from wrk's
//! histogram, `errors` (non-2xx/3xx answers and socket errors; must be 0 for a row to
//! mean anything), `peak RSS` of the gateway's processes during that measurement
//! (`VmHWM`, reset before each one via `/proc/<pid>/clear_refs`; NGINX: master plus
//! workers; `direct` runs in this process: none), `CPU µs/req` (the gateway's
//! processes' user + system time during the measurement over its requests: what one
//! request costs the machine, whatever the load), `×direct` (throughput over the
//! row's floor at the same connection count: `direct`, or `direct-post` for webhooks),
//! `×haproxy` (pass-through rows over HAProxy's) and `+p50` (µs added over the floor).
//! Below it: the quota check's cost, the fan-out overhead, and the issue's targets.
//!
//! Every gateway writes an access line per request to a pipe this binary drains
//! (Waypost's host also gets one line per component), and wrk, the gateways and the
//! upstream share the machine's cores: compare rows of one run. Nothing here asserts
//! on timings; a scenario that fails its checks is `not measured`, and that or errors
//! make the bench exit 1 after printing the table.
//!
//! Environment: `BENCH_SECONDS` (default 10), `BENCH_WARMUP_SECONDS` (default 1).
//! Arguments that are not flags select scenarios by name (with the floors they are
//! compared with).
//! Needs `wrk`, `haproxy` and `nginx` with the njs module (Debian: `apt-get install -y
//! wrk haproxy nginx libnginx-mod-http-js`); a missing gateway is `not measured`.

mod common;
#[path = "gateways/proxies.rs"]
mod proxies;

use anyhow::{Context, bail};
use common::{CONNECTIONS, HttpResponse, Load, Measurement, NativeServer, Settings, http_request};
use proxies::{Daemon, Policy};
use sha2::Digest;

/// The bench tenant's API key (`gateway.toml` holds its SHA-256).
const API_KEY: &str = "bench_waypost-gateway-benchmark-key-0123456789";
/// The HS256 secret of the bench issuer: Waypost's `bench_jwt_secret`, and written into
/// HAProxy's and NGINX's configs.
const JWT_SECRET: &str = "waypost-bench-hs256-secret-0123456789abcdef";
const JWT_ISS: &str = "https://issuer.bench.waypost.local";
const JWT_AUD: &str = "waypost";
const JWT_KID: &str = "bench-hs256";
const TENANT: &str = "bench";
/// The per-tenant budget every gateway counts: per 60 s, as `gateway.toml`'s plan.
const TENANT_RATE_PER_MINUTE: u64 = 100_000_000;
const ADMIN_TOKEN: &str = "gateway-bench-admin-token";
/// What the native upstream answers.
const UPSTREAM_BODY: &[u8] = br#"{"ok":true,"upstream":"native"}"#;
const UPSTREAM_MARK: &str = r#""upstream":"native""#;
/// The simulated carriers' latency in the rates and single scenarios.
const CARRIER_LATENCY_MS: &str = "20";
/// Waypost's log lines kept in error messages.
const LOG_TAIL: usize = 40;

const SCENARIOS: [&str; 11] = [
    "direct",
    "waypost-key",
    "waypost-jwt",
    "waypost-noquota",
    "haproxy",
    "nginx",
    "single",
    "rates-1",
    "rates",
    "direct-post",
    "webhooks",
];

fn main() {
    match run() {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("gateways bench: {e:#}");
            std::process::exit(1);
        }
    }
}

/// Which processes a scenario measures (for the peak RSS column).
#[derive(Clone, Copy, PartialEq)]
enum Server {
    Native,
    Waypost,
    Haproxy,
    Nginx,
}

struct Scenario {
    name: &'static str,
    server: Server,
    url: String,
    load: Load,
    /// The floor row this one is compared with.
    floor: &'static str,
    /// Compared with HAProxy's throughput (pass-through with the same policy).
    vs_haproxy: bool,
    /// Why it cannot run (its gateway did not start), if so.
    unavailable: Option<String>,
    check: Box<dyn Fn() -> Result<(), String>>,
}

struct Row {
    name: &'static str,
    conns: u32,
    m: Measurement,
    floor: &'static str,
    vs_haproxy: bool,
    rss_kib: Option<u64>,
    /// The gateway's CPU time (all its processes and threads) per request.
    cpu_us_per_request: Option<f64>,
}

/// Runs everything; `Ok(false)` when a scenario could not be measured or saw errors.
fn run() -> anyhow::Result<bool> {
    let settings = Settings::from_env("gateways")?;
    settings.check_filters(&SCENARIOS)?;
    let (seconds, warmup) = (settings.seconds, settings.warmup);
    let root = waypost_tests::workspace_root();
    let fixtures = root.join("tests/benches/gateways");

    let host_bin = common::release_host("gateways")?;
    eprintln!("gateways bench: building the app's components");
    waypost_tests::wasm(waypost_tests::APP_COMPONENTS);

    // Everything below is stopped when dropped, on every way out of this function.
    let upstream = NativeServer::start(UPSTREAM_BODY)?;
    let upstream_url = format!("http://{}", upstream.addr);
    let host = waypost_tests::Host::start(
        &fixtures.join("spin.toml"),
        waypost_tests::HostOptions {
            binary: Some(host_bin),
            env: vec![("SPIN_VARIABLE_ADMIN_TOKEN".into(), ADMIN_TOKEN.into())],
            args: vec![
                "--runtime-config-file".into(),
                waypost_tests::demo_runtime_config().display().to_string(),
                "--variable".into(),
                format!("bench_jwt_secret={JWT_SECRET}"),
            ],
            ..Default::default()
        },
    )?;
    push_config(&host, &fixtures.join("gateway.toml"), &upstream_url)?;
    let waypost = |path: &str| host.url(path);

    let policy = Policy {
        secret: JWT_SECRET,
        iss: JWT_ISS,
        aud: JWT_AUD,
        rate_per_minute: TENANT_RATE_PER_MINUTE,
        upstream_port: upstream.addr.port(),
        workers: settings.cores.max(1),
    };
    let wanted = |name: &str| settings.selected(name);
    let haproxy = wanted("haproxy").then(|| proxies::start_haproxy(&policy));
    let nginx = wanted("nginx").then(|| proxies::start_nginx(&policy));

    let jwt = mint_jwt(JWT_SECRET);
    let forged = mint_jwt("not-the-bench-secret-0123456789abcdef");
    let bearer = |token: &str| vec![h("authorization", &format!("Bearer {token}"))];
    let key = vec![h("x-api-key", API_KEY)];
    let temp = tempfile::tempdir()?;

    let mut scenarios: Vec<Scenario> = Vec::new();
    scenarios.push(pass_through(
        "direct",
        Server::Native,
        format!("{upstream_url}/bench"),
        vec![],
        vec![],
    ));
    scenarios.push(pass_through(
        "waypost-key",
        Server::Waypost,
        waypost("/v1/carriers/bench/bench"),
        key.clone(),
        vec![
            ("a wrong API key", vec![h("x-api-key", "bench_not-the-key")]),
            ("no credential", vec![]),
        ],
    ));
    scenarios.push(pass_through(
        "waypost-jwt",
        Server::Waypost,
        waypost("/v1/carriers/bench/bench"),
        bearer(&jwt),
        vec![
            ("a token signed with another secret", bearer(&forged)),
            ("no credential", vec![]),
        ],
    ));
    scenarios.push(pass_through(
        "waypost-noquota",
        Server::Waypost,
        waypost("/v1/carriers/bench-nq/bench"),
        key.clone(),
        vec![("no credential", vec![])],
    ));
    for (name, server, daemon) in [
        ("haproxy", Server::Haproxy, &haproxy),
        ("nginx", Server::Nginx, &nginx),
    ] {
        let url = match daemon {
            Some(Ok(d)) => d.url("/v1/carriers/bench/bench"),
            _ => String::new(),
        };
        let mut s = pass_through(
            name,
            server,
            url,
            bearer(&jwt),
            vec![
                ("a token signed with another secret", bearer(&forged)),
                ("no credential", vec![]),
            ],
        );
        s.unavailable = match daemon {
            Some(Err(e)) => Some(format!("{e:#}")),
            _ => None,
        };
        scenarios.push(s);
    }

    // One carrier call through the router, and rate shopping, at 20 ms per carrier.
    let latency = h("x-sandbox-latency-ms", CARRIER_LATENCY_MS);
    {
        let url = waypost("/v1/carriers/ups/api/track/v1/details/1Z999AA10123456784");
        let headers = vec![
            h("x-api-key", API_KEY),
            h("transId", "gateway-bench"),
            h("transactionSrc", "waypost-bench"),
            latency.clone(),
        ];
        let check_headers = headers.clone();
        let check_url = url.clone();
        scenarios.push(Scenario {
            name: "single",
            server: Server::Waypost,
            url,
            load: Load {
                headers,
                ..Default::default()
            },
            floor: "direct",
            vs_haproxy: false,
            unavailable: None,
            check: Box::new(move || {
                for _ in 0..2 {
                    let r = send("GET", &check_url, &check_headers, b"")?;
                    expect(&r, 200, "trackResponse")?;
                }
                Ok(())
            }),
        });
    }
    for (name, carriers) in [
        ("rates-1", &["ups"][..]),
        ("rates", &["dhl", "fedex", "ups", "usps"][..]),
    ] {
        let body = serde_json::to_vec(&rate_request(carriers))?;
        let body_file = temp.path().join(format!("{name}.json"));
        std::fs::write(&body_file, &body)?;
        let url = waypost("/v1/rates");
        let headers = vec![
            h("x-api-key", API_KEY),
            h("content-type", "application/json"),
            latency.clone(),
        ];
        let (check_url, check_headers) = (url.clone(), headers.clone());
        let expected: Vec<String> = carriers.iter().map(|c| c.to_string()).collect();
        scenarios.push(Scenario {
            name,
            server: Server::Waypost,
            url,
            load: Load {
                headers,
                script: Some(fixtures.join("post.lua")),
                args: vec!["POST".into(), body_file.display().to_string()],
                cpus: None,
            },
            floor: "direct",
            vs_haproxy: false,
            unavailable: None,
            check: Box::new(move || {
                // The first call also fetches and caches each carrier's OAuth token.
                for _ in 0..2 {
                    let r = send("POST", &check_url, &check_headers, &body)?;
                    expect(&r, 200, "quotes")?;
                    check_rates(&r, &expected)?;
                }
                Ok(())
            }),
        });
    }

    // Webhook intake, against the same script on the native upstream.
    let webhook_token = waypost_tests::demo_secret("dhl_webhook_token");
    let webhook_headers = vec![
        h("x-webhook-token", &webhook_token),
        h("content-type", "application/json"),
    ];
    for (name, server, url, floor) in [
        (
            "direct-post",
            Server::Native,
            format!("{upstream_url}/webhooks/dhl/bench"),
            "direct-post",
        ),
        (
            "webhooks",
            Server::Waypost,
            waypost("/webhooks/dhl/bench"),
            "direct-post",
        ),
    ] {
        let (check_url, check_headers) = (url.clone(), webhook_headers.clone());
        let is_waypost = server == Server::Waypost;
        scenarios.push(Scenario {
            name,
            server,
            url,
            load: Load {
                headers: webhook_headers.clone(),
                script: Some(fixtures.join("webhooks.lua")),
                args: vec![], // a run id per wrk run, below
                cpus: None,
            },
            floor,
            vs_haproxy: false,
            unavailable: None,
            check: Box::new(move || {
                let body = dhl_push(&format!("JDCHECK{}", unique()));
                let first = send("POST", &check_url, &check_headers, body.as_bytes())?;
                if !is_waypost {
                    return expect(&first, 200, UPSTREAM_MARK);
                }
                expect(&first, 202, "\"accepted\"")?;
                let again = send("POST", &check_url, &check_headers, body.as_bytes())?;
                expect(&again, 200, "\"duplicate\"")?;
                let wrong = vec![
                    h("x-webhook-token", "not-the-token"),
                    h("content-type", "application/json"),
                ];
                let forged = send("POST", &check_url, &wrong, body.as_bytes())?;
                expect(&forged, 401, "")
            }),
        });
    }

    // ---- measure ----
    let pids = |server: Server| -> Vec<u32> {
        match server {
            Server::Native => Vec::new(),
            Server::Waypost => vec![host.pid()],
            Server::Haproxy => daemon_pids(&haproxy),
            Server::Nginx => daemon_pids(&nginx),
        }
    };
    let mut rows: Vec<Row> = Vec::new();
    let mut not_measured: Vec<(&str, String)> = Vec::new();
    let mut rss_reset_failed = false;
    // A floor runs when it or a scenario compared with it is selected.
    let needed = |s: &Scenario| {
        settings.selected(s.name)
            || (s.name == s.floor
                && scenarios
                    .iter()
                    .any(|o| o.floor == s.name && settings.selected(o.name)))
    };
    for s in scenarios.iter().filter(|s| needed(s)) {
        let is_floor = s.name == s.floor;
        let verdict = match &s.unavailable {
            Some(why) => Err(why.clone()),
            None => (s.check)(),
        };
        if let Err(why) = verdict {
            if is_floor {
                bail!("the floor `{}` does not answer as expected: {why}", s.name);
            }
            eprintln!("gateways bench: {}: NOT MEASURED: {why}", s.name);
            not_measured.push((s.name, why));
            continue;
        }
        for conns in CONNECTIONS {
            let mut load = s.load.clone();
            let webhook_script = s.name == "webhooks" || s.name == "direct-post";
            if warmup > 0 {
                if webhook_script {
                    load.args = vec![unique()];
                }
                eprintln!("gateways bench: {} c={conns}: warm-up {warmup} s", s.name);
                common::wrk(&s.url, conns, warmup, &load)
                    .with_context(|| format!("{} warm-up", s.name))?;
            }
            let processes = pids(s.server);
            if !processes.is_empty() && !proxies::reset_peak_rss(&processes) {
                rss_reset_failed = true;
            }
            let cpu_before = waypost_tests::cpu_time_us(&processes);
            if webhook_script {
                load.args = vec![unique()];
            }
            eprintln!(
                "gateways bench: {} c={conns}: measuring {seconds} s",
                s.name
            );
            let m = common::wrk(&s.url, conns, seconds, &load).with_context(|| {
                format!(
                    "{} c={conns}; waypost log tail:\n{}",
                    s.name,
                    common::log_tail(&host.logs(), LOG_TAIL)
                )
            })?;
            let rss_kib = proxies::peak_rss_kib(&processes).filter(|_| !processes.is_empty());
            let cpu_us_per_request = match (cpu_before, waypost_tests::cpu_time_us(&processes)) {
                (Some(before), Some(after)) if !processes.is_empty() && m.requests > 0 => {
                    Some(after.saturating_sub(before) as f64 / m.requests as f64)
                }
                _ => None,
            };
            if m.errors > 0 {
                eprintln!("gateways bench: {} c={conns}: {} errors", s.name, m.errors);
                if let Some(log) = server_log(s.server, &host, &haproxy, &nginx) {
                    eprintln!("{}", common::log_tail(&log, 10));
                }
            }
            rows.push(Row {
                name: s.name,
                conns,
                m,
                floor: s.floor,
                vs_haproxy: s.vs_haproxy,
                rss_kib,
                cpu_us_per_request,
            });
        }
    }
    drop(haproxy);
    drop(nginx);
    drop(host);
    drop(upstream);

    print_report(&settings, &rows, &not_measured, rss_reset_failed);
    let errors = rows.iter().any(|r| r.m.errors > 0);
    Ok(not_measured.is_empty() && !errors)
}

// ---- scenarios ----

fn h(name: &str, value: &str) -> (String, String) {
    (name.to_string(), value.to_string())
}

/// A pass-through scenario: `GET url` with `headers` answers 200 with the upstream's
/// body (twice); each of `refused` (what, headers) answers 401.
fn pass_through(
    name: &'static str,
    server: Server,
    url: String,
    headers: Vec<(String, String)>,
    refused: Vec<(&'static str, Vec<(String, String)>)>,
) -> Scenario {
    let (check_url, check_headers) = (url.clone(), headers.clone());
    Scenario {
        name,
        server,
        url,
        load: Load {
            headers,
            ..Default::default()
        },
        floor: "direct",
        vs_haproxy: server != Server::Native,
        unavailable: None,
        check: Box::new(move || {
            for _ in 0..2 {
                let r = send("GET", &check_url, &check_headers, b"")?;
                expect(&r, 200, UPSTREAM_MARK)?;
            }
            for (what, headers) in &refused {
                let r = send("GET", &check_url, headers, b"")?;
                if r.status != 401 {
                    return Err(format!(
                        "GET {check_url} with {what} answered {}, not 401: the policy is \
                         not enforced",
                        r.summary()
                    ));
                }
            }
            Ok(())
        }),
    }
}

fn send(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<HttpResponse, String> {
    http_request(method, url, headers, body).map_err(|e| format!("{method} {url}: {e:#}"))
}

/// `status` and a body containing `text`.
fn expect(r: &HttpResponse, status: u16, text: &str) -> Result<(), String> {
    if r.status != status || !r.body.contains(text) {
        return Err(format!(
            "answered {}, not {status} with `{text}` in the body",
            r.summary()
        ));
    }
    Ok(())
}

/// Every asked carrier `ok`, and no other.
fn check_rates(r: &HttpResponse, expected: &[String]) -> Result<(), String> {
    let body: serde_json::Value =
        serde_json::from_str(&r.body).map_err(|e| format!("rates answered non-JSON: {e}"))?;
    let statuses: Vec<(String, String)> = body["carriers"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|c| {
                    (
                        c["carrier"].as_str().unwrap_or("?").to_string(),
                        c["status"].as_str().unwrap_or("?").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let ok: Vec<String> = statuses
        .iter()
        .filter(|(_, s)| s == "ok")
        .map(|(c, _)| c.clone())
        .collect();
    if ok != expected || statuses.len() != expected.len() {
        return Err(format!(
            "rates answered carrier statuses {statuses:?}, not {expected:?} all `ok`"
        ));
    }
    Ok(())
}

/// A rate request every simulated carrier serves, shipping in two days.
fn rate_request(carriers: &[&str]) -> serde_json::Value {
    let ship_date = waypost_tests::civil_date(waypost_tests::unix_now() + 2 * 86_400);
    let mut request = waypost_tests::us_rate_request(&ship_date);
    request["carriers"] = serde_json::json!(carriers);
    request
}

/// One DHL push (the shape webhooks.lua sends) for shipment `id`.
fn dhl_push(id: &str) -> String {
    serde_json::json!({"shipments": [{
        "id": id,
        "service": "express",
        "status": {
            "timestamp": "2026-11-22T09:12:00+01:00",
            "location": {"address": {"addressLocality": "OSLO - NORWAY", "postalCode": "0150", "countryCode": "NO"}},
            "statusCode": "transit",
            "status": "TRANSIT",
            "description": "Arrived at Delivery Facility in OSLO - NORWAY"
        }
    }]})
    .to_string()
}

/// A token for the bench run: nanoseconds since the epoch.
fn unique() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{:x}", now.as_nanos())
}

/// An HS256 JWT for the bench tenant, as its issuer would sign it, valid for 6 hours.
fn mint_jwt(secret: &str) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use hmac::{Hmac, Mac};
    let now = waypost_tests::unix_now();
    let header = serde_json::json!({ "alg": "HS256", "typ": "JWT", "kid": JWT_KID });
    let claims = serde_json::json!({
        "iss": JWT_ISS,
        "aud": JWT_AUD,
        "sub": "bench-client",
        "tenant": TENANT,
        "iat": now,
        "exp": now + 6 * 3600,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key");
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

/// Pushes the bench document with the native upstream's URL through the admin API.
fn push_config(
    host: &waypost_tests::Host,
    document: &std::path::Path,
    upstream_url: &str,
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(document)
        .with_context(|| format!("cannot read {}", document.display()))?;
    let hash = format!("sha256:{:x}", sha2::Sha256::digest(API_KEY.as_bytes()));
    if !text.contains(&hash) {
        bail!(
            "{} does not hold the bench key's hash {hash}",
            document.display()
        );
    }
    let text = text.replace("http://bench-upstream.invalid", upstream_url);
    let r = http_request(
        "PUT",
        &host.url("/admin/config"),
        &[
            h("authorization", &format!("Bearer {ADMIN_TOKEN}")),
            h("content-type", "application/toml"),
        ],
        text.as_bytes(),
    )?;
    if r.status != 200 {
        bail!("PUT /admin/config answered {}", r.summary());
    }
    Ok(())
}

fn daemon_pids(daemon: &Option<anyhow::Result<Daemon>>) -> Vec<u32> {
    match daemon {
        Some(Ok(d)) => d.pids(),
        _ => Vec::new(),
    }
}

fn server_log(
    server: Server,
    host: &waypost_tests::Host,
    haproxy: &Option<anyhow::Result<Daemon>>,
    nginx: &Option<anyhow::Result<Daemon>>,
) -> Option<String> {
    match (server, haproxy, nginx) {
        (Server::Waypost, _, _) => Some(host.logs()),
        (Server::Haproxy, Some(Ok(d)), _) | (Server::Nginx, _, Some(Ok(d))) => Some(d.logs()),
        _ => None,
    }
}

// ---- the report ----

fn find<'a>(rows: &'a [Row], name: &str, conns: u32) -> Option<&'a Measurement> {
    rows.iter()
        .find(|r| r.name == name && r.conns == conns)
        .map(|r| &r.m)
}

fn print_report(
    settings: &Settings,
    rows: &[Row],
    not_measured: &[(&str, String)],
    rss_reset_failed: bool,
) {
    println!();
    println!(
        "waypost gateway bench: {} s per measurement (+{} s warm-up), wrk -t1 --latency \
         ({}), {} cores, {}",
        settings.seconds, settings.warmup, settings.wrk_version, settings.cores, settings.idle
    );
    let mut table: Vec<Vec<String>> = Vec::new();
    for r in rows {
        let floor = find(rows, r.floor, r.conns);
        let haproxy = find(rows, "haproxy", r.conns).filter(|_| r.vs_haproxy);
        table.push(vec![
            r.name.to_string(),
            r.conns.to_string(),
            format!("{:.0}", r.m.requests_per_sec),
            format!("{:.0}", r.m.p50_us),
            format!("{:.0}", r.m.p99_us),
            format!("{:.0}", r.m.p999_us),
            r.m.errors.to_string(),
            r.rss_kib
                .map_or("-".into(), |k| format!("{:.1}", k as f64 / 1024.0)),
            r.cpu_us_per_request
                .map_or("-".into(), |c| format!("{c:.0}")),
            floor.map_or("-".into(), |f| {
                format!("{:.2}", r.m.requests_per_sec / f.requests_per_sec)
            }),
            haproxy.map_or("-".into(), |h| {
                format!("{:.2}", r.m.requests_per_sec / h.requests_per_sec)
            }),
            floor.map_or("-".into(), |f| format!("{:+.0}", r.m.p50_us - f.p50_us)),
        ]);
    }
    for (name, why) in not_measured {
        let why = why.lines().next().unwrap_or("");
        table.push(vec![
            name.to_string(),
            "-".into(),
            format!("not measured: {why}"),
        ]);
    }
    common::print_table(
        &[
            "scenario",
            "conns",
            "req/s",
            "p50 µs",
            "p99 µs",
            "p99.9 µs",
            "errors",
            "peak RSS MiB",
            "CPU µs/req",
            "×direct",
            "×haproxy",
            "+p50 µs",
        ],
        &table,
    );
    if rss_reset_failed {
        println!(
            "(the kernel refused to reset peak RSS: it is the peak since each process started)"
        );
    }
    if rows.iter().any(|r| r.m.errors > 0) {
        println!("rows with errors > 0 measured failures, not the gateway's speed");
    }
    println!();
    for line in summary(rows) {
        println!("{line}");
    }
}

/// The derived numbers: the quota's cost, fan-out overhead, webhook duplicates, and
/// the issue's targets.
fn summary(rows: &[Row]) -> Vec<String> {
    let mut out = Vec::new();
    let ms = |us: f64| us / 1000.0;
    if let (Some(q1), Some(n1)) = (
        find(rows, "waypost-key", 1),
        find(rows, "waypost-noquota", 1),
    ) {
        let mut line = format!(
            "quota check (waypost-key − waypost-noquota): {:+.0} µs p50 at 1 connection",
            q1.p50_us - n1.p50_us
        );
        if let (Some(q), Some(n)) = (
            find(rows, "waypost-key", 32),
            find(rows, "waypost-noquota", 32),
        ) {
            line.push_str(&format!(
                "; at 32: {:.0} vs {:.0} req/s ({:+.1}%), ≈ {:.0} µs of machine time per request",
                q.requests_per_sec,
                n.requests_per_sec,
                (q.requests_per_sec / n.requests_per_sec - 1.0) * 100.0,
                1e6 / q.requests_per_sec - 1e6 / n.requests_per_sec
            ));
        }
        out.push(line);
    }
    for conns in CONNECTIONS {
        if let (Some(r), Some(s)) = (find(rows, "rates", conns), find(rows, "single", conns)) {
            let mut line = format!(
                "fan-out at {conns} conn.: rates (4 carriers) p50 {:.2} ms, p99 {:.2} ms; \
                 single carrier p50 {:.2} ms, p99 {:.2} ms: {:+.2} ms at p50, {:+.2} ms at p99",
                ms(r.p50_us),
                ms(r.p99_us),
                ms(s.p50_us),
                ms(s.p99_us),
                ms(r.p50_us - s.p50_us),
                ms(r.p99_us - s.p99_us),
            );
            if let Some(one) = find(rows, "rates-1", conns) {
                line.push_str(&format!(
                    "; over rates-1 (UPS only, p50 {:.2} / p99 {:.2} ms): {:+.2} / {:+.2} ms",
                    ms(one.p50_us),
                    ms(one.p99_us),
                    ms(r.p50_us - one.p50_us),
                    ms(r.p99_us - one.p99_us),
                ));
            }
            out.push(line);
        }
    }
    for r in rows.iter().filter(|r| r.name == "webhooks") {
        let counts = r.m.extra.as_deref().unwrap_or("");
        let get = |k: &str| {
            counts
                .split_whitespace()
                .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('='))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let (a, d, o) = (get("accepted"), get("duplicate"), get("other"));
        let total = (a + d + o).max(1);
        out.push(format!(
            "webhooks at {} conn.: {:.0} events/s, ack p50 {:.2} ms, p99 {:.2} ms; \
             {a} accepted (202), {d} duplicates (200, {:.1}%), {o} other",
            r.conns,
            r.m.requests_per_sec,
            ms(r.m.p50_us),
            ms(r.m.p99_us),
            d as f64 * 100.0 / total as f64,
        ));
    }

    out.push(String::new());
    out.push("targets:".into());
    let verdict = |ok: bool| if ok { "met" } else { "BEHIND" };
    if let Some(hp) = find(rows, "haproxy", 32) {
        for name in ["waypost-jwt", "waypost-key"] {
            if let Some(w) = find(rows, name, 32) {
                let x = w.requests_per_sec / hp.requests_per_sec;
                out.push(format!(
                    "  pass-through ≥ 0.5× HAProxy's throughput (32 conn.): {name} {x:.2}× \
                     ({:.0} vs {:.0} req/s): {}",
                    w.requests_per_sec,
                    hp.requests_per_sec,
                    verdict(x >= 0.5)
                ));
            }
        }
    }
    if let Some(d) = find(rows, "direct", 1) {
        for name in ["waypost-key", "waypost-jwt"] {
            if let Some(w) = find(rows, name, 1) {
                let added = w.p50_us - d.p50_us;
                out.push(format!(
                    "  ≤ 60 µs added p50 over direct (1 conn.): {name} {added:+.0} µs: {}",
                    verdict(added <= 60.0)
                ));
            }
        }
        let reference: Vec<String> = ["haproxy", "nginx"]
            .iter()
            .filter_map(|name| {
                find(rows, name, 1).map(|m| format!("{name} {:+.0} µs", m.p50_us - d.p50_us))
            })
            .collect();
        if !reference.is_empty() {
            out.push(format!(
                "    (the same policy elsewhere: {})",
                reference.join(", ")
            ));
        }
    }
    for conns in CONNECTIONS {
        if let (Some(r), Some(s)) = (find(rows, "rates", conns), find(rows, "single", conns)) {
            let over = ms(r.p99_us - s.p99_us);
            out.push(format!(
                "  rates over 4 carriers ≤ 2 ms over the single carrier at p99 ({conns} conn.): \
                 {over:+.2} ms: {}",
                verdict(over <= 2.0)
            ));
        }
    }
    if let Some(w) = find(rows, "webhooks", 32) {
        out.push(format!(
            "  webhook intake ≥ 5,000 events/s (32 conn.): {:.0}: {}",
            w.requests_per_sec,
            verdict(w.requests_per_sec >= 5000.0)
        ));
    }
    out
}
