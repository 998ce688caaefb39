//! Where each component's stdout and stderr go: `spin up`'s `--log-dir` (or
//! `SPIN_LOG_DIR`, or the runtime config's `log_dir`), `--follow`, `--quiet` and
//! `--truncate-logs`.
//!
//! With a log directory, a component's output is appended to `<id>_stdout.txt` and
//! `<id>_stderr.txt` there, as Spin names them. Whether it also reaches the host's
//! own streams is whether the component is followed: every component by default,
//! those named by `--follow`, or none with `--quiet`. A followed stdout goes to the
//! host's stdout; a followed stderr joins the host's log stream (`log`), where it
//! keeps its place before its request's access line. Unlike Spin, there is no log
//! directory unless one is given: a gateway's output goes to its own streams, for
//! the platform's log collector, not to files growing without bound in the state dir.

use anyhow::{Context, bail};
use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Which components' output reaches the host's own streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Follow {
    All,
    Named(BTreeSet<String>),
    None,
}

impl Follow {
    /// From `--follow ID...` and `--quiet`, which clap keeps apart.
    pub fn from_flags(follow: Vec<String>, quiet: bool) -> Self {
        match (quiet, follow.is_empty()) {
            (true, _) => Self::None,
            (false, true) => Self::All,
            (false, false) => Self::Named(follow.into_iter().collect()),
        }
    }

    fn follows(&self, id: &str) -> bool {
        match self {
            Self::All => true,
            Self::Named(ids) => ids.contains(id),
            Self::None => false,
        }
    }
}

/// The `up` flags that say where components' output goes.
#[derive(Debug, Clone)]
pub struct OutputOptions {
    /// Empty: none (`--log-dir ""`, as on Spin, over the runtime config's).
    pub log_dir: Option<PathBuf>,
    pub follow: Follow,
    pub truncate: bool,
}

impl Default for OutputOptions {
    fn default() -> Self {
        Self {
            log_dir: None,
            follow: Follow::All,
            truncate: false,
        }
    }
}

impl OutputOptions {
    /// Each of `ids`' output, its log files opened for appending (the directory
    /// made). A `--follow` naming no component of `all_ids` is refused, listing the
    /// components there are.
    pub fn open(
        &self,
        all_ids: &[&str],
        ids: &[&str],
    ) -> anyhow::Result<HashMap<String, ComponentOutput>> {
        if let Follow::Named(named) = &self.follow {
            let unknown: Vec<&str> = named
                .iter()
                .map(String::as_str)
                .filter(|id| !all_ids.contains(id))
                .collect();
            if !unknown.is_empty() {
                bail!(
                    "--follow: no component `{}` in the app; its components are: {}",
                    unknown.join("`, `"),
                    all_ids.join(", ")
                );
            }
        }
        let log_dir = self.log_dir();
        if let Some(dir) = log_dir {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("--log-dir: cannot create {}", dir.display()))?;
        }
        let mut outputs = HashMap::new();
        for id in ids {
            let follow = self.follow.follows(id);
            let stream = |suffix: &str, to: Terminal| -> anyhow::Result<GuestStream> {
                let file = match log_dir {
                    Some(dir) => Some(Arc::new(log_file(dir, id, suffix)?)),
                    None => None,
                };
                Ok(GuestStream {
                    file,
                    to: follow.then_some(to),
                })
            };
            let output = ComponentOutput {
                stdout: stream("stdout", Terminal::Stdout)?,
                stderr: stream("stderr", Terminal::LogStream)?,
            };
            outputs.insert(id.to_string(), output);
        }
        Ok(outputs)
    }

    /// The log files of `ids` and the levels of the log directory that do not exist
    /// yet, which `open` will make: removed again unless the start gets as far as
    /// [`NewLogFiles::keep`], so a refused `up` leaves no empty logs behind.
    pub fn new_log_files(&self, ids: &[&str]) -> NewLogFiles {
        let Some(dir) = self.log_dir() else {
            return NewLogFiles::default();
        };
        let files = ids
            .iter()
            .flat_map(|id| ["stdout", "stderr"].map(|suffix| log_path(dir, id, suffix)))
            .filter(|path| !path.exists())
            .collect();
        let dirs = dir
            .ancestors()
            .take_while(|level| !level.as_os_str().is_empty() && !level.exists())
            .map(Path::to_path_buf)
            .collect();
        NewLogFiles { files, dirs }
    }

    /// With `truncate`, empties every `*_stdout.txt` and `*_stderr.txt` in the log
    /// directory, as Spin does; called once the app has loaded, so a refused `up`
    /// keeps the logs. The files stay open for appending, so what is written next
    /// starts them again.
    pub fn truncate_if_asked(&self) -> anyhow::Result<()> {
        let Some(dir) = self.log_dir().filter(|_| self.truncate) else {
            return Ok(());
        };
        let entries = std::fs::read_dir(dir)
            .with_context(|| format!("--log-dir: cannot read {}", dir.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.ends_with("_stdout.txt") || name.ends_with("_stderr.txt") {
                File::create(&path)
                    .with_context(|| format!("--truncate-logs: cannot empty {}", path.display()))?;
            }
        }
        Ok(())
    }

    /// The log directory; an empty path is none.
    fn log_dir(&self) -> Option<&Path> {
        self.log_dir
            .as_deref()
            .filter(|dir| !dir.as_os_str().is_empty())
    }
}

/// Log files and directories a start made, removed when dropped unless kept.
#[derive(Debug, Default)]
#[must_use = "dropping it removes the files at once"]
pub struct NewLogFiles {
    files: Vec<PathBuf>,
    /// The deepest first.
    dirs: Vec<PathBuf>,
}

impl NewLogFiles {
    /// The start succeeded: the files stay.
    pub fn keep(mut self) {
        self.files.clear();
        self.dirs.clear();
    }
}

impl Drop for NewLogFiles {
    fn drop(&mut self) {
        for file in &self.files {
            let _ = std::fs::remove_file(file);
        }
        // `remove_dir` leaves a directory something else has written to since.
        for dir in &self.dirs {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

fn log_path(dir: &Path, id: &str, suffix: &str) -> PathBuf {
    dir.join(format!("{id}_{suffix}.txt"))
}

fn log_file(dir: &Path, id: &str, suffix: &str) -> anyhow::Result<File> {
    let path = log_path(dir, id, suffix);
    File::options()
        .append(true)
        .create(true)
        .open(&path)
        .with_context(|| format!("--log-dir: cannot open {}", path.display()))
}

/// Where a followed stream goes on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Terminal {
    Stdout,
    /// The host's stderr, through the log queue (`log`).
    LogStream,
}

/// One component's stdout and stderr.
#[derive(Clone, PartialEq)]
pub struct ComponentOutput {
    pub stdout: GuestStream,
    pub stderr: GuestStream,
}

impl Default for ComponentOutput {
    /// Without `up`'s flags: stdout to the host's stdout, stderr to its log stream.
    fn default() -> Self {
        Self {
            stdout: GuestStream {
                file: None,
                to: Some(Terminal::Stdout),
            },
            stderr: GuestStream {
                file: None,
                to: Some(Terminal::LogStream),
            },
        }
    }
}

/// One output stream of a component: its log file, if any, and the host stream it
/// is followed to, if any. Clones share the file, opened once in append mode, so
/// each write lands whole at its end whichever instance makes it.
#[derive(Clone)]
pub struct GuestStream {
    file: Option<Arc<File>>,
    to: Option<Terminal>,
}

impl PartialEq for GuestStream {
    fn eq(&self, other: &Self) -> bool {
        let same_file = match (&self.file, &other.file) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        same_file && self.to == other.to
    }
}

impl GuestStream {
    /// A write error to the file is not the guest's to handle (Spin's writer
    /// reports it to the guest, whose `println!` then panics); the bytes still
    /// reach the followed stream.
    fn write(&self, bytes: &[u8]) {
        if let Some(file) = &self.file {
            let _ = (&**file).write_all(bytes);
        }
        match self.to {
            Some(Terminal::Stdout) => {
                let _ = std::io::stdout().lock().write_all(bytes);
            }
            Some(Terminal::LogStream) => crate::log::queue(bytes),
            None => {}
        }
    }

    /// What a guest's flush reaches: the host's stdout buffer (as Wasmtime's own
    /// stdout stream does). Files are written unbuffered; the log queue has its own
    /// flusher.
    fn flush(&self) {
        if self.to == Some(Terminal::Stdout) {
            let _ = std::io::stdout().flush();
        }
    }
}

impl wasmtime_wasi::cli::IsTerminal for GuestStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl wasmtime_wasi::cli::StdoutStream for GuestStream {
    fn p2_stream(&self) -> Box<dyn wasmtime_wasi::p2::OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl wasmtime_wasi::p2::OutputStream for GuestStream {
    fn write(&mut self, bytes: bytes::Bytes) -> wasmtime_wasi::p2::StreamResult<()> {
        GuestStream::write(self, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> wasmtime_wasi::p2::StreamResult<()> {
        GuestStream::flush(self);
        Ok(())
    }

    fn check_write(&mut self) -> wasmtime_wasi::p2::StreamResult<usize> {
        Ok(crate::log::FLUSH_BYTES)
    }
}

#[async_trait::async_trait]
impl wasmtime_wasi::p2::Pollable for GuestStream {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for GuestStream {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        GuestStream::write(&self, buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        GuestStream::flush(&self);
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_follows_none_no_names_follow_all_and_names_follow_those() {
        assert_eq!(Follow::from_flags(vec![], false), Follow::All);
        assert_eq!(Follow::from_flags(vec![], true), Follow::None);
        let named = Follow::from_flags(vec!["router".into()], false);
        assert!(named.follows("router") && !named.follows("auth"));
    }

    #[test]
    fn a_follow_naming_no_component_is_refused_listing_those_there_are() {
        let options = OutputOptions {
            follow: Follow::Named(["ruoter".to_string()].into()),
            ..Default::default()
        };
        let e = options
            .open(&["auth", "router"], &["router"])
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("no component `ruoter`"), "{e}");
        assert!(e.contains("its components are: auth, router"), "{e}");
    }

    #[test]
    fn output_is_appended_to_each_components_files_and_truncated_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let options = OutputOptions {
            log_dir: Some(dir.path().join("logs")),
            follow: Follow::None,
            truncate: false,
        };
        let read = |name: &str| std::fs::read_to_string(dir.path().join("logs").join(name));
        let outputs = options.open(&["a", "b"], &["a", "b"]).unwrap();
        outputs["a"].stdout.write(b"one\n");
        outputs["a"].stderr.write(b"err\n");
        let again = options.open(&["a", "b"], &["a"]).unwrap();
        again["a"].stdout.write(b"two\n");
        assert_eq!(read("a_stdout.txt").unwrap(), "one\ntwo\n");
        assert_eq!(read("a_stderr.txt").unwrap(), "err\n");
        assert_eq!(read("b_stdout.txt").unwrap(), "");

        std::fs::write(dir.path().join("logs/gone_stderr.txt"), "old").unwrap();
        std::fs::write(dir.path().join("logs/notes.txt"), "kept").unwrap();
        let truncating = OutputOptions {
            truncate: true,
            ..options
        };
        let opened = truncating.open(&["a", "b"], &["a"]).unwrap();
        assert_eq!(
            read("a_stdout.txt").unwrap(),
            "one\ntwo\n",
            "not on opening"
        );
        truncating.truncate_if_asked().unwrap();
        assert_eq!(read("a_stdout.txt").unwrap(), "");
        opened["a"].stdout.write(b"three\n");
        assert_eq!(read("a_stdout.txt").unwrap(), "three\n");
        assert_eq!(
            read("gone_stderr.txt").unwrap(),
            "",
            "as Spin, every log there"
        );
        assert_eq!(read("notes.txt").unwrap(), "kept");
    }

    #[test]
    fn log_files_a_refused_start_made_are_removed_and_older_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("a/b");
        let options = OutputOptions {
            log_dir: Some(logs.clone()),
            follow: Follow::None,
            truncate: false,
        };
        let refused = options.new_log_files(&["a"]);
        options.open(&["a"], &["a"]).unwrap();
        assert!(logs.join("a_stdout.txt").exists());
        drop(refused);
        assert!(
            !dir.path().join("a").exists(),
            "every level made is removed"
        );

        let started = options.new_log_files(&["a"]);
        options.open(&["a"], &["a"]).unwrap()["a"]
            .stdout
            .write(b"kept\n");
        started.keep();
        let refused = options.new_log_files(&["a", "b"]);
        options.open(&["a", "b"], &["a", "b"]).unwrap();
        drop(refused);
        let read = |name: &str| std::fs::read_to_string(logs.join(name));
        assert_eq!(read("a_stdout.txt").unwrap(), "kept\n");
        assert!(read("a_stderr.txt").is_ok());
        assert!(read("b_stdout.txt").is_err() && read("b_stderr.txt").is_err());
    }

    #[test]
    fn streams_are_equal_when_they_write_to_the_same_places() {
        let dir = tempfile::tempdir().unwrap();
        let options = OutputOptions {
            log_dir: Some(dir.path().to_path_buf()),
            ..Default::default()
        };
        let outputs = options.open(&["a", "b"], &["a", "b"]).unwrap();
        assert!(outputs["a"] == outputs["a"].clone());
        assert!(outputs["a"] != outputs["b"]);
        assert!(ComponentOutput::default() == ComponentOutput::default());
    }
}
