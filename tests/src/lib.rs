//! Test support: builds the `waypost` host and the wasm components once per test
//! binary, starts `waypost up` on an ephemeral port, and stops it.

use anyhow::{Context, bail};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A `cargo` command at the workspace root, without the variables cargo sets for
/// the test or bench binary running it (`CARGO_PKG_NAME=waypost-tests`, ...): build
/// scripts such as ring's rerun when those change, so a nested build inheriting them
/// would rebuild half the host's dependencies, and the next plain build again.
pub fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(workspace_root());
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        let set_for_this_binary = key.starts_with("CARGO_PKG_")
            || key.starts_with("CARGO_MANIFEST_")
            || matches!(
                key,
                "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_TARGET_TMPDIR"
                    | "OUT_DIR"
            );
        if set_for_this_binary {
            cmd.env_remove(key);
        }
    }
    cmd
}

fn run(mut cmd: Command, what: &str) {
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(status.success(), "{what} failed: {status}");
}

/// The host binary, built in the same (dev) profile as the tests.
pub fn host_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let mut cmd = cargo();
            cmd.args(["build", "-q", "-p", "waypost"]);
            run(cmd, "cargo build -p waypost");
            workspace_root().join("target/debug/waypost")
        })
        .clone()
}

/// `waypost` (`binary`, or the dev build) with stdin and stdout closed, sharing
/// compiled components across the tests' fresh state dirs.
pub fn host_command(binary: Option<&Path>) -> Command {
    let mut cmd = Command::new(binary.map_or_else(host_binary, Path::to_path_buf));
    cmd.env(
        "WAYPOST_CACHE_DIR",
        workspace_root().join("target/waypost-test-cache"),
    )
    .stdin(Stdio::null())
    .stdout(Stdio::null());
    cmd
}

/// Builds wasm packages one cargo invocation each (so one package's spin-sdk
/// features never leak into another's imports) and returns their .wasm paths.
pub fn wasm(packages: &[&str]) -> Vec<PathBuf> {
    static LOCK: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut built = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    packages
        .iter()
        .map(|p| {
            if !built.iter().any(|b| b == p) {
                let mut cmd = cargo();
                cmd.args([
                    "build",
                    "-q",
                    "--target",
                    "wasm32-wasip2",
                    "--release",
                    "-p",
                    p,
                ]);
                run(cmd, &format!("cargo build --target wasm32-wasip2 -p {p}"));
                built.push(p.to_string());
            }
            workspace_root()
                .join("target/wasm32-wasip2/release")
                .join(format!("{}.wasm", p.replace('-', "_")))
        })
        .collect()
}

/// Every component of the app (spin.toml at the workspace root).
pub const APP_COMPONENTS: &[&str] = &[
    "waypost-admin",
    "waypost-auth",
    "waypost-quota",
    "waypost-rates",
    "waypost-router",
    "waypost-sandbox",
    "waypost-webhooks",
];

/// The local demo's runtime config: its development secrets (public demo values).
pub fn demo_runtime_config() -> PathBuf {
    workspace_root().join("infra/regions/local/runtime-config.toml")
}

/// The app (spin.toml) built and served with `opts` and, unless `opts` names one, the
/// local demo's runtime config.
pub fn start_app(mut opts: HostOptions) -> Host {
    wasm(APP_COMPONENTS);
    if !opts.args.iter().any(|a| a == "--runtime-config-file") {
        opts.args.push("--runtime-config-file".into());
        opts.args.push(demo_runtime_config().display().to_string());
    }
    Host::start(&workspace_root().join("spin.toml"), opts).expect("the app starts")
}

/// A value of the local demo's runtime config (a public demo secret), for tests that
/// sign as a client or a carrier would.
pub fn demo_secret(name: &str) -> String {
    let text = std::fs::read_to_string(demo_runtime_config()).expect("demo runtime config");
    let doc: toml::Table = text.parse().expect("demo runtime config parses");
    doc["variables_provider"][0]["values"][name]
        .as_str()
        .unwrap_or_else(|| panic!("no demo value for `{name}`"))
        .to_string()
}

/// The fixture components the host tests use.
pub fn fixture_components() {
    wasm(&[
        "waypost-probe",
        "waypost-layer-outer",
        "waypost-layer-inner",
        "waypost-pass",
    ]);
}

pub fn fixture_manifest() -> PathBuf {
    workspace_root().join("tests/fixtures/host/spin.toml")
}

/// The fixture's required secret variable, as the tests set it.
pub const FIXTURE_SECRET: (&str, &str) = ("SPIN_VARIABLE_SECRET_TOKEN", "s3cret-from-env");

/// Serves the fixture app, its components built, with `opts` and its required secret.
pub fn start_fixture(mut opts: HostOptions) -> anyhow::Result<Host> {
    fixture_components();
    let (name, value) = FIXTURE_SECRET;
    opts.env.push((name.into(), value.into()));
    Host::start(&fixture_manifest(), opts)
}

#[derive(Default, Clone)]
pub struct HostOptions {
    pub env: Vec<(String, String)>,
    pub args: Vec<String>,
    /// Reuse this state dir (to test restarts); a fresh temp dir otherwise.
    pub state_dir: Option<PathBuf>,
    /// Run this `waypost` binary (the bench's release build); the dev build otherwise.
    pub binary: Option<PathBuf>,
    /// Listen on this address; an ephemeral port of 127.0.0.1 otherwise.
    pub listen: Option<String>,
}

/// Lines of the host's stderr kept (it logs one line per request).
const LOG_LINES: usize = 5_000;
/// The request id of `Host::logs`'s own requests.
const LOG_MARK: &str = "waypost-tests-log-mark-";

/// A running `waypost up`.
pub struct Host {
    child: Child,
    pub addr: String,
    log: Arc<Mutex<VecDeque<String>>>,
    /// Set once the host's stderr is closed: every line it wrote has been read.
    log_closed: Arc<AtomicBool>,
    pub state_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

impl Host {
    pub fn start(manifest: &Path, opts: HostOptions) -> anyhow::Result<Host> {
        // One start at a time: the first compiles the components into the shared
        // cache, the rest load them from it instead of all compiling at once.
        static STARTING: Mutex<()> = Mutex::new(());
        let _one_at_a_time = STARTING.lock().unwrap_or_else(|p| p.into_inner());
        let (temp, state_dir) = match &opts.state_dir {
            Some(dir) => (None, dir.clone()),
            None => {
                let t = tempfile::tempdir()?;
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
        };
        let mut cmd = host_command(opts.binary.as_deref());
        cmd.arg("up")
            .arg("-f")
            .arg(manifest)
            .arg("--listen")
            .arg(opts.listen.as_deref().unwrap_or("127.0.0.1:0"))
            .arg("--state-dir")
            .arg(&state_dir)
            .args(&opts.args)
            .envs(opts.env.iter().map(|(k, v)| (k, v)))
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().context("spawn waypost up")?;
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let log_closed = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let (log, log_closed) = (log.clone(), log_closed.clone());
            std::thread::spawn(move || {
                let mut tx = Some(tx);
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if let Some(addr) = line
                        .strip_prefix("Serving http://")
                        .or_else(|| line.strip_prefix("Serving https://"))
                        && let Some(tx) = tx.take()
                    {
                        let _ = tx.send(addr.trim().to_string());
                    }
                    let mut log = log.lock().unwrap();
                    if log.len() == LOG_LINES {
                        log.pop_front();
                    }
                    log.push_back(line);
                }
                log_closed.store(true, Ordering::Release);
            });
        }
        let deadline = Duration::from_secs(120);
        let addr = match rx.recv_timeout(deadline) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                let status = child.wait()?;
                std::thread::sleep(Duration::from_millis(100));
                let output: Vec<String> = log.lock().unwrap().iter().cloned().collect();
                bail!(
                    "waypost up did not start ({status}); its output:\n{}",
                    output.join("\n")
                );
            }
        };
        Ok(Host {
            child,
            addr,
            log,
            log_closed,
            state_dir,
            _temp: temp,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The last lines the host logged, once every line logged so far is written.
    /// The host writes access-log lines in batches (at most 100 ms late), so this
    /// first asks for the host's health under a request id of its own and waits for
    /// that request's line: the lines logged before it are then in too. The marker's
    /// own line is left out.
    pub fn logs(&self) -> String {
        static MARKS: AtomicU64 = AtomicU64::new(0);
        let id = format!(
            "{LOG_MARK}{}-{}",
            std::process::id(),
            MARKS.fetch_add(1, Ordering::Relaxed)
        );
        if self.ask_health(&id).is_ok() {
            self.logged(&format!("\"request_id\":\"{id}\""));
        }
        self.written()
            .lines()
            .filter(|l| !l.contains(LOG_MARK))
            .map(|l| format!("{l}\n"))
            .collect()
    }

    /// Everything the host wrote, once it has exited (call after `exit_status`): waits
    /// for its stderr to close, so a line missing here was never written.
    pub fn final_logs(&self) -> String {
        within_seconds(10, || self.log_closed.load(Ordering::Acquire));
        self.written()
    }

    /// The lines the host has written to stderr so far.
    fn written(&self) -> String {
        let log = self.log.lock().unwrap();
        log.iter().map(|l| format!("{l}\n")).collect()
    }

    /// `GET /.well-known/spin/health` with `x-request-id: id`, untraced (its
    /// traceparent is not sampled), so it adds no span and runs no component.
    fn ask_health(&self, id: &str) -> std::io::Result<()> {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&self.addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        write!(
            stream,
            "GET /.well-known/spin/health HTTP/1.1\r\nhost: {}\r\nx-request-id: {id}\r\n\
             traceparent: 00-{:032x}-{:016x}-00\r\nconnection: close\r\n\r\n",
            self.addr, 1, 1
        )?;
        stream.read_to_end(&mut Vec::new()).map(drop)
    }

    /// Whether the host logs a line containing `needle` within a few seconds (its
    /// stderr is read by another thread, and it writes access-log lines in batches).
    pub fn logged(&self, needle: &str) -> bool {
        self.logged_line(&[needle])
    }

    /// Whether the host logs one line containing every one of `needles`, as `logged`.
    pub fn logged_line(&self, needles: &[&str]) -> bool {
        within_seconds(10, || {
            let log = self.log.lock().unwrap();
            log.iter()
                .any(|line| needles.iter().all(|n| line.contains(n)))
        })
    }

    /// The access-log line of the request with `x-request-id: request_id`, once the
    /// host has logged it (within a few seconds).
    pub fn access_line(&self, request_id: &str) -> serde_json::Value {
        let needles = [
            "\"event\":\"request\"".to_string(),
            format!("\"request_id\":\"{request_id}\""),
        ];
        let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
        assert!(
            self.logged_line(&needles),
            "no access-log line for {request_id}: {}",
            self.written()
        );
        let log = self.log.lock().unwrap();
        let line = log
            .iter()
            .find(|line| needles.iter().all(|n| line.contains(n)))
            .unwrap();
        serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> ExitStatus {
        self.signal_term();
        self.exit_status()
    }

    /// Waits for the host to exit (30 s at most, then kills it).
    pub fn exit_status(&mut self) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if started.elapsed() > Duration::from_secs(30) {
                let _ = self.child.kill();
                return self.child.wait().unwrap();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn signal_term(&self) {
        self.signal(libc::SIGTERM);
    }

    /// Sends `signal` (`libc::SIGHUP`, ...) to the host.
    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, signal);
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `done` holds within `seconds`, asked every 20 ms.
fn within_seconds(seconds: u64, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        if done() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A manifest of `body` after its `[application]` table, each placeholder in
/// `files` replaced by its path, written as `dir/spin.toml`.
pub fn write_app(dir: &Path, body: &str, files: &[(&str, &Path)]) -> PathBuf {
    let body = files
        .iter()
        .fold(body.to_string(), |body, (placeholder, file)| {
            body.replace(placeholder, file.to_str().unwrap())
        });
    let path = dir.join("spin.toml");
    let text = format!("spin_manifest_version = 2\n[application]\nname = \"t\"\n{body}");
    std::fs::write(&path, text).unwrap();
    path
}

/// `waypost up` refuses `manifest`: its stderr, which names the file.
pub fn up_refused(manifest: &Path) -> String {
    let stderr = up_refused_with(manifest, &[]);
    assert!(stderr.contains("spin.toml"), "names the file: {stderr}");
    stderr
}

/// `waypost up` with `flags` refuses `manifest`: its stderr.
pub fn up_refused_with(manifest: &Path, flags: &[&str]) -> String {
    let mut args = vec![
        "up",
        "-f",
        manifest.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ];
    args.extend_from_slice(flags);
    let (ok, stderr) = run_host(&args, &[]);
    let text = std::fs::read_to_string(manifest).unwrap();
    assert!(!ok, "up {flags:?} should fail for:\n{text}");
    stderr
}

/// Runs `waypost ARGS` to completion: (success, stderr). A command still running
/// after two minutes (an `up` expected to be refused that serves instead) is killed
/// and fails the test, instead of holding it until CI's limit.
pub fn run_host(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut child = host_command(None)
        .args(args)
        .envs(env.iter().copied())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run waypost");
    let mut pipe = child.stderr.take().expect("stderr piped");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for waypost") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = reader.join().expect("stderr reader");
    let Some(status) = status else {
        panic!(
            "`waypost {}` was still running after 120 s:\n{stderr}",
            args.join(" ")
        );
    };
    (status.success(), stderr)
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// GETs `url` and parses the JSON body (panics on transport errors: tests only).
/// Status and body of GET `path` from `host`.
pub async fn get_text(host: &Host, path: &str) -> (u16, String) {
    let response = client().get(host.url(path)).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

pub async fn get_json(url: String) -> serde_json::Value {
    client()
        .get(url)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON body")
}

/// A server a test runs from the Debian package of the same name (`redis-server`,
/// `nginx`, `haproxy`; `.ci/run` installs them) on 127.0.0.1: started, waited for
/// until each of its ports accepts connections, killed on drop.
pub struct Daemon(Child);

impl Daemon {
    pub fn start(mut command: Command, ports: &[u16]) -> Daemon {
        let program = command.get_program().to_string_lossy().into_owned();
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{program} runs (apt-get install {program}; .ci/run installs it): {e}")
            });
        let daemon = Daemon(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        for &port in ports {
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(Instant::now() < deadline, "{program} did not start");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        daemon
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `redis-server` on 127.0.0.1 for one test, without persistence; stopped on drop.
pub struct RedisServer {
    daemon: Option<Daemon>,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let mut server = RedisServer {
            daemon: None,
            port,
            _dir: dir,
        };
        server.restart();
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Starts it (again, on the same port) and waits until it accepts connections.
    pub fn restart(&mut self) {
        let mut command = Command::new("redis-server");
        command
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self._dir.path());
        self.daemon = Some(Daemon::start(command, &[self.port]));
    }

    pub fn stop(&mut self) {
        self.daemon = None;
    }

    /// A runtime config file mapping the `default` store to this server.
    pub fn runtime_config(&self, dir: &Path) -> PathBuf {
        let path = dir.join("runtime-config.toml");
        std::fs::write(
            &path,
            format!(
                "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n",
                self.url()
            ),
        )
        .unwrap();
        path
    }
}

/// Runs `serve` (a local test server's accept loop) on its own thread and Tokio
/// runtime, so a test blocking on the host (start, terminate) never stalls it.
pub fn serve_on_own_thread<F, Fut>(
    listener: std::net::TcpListener,
    serve: F,
) -> std::thread::JoinHandle<()>
where
    F: FnOnce(tokio::net::TcpListener) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    listener
        .set_nonblocking(true)
        .expect("a non-blocking listener");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a test server runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("a listener");
            serve(listener).await
        });
    })
}

/// A port on 127.0.0.1 where no connection is ever made, as an upstream behind a
/// firewall that drops packets looks: its listener never accepts and its accept queue
/// (one place) is full, so the kernel drops every further SYN. Closed when dropped.
pub struct Unconnectable {
    pub port: u16,
    _listener: std::net::TcpListener,
    _queued: Vec<std::net::TcpStream>,
}

impl Unconnectable {
    pub fn new() -> Self {
        use std::os::fd::AsRawFd;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a listener");
        // SAFETY: `listener` is a listening socket; listening again sets its backlog.
        assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 0) }, 0);
        let addr = listener.local_addr().expect("its address");
        let mut queued = Vec::new();
        while let Ok(stream) =
            std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200))
        {
            queued.push(stream);
            assert!(queued.len() < 8, "the accept queue never filled");
        }
        Unconnectable {
            port: addr.port(),
            _listener: listener,
            _queued: queued,
        }
    }
}

impl Default for Unconnectable {
    fn default() -> Self {
        Self::new()
    }
}

/// The Prometheus text a host started with `--metrics-listen 127.0.0.1:<port>` serves.
pub async fn metrics(port: u16) -> String {
    client()
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of the sample named exactly `series` (`name{labels}`), if exposed.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// The processes' CPU time so far (user + system, all threads), in µs.
pub fn cpu_time_us(pids: &[u32]) -> Option<u64> {
    // SAFETY: sysconf has no preconditions.
    let ticks_per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks_per_sec <= 0 {
        return None;
    }
    let mut ticks = 0;
    for pid in pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command (which may hold spaces) in parentheses; utime and
        // stime are the 14th and 15th of the line, the 12th and 13th after it.
        let rest = &stat[stat.rfind(')')? + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        ticks += fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    }
    Some(ticks * 1_000_000 / ticks_per_sec as u64)
}

/// A TCP port free on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An HS256 JWT over `claims`, signed as the dev issuer would (`kid` dev-hs256) with
/// `secret`; `alg` is written as given, so tests can forge other headers.
pub fn mint_jwt(alg: &str, secret: &[u8], claims: &serde_json::Value) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use hmac::{Hmac, Mac};
    let header = serde_json::json!({ "alg": alg, "typ": "JWT", "kid": "dev-hs256" });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    if alg == "none" {
        return format!("{signing_input}.");
    }
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

/// Unix seconds now.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Claims of a valid dev-issuer token for `tenant` with `scope`, merged with `extra`.
pub fn dev_claims(tenant: &str, scope: &str, extra: serde_json::Value) -> serde_json::Value {
    let now = unix_now();
    let mut claims = serde_json::json!({
        "iss": "https://dev-issuer.waypost.local",
        "aud": "waypost",
        "sub": "user-1",
        "tenant": tenant,
        "scope": scope,
        "iat": now,
        "exp": now + 600,
    });
    if let (Some(claims), Some(extra)) = (claims.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            claims.insert(k.clone(), v.clone());
        }
    }
    claims
}

/// The local demo's config document (infra/regions/local/gateway.toml).
pub fn demo_document() -> String {
    std::fs::read_to_string(workspace_root().join("infra/regions/local/gateway.toml"))
        .expect("the demo document")
}

/// `doc` with `from` replaced once; `from` must be there (else the demo changed).
pub fn edited(doc: &str, from: &str, to: &str) -> String {
    assert!(doc.contains(from), "the document has {from:?}");
    doc.replacen(from, to, 1)
}

/// Applies `doc` through the admin API with `admin_token` (the host's
/// `SPIN_VARIABLE_ADMIN_TOKEN`); panics unless it is accepted.
pub async fn push_config(host: &Host, admin_token: &str, doc: &str) {
    let r = client()
        .put(host.url("/admin/config"))
        .bearer_auth(admin_token)
        .body(doc.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body = r.text().await.unwrap();
    assert_eq!(status, 200, "the config push is accepted: {body}");
}

/// `YYYY-MM-DD` (UTC) of Unix seconds.
pub fn civil_date(unix: i64) -> String {
    waypost_core::webhooks::event::format_rfc3339(unix)[..10].to_string()
}

/// A domestic US rate request every demo (and simulated) carrier serves: Alpharetta GA
/// to New York NY, one 5.5 lb parcel, shipping on `ship_date` (`YYYY-MM-DD`).
pub fn us_rate_request(ship_date: &str) -> serde_json::Value {
    serde_json::json!({
        "origin": {"country": "US", "postal_code": "30005", "city": "Alpharetta", "state": "GA"},
        "destination": {
            "country": "US", "postal_code": "10001", "city": "New York", "state": "NY",
            "address_lines": ["350 5th Ave"]
        },
        "parcels": [{
            "weight": {"value": 5.5, "unit": "lb"},
            "dimensions": {"length": 12, "width": 8, "height": 4, "unit": "in"}
        }],
        "ship_date": ship_date,
    })
}

/// A DHL push (carrier webhook) in DHL's Unified tracking shape, for shipment `shipment`.
pub fn dhl_event(shipment: &str) -> Vec<u8> {
    serde_json::json!({
        "shipments": [{
            "id": shipment,
            "service": "express",
            "status": {
                "timestamp": "2026-05-04T09:12:00+02:00",
                "location": { "address": { "addressLocality": "OSLO - NORWAY", "postalCode": "0150", "countryCode": "NO" } },
                "statusCode": "transit",
                "status": "TRANSIT",
                "description": "Arrived at Delivery Facility in OSLO - NORWAY"
            }
        }]
    })
    .to_string()
    .into_bytes()
}
