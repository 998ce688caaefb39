//! Where compiled components are kept across restarts: Wasmtime's own compilation
//! cache, as Spin uses it. `--cache FILE` is Wasmtime's cache configuration file
//! (its directory and size limits) and `--disable-cache` turns the cache off, as on
//! Spin; without either, Waypost's cache directory is `--cache-dir`, or
//! `<state-dir>/compiled`, with Wasmtime's default limits (512 MiB, 65,536 files),
//! kept by Wasmtime's cleanup.

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use wasmtime::{Cache, CacheConfig};

/// The cache `up` was asked for.
#[derive(Clone, Debug, PartialEq)]
pub enum CacheSetting {
    /// `--disable-cache`: every component is compiled at every start.
    Off,
    /// `--cache-dir`, or `<state-dir>/compiled` when `None`.
    Dir(Option<PathBuf>),
    /// `--cache FILE`: Wasmtime's configuration file decides the directory (or
    /// Wasmtime's default, as on Spin) and the limits.
    File(PathBuf),
}

impl CacheSetting {
    /// From `--disable-cache`, `--cache FILE`, `--cache-dir DIR` and
    /// `WAYPOST_CACHE_DIR`. Spin's two flags exclude each other (clap says so);
    /// `--cache-dir` given with either is refused here, as clap would refuse it
    /// even when `DISABLE_WASMTIME_CACHE=0` only set the flag to false.
    pub fn from_flags(
        disable: bool,
        file: Option<PathBuf>,
        dir: Option<PathBuf>,
        env_dir: Option<PathBuf>,
    ) -> anyhow::Result<Self> {
        match (disable, file, dir) {
            (true, _, Some(_)) => bail!("--cache-dir cannot be used with --disable-cache"),
            (_, Some(_), Some(_)) => {
                bail!("--cache-dir cannot be used with --cache (its file names the directory)")
            }
            (true, _, None) => Ok(Self::Off),
            (false, Some(file), None) => Ok(Self::File(file)),
            (false, None, dir) => Ok(Self::Dir(dir.or(env_dir))),
        }
    }
}

/// Opens the cache `setting` names, creating its directory. Wasmtime's cleanup
/// deletes whatever in that directory it did not write, so a directory holding
/// anything else, or holding the state dir (the key-value file), is refused.
pub fn open(setting: &CacheSetting, state_dir: &Path) -> anyhow::Result<Option<Cache>> {
    let (config, named) = match setting {
        CacheSetting::Off => return Ok(None),
        CacheSetting::File(file) => {
            let named = format!("--cache {}", file.display());
            let config = CacheConfig::from_file(Some(file))
                .map_err(anyhow::Error::from)
                .context(named.clone())?;
            (config, named)
        }
        CacheSetting::Dir(dir) => {
            let dir = dir.clone().unwrap_or_else(|| state_dir.join("compiled"));
            let named = format!("compiled-component cache {}", dir.display());
            // Wasmtime takes only an absolute directory.
            let absolute = std::path::absolute(&dir).context(named.clone())?;
            remove_own_artifacts(&absolute);
            let mut config = CacheConfig::new();
            config.with_directory(absolute);
            (config, named)
        }
    };
    let cache = Cache::new(config)
        .map_err(anyhow::Error::from)
        .context(named.clone())?;
    check_own_directory(cache.directory(), state_dir).context(named)?;
    Ok(Some(cache))
}

/// Refuses a cache directory that Wasmtime's cleanup would empty of more than its
/// own files: one holding the state dir, or any entry but its `modules` tree and
/// `.cleanup` lock.
fn check_own_directory(dir: &Path, state_dir: &Path) -> anyhow::Result<()> {
    let state_dir = std::path::absolute(state_dir)?;
    let state_dir = state_dir.canonicalize().unwrap_or(state_dir);
    if state_dir.starts_with(dir) {
        bail!(
            "holds the state dir {}, whose files Wasmtime's cache cleanup would delete; \
             give the cache a directory of its own",
            state_dir.display()
        );
    }
    for entry in std::fs::read_dir(dir)?.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let own = (name == "modules" && entry.path().is_dir()) || name.starts_with(".cleanup");
        if !own {
            bail!(
                "holds `{name}`, which Wasmtime's cache cleanup would delete; \
                 give the cache a directory of its own"
            );
        }
    }
    Ok(())
}

/// Removes the files Waypost wrote itself before it used Wasmtime's cache: nothing
/// reads them now, and `check_own_directory` would take them for another's.
fn remove_own_artifacts(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name.to_str().is_some_and(is_own_artifact) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// `<sha256>.cwasm`, or `<sha256>.tmp<pid>` left by a write that was cut short.
fn is_own_artifact(name: &str) -> bool {
    let Some((stem, extension)) = name.split_once('.') else {
        return false;
    };
    let hash = stem.len() == 64 && stem.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let temporary = extension
        .strip_prefix("tmp")
        .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()));
    hash && (extension == "cwasm" || temporary)
}

/// The start-up event saying how many of the `loaded` components came from the
/// cache, and where it is.
pub fn report(cache: Option<&Cache>, loaded: usize) {
    let from_cache = cache.map_or(0, Cache::cache_hits);
    let directory = cache.map_or_else(
        || "off".to_string(),
        |c| c.directory().display().to_string(),
    );
    crate::log::event(
        "components_loaded",
        &[
            ("compiled", &loaded.saturating_sub(from_cache).to_string()),
            ("from_cache", &from_cache.to_string()),
            ("cache", &directory),
        ],
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flags_choose_the_cache_and_waypost_cache_dir_only_when_no_flag_does() {
        let p = |s: &str| Some(PathBuf::from(s));
        let env = p("/env");
        let from = |disable, file: Option<PathBuf>, dir: Option<PathBuf>| {
            CacheSetting::from_flags(disable, file, dir, env.clone())
        };
        assert_eq!(
            from(false, None, None).unwrap(),
            CacheSetting::Dir(p("/env"))
        );
        assert_eq!(
            from(false, None, p("/d")).unwrap(),
            CacheSetting::Dir(p("/d"))
        );
        assert_eq!(
            from(false, p("/c.toml"), None).unwrap(),
            CacheSetting::File("/c.toml".into())
        );
        assert_eq!(from(true, None, None).unwrap(), CacheSetting::Off);
        let e = from(true, None, p("/d")).unwrap_err().to_string();
        assert_eq!(e, "--cache-dir cannot be used with --disable-cache");
        let e = from(false, p("/c.toml"), p("/d")).unwrap_err().to_string();
        assert!(
            e.starts_with("--cache-dir cannot be used with --cache"),
            "{e}"
        );
    }

    #[test]
    fn a_cache_directory_holding_anything_but_the_cache_or_the_state_dir_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let state = dir.path().join("state");
        std::fs::create_dir_all(cache.join("modules")).unwrap();
        std::fs::write(cache.join(".cleanup.lock"), b"").unwrap();
        check_own_directory(&cache, &state).unwrap();

        let e = check_own_directory(dir.path(), &state)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(&format!("holds the state dir {}", state.display())),
            "{e}"
        );
        let e = check_own_directory(&cache, &cache).unwrap_err().to_string();
        assert!(e.starts_with("holds the state dir"), "{e}");

        std::fs::write(cache.join("default.db"), b"tenant data").unwrap();
        let e = check_own_directory(&cache, &state).unwrap_err().to_string();
        assert!(
            e.starts_with("holds `default.db`, which Wasmtime's cache cleanup"),
            "{e}"
        );
        std::fs::remove_file(cache.join("default.db")).unwrap();
        std::fs::write(cache.join("modules.txt"), b"").unwrap();
        assert!(check_own_directory(&cache, &state).is_err());
    }

    #[test]
    fn only_the_files_waypost_once_wrote_are_its_own_artifacts() {
        let hash = "0123456789abcdef".repeat(4);
        assert!(is_own_artifact(&format!("{hash}.cwasm")));
        assert!(is_own_artifact(&format!("{hash}.tmp42")));
        for other in [
            format!("{hash}.tmp"),
            format!("{hash}.tmpx"),
            format!("{}.cwasm", &hash[1..]),
            format!("{}.cwasm", hash.to_uppercase()),
            "modules".to_string(),
            format!("{hash}.cwasm.stats"),
        ] {
            assert!(!is_own_artifact(&other), "{other}");
        }
    }

    #[test]
    fn the_default_cache_is_made_in_the_state_dir_and_waypost_s_old_artifacts_go() {
        let state = tempfile::tempdir().unwrap();
        let compiled = state.path().join("compiled");
        std::fs::create_dir(&compiled).unwrap();
        let old = compiled.join(format!("{}.cwasm", "ab".repeat(32)));
        std::fs::write(&old, b"old").unwrap();
        let cache = open(&CacheSetting::Dir(None), state.path())
            .unwrap()
            .unwrap();
        assert_eq!(cache.directory(), &compiled.canonicalize().unwrap());
        assert!(!old.exists());
        assert!(open(&CacheSetting::Off, state.path()).unwrap().is_none());
    }
}
