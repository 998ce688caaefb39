//! `waypost config check` and `waypost keys new`, run as a user runs them.

use sha2::{Digest, Sha256};
use std::process::{Command, Stdio};
use waypost_tests::{host_binary, run_host, workspace_root};

fn region_file(region: &str) -> String {
    workspace_root()
        .join("infra/regions")
        .join(region)
        .join("gateway.toml")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn region_documents_pass() {
    for region in ["local", "eu", "us"] {
        let file = region_file(region);
        let (ok, stderr) = run_host(&["config", "check", &file], &[]);
        assert!(ok, "{region}: {stderr}");
        assert!(
            stderr.contains(&format!("{file}: ok (region {region}, 3 tenants,")),
            "{stderr}"
        );
    }
}

/// 1-based line of the only line containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    let lines: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(needle))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(lines.len(), 1, "{needle:?} must be on exactly one line");
    lines[0]
}

#[test]
fn a_broken_document_fails_with_every_error_located() {
    let good = std::fs::read_to_string(region_file("local")).unwrap();
    let broken = good
        .replacen(
            "{ carrier = \"fedex\", account = \"platform\" },\n]\n\n# US tenant",
            "{ carrier = \"fedx\", account = \"platform\" },\n]\n\n# US tenant",
            1,
        )
        .replacen("plan = \"starter\"", "plan = \"startr\"", 1)
        .replacen(
            "alg = \"HS256\", secret = \"dev_jwt_secret\"",
            "alg = \"HS256\", secret = \"hunter2-Secret\"",
            1,
        )
        .replacen(
            "max_age_secs = 86400",
            "max_age_secs = 86400\nmax_age = 5",
            1,
        )
        .replacen("id = \"prairie-supply\"", "id = \"prairie_supply\"", 1);
    assert_eq!(broken.matches("fedx").count(), 1, "the edit applied");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gateway.toml");
    std::fs::write(&file, &broken).unwrap();
    let file = file.to_string_lossy().into_owned();

    let (ok, stderr) = run_host(&["config", "check", &file], &[]);
    assert!(!ok, "a broken document must fail: {stderr}");
    let expected = [
        (
            line_of(&broken, "\"fedx\""),
            "tenants[0].carriers[1].carrier",
            "unknown carrier \"fedx\"",
        ),
        (
            line_of(&broken, "\"prairie_supply\""),
            "tenants[1].id",
            "not a valid tenant id",
        ),
        (
            line_of(&broken, "\"startr\""),
            "tenants[1].plan",
            "unknown plan \"startr\"",
        ),
        (
            line_of(&broken, "max_age = 5"),
            "issuers[0].max_age",
            "unknown field `max_age`",
        ),
        (
            line_of(&broken, "hunter2"),
            "issuers[0].keys[0].secret",
            "not a Spin variable name",
        ),
    ];
    let error_lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with(&format!("{file}:")))
        .collect();
    assert_eq!(error_lines.len(), expected.len(), "{stderr}");
    for (line, path, message) in expected {
        let prefix = format!("{file}:{line}: {path}: ");
        assert!(
            error_lines
                .iter()
                .any(|l| l.starts_with(&prefix) && l.contains(message)),
            "no `{prefix}...{message}` in:\n{stderr}"
        );
    }
    // Document order.
    let lines: Vec<usize> = error_lines
        .iter()
        .map(|l| {
            l[file.len() + 1..]
                .split(':')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert!(lines.windows(2).all(|w| w[0] <= w[1]), "{lines:?}");
}

#[test]
fn a_missing_file_fails() {
    let (ok, stderr) = run_host(&["config", "check", "/nonexistent/gateway.toml"], &[]);
    assert!(!ok);
    assert!(
        stderr.contains("cannot read /nonexistent/gateway.toml"),
        "{stderr}"
    );
}

fn keys_new(tenant: &str) -> (bool, String, String) {
    let out = Command::new(host_binary())
        .args(["keys", "new", "--tenant", tenant])
        .stdin(Stdio::null())
        .output()
        .expect("run waypost keys new");
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn keys_new_prints_a_key_and_the_hash_line_of_that_key() {
    let (ok, stdout, stderr) = keys_new("nordlicht");
    assert!(ok, "{stderr}");
    let key = stdout.trim();
    assert_eq!(
        stdout.lines().count(),
        1,
        "stdout is the key alone: {stdout}"
    );
    assert!(
        key.starts_with("nordlicht_") && key.len() > "nordlicht_".len() + 40,
        "{key}"
    );
    let hash = format!("sha256:{:x}", Sha256::digest(key.as_bytes()));
    let paste = format!("{{ hash = \"{hash}\", state = \"active\" }}");
    assert!(
        stderr.lines().any(|l| l.trim() == paste),
        "no `{paste}` in:\n{stderr}"
    );
    assert!(!stderr.contains(key), "the key is printed once, on stdout");

    // The pasted line makes a valid document in which the key is the tenant's.
    let good = std::fs::read_to_string(region_file("local")).unwrap();
    let with_key = good.replacen("keys = [\n", &format!("keys = [\n  {paste},\n"), 1);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gateway.toml");
    std::fs::write(&file, with_key).unwrap();
    let (ok, stderr) = run_host(&["config", "check", &file.to_string_lossy()], &[]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("7 API keys"), "{stderr}");

    let (_, again, _) = keys_new("nordlicht");
    assert_ne!(again.trim(), key, "every key is fresh");
}

#[test]
fn keys_new_refuses_an_invalid_tenant() {
    let (ok, stdout, stderr) = keys_new("acme_corp");
    assert!(!ok);
    assert!(stdout.is_empty(), "no key for an invalid tenant: {stdout}");
    assert!(
        stderr.contains("\"acme_corp\" is not a valid tenant id"),
        "{stderr}"
    );
}
