//! The host benchmark: what the `waypost` host costs per request, measured against a
//! plain hyper server in the same run.
//!
//! ```text
//! cargo bench -p waypost-tests --bench host            # 10 s per measurement
//! BENCH_SECONDS=2 cargo bench -p waypost-tests --bench host
//! cargo bench -p waypost-tests --bench host -- kv      # the floor and the `kv` scenario only
//! ```
//!
//! It builds the RELEASE host (`cargo build --release -p waypost`) and the wasm fixtures
//! (`waypost-hello`, `waypost-probe`, `waypost-layer-outer`, `waypost-layer-inner`), starts the host on
//! `tests/benches/host-bench.toml` with a fresh state dir, and starts an in-process
//! hyper 1 server. Then, with `wrk` (one thread, `--latency`), at 1 and at 32
//! connections, each after a short warm-up run of its own, it measures:
//!
//! | scenario  | server | request                                 | does                          |
//! |-----------|--------|-----------------------------------------|-------------------------------|
//! | `floor`   | hyper  | `GET /bench`                            | `200 hello`, nothing else     |
//! | `trivial` | host   | `GET /trivial/bench`                    | `waypost-hello`: `200 hello`  |
//! | `chain`   | host   | `GET /chain/bench`                      | the same behind 2 middleware  |
//! | `kv`      | host   | `GET /kv/bench?store=default&key=bench` | KV get, set, increment        |
//!
//! Reading the table: `req/s`, `p50` and `p99` are wrk's (latencies in µs). `×floor` is
//! the scenario's throughput divided by the floor's at the same connection count, and
//! `+p50`/`+p99` the latency it adds over the floor, in µs: that is the host's (and the
//! component's) own cost. `errors` counts non-2xx answers and socket errors; it must be
//! 0 for the row to mean anything. Before measuring a scenario the bench sends it two
//! requests and checks the answers (`kv`: the counter goes up by one); a scenario that
//! fails is listed as `not measured` with what came back. Either makes the bench exit
//! 1 after printing the table. wrk, the host and the floor server share the
//! machine's cores (and the host writes its access log line per request to a pipe this
//! binary drains), so absolute numbers move with the machine's load; compare rows of
//! one run, not runs on different days. This is a benchmark, not a test: nothing here
//! asserts on timings.
//!
//! Environment: `BENCH_SECONDS` (default 10) is each measurement's duration,
//! `BENCH_WARMUP_SECONDS` (default 1, 0 for none) each warm-up's. Arguments that are not
//! flags select scenarios by name (the floor always runs). Needs `wrk` on the PATH
//! (Debian: `apt-get install wrk`).

use anyhow::{Context, bail};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

const CONNECTIONS: [u32; 2] = [1, 32];
/// The host's last lines of stderr kept for error messages (it logs every request).
const LOG_TAIL: usize = 40;

fn log_tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL)..].join("\n")
}

fn main() {
    match run() {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("host bench: {e:#}");
            std::process::exit(1);
        }
    }
}

/// Runs everything; `Ok(false)` when a scenario could not be measured or saw errors.
fn run() -> anyhow::Result<bool> {
    let wrk_version = match wrk_version() {
        Some(v) => v,
        None => {
            eprintln!(
                "host bench: `wrk` is not installed (or not on the PATH); it is the load \
                 generator.\nInstall it, e.g. on Debian/Ubuntu: \
                 sudo apt-get update && sudo apt-get install -y wrk"
            );
            std::process::exit(2);
        }
    };
    let seconds = env_secs("BENCH_SECONDS", 10)?;
    if seconds == 0 {
        bail!("BENCH_SECONDS must be at least 1");
    }
    let warmup = env_secs("BENCH_WARMUP_SECONDS", 1)?;
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if let Some(f) = filters
        .iter()
        .find(|f| !SCENARIOS.iter().any(|s| s.contains(f.as_str())))
    {
        bail!(
            "no scenario matches `{f}`; scenarios: {}",
            SCENARIOS.join(", ")
        );
    }

    let root = waypost_tests::workspace_root();
    eprintln!("host bench: building the release host (cargo build --release -p waypost)");
    let status = waypost_tests::cargo()
        .args(["build", "--release", "-p", "waypost"])
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("cargo build --release -p waypost failed: {status}");
    }
    let host_bin = root.join("target/release/waypost");
    eprintln!("host bench: building the wasm fixtures");
    waypost_tests::wasm(&[
        "waypost-hello",
        "waypost-probe",
        "waypost-layer-outer",
        "waypost-layer-inner",
    ]);

    // Both are stopped when dropped, on every way out of this function.
    let floor = FloorServer::start()?;
    let manifest = root.join("tests/benches/host-bench.toml");
    let host = waypost_tests::Host::start(
        &manifest,
        waypost_tests::HostOptions {
            binary: Some(host_bin),
            ..Default::default()
        },
    )?;

    let scenarios = [
        Scenario {
            name: "floor",
            url: format!("http://{}/bench", floor.addr),
            check: Check::Body("hello"),
        },
        Scenario {
            name: "trivial",
            url: format!("http://{}/trivial/bench", host.addr),
            check: Check::Body("hello"),
        },
        Scenario {
            name: "chain",
            url: format!("http://{}/chain/bench", host.addr),
            check: Check::Header("x-layers-out", "inner,outer"),
        },
        Scenario {
            name: "kv",
            url: format!("http://{}/kv/bench?store=default&key=bench", host.addr),
            check: Check::Counter,
        },
    ];
    let selected = scenarios.iter().filter(|s| {
        s.name == "floor"
            || filters.is_empty()
            || filters.iter().any(|f| s.name.contains(f.as_str()))
    });

    let mut rows: Vec<(&str, u32, Measurement)> = Vec::new();
    let mut not_measured: Vec<(&str, String)> = Vec::new();
    for s in selected {
        // A scenario that does not answer as expected would only measure how fast the
        // host says no: skip it (the floor is needed, so its failure is fatal).
        if let Err(why) = s.precheck() {
            if s.name == "floor" {
                bail!("the floor server does not answer as expected: {why}");
            }
            eprintln!("host bench: {}: NOT MEASURED: {why}", s.name);
            not_measured.push((s.name, why));
            continue;
        }
        for conns in CONNECTIONS {
            if warmup > 0 {
                eprintln!("host bench: {} c={conns}: warm-up {warmup} s", s.name);
                wrk(&s.url, conns, warmup).with_context(|| format!("{} warm-up", s.name))?;
            }
            eprintln!("host bench: {} c={conns}: measuring {seconds} s", s.name);
            let m = wrk(&s.url, conns, seconds).with_context(|| {
                format!(
                    "{} c={conns}; host log tail:\n{}",
                    s.name,
                    log_tail(&host.logs())
                )
            })?;
            if m.errors > 0 {
                eprintln!("host bench: {} c={conns}: {} errors", s.name, m.errors);
            }
            rows.push((s.name, conns, m));
        }
    }
    drop(host);
    drop(floor);

    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!();
    println!(
        "waypost host bench: {seconds} s per measurement (+{warmup} s warm-up), \
         wrk -t1 --latency ({wrk_version}), {cores} cores"
    );
    println!(
        "{:<8} {:>5} {:>10} {:>10} {:>10} {:>7} {:>10} {:>10} {:>7}",
        "scenario", "conns", "req/s", "p50 µs", "p99 µs", "×floor", "+p50 µs", "+p99 µs", "errors",
    );
    for (name, conns, m) in &rows {
        let base = rows
            .iter()
            .find(|(n, c, _)| *n == "floor" && c == conns)
            .map(|(_, _, b)| b)
            .expect("the floor is always measured");
        println!(
            "{:<8} {:>5} {:>10.0} {:>10.1} {:>10.1} {:>7.3} {:>+10.1} {:>+10.1} {:>7}",
            name,
            conns,
            m.requests_per_sec,
            m.p50_us,
            m.p99_us,
            m.requests_per_sec / base.requests_per_sec,
            m.p50_us - base.p50_us,
            m.p99_us - base.p99_us,
            m.errors,
        );
    }
    for (name, why) in &not_measured {
        println!("{name:<8} {:>5} not measured: {why}", "-");
    }
    let errors = rows.iter().any(|(_, _, m)| m.errors > 0);
    if errors {
        println!("rows with errors > 0 measured failures, not the host's speed");
    }
    Ok(not_measured.is_empty() && !errors)
}

fn env_secs(name: &str, default: u64) -> anyhow::Result<u64> {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .with_context(|| format!("{name}={v:?} is not a whole number of seconds")),
        Err(_) => Ok(default),
    }
}

const SCENARIOS: [&str; 4] = ["floor", "trivial", "chain", "kv"];

struct Scenario {
    name: &'static str,
    url: String,
    check: Check,
}

/// What a scenario's answer must be (always status 200).
enum Check {
    /// A body containing this.
    Body(&'static str),
    /// This header with this value.
    Header(&'static str, &'static str),
    /// A whole number as the body, one more than the previous request's.
    Counter,
}

impl Scenario {
    /// Two requests (the second catches what breaks only once there is state), each
    /// checked; the error says what came back.
    fn precheck(&self) -> Result<(), String> {
        let mut previous: Option<i64> = None;
        for _ in 0..2 {
            let resp = http_get(&self.url).map_err(|e| format!("GET {}: {e:#}", self.url))?;
            let bad = |what: &str| {
                let body: String = resp.body.chars().take(200).collect();
                format!(
                    "GET {} answered {}, not {what}: {}",
                    self.url,
                    resp.status,
                    body.trim()
                )
            };
            if resp.status != 200 {
                return Err(bad("200"));
            }
            match self.check {
                Check::Body(text) if !resp.body.contains(text) => {
                    return Err(bad(&format!("a body with `{text}`")));
                }
                Check::Header(name, value) if resp.header(name) != Some(value) => {
                    return Err(bad(&format!(
                        "`{name}: {value}` (got {:?})",
                        resp.header(name)
                    )));
                }
                Check::Counter => {
                    let n: i64 = resp.body.trim().parse().map_err(|_| bad("a number"))?;
                    if previous.is_some_and(|p| n != p + 1) {
                        return Err(bad(&format!(
                            "{} (the counter did not count)",
                            previous.unwrap() + 1
                        )));
                    }
                    previous = Some(n);
                }
                _ => {}
            }
        }
        Ok(())
    }
}

struct HttpResponse {
    status: u16,
    /// Header lines, names lower-cased.
    headers: Vec<(String, String)>,
    body: String,
}

impl HttpResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One `GET` over a fresh HTTP/1.1 connection.
fn http_get(url: &str) -> anyhow::Result<HttpResponse> {
    let rest = url.strip_prefix("http://").context("not an http:// URL")?;
    let (addr, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let raw = String::from_utf8_lossy(&raw);
    let (head, body) = raw.split_once("\r\n\r\n").context("no end of headers")?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .context("no status line")?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

/// A chunked body's data (enough for the small text answers checked here).
fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
        else {
            break;
        };
        let (Some(data), Some(next)) = (rest.get(..size), rest.get(size..)) else {
            break;
        };
        if size == 0 {
            break;
        }
        out.push_str(data);
        s = next.trim_start_matches("\r\n");
    }
    out
}

// ---- wrk ----

fn wrk_version() -> Option<String> {
    // `wrk --version` prints its banner and exits nonzero; only a failed spawn means absent.
    let out = Command::new("wrk").arg("--version").output().ok()?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let first = text.lines().next().unwrap_or("wrk").trim();
    Some(
        first
            .split(" Copyright")
            .next()
            .unwrap_or(first)
            .to_string(),
    )
}

#[derive(Debug)]
struct Measurement {
    requests_per_sec: f64,
    p50_us: f64,
    p99_us: f64,
    /// Non-2xx/3xx responses plus socket errors (connect, read, write, timeout).
    errors: u64,
}

fn wrk(url: &str, conns: u32, seconds: u64) -> anyhow::Result<Measurement> {
    let out = Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{conns}"),
            &format!("-d{seconds}s"),
            "--timeout",
            "10s",
            "--latency",
            url,
        ])
        .stdin(Stdio::null())
        .output()
        .context("cannot run wrk")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "wrk failed ({}):\n{stdout}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    parse_wrk(&stdout).with_context(|| format!("cannot read wrk's output:\n{stdout}"))
}

fn parse_wrk(out: &str) -> anyhow::Result<Measurement> {
    let mut rps = None;
    let (mut p50, mut p99) = (None, None);
    let mut errors = 0;
    let mut in_distribution = false;
    for line in out.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("Requests/sec:") {
            rps = Some(v.trim().parse::<f64>()?);
        } else if line == "Latency Distribution" {
            in_distribution = true;
        } else if in_distribution && line.starts_with("50%") {
            p50 = Some(parse_duration_us(line["50%".len()..].trim())?);
        } else if in_distribution && line.starts_with("99%") {
            p99 = Some(parse_duration_us(line["99%".len()..].trim())?);
        } else if let Some(v) = line.strip_prefix("Non-2xx or 3xx responses:") {
            errors += v.trim().parse::<u64>()?;
        } else if let Some(v) = line.strip_prefix("Socket errors:") {
            // "connect 0, read 0, write 0, timeout 0"
            for part in v.split(',') {
                errors += part
                    .split_whitespace()
                    .last()
                    .unwrap_or("0")
                    .parse::<u64>()?;
            }
        }
    }
    Ok(Measurement {
        requests_per_sec: rps.context("no Requests/sec line")?,
        p50_us: p50.context("no 50% latency line")?,
        p99_us: p99.context("no 99% latency line")?,
        errors,
    })
}

/// wrk's durations: `12.34us`, `1.20ms`, `2.00s`, `1.00m`, `1.00h`.
fn parse_duration_us(s: &str) -> anyhow::Result<f64> {
    let split = s
        .find(|c: char| c.is_ascii_alphabetic())
        .context("no unit")?;
    let (num, unit) = s.split_at(split);
    let num: f64 = num.parse().with_context(|| format!("duration {s:?}"))?;
    let factor = match unit {
        "us" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" => 60e6,
        "h" => 3600e6,
        _ => bail!("unknown unit in {s:?}"),
    };
    Ok(num * factor)
}

// ---- the floor: plain hyper ----

/// A hyper 1 HTTP/1 server answering `200 hello` to everything, on its own tokio
/// runtime (default worker count, like the host's); dropping it shuts the runtime down.
struct FloorServer {
    addr: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
}

impl FloorServer {
    fn start() -> anyhow::Result<FloorServer> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true); // as the host does
                tokio::spawn(async move {
                    let service = service_fn(|_req: Request<Incoming>| async {
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"hello"))))
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(FloorServer {
            addr,
            runtime: Some(runtime),
        })
    }
}

impl Drop for FloorServer {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

// ---- the host ----
