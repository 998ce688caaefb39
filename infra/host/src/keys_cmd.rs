//! `waypost keys new --tenant T`: a fresh API key, shown once, and the line to paste
//! into the tenant's `keys` in the region documents (which hold only the hash).

use anyhow::{anyhow, bail};
use base64::Engine as _;
use clap::Subcommand;
use waypost_core::config::{KeyHash, check_id, parse_rfc3339};

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Make a new API key: the key goes to stdout (once), the hash line to stderr.
    New {
        /// The tenant id (the key is `<tenant>_<secret>`).
        #[arg(long)]
        tenant: String,
        /// Refuse the key after this RFC 3339 instant (e.g. 2027-01-01T00:00:00Z).
        #[arg(long)]
        expires: Option<String>,
        /// Grant only this scope (repeatable); without it the key grants every scope.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// A note for humans ("ci", "warehouse scanner").
        #[arg(long)]
        label: Option<String>,
    },
}

pub fn run(command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::New {
            tenant,
            expires,
            scopes,
            label,
        } => {
            let (key, line) = new_key(&tenant, expires.as_deref(), &scopes, label.as_deref())?;
            println!("{key}");
            eprintln!(
                "The key above is shown once: store it now. Waypost keeps only its hash; add this \
                 to the `keys` of tenant \"{tenant}\" in each region's gateway.toml:"
            );
            eprintln!("{line}");
            Ok(())
        }
    }
}

/// Secret bytes in a key: 256 bits, base64url without padding (43 characters).
const SECRET_BYTES: usize = 32;

/// A fresh key for `tenant` and its TOML line for the document.
pub fn new_key(
    tenant: &str,
    expires: Option<&str>,
    scopes: &[String],
    label: Option<&str>,
) -> anyhow::Result<(String, String)> {
    check_id(tenant, "tenant").map_err(|e| anyhow!(e))?;
    let mut secret = [0u8; SECRET_BYTES];
    getrandom::fill(&mut secret).map_err(|e| anyhow!("no system randomness: {e}"))?;
    let key = format!(
        "{tenant}_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
    );
    let mut line = format!(
        "{{ hash = {}, state = \"active\"",
        toml_string(KeyHash::of_key(&key).as_str())
    );
    if let Some(expires) = expires {
        if parse_rfc3339(expires).is_none() {
            bail!("--expires {expires:?} is not an RFC 3339 date-time (e.g. 2027-01-01T00:00:00Z)");
        }
        line.push_str(&format!(", expires = {}", toml_string(expires)));
    }
    if !scopes.is_empty() {
        let list: Vec<String> = scopes.iter().map(|s| toml_string(s)).collect();
        line.push_str(&format!(", scopes = [{}]", list.join(", ")));
    }
    if let Some(label) = label {
        line.push_str(&format!(", label = {}", toml_string(label)));
    }
    line.push_str(" }");
    Ok((key, line))
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn keys_carry_the_tenant_and_256_random_bits() {
        let (a, line) = new_key("acme-eu", None, &[], None).unwrap();
        let (b, _) = new_key("acme-eu", None, &[], None).unwrap();
        assert_ne!(a, b);
        assert!(
            a.starts_with("acme-eu_") && a.len() == "acme-eu_".len() + 43,
            "{a}"
        );
        assert_eq!(
            line,
            format!(
                "{{ hash = \"{}\", state = \"active\" }}",
                KeyHash::of_key(&a)
            )
        );
        let (_, line) = new_key(
            "acme",
            Some("2027-01-01T00:00:00Z"),
            &["rates".into()],
            Some("ci"),
        )
        .context("with options")
        .unwrap();
        assert!(line.ends_with(
            "state = \"active\", expires = \"2027-01-01T00:00:00Z\", scopes = [\"rates\"], label = \"ci\" }"
        ));
    }

    #[test]
    fn invalid_tenants_and_dates_are_refused() {
        for bad in ["acme_corp", "Acme", "", "-x"] {
            assert!(new_key(bad, None, &[], None).is_err(), "{bad}");
        }
        assert!(new_key("acme", Some("tomorrow"), &[], None).is_err());
    }
}
