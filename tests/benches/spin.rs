//! Spin itself, as the host bench's baseline: `BENCH_SPIN=/path/to/spin` runs
//! `spin up` on the same manifest so the bench measures Spin beside the host in one
//! run. Spin runs its HTTP trigger in a child process, so it is started in a process
//! group of its own and the whole group is stopped.

use crate::common::http_get;
use anyhow::{Context, bail};
use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `spin up`; stopped (SIGTERM, then SIGKILL) when dropped.
pub struct SpinUp {
    child: Child,
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl SpinUp {
    /// `spin up -f MANIFEST --listen 127.0.0.1:<free port> --state-dir <temp>`, once
    /// Spin answers its health check.
    pub fn start(spin: &Path, manifest: &Path) -> anyhow::Result<SpinUp> {
        let dir = tempfile::tempdir()?;
        let addr = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let log = File::create(dir.path().join("spin.log"))?;
        let child = Command::new(spin)
            .arg("up")
            .arg("-f")
            .arg(manifest)
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .with_context(|| format!("cannot run {}", spin.display()))?;
        let mut spin = SpinUp { child, addr, dir };
        let health = format!("http://{addr}/.well-known/spin/health");
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if http_get(&health).is_ok_and(|r| r.status == 200) {
                return Ok(spin);
            }
            if let Some(status) = spin.child.try_wait()? {
                bail!("spin up exited ({status}); its output:\n{}", spin.log());
            }
            if Instant::now() > deadline {
                bail!(
                    "spin up did not answer {health} in 120 s; its output:\n{}",
                    spin.log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The `spin up` process (its trigger runs in a child of it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What Spin has written to stdout and stderr.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("spin.log")).unwrap_or_default()
    }

    fn signal_group(&self, signal: i32) {
        // SAFETY: kill(2) on the process group this bench created for its own child.
        unsafe {
            libc::kill(-(self.child.id() as i32), signal);
        }
    }
}

impl Drop for SpinUp {
    fn drop(&mut self) {
        self.signal_group(libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // The trigger child may outlive its parent; nothing of the group survives.
        self.signal_group(libc::SIGKILL);
        let _ = self.child.wait();
    }
}
