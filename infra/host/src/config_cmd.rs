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
    /// Validate a document, then apply it to a running gateway (`PUT /admin/config`).
    /// The admin token is read from WAYPOST_ADMIN_TOKEN, never from the command line.
    Push {
        file: PathBuf,
        /// The gateway's base URL, e.g. http://127.0.0.1:3000.
        #[arg(long = "to")]
        to: String,
        /// Apply only if this config version is still the active one.
        #[arg(long = "if-version")]
        if_version: Option<u64>,
    },
}

pub fn run(command: ConfigCommand) -> anyhow::Result<()> {
    match command {
        ConfigCommand::Check { file } => check(&file),
        ConfigCommand::Push {
            file,
            to,
            if_version,
        } => {
            check(&file)?;
            let token = std::env::var("WAYPOST_ADMIN_TOKEN")
                .ok()
                .filter(|t| !t.is_empty())
                .context("set WAYPOST_ADMIN_TOKEN to the gateway's admin token")?;
            let text = std::fs::read_to_string(&file)?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(push(&text, &to, &token, if_version))
        }
    }
}

/// `PUT <to>/admin/config`; prints the gateway's answer and fails unless it applied.
async fn push(text: &str, to: &str, token: &str, if_version: Option<u64>) -> anyhow::Result<()> {
    use http_body_util::{BodyExt, Full};
    let url = format!("{}/admin/config", to.trim_end_matches('/'));
    let mut request = http::Request::put(&url)
        .header(http::header::AUTHORIZATION, format!("Bearer {token}"))
        .header(http::header::CONTENT_TYPE, "application/toml");
    if let Some(version) = if_version {
        request = request.header(http::header::IF_MATCH, version.to_string());
    }
    let request = request
        .body(Full::new(bytes::Bytes::from(text.to_string())))
        .with_context(|| format!("bad gateway URL `{to}`"))?;
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.enforce_http(false);
    let connector =
        crate::client_tls::own_client_connector(crate::client_tls::default_config()?, http);
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build(connector);
    let response = client
        .request(request)
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    let body = String::from_utf8_lossy(&body);
    if status.is_success() {
        println!("{body}");
        Ok(())
    } else {
        bail!("{url} answered {status}: {body}")
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
