//! What the benches share (`host.rs`, `gateways.rs`): settings from the environment,
//! the release host build, a native hyper server (the floor, or the upstream), a small
//! HTTP/1.1 client for the checks made before measuring, driving `wrk` and reading
//! its numbers, and printing a table.
//!
//! Every wrk run gets `report.lua` (beside this file) appended to its script, so the
//! exact p50/p99/p99.9 and error counts come from wrk's own histogram, not from the
//! rounded `--latency` text.

#![allow(dead_code)] // each bench uses its part

use anyhow::{Context, bail};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Every scenario runs at these connection counts.
pub const CONNECTIONS: [u32; 2] = [1, 32];

// ---- settings ----

/// What every bench reads from the environment and the machine.
pub struct Settings {
    /// `BENCH_SECONDS` (default 10): each measurement.
    pub seconds: u64,
    /// `BENCH_WARMUP_SECONDS` (default 1, 0 = none): each warm-up.
    pub warmup: u64,
    /// wrk's banner, for the table's title.
    pub wrk_version: String,
    /// Arguments that are not flags: scenario filters.
    pub filters: Vec<String>,
    pub cores: usize,
    /// How an idle CPU waits for work (`cpu_idle`), for the table's title.
    pub idle: String,
}

impl Settings {
    /// Reads the settings; exits with status 2 and an install hint when wrk is absent.
    pub fn from_env(bench: &str) -> anyhow::Result<Settings> {
        let Some(wrk_version) = wrk_version() else {
            eprintln!(
                "{bench} bench: `wrk` is not installed (or not on the PATH); it is the load \
                 generator.\nInstall it, e.g. on Debian/Ubuntu: \
                 sudo apt-get update && sudo apt-get install -y wrk"
            );
            std::process::exit(2);
        };
        let seconds = env_secs("BENCH_SECONDS", 10)?;
        if seconds == 0 {
            bail!("BENCH_SECONDS must be at least 1");
        }
        Ok(Settings {
            seconds,
            warmup: env_secs("BENCH_WARMUP_SECONDS", 1)?,
            wrk_version,
            filters: std::env::args()
                .skip(1)
                .filter(|a| !a.starts_with('-'))
                .collect(),
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            idle: cpu_idle(),
        })
    }

    /// Whether the scenario `name` is selected (no filters: all of them).
    pub fn selected(&self, name: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| name.contains(f.as_str()))
    }

    /// Refuses a filter that matches no scenario.
    pub fn check_filters(&self, scenarios: &[&str]) -> anyhow::Result<()> {
        if let Some(f) = self
            .filters
            .iter()
            .find(|f| !scenarios.iter().any(|s| s.contains(f.as_str())))
        {
            bail!(
                "no scenario matches `{f}`; scenarios: {}",
                scenarios.join(", ")
            );
        }
        Ok(())
    }
}

/// The kernel's cpuidle driver and, for `haltpoll` (KVM guests), how long an idle
/// vCPU polls before it halts. Latency at one connection apart is mostly a CPU waking
/// from idle, so a run's numbers depend on this (README, Benchmarks).
fn cpu_idle() -> String {
    let read = |path: &str| {
        std::fs::read_to_string(path)
            .ok()
            .map(|s| s.trim().to_string())
    };
    match read("/sys/devices/system/cpu/cpuidle/current_driver").as_deref() {
        Some("haltpoll") => match read("/sys/module/haltpoll/parameters/guest_halt_poll_ns") {
            Some(ns) => format!("cpuidle haltpoll, guest_halt_poll_ns {ns}"),
            None => "cpuidle haltpoll".to_string(),
        },
        Some(driver) => format!("cpuidle {driver}"),
        None => "cpuidle unknown".to_string(),
    }
}

pub fn env_secs(name: &str, default: u64) -> anyhow::Result<u64> {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .with_context(|| format!("{name}={v:?} is not a whole number of seconds")),
        Err(_) => Ok(default),
    }
}

/// The last `n` lines of a log, for error messages.
pub fn log_tail(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Builds the RELEASE host (`cargo build --release -p waypost`; `CARGO_BUILD_JOBS`
/// limits it on a shared machine) and returns the binary's path.
pub fn release_host(bench: &str) -> anyhow::Result<PathBuf> {
    eprintln!("{bench} bench: building the release host (cargo build --release -p waypost)");
    let status = waypost_tests::cargo()
        .args(["build", "--release", "-p", "waypost"])
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("cargo build --release -p waypost failed: {status}");
    }
    Ok(waypost_tests::workspace_root().join("target/release/waypost"))
}

// ---- a native server: the floor, or an upstream ----

/// A hyper 1 HTTP/1 server answering `200` with a fixed body to every request (after
/// reading the request's body), on its own tokio runtime (default worker count, like
/// the host's); dropping it shuts the runtime down.
pub struct NativeServer {
    pub addr: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
}

impl NativeServer {
    pub fn start(body: &'static [u8]) -> anyhow::Result<NativeServer> {
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
                    let service = service_fn(move |req: Request<Incoming>| async move {
                        let _ = req.into_body().collect().await;
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(body))))
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(NativeServer {
            addr,
            runtime: Some(runtime),
        })
    }
}

impl Drop for NativeServer {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

// ---- a small HTTP/1.1 client for the checks ----

pub struct HttpResponse {
    pub status: u16,
    /// Header lines, names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The status and the start of the body, for error messages.
    pub fn summary(&self) -> String {
        let body: String = self.body.chars().take(300).collect();
        format!("{} {}", self.status, body.trim())
    }
}

/// One `GET` over a fresh HTTP/1.1 connection.
pub fn http_get(url: &str) -> anyhow::Result<HttpResponse> {
    http_request("GET", url, &[], b"")
}

/// One request over a fresh HTTP/1.1 connection (`Content-Length` is added when there
/// is a body).
pub fn http_request(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> anyhow::Result<HttpResponse> {
    let rest = url.strip_prefix("http://").context("not an http:// URL")?;
    let (addr, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method == "POST" || method == "PUT" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
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

pub fn wrk_version() -> Option<String> {
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

/// What wrk sends besides `GET <url>`, and where it runs.
#[derive(Default, Clone)]
pub struct Load {
    /// `-H` headers.
    pub headers: Vec<(String, String)>,
    /// A wrk Lua script (`report.lua` is appended to it).
    pub script: Option<PathBuf>,
    /// The script's `init(args)`.
    pub args: Vec<String>,
    /// The CPUs wrk may run on (a `taskset` list); any when `None`.
    pub cpus: Option<String>,
}

// ---- where the load generator and the server run ----

/// Where wrk and the server under test run. At one connection on this kind of machine
/// (a VM), latency is mostly how long an idle CPU takes to wake up, and that depends on
/// whether wrk and the server share a CPU: left to the scheduler, one build measured
/// +5 µs and +61 µs p50 over the floor in the same hour. Pinning makes every server in
/// a run measured the same way.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Placement {
    /// Nothing pinned: the scheduler spreads wrk and the server over every CPU.
    Free,
    /// The server on CPU 0, wrk on CPU 1: the client on another core, as another machine
    /// would be; each request and each response wakes an idle CPU.
    Apart,
    /// Both on CPU 0: no CPU wakes from idle, so the latency is the work on the
    /// request's path (wrk's, the kernel's and the server's).
    Shared,
}

impl Placement {
    /// `(server CPUs, wrk CPUs)` as `taskset` lists, on a machine with `cores` CPUs.
    fn cpus(self, cores: usize) -> (String, Option<String>) {
        match self {
            Placement::Free => (format!("0-{}", cores.max(1) - 1), None),
            Placement::Apart => ("0".into(), Some("1".into())),
            Placement::Shared => ("0".into(), Some("0".into())),
        }
    }

    /// Pins the process `server` (every thread of it and of its child processes) and
    /// returns the CPUs for wrk.
    pub fn apply(self, server: u32, cores: usize) -> anyhow::Result<Option<String>> {
        let (server_cpus, wrk_cpus) = self.cpus(cores);
        for pid in process_tree(server) {
            let status = Command::new("taskset")
                .args(["-a", "-p", "-c", &server_cpus, &pid.to_string()])
                .stdout(Stdio::null())
                .status()
                .context("cannot run taskset (util-linux)")?;
            if !status.success() {
                bail!("taskset -a -p -c {server_cpus} {pid} failed ({status})");
            }
        }
        Ok(wrk_cpus)
    }

    pub fn label(self) -> &'static str {
        match self {
            Placement::Free => "",
            Placement::Apart => " apart",
            Placement::Shared => " shared",
        }
    }
}

/// `pid` and its descendants (`spin up` runs its trigger in a child process).
fn process_tree(pid: u32) -> Vec<u32> {
    let mut all = vec![pid];
    let mut next = 0;
    while next < all.len() {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", all[next]));
        for task in tasks.into_iter().flatten().flatten() {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            all.extend(
                children
                    .split_whitespace()
                    .filter_map(|c| c.parse::<u32>().ok()),
            );
        }
        next += 1;
    }
    all
}

#[derive(Debug, Clone)]
pub struct Measurement {
    pub requests_per_sec: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    /// Non-2xx/3xx responses plus socket errors (connect, read, write, timeout).
    pub errors: u64,
    pub requests: u64,
    /// The script's `bench_extra()` line, if any.
    pub extra: Option<String>,
}

/// `wrk -t1 -c<conns> -d<seconds>s --latency` with `load`.
pub fn wrk(url: &str, conns: u32, seconds: u64, load: &Load) -> anyhow::Result<Measurement> {
    let mut script_text = match &load.script {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?,
        None => String::new(),
    };
    script_text.push('\n');
    script_text.push_str(include_str!("report.lua"));
    let mut script = tempfile::Builder::new().suffix(".lua").tempfile()?;
    script.write_all(script_text.as_bytes())?;
    script.flush()?;

    let mut cmd = match &load.cpus {
        Some(cpus) => {
            let mut cmd = Command::new("taskset");
            cmd.args(["-c", cpus, "wrk"]);
            cmd
        }
        None => Command::new("wrk"),
    };
    cmd.args([
        "-t1",
        &format!("-c{conns}"),
        &format!("-d{seconds}s"),
        "--timeout",
        "10s",
        "--latency",
    ]);
    for (name, value) in &load.headers {
        cmd.arg("-H").arg(format!("{name}: {value}"));
    }
    cmd.arg("-s").arg(script.path()).arg(url);
    if !load.args.is_empty() {
        cmd.arg("--").args(&load.args);
    }
    let out = cmd
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

/// wrk's output: `Requests/sec:` from its text, the rest from report.lua's line.
pub fn parse_wrk(out: &str) -> anyhow::Result<Measurement> {
    let mut rps = None;
    let mut report = None;
    let mut extra = None;
    for line in out.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("Requests/sec:") {
            rps = Some(v.trim().parse::<f64>()?);
        } else if let Some(v) = line.strip_prefix("bench-report ") {
            let fields: Vec<(&str, f64)> = v
                .split_whitespace()
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| Ok((k, v.parse::<f64>()?)))
                .collect::<anyhow::Result<_>>()?;
            report = Some(fields);
        } else if let Some(v) = line.strip_prefix("bench-extra ") {
            extra = Some(v.to_string());
        }
    }
    let report = report.context("no bench-report line (report.lua)")?;
    let field = |name: &str| {
        report
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| *v)
            .with_context(|| format!("no `{name}` in the bench-report line"))
    };
    let errors = ["connect", "read", "write", "status", "timeout"]
        .iter()
        .map(|k| field(k))
        .sum::<anyhow::Result<f64>>()? as u64;
    Ok(Measurement {
        requests_per_sec: rps.context("no Requests/sec line")?,
        p50_us: field("p50")?,
        p99_us: field("p99")?,
        p999_us: field("p999")?,
        errors,
        requests: field("requests")? as u64,
        extra,
    })
}

// ---- the table ----

/// Prints rows under a header, columns as wide as their widest cell: the first left
/// aligned, the others right aligned.
pub fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
    }
    let line = |cells: &[String]| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let w = widths.get(i).copied().unwrap_or(0);
            let pad = w.saturating_sub(cell.chars().count());
            if i == 0 {
                out.push_str(cell);
                out.push_str(&" ".repeat(pad));
            } else {
                out.push_str("  ");
                out.push_str(&" ".repeat(pad));
                out.push_str(cell);
            }
        }
        println!("{}", out.trim_end());
    };
    line(&header.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    for row in rows {
        line(row);
    }
}
