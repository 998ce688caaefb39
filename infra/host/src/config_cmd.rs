//! `waypost config ...`: working with a region's config document.

use anyhow::{Context, bail};
use clap::Subcommand;
use std::path::{Path, PathBuf};
use waypost_core::config::{ConfigError, parse_and_validate};

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Validate a config document: every error, with its line and path.
    Check {
        /// The document (e.g. infra/regions/local/gateway.toml).
        file: PathBuf,
    },
}

pub fn run(command: ConfigCommand) -> anyhow::Result<()> {
    match command {
        ConfigCommand::Check { file } => check(&file),
    }
}

/// Prints `FILE:LINE: PATH: MESSAGE` per error (stderr) and fails on any; prints
/// `FILE: ok (...)` otherwise.
fn check(file: &Path) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let shown = file.display();
    match parse_and_validate(&text) {
        Ok(doc) => {
            eprintln!("{shown}: ok ({})", doc.summary());
            Ok(())
        }
        Err(errors) => {
            for error in &errors {
                eprintln!("{}", located(&shown.to_string(), error));
            }
            let n = errors.len();
            bail!("{shown}: {n} error{}", if n == 1 { "" } else { "s" })
        }
    }
}

/// `FILE:LINE: PATH: MESSAGE`, leaving out what is unknown.
pub fn located(file: &str, error: &ConfigError) -> String {
    let mut out = file.to_string();
    if let Some(line) = error.line {
        out.push_str(&format!(":{line}"));
    }
    if !error.path.is_empty() {
        out.push_str(&format!(": {}", error.path));
    }
    out.push_str(&format!(": {}", error.message));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_located_like_compilers_do() {
        let e = ConfigError {
            path: "tenants[2].carriers[0].carrier".into(),
            line: Some(14),
            message: "unknown carrier \"upz\"".into(),
        };
        assert_eq!(
            located("gw.toml", &e),
            "gw.toml:14: tenants[2].carriers[0].carrier: unknown carrier \"upz\""
        );
        let syntax = ConfigError {
            path: String::new(),
            line: Some(3),
            message: "invalid string".into(),
        };
        assert_eq!(located("gw.toml", &syntax), "gw.toml:3: invalid string");
    }
}
