//! The calls README.md and DEMO-KEYS.md show a new user, run as written (with `curl`)
//! against the demo app, so a documented first call cannot drift into an error.

use std::process::Command;
use waypost_tests::{HostOptions, start_app, workspace_root};

/// The `sh` code blocks of a Markdown file, each as its text.
fn shell_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_start()) {
            (None, "```sh") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

/// The blocks of `file` that call the app served by set-up command 1.
fn documented_calls(file: &str) -> Vec<String> {
    let text = std::fs::read_to_string(workspace_root().join(file)).expect(file);
    let calls: Vec<String> = shell_blocks(&text)
        .into_iter()
        .filter(|block| block.contains("curl ") && block.contains(":3000/"))
        .collect();
    assert!(!calls.is_empty(), "{file} shows no call to the app");
    calls
}

/// Runs `block` with bash, its address changed to `authority`, and gives each curl
/// call's status and body.
fn run_calls(block: &str, authority: &str) -> Vec<(u16, String)> {
    let script = block
        .replace("localhost:3000", authority)
        .replace("127.0.0.1:3000", authority);
    let marker = "@@waypost-docs-status ";
    let prelude = format!(
        "set -e\ncurl() {{ command curl --max-time 30 -w '\\n{marker}%{{http_code}}\\n' \"$@\"; }}\n"
    );
    let output = Command::new("bash")
        .arg("-c")
        .arg(prelude + &script)
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{script}\nfailed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut calls = Vec::new();
    let mut body = String::new();
    for line in stdout.lines() {
        match line.strip_prefix(marker) {
            Some(status) => calls.push((status.parse().unwrap(), std::mem::take(&mut body))),
            None => body.push_str(line),
        }
    }
    let written = script
        .lines()
        .filter(|l| l.trim_start().starts_with("curl "))
        .count();
    assert_eq!(calls.len(), written, "{script}\n{stdout}");
    calls
}

#[test]
fn the_documented_calls_succeed_against_the_demo_app() {
    // As the README says to start it for the admin API.
    let host = start_app(HostOptions {
        env: vec![("SPIN_VARIABLE_ADMIN_TOKEN".into(), "dev-admin".into())],
        ..Default::default()
    });
    let base = host.url("/");
    let authority = base
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    for file in ["README.md", "infra/regions/local/DEMO-KEYS.md"] {
        for block in documented_calls(file) {
            for (status, body) in run_calls(&block, &authority) {
                assert!(
                    (200..300).contains(&status),
                    "{file}: a documented call answered {status}: {body}\n{block}"
                );
                let answer: serde_json::Value = serde_json::from_str(&body)
                    .unwrap_or_else(|e| panic!("{file}: not JSON ({e}): {body}"));
                if let Some(quotes) = answer.get("quotes") {
                    assert!(
                        quotes.as_array().is_some_and(|q| !q.is_empty()),
                        "{file}: rates without quotes: {body}"
                    );
                }
            }
        }
    }
}
