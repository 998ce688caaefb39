//! The gateways users run today, started by the gateway bench with the bench's policy
//! (the templates beside this file: `haproxy.cfg`, `nginx.conf` + `jwt.js`), and the
//! process bookkeeping the table needs (peak RSS from `/proc/<pid>/status`).

use anyhow::{Context, bail};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Lines of a daemon's stderr kept for error messages (it logs one line per request).
const LOG_LINES: usize = 200;

/// What the templates need.
pub struct Policy<'a> {
    /// The HS256 secret (the Waypost issuer's `bench_jwt_secret`).
    pub secret: &'a str,
    pub iss: &'a str,
    pub aud: &'a str,
    /// Requests per tenant per 60 s before 429 (far above the load).
    pub rate_per_minute: u64,
    pub upstream_port: u16,
    /// Worker threads (HAProxy) or processes (NGINX): the machine's cores, as the
    /// Waypost host's tokio runtime uses.
    pub workers: usize,
}

/// A gateway process we started: its stderr drained into a tail, SIGTERM (then SIGKILL
/// after 5 s) on drop, its temporary config dir removed.
pub struct Daemon {
    pub port: u16,
    child: Child,
    log: Arc<Mutex<VecDeque<String>>>,
    _dir: tempfile::TempDir,
}

impl Daemon {
    fn spawn(
        name: &'static str,
        mut cmd: Command,
        port: u16,
        dir: tempfile::TempDir,
    ) -> anyhow::Result<Daemon> {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run {name}"))?;
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(VecDeque::new()));
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    let mut log = log.lock().unwrap();
                    if log.len() == LOG_LINES {
                        log.pop_front();
                    }
                    log.push_back(line);
                }
            });
        }
        let mut daemon = Daemon {
            port,
            child,
            log,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = daemon.child.try_wait()? {
                std::thread::sleep(Duration::from_millis(100));
                bail!("{name} exited ({status}):\n{}", daemon.logs());
            }
            if Instant::now() > deadline {
                bail!(
                    "{name} did not listen on 127.0.0.1:{port}:\n{}",
                    daemon.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(daemon)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn logs(&self) -> String {
        let log = self.log.lock().unwrap();
        log.iter().map(|l| format!("{l}\n")).collect()
    }

    /// Its processes: the one we started and its children (NGINX's workers).
    pub fn pids(&self) -> Vec<u32> {
        let mut pids = vec![self.child.id()];
        pids.extend(children(self.child.id()));
        pids
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `template` with every `{{NAME}}` replaced; an unreplaced one is an error.
fn fill(template: &str, values: &[(&str, String)]) -> anyhow::Result<String> {
    let mut text = template.to_string();
    for (name, value) in values {
        text = text.replace(&format!("{{{{{name}}}}}"), value);
    }
    if let Some(at) = text.find("{{") {
        let rest: String = text[at..].chars().take(40).collect();
        bail!("template value missing at `{rest}`");
    }
    Ok(text)
}

fn fixture(name: &str) -> anyhow::Result<String> {
    let path = waypost_tests::workspace_root()
        .join("tests/benches/gateways")
        .join(name);
    std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))
}

/// Whether `program` runs at all (`-v` prints its version on both).
fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// `haproxy -db -f <haproxy.cfg filled in>`.
pub fn start_haproxy(policy: &Policy) -> anyhow::Result<Daemon> {
    if !installed("haproxy") {
        bail!("haproxy is not installed (Debian: apt-get install -y haproxy)");
    }
    let dir = tempfile::tempdir()?;
    let port = waypost_tests::free_port();
    let config = fill(
        &fixture("haproxy.cfg")?,
        &[
            ("THREADS", policy.workers.to_string()),
            ("PORT", port.to_string()),
            ("ISS", policy.iss.to_string()),
            ("AUD", policy.aud.to_string()),
            ("SECRET", policy.secret.to_string()),
            ("RATE", policy.rate_per_minute.to_string()),
            ("UPSTREAM_PORT", policy.upstream_port.to_string()),
        ],
    )?;
    let path = dir.path().join("haproxy.cfg");
    std::fs::write(&path, config)?;
    let check = Command::new("haproxy")
        .arg("-c")
        .arg("-f")
        .arg(&path)
        .output()?;
    if !check.status.success() {
        bail!(
            "haproxy -c refuses the config:\n{}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
    }
    let mut cmd = Command::new("haproxy");
    cmd.arg("-db").arg("-f").arg(&path);
    Daemon::spawn("haproxy", cmd, port, dir)
}

/// Where Debian (and others) keep NGINX's njs module.
fn njs_module() -> Option<PathBuf> {
    [
        "/usr/lib/nginx/modules/ngx_http_js_module.so",
        "/usr/lib64/nginx/modules/ngx_http_js_module.so",
        "/usr/share/nginx/modules/ngx_http_js_module.so",
        "/etc/nginx/modules/ngx_http_js_module.so",
        "/usr/local/nginx/modules/ngx_http_js_module.so",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
}

/// `nginx -p <dir> -c <dir>/nginx.conf` with `jwt.js` beside it, both filled in.
pub fn start_nginx(policy: &Policy) -> anyhow::Result<Daemon> {
    if !installed("nginx") {
        bail!("nginx is not installed (Debian: apt-get install -y nginx libnginx-mod-http-js)");
    }
    let Some(module) = njs_module() else {
        bail!(
            "NGINX's njs module is not installed (Debian: apt-get install -y libnginx-mod-http-js)"
        );
    };
    let dir = tempfile::tempdir()?;
    let port = waypost_tests::free_port();
    let dir_path = dir.path().display().to_string();
    // limit_req counts per second; the same budget as the others' per minute.
    let per_second = (policy.rate_per_minute / 60).max(1);
    let config = fill(
        &fixture("nginx.conf")?,
        &[
            ("JS_MODULE", module.display().to_string()),
            ("WORKERS", policy.workers.to_string()),
            ("DIR", dir_path.clone()),
            ("RATE", per_second.to_string()),
            ("UPSTREAM_PORT", policy.upstream_port.to_string()),
            ("PORT", port.to_string()),
        ],
    )?;
    let script = fill(
        &fixture("jwt.js")?,
        &[
            ("SECRET", js_string(policy.secret)?),
            ("ISS", js_string(policy.iss)?),
            ("AUD", js_string(policy.aud)?),
        ],
    )?;
    let conf = dir.path().join("nginx.conf");
    std::fs::write(&conf, config)?;
    std::fs::write(dir.path().join("jwt.js"), script)?;
    let test = nginx_command(dir.path(), &conf).arg("-t").output()?;
    if !test.status.success() {
        bail!(
            "nginx -t refuses the config:\n{}",
            String::from_utf8_lossy(&test.stderr)
        );
    }
    Daemon::spawn("nginx", nginx_command(dir.path(), &conf), port, dir)
}

fn nginx_command(dir: &Path, conf: &Path) -> Command {
    let mut cmd = Command::new("nginx");
    // `-e stderr`: not even the start touches /var/log/nginx.
    cmd.arg("-e")
        .arg("stderr")
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(conf);
    cmd
}

/// A value safe inside the script's single-quoted JavaScript strings.
fn js_string(value: &str) -> anyhow::Result<String> {
    if value
        .chars()
        .any(|c| matches!(c, '\'' | '\\' | '\n' | '\r'))
    {
        bail!("{value:?} cannot go into a single-quoted JavaScript string as is");
    }
    Ok(value.to_string())
}

// ---- /proc ----

/// Direct children of `pid` (a scan of /proc).
pub fn children(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            std::fs::read_to_string(format!("/proc/{child}/status"))
                .ok()
                .and_then(|s| status_field(&s, "PPid:"))
                == Some(u64::from(pid))
        })
        .collect()
}

fn status_field(status: &str, name: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Resets the processes' peak RSS (`echo 5 > /proc/<pid>/clear_refs`), so the next
/// [`peak_rss_kib`] is the peak of what ran since. False when the kernel refused.
pub fn reset_peak_rss(pids: &[u32]) -> bool {
    pids.iter()
        .all(|pid| std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok())
}

/// The sum of the processes' peak RSS (`VmHWM`), in KiB.
pub fn peak_rss_kib(pids: &[u32]) -> Option<u64> {
    let mut total = 0;
    for pid in pids {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        total += status_field(&status, "VmHWM:")?;
    }
    Some(total)
}
