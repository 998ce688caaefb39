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
//! (`waypost-hello`, `waypost-probe`, `waypost-layer-outer`, `waypost-layer-inner`,
//! `waypost-pass`), starts the host on
//! `tests/benches/host-bench.toml` with a fresh state dir, and starts an in-process
//! hyper 1 server. Then, with `wrk` (one thread, `--latency`), each after a short
//! warm-up run of its own, it measures at 1 connection twice, `apart` (the server
//! pinned to CPU 0, wrk to CPU 1: the client on another core) and `shared` (both on
//! CPU 0: no CPU waits to wake up, so the latency is the work on the request's path),
//! and at 32 connections with nothing pinned (`common::Placement` says why). How long an
//! idle CPU takes to wake, and so most of `apart`, is the kernel's: the title line names
//! its cpuidle driver and, for `haltpoll`, `guest_halt_poll_ns`:
//!
//! | scenario  | server | request                                 | does                          |
//! |-----------|--------|-----------------------------------------|-------------------------------|
//! | `floor`   | hyper  | `GET /bench`                            | `200 hello`, nothing else     |
//! | `trivial` | host   | `GET /trivial/bench`                    | `waypost-hello`: `200 hello`  |
//! | `chain`   | host   | `GET /chain/bench`                      | the same behind 2 middleware  |
//! | `pass`    | host   | `GET /pass/bench`                       | the same behind 2 pass-throughs |
//! | `kv`      | host   | `GET /kv/bench?store=default&key=bench` | KV get, set, increment        |
//!
//! Reading the table: `req/s`, `p50` and `p99` are wrk's (latencies in µs). `×floor` is
//! the scenario's throughput divided by the floor's at the same connection count, and
//! `+p50`/`+p99` the latency it adds over the floor, in µs: that is the host's (and the
//! component's) own cost. `×spin` (with `BENCH_SPIN`, below) is the host's throughput
//! over Spin's for the same scenario and connections. `errors` counts non-2xx answers and socket errors; it must be
//! 0 for the row to mean anything. Before measuring a scenario the bench sends it two
//! requests and checks the answers (`kv`: the counter goes up by one); a scenario that
//! fails is listed as `not measured` with what came back. Either makes the bench exit
//! 1 after printing the table. wrk, the host and the floor server share the
//! machine's cores (and the host writes its access log line per request to a pipe this
//! binary drains), so absolute numbers move with the machine's load; compare rows of
//! one run, not runs on different days. This is a benchmark, not a test: nothing here
//! asserts on timings.
//!
//! Driving wrk (with `common/report.lua` for exact percentiles), the floor server, the
//! checks' HTTP client and the table are shared with the gateway bench (`common/`).
//!
//! With `BENCH_SPIN=/path/to/spin` (Spin 4.1 or newer), the bench also starts `spin up`
//! on the same manifest (a fresh `--state-dir`) and measures each scenario on Spin
//! right after the host, so both see the same machine; the `×spin` column is the host's
//! throughput divided by Spin's.
//!
//! Environment: `BENCH_SECONDS` (default 10) is each measurement's duration,
//! `BENCH_WARMUP_SECONDS` (default 1, 0 for none) each warm-up's, `BENCH_HOST_ARGS`
//! extra `waypost up` flags (`"--busy-poll 200us"`; the floor server is unchanged).
//! Arguments that are not flags select scenarios by name (the floor always runs). Needs
//! `wrk` on the PATH (Debian: `apt-get install wrk`).

mod common;
mod spin;

use anyhow::{Context, bail};
use common::{
    CONNECTIONS, Load, Measurement, NativeServer, Placement, Settings, http_get, log_tail, wrk,
};

/// The host's last lines of stderr kept for error messages (it logs every request).
const LOG_TAIL: usize = 40;

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
    let settings = Settings::from_env("host")?;
    let (seconds, warmup) = (settings.seconds, settings.warmup);
    settings.check_filters(&SCENARIOS)?;

    let root = waypost_tests::workspace_root();
    let host_bin = common::release_host("host")?;
    eprintln!("host bench: building the wasm fixtures");
    waypost_tests::wasm(&[
        "waypost-hello",
        "waypost-probe",
        "waypost-layer-outer",
        "waypost-layer-inner",
        "waypost-pass",
    ]);

    // Both are stopped when dropped, on every way out of this function.
    let floor = NativeServer::start(b"hello")?;
    let manifest = root.join("tests/benches/host-bench.toml");
    let host_args = std::env::var("BENCH_HOST_ARGS").unwrap_or_default();
    let host = waypost_tests::Host::start(
        &manifest,
        waypost_tests::HostOptions {
            binary: Some(host_bin),
            args: host_args.split_whitespace().map(String::from).collect(),
            ..Default::default()
        },
    )?;

    let spin = match std::env::var_os("BENCH_SPIN") {
        Some(bin) => {
            eprintln!("host bench: starting {} up", bin.to_string_lossy());
            Some(spin::SpinUp::start(bin.as_ref(), &manifest)?)
        }
        None => None,
    };
    let mut servers = vec![(Server::Waypost, host.addr.clone())];
    if let Some(spin) = &spin {
        servers.push((Server::Spin, spin.addr.to_string()));
    }

    let mut scenarios = vec![Scenario {
        name: "floor",
        server: Server::Hyper,
        url: format!("http://{}/bench", floor.addr),
        check: Check::Body("hello"),
    }];
    for (name, path, check) in [
        ("trivial", "/trivial/bench", Check::Body("hello")),
        (
            "chain",
            "/chain/bench",
            Check::Header("x-layers-out", "inner,outer"),
        ),
        // What the host's middleware hop costs: `waypost-pass` hands the request and
        // the response on untouched (tests/tests/host.rs tests that it does).
        ("pass", "/pass/bench", Check::Body("hello")),
        ("kv", "/kv/bench?store=default&key=bench", Check::Counter),
    ] {
        for (server, addr) in &servers {
            scenarios.push(Scenario {
                name,
                server: *server,
                url: format!("http://{addr}{path}"),
                check,
            });
        }
    }
    let selected = scenarios
        .iter()
        .filter(|s| s.name == "floor" || settings.selected(s.name));
    let server_log = |server: Server| match (server, &spin) {
        (Server::Spin, Some(spin)) => log_tail(&spin.log(), LOG_TAIL),
        _ => log_tail(&host.logs(), LOG_TAIL),
    };

    let server_pid = |server: Server| match (server, &spin) {
        (Server::Hyper, _) => std::process::id(),
        (Server::Spin, Some(spin)) => spin.pid(),
        _ => host.pid(),
    };

    let mut rows: Vec<(&Scenario, Point, Measurement)> = Vec::new();
    let mut not_measured: Vec<(&Scenario, String)> = Vec::new();
    for s in selected {
        let label = format!("{} on {}", s.name, s.server.name());
        // A scenario that does not answer as expected would only measure how fast the
        // server says no: skip it (the floor is needed, so its failure is fatal).
        if let Err(why) = s.precheck() {
            if s.name == "floor" {
                bail!("the floor server does not answer as expected: {why}");
            }
            eprintln!("host bench: {label}: NOT MEASURED: {why}");
            not_measured.push((s, why));
            continue;
        }
        for point in points(settings.cores) {
            let conns = point.conns;
            let label = format!("{label} c={}", point.label());
            let load = Load {
                cpus: point
                    .placement
                    .apply(server_pid(s.server), settings.cores)?,
                ..Load::default()
            };
            if warmup > 0 {
                eprintln!("host bench: {label}: warm-up {warmup} s");
                wrk(&s.url, conns, warmup, &load).with_context(|| format!("{label} warm-up"))?;
            }
            eprintln!("host bench: {label}: measuring {seconds} s");
            let m = wrk(&s.url, conns, seconds, &load)
                .with_context(|| format!("{label}; server log tail:\n{}", server_log(s.server)))?;
            if m.errors > 0 {
                eprintln!("host bench: {label}: {} errors", m.errors);
            }
            rows.push((s, point, m));
        }
    }
    drop(spin);
    drop(host);
    drop(floor);

    println!();
    println!(
        "waypost host bench: {seconds} s per measurement (+{warmup} s warm-up), \
         wrk -t1 --latency ({}), {} cores, {}",
        settings.wrk_version, settings.cores, settings.idle
    );
    if !host_args.trim().is_empty() {
        println!("waypost up {}", host_args.trim());
    }
    let mut table: Vec<Vec<String>> = Vec::new();
    let find = |name: &str, server: Server, point: Point| {
        rows.iter()
            .find(|(s, p, _)| s.name == name && s.server == server && *p == point)
            .map(|(_, _, m)| m)
    };
    for (s, point, m) in &rows {
        let base = find("floor", Server::Hyper, *point).expect("the floor is always measured");
        let against_spin = match (s.server, find(s.name, Server::Spin, *point)) {
            (Server::Waypost, Some(spin)) => {
                format!("{:.2}", m.requests_per_sec / spin.requests_per_sec)
            }
            _ => String::new(),
        };
        table.push(vec![
            s.name.to_string(),
            s.server.name().to_string(),
            point.label(),
            format!("{:.0}", m.requests_per_sec),
            format!("{:.1}", m.p50_us),
            format!("{:.1}", m.p99_us),
            format!("{:.3}", m.requests_per_sec / base.requests_per_sec),
            format!("{:+.1}", m.p50_us - base.p50_us),
            format!("{:+.1}", m.p99_us - base.p99_us),
            against_spin,
            m.errors.to_string(),
        ]);
    }
    for (s, why) in &not_measured {
        table.push(vec![
            s.name.to_string(),
            s.server.name().to_string(),
            "-".into(),
            format!("not measured: {why}"),
        ]);
    }
    common::print_table(
        &[
            "scenario", "server", "conns", "req/s", "p50 µs", "p99 µs", "×floor", "+p50 µs",
            "+p99 µs", "×spin", "errors",
        ],
        &table,
    );
    let errors = rows.iter().any(|(_, _, m)| m.errors > 0);
    if errors {
        println!("rows with errors > 0 measured failures, not the host's speed");
    }
    Ok(not_measured.is_empty() && !errors)
}

/// One measurement's connection count and where wrk and the server run.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Point {
    conns: u32,
    placement: Placement,
}

impl Point {
    fn label(self) -> String {
        format!("{}{}", self.conns, self.placement.label())
    }
}

/// At one connection, both placements (see `Placement`); at 32 the scheduler decides,
/// as every CPU is busy. A one-CPU machine cannot place anything apart.
fn points(cores: usize) -> Vec<Point> {
    let [one, many] = CONNECTIONS;
    let at = |conns, placement| Point { conns, placement };
    if cores < 2 {
        return vec![at(one, Placement::Free), at(many, Placement::Free)];
    }
    vec![
        at(one, Placement::Apart),
        at(one, Placement::Shared),
        at(many, Placement::Free),
    ]
}

const SCENARIOS: [&str; 5] = ["floor", "trivial", "chain", "pass", "kv"];

struct Scenario {
    name: &'static str,
    server: Server,
    url: String,
    check: Check,
}

/// Who answers a scenario's requests.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Server {
    /// The floor: the in-process hyper server.
    Hyper,
    Waypost,
    /// `spin up` (`BENCH_SPIN`).
    Spin,
}

impl Server {
    fn name(self) -> &'static str {
        match self {
            Server::Hyper => "hyper",
            Server::Waypost => "waypost",
            Server::Spin => "spin",
        }
    }
}

/// What a scenario's answer must be (always status 200).
#[derive(Clone, Copy)]
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
