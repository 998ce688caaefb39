//! `waypost`: a Spin-compatible Wasmtime host for the Waypost gateway.

mod access_log;
mod allowed_hosts;
mod app;
mod blocked_networks;
mod builder;
mod busy_poll;
mod client_tls;
mod compile_cache;
mod component_output;
mod compose;
mod config_cmd;
mod connection_cap;
mod dependencies;
mod drain;
mod engine;
mod error_chain;
mod files;
mod instance;
mod keys_cmd;
mod kv;
mod listener;
mod log;
mod manifest;
mod memory_limit;
mod metrics;
mod otlp;
mod outbound;
mod proxy_protocol;
mod reports;
mod request_body;
mod request_fate;
mod routes;
mod runtime_config;
mod server;
mod server_tls;
mod serving;
mod settle;
mod static_response;
mod tick;
mod upstream_timeouts;
mod variable_flags;
mod variables;
mod wit;
mod workers;

use anyhow::{Context, bail};
use compile_cache::CacheSetting;

/// Every request allocates HTTP plumbing and resources, and every instance a store and
/// WASI contexts; mimalloc's thread-local free lists serve that churn faster than glibc
/// malloc (host bench).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use clap::{Parser, Subcommand};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "waypost",
    version,
    about = "Run the Waypost Spin application on Wasmtime"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the application's HTTP trigger.
    Up(Box<UpArgs>),
    /// Run every component's build command from the manifest.
    Build {
        /// The manifest (a file, or a directory containing spin.toml).
        #[arg(short = 'f', long = "from", default_value = "spin.toml")]
        from: PathBuf,
        /// Build only these components.
        #[arg(short = 'c', long = "component-id")]
        components: Vec<String>,
    },
    /// Work with a region's config document (gateway.toml).
    Config {
        #[command(subcommand)]
        command: config_cmd::ConfigCommand,
    },
    /// Make API keys.
    Keys {
        #[command(subcommand)]
        command: keys_cmd::KeysCommand,
    },
}

#[derive(clap::Args)]
struct UpArgs {
    /// The manifest (a file, or a directory containing spin.toml).
    #[arg(short = 'f', long = "from", default_value = "spin.toml")]
    from: PathBuf,
    /// Address to listen on.
    #[arg(long, env = "SPIN_HTTP_LISTEN_ADDR", default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// When the `--listen` port is in use, listen on the first free one of the next
    /// ten, as `spin up --find-free-port` does.
    #[arg(long = "find-free-port")]
    find_free_port: bool,
    /// Largest HTTP/1 request head read, in bytes (at least 8192); a larger head is
    /// answered 431. Spin's flag; default: hyper's, about 400 KiB.
    #[arg(long = "http1-max-buf-size", env = "SPIN_HTTP1_MAX_BUF_SIZE")]
    http1_max_buf_size: Option<usize>,
    /// Serve HTTPS with this certificate chain (PEM); needs --tls-key.
    #[arg(long = "tls-cert", env = "SPIN_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long = "tls-key", env = "SPIN_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Spin runtime config file (key-value stores, variables providers).
    #[arg(long = "runtime-config-file")]
    runtime_config_file: Option<PathBuf>,
    /// Directory for the default key-value store and the compiled-component cache.
    #[arg(long = "state-dir")]
    state_dir: Option<PathBuf>,
    /// Where compiled components are cached (default: `<state-dir>/compiled`;
    /// also settable with WAYPOST_CACHE_DIR).
    #[arg(long = "cache-dir")]
    cache_dir: Option<PathBuf>,
    /// Wasmtime's cache configuration file (its directory and limits), as `spin up`
    /// takes it; WAYPOST_CACHE_DIR does not apply then.
    #[arg(
        long = "cache",
        env = "WASMTIME_CACHE_FILE",
        value_name = "FILE",
        conflicts_with = "disable_cache"
    )]
    cache: Option<PathBuf>,
    /// Compile every component at every start, keeping nothing on disk.
    #[arg(long = "disable-cache", env = "DISABLE_WASMTIME_CACHE",
        value_parser = clap::builder::BoolishValueParser::new())]
    disable_cache: bool,
    /// Allocate each instance's memory when it starts instead of from a pool sized
    /// up front (SPIN_WASMTIME_INSTANCE_COUNT does not apply then).
    #[arg(long = "disable-pooling")]
    disable_pooling: bool,
    /// DWARF debug info for the guests, unoptimised, for gdb or lldb.
    #[arg(long = "debug-info")]
    debug_info: bool,
    /// Let components write to their `files` (their copies in the state dir,
    /// made afresh at each start; the app's own files are never changed).
    #[arg(long = "allow-transient-write", conflicts_with = "direct_mounts")]
    allow_transient_write: bool,
    /// Mount each component's `files` directories as they are instead of copies, so
    /// edits are seen without a restart (directories only, no `exclude_files`).
    #[arg(long = "direct-mounts")]
    direct_mounts: bool,
    /// Run the build commands first.
    #[arg(long)]
    build: bool,
    /// Set an application variable: `name=value`, `name=@file` (the file's contents),
    /// or `@file.json` / `@file.toml` (a table of names to values), as `spin up` takes
    /// them. Repeatable; the last value for a name wins.
    #[arg(
        long = "variable",
        value_name = "NAME=VALUE | NAME=@FILE | @FILE.json | @FILE.toml"
    )]
    variables: Vec<variable_flags::VariableFlag>,
    /// Set `key` to `value` in the app's `default` key-value store before serving,
    /// over what it held, as `spin up --key-value` does. Repeatable.
    #[arg(long = "key-value", value_parser = parse_variable, value_name = "KEY=VALUE")]
    key_values: Vec<(String, String)>,
    /// Set an environment variable, `name=value`, in every component, as `spin up
    /// --env` does (over the manifest's `environment`).
    #[arg(short = 'e', long = "env", value_parser = parse_variable)]
    env: Vec<(String, String)>,
    /// The most memory one component instance may have, in bytes: a guest growing
    /// its memory past it is refused (its request gets a 500). Spin's flag; over the
    /// runtime config's `max_instance_memory` [default: 268435456 (256 MiB)]
    #[arg(long = "max-instance-memory", env = "SPIN_MAX_INSTANCE_MEMORY")]
    max_instance_memory: Option<u64>,
    /// Append each component's stdout and stderr to `<id>_stdout.txt` and
    /// `<id>_stderr.txt` in this directory, as Spin does (over the runtime config's
    /// `log_dir`; empty: none). Default: none, unlike Spin's `.spin/logs`.
    #[arg(short = 'L', long = "log-dir", env = "SPIN_LOG_DIR",
          value_parser = clap::builder::TypedValueParser::map(clap::builder::OsStringValueParser::new(), PathBuf::from))]
    log_dir: Option<PathBuf>,
    /// Empty the log directory's component logs before starting.
    #[arg(long = "truncate-logs")]
    truncate_logs: bool,
    /// Pass only these components' output on to the host's stdout and stderr
    /// (repeatable). Default: every component's.
    #[arg(long = "follow", value_name = "COMPONENT")]
    follow: Vec<String>,
    /// Pass no component's output on to the host's stdout and stderr.
    #[arg(short = 'q', long = "quiet", conflicts_with = "follow")]
    quiet: bool,
    /// Largest request body accepted, in bytes (larger gets 413).
    #[arg(long = "max-request-body", default_value_t = 1 << 20)]
    max_request_body: usize,
    /// How long to wait for in-flight requests on shutdown, in seconds.
    #[arg(long = "shutdown-grace", default_value_t = 30)]
    shutdown_grace: u64,
    /// Call the app's scheduler endpoint every INTERVAL (`10s`, `1m`): POST
    /// `--tick-path` with the app's `admin_token`, as a CronJob would.
    #[arg(long = "tick", value_parser = humantime::parse_duration)]
    tick: Option<Duration>,
    /// Serve `GET /metrics` (Prometheus text) on this address, apart from the app.
    #[arg(long = "metrics-listen")]
    metrics_listen: Option<std::net::SocketAddr>,
    /// The endpoint `--tick` calls.
    #[arg(long = "tick-path", default_value = tick::DEFAULT_PATH)]
    tick_path: String,
    /// Export spans (OTLP/HTTP JSON) to this collector base URL (`/v1/traces` is
    /// appended); default: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or
    /// OTEL_EXPORTER_OTLP_ENDPOINT. Off when none is set.
    #[arg(long = "otlp-endpoint")]
    otlp_endpoint: Option<String>,
    /// Requests one component instance serves before it is dropped (1: a fresh
    /// instance per request). Spin's flag and default.
    #[arg(long = "max-instance-reuse-count", default_value_t = workers::Reuse::default().max_reuse, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    max_instance_reuse_count: usize,
    /// Requests one component instance serves at the same time. Spin's flag and default.
    #[arg(long = "max-instance-concurrent-reuse-count", default_value_t = workers::Reuse::default().max_concurrent, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    max_instance_concurrent_reuse_count: usize,
    /// How long an idle component instance is kept for reuse (`1s`, `500ms`; a bare
    /// number is seconds). Spin's flag and default.
    #[arg(long = "idle-instance-timeout", default_value = "1s", value_parser = parse_spin_duration)]
    idle_instance_timeout: Duration,
    /// How long a component may take to answer a request and finish its response
    /// (`30s`, `500ms`; a bare number is seconds). Then the client gets 504, or its
    /// response is cut short, and the instance is dropped with what it was doing,
    /// even a loop that never waits. Spin's flag; the default is longer than the
    /// largest deadline a route may have (5 min), so the app's own deadlines answer
    /// first. `0s`: no limit (Spin's default).
    #[arg(long = "request-timeout", default_value = "6m", value_parser = parse_spin_duration)]
    request_timeout: Duration,
    /// Threads that serve connections, each on its own single-threaded runtime; a
    /// connection stays on the thread it was handed to. Default: one per core.
    #[arg(long = "serving-threads", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    serving_threads: Option<usize>,
    /// After each request, keep its serving thread polling for the next one for this
    /// long (`200us`, `1ms`) instead of sleeping: lower latency in a VM, where an idle
    /// CPU halts, for a whole CPU per thread while requests keep coming. Default (and
    /// `0s`): off.
    #[arg(long = "busy-poll", value_parser = humantime::parse_duration)]
    busy_poll: Option<Duration>,
    /// How long a client connection may take to send a request's head (`75s`),
    /// counted from when it is accepted or its previous response was written: a
    /// connection that trickles its headers, or sits idle, is closed after it. `0s`:
    /// no limit.
    #[arg(long = "header-read-timeout", default_value = "75s", value_parser = humantime::parse_duration)]
    header_read_timeout: Duration,
    /// How long a request body may keep the host waiting for its next bytes (`60s`)
    /// while a component reads it; then the host answers 408. `0s`: no limit.
    #[arg(long = "body-read-timeout", default_value = "60s", value_parser = humantime::parse_duration)]
    body_read_timeout: Duration,
    /// How long a response may keep the host waiting to write its next bytes to a
    /// client that is not reading them (`60s`); then the connection is closed. `0s`:
    /// no limit.
    #[arg(long = "response-write-timeout", default_value = "60s", value_parser = humantime::parse_duration)]
    response_write_timeout: Duration,
    /// Every connection starts with a PROXY protocol header (v1 or v2, from HAProxy's
    /// `send-proxy`, an AWS NLB, ...) naming the client, which is then the request's
    /// `spin-client-addr`. A connection without one is closed. Only for a listener no
    /// client can reach except through the proxy.
    #[arg(long = "proxy-protocol")]
    proxy_protocol: bool,
}

fn parse_variable(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not of the form name=value"))?;
    Ok((k.to_string(), v.to_string()))
}

/// A duration as Spin's instance flags take it: `1.5` (seconds), `30s`, `500ms`.
fn parse_spin_duration(s: &str) -> Result<Duration, String> {
    match s.parse::<f64>() {
        Ok(seconds) => Duration::try_from_secs_f64(seconds).map_err(|e| format!("`{s}`: {e}")),
        Err(_) => humantime::parse_duration(s).map_err(|e| format!("`{s}`: {e}")),
    }
}

fn manifest_path(from: PathBuf) -> PathBuf {
    if from.is_dir() {
        from.join("spin.toml")
    } else {
        from
    }
}

fn main() {
    let cli = Cli::parse();
    // A panic that ends the process does not take the last access-log lines with it.
    let report_panic = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        log::flush();
        report_panic(info);
    }));
    let result = match cli.command {
        Command::Up(args) => up(*args),
        Command::Build { from, components } => manifest::LoadedManifest::read(&manifest_path(from))
            .and_then(|m| builder::build(&m, &components)),
        Command::Config { command } => config_cmd::run(command),
        Command::Keys { command } => keys_cmd::run(command),
    };
    log::flush();
    if let Err(e) = result {
        log::say(format_args!("Error: {e:#}"));
        std::process::exit(1);
    }
}

fn up(args: UpArgs) -> anyhow::Result<()> {
    if args.max_request_body == 0 {
        bail!("--max-request-body must be positive");
    }
    if let Some(bytes) = args
        .http1_max_buf_size
        .filter(|b| *b < server::MIN_HTTP1_BUF)
    {
        bail!(
            "--http1-max-buf-size {bytes}: must be at least {} (HTTP/1's smallest buffer)",
            server::MIN_HTTP1_BUF
        );
    }
    let cache = CacheSetting::from_flags(
        args.disable_cache,
        args.cache,
        args.cache_dir,
        std::env::var_os("WAYPOST_CACHE_DIR").map(PathBuf::from),
    )?;
    let manifest = manifest_path(args.from);
    let otlp_endpoint = otlp::endpoint(args.otlp_endpoint.as_deref(), |name| {
        std::env::var(name).ok()
    })?;
    let (tls, serving_cert) = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let (acceptor, serving) = server_tls::acceptor(cert, key)?;
            (Some(acceptor), Some(serving))
        }
        _ => (None, None),
    };
    if args.build {
        builder::build(&manifest::LoadedManifest::read(&manifest)?, &[])?;
    }
    if let Some(threads) = args.serving_threads {
        serving::configure(threads);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let opts = app::LoadOptions {
            manifest,
            runtime_config: args.runtime_config_file,
            state_dir: args.state_dir,
            variables: variable_flags::resolve(&args.variables)?
                .into_iter()
                .collect::<HashMap<_, _>>(),
            cache,
            engine: engine::EngineOptions {
                disable_pooling: args.disable_pooling,
                debug_info: args.debug_info,
            },
            files: app::FilesOptions {
                direct: args.direct_mounts,
                writable: args.allow_transient_write,
            },
            reuse: workers::Reuse {
                max_reuse: args.max_instance_reuse_count,
                max_concurrent: args.max_instance_concurrent_reuse_count,
                idle_timeout: args.idle_instance_timeout,
                request_timeout: unless_zero(args.request_timeout),
            },
            h2c_prior_knowledge: std::env::var("SPIN_OUTBOUND_H2C_PRIOR_KNOWLEDGE").ok(),
            environment: args.env,
            max_instance_memory: args.max_instance_memory,
            key_values: args.key_values,
            output: component_output::OutputOptions {
                log_dir: args.log_dir.clone(),
                follow: component_output::Follow::from_flags(args.follow, args.quiet),
                truncate: args.truncate_logs,
            },
        };
        let app = tokio::task::spawn_blocking(move || app::App::load(&opts))
            .await
            .context("loading the app panicked")??;
        let listener = listener::bind(args.listen, args.find_free_port).await?;
        let addr = listener.local_addr()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        log::say(format_args!("Serving {scheme}://{addr}"));
        for route in app.describe_routes() {
            log::say(format_args!("  {route}"));
        }
        let header_read_timeout = unless_zero(args.header_read_timeout);
        if let Some(metrics_addr) = args.metrics_listen {
            let bound = metrics::serve(metrics_addr, header_read_timeout)
                .await
                .with_context(|| format!("cannot listen on {metrics_addr} for metrics"))?;
            log::say(format_args!("Metrics on http://{bound}/metrics"));
        }
        if let Some(every) = args.tick {
            let token = app.variable("admin_token");
            if tick::start(addr, args.tick_path.clone(), every, token).is_none() {
                crate::log::event(
                    "tick_disabled",
                    &[(
                        "detail",
                        "--tick needs the admin_token variable (the admin API is off)",
                    )],
                );
            }
        }
        if let Some(endpoint) = otlp_endpoint {
            let mut resource = vec![
                ("service.name", "waypost".to_string()),
                ("service.version", env!("CARGO_PKG_VERSION").to_string()),
                ("waypost.app", app.name.clone()),
            ];
            if let Some(region) = app.variable("region") {
                resource.push(("waypost.region", region.to_string()));
            }
            log::say(format_args!(
                "Traces to {}",
                outbound::redact_uri(&endpoint.url)
            ));
            warn_unsupported_protocol();
            otlp::start(otlp::Config { endpoint, resource })?;
        }
        if let Some(serving) = serving_cert {
            server_tls::reload_on_hangup(serving)?;
        }
        let served = server::serve(
            app,
            listener,
            server::ServerOptions {
                body: request_body::Bounds {
                    max_bytes: args.max_request_body,
                    read_timeout: unless_zero(args.body_read_timeout),
                },
                shutdown_grace: Duration::from_secs(args.shutdown_grace),
                busy_poll: args.busy_poll.and_then(unless_zero),
                header_read_timeout,
                response_write_timeout: unless_zero(args.response_write_timeout),
                tls,
                proxy_protocol: args.proxy_protocol,
                http1_max_buf_size: args.http1_max_buf_size,
            },
        )
        .await;
        otlp::flush().await;
        served
    })
}

/// A duration flag where `0s` means none (no limit, off).
fn unless_zero(d: Duration) -> Option<Duration> {
    Some(d).filter(|d| !d.is_zero())
}

/// The export is OTLP/HTTP with JSON; a configured gRPC or protobuf protocol is not
/// what the collector gets, which is worth one line at start.
fn warn_unsupported_protocol() {
    for var in [
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ] {
        if let Ok(protocol) = std::env::var(var)
            && !protocol.trim().is_empty()
            && protocol.trim() != "http/json"
        {
            crate::log::event(
                "otlp_protocol",
                &[(
                    "detail",
                    &format!("{var}={protocol} is not supported; spans are sent as http/json"),
                )],
            );
            return;
        }
    }
}
