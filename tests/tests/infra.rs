//! The deployment manifests and scripts of `infra/` (Fermyon, SpinKube, systemd) against
//! spin.toml and the regions' documents: each parses, names files that exist, sets only
//! variables spin.toml declares, supplies every variable a deployment must (declared
//! `required = true` or `secret = true`), takes secrets only from the platform's secret
//! store, and names its region and public URL as `infra/regions/<region>/gateway.toml`
//! does. spin.toml is read afresh by each test: components add variables as they land.

use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Output};
use waypost_tests::workspace_root;

/// The deployed regions (`local` is the demo, never deployed).
const REGIONS: [&str; 2] = ["eu", "us"];

fn read(rel: &str) -> String {
    let path = workspace_root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn toml_file(rel: &str) -> toml::Table {
    toml::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn yaml_file(rel: &str) -> Json {
    serde_yaml_ng::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// spin.toml's `[variables]`.
fn spin_variables() -> toml::Table {
    manifest_variables(&toml_file("spin.toml"))
}

fn manifest_variables(manifest: &toml::Table) -> toml::Table {
    manifest["variables"].as_table().unwrap().clone()
}

fn is_true(variables: &toml::Table, name: &str, key: &str) -> bool {
    variables[name].get(key).and_then(toml::Value::as_bool) == Some(true)
}

/// The variables every deployment must supply: declared `required = true` (no default)
/// or `secret = true` (a region never runs on a secret's default).
fn must_supply(variables: &toml::Table) -> BTreeSet<String> {
    variables
        .keys()
        .filter(|name| is_true(variables, name, "required") || is_true(variables, name, "secret"))
        .cloned()
        .collect()
}

fn env_name(variable: &str) -> String {
    format!("SPIN_VARIABLE_{}", variable.to_uppercase())
}

/// The region's public base URL from its own document, after checking the document is
/// that region's.
fn public_url(region: &str) -> String {
    let doc = toml_file(&format!("infra/regions/{region}/gateway.toml"));
    assert_eq!(
        doc["region"]["id"].as_str(),
        Some(region),
        "{region}/gateway.toml [region] id"
    );
    doc["regions"][region].as_str().unwrap().to_string()
}

fn str_at<'a>(doc: &'a Json, pointer: &str) -> &'a str {
    doc.pointer(pointer)
        .and_then(Json::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {doc}"))
}

// ------------------------------------------------------------------- runtime configs

#[test]
fn region_runtime_configs_use_the_regions_own_redis_no_literal_secrets_and_block_internal_networks()
{
    let mut urls = BTreeSet::new();
    for region in REGIONS {
        let rel = format!("infra/regions/{region}/runtime-config.toml");
        let config = toml_file(&rel);
        for key in config.keys() {
            assert!(
                [
                    "key_value_store",
                    "variables_provider",
                    "outbound_networking"
                ]
                .contains(&key.as_str()),
                "{rel}: unexpected [{key}]"
            );
        }
        let store = &config["key_value_store"]["default"];
        assert_eq!(store["type"].as_str(), Some("redis"), "{rel}");
        let url = store["url"].as_str().unwrap();
        let authority = url
            .strip_prefix("redis://")
            .unwrap_or_else(|| panic!("{rel}: {url}"));
        let host = authority.split(['/', ':']).next().unwrap();
        assert!(
            !authority.contains('@'),
            "{rel}: a password in the Redis URL"
        );
        assert!(
            host.ends_with(&format!(".waypost-{region}.svc.cluster.local")),
            "{rel}: Redis {host} is not in the region's namespace waypost-{region}"
        );
        urls.insert(url.to_string());

        let providers = config["variables_provider"].as_array().unwrap();
        let types: Vec<_> = providers
            .iter()
            .map(|p| p["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            types,
            ["env"],
            "{rel}: variables only from the environment, no literals"
        );
        assert_eq!(
            config["outbound_networking"]["block_networks"]
                .as_array()
                .map(Vec::as_slice),
            Some(&["private".into()][..]),
            "{rel}: outbound HTTP must not reach the region's internal networks"
        );
    }
    assert_eq!(urls.len(), REGIONS.len(), "regions share a Redis: {urls:?}");
}

// ------------------------------------------------------------------- fermyon/deploy.sh

const DEPLOY: &str = "infra/fermyon/deploy.sh";

/// Runs deploy.sh with only `env` set and a stand-in `spin` first on PATH that records
/// each call; returns the output and the recorded calls (one line each).
fn deploy(args: &[&str], env: &[(String, String)]) -> (Output, Vec<String>) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let spin = dir.path().join("spin");
    std::fs::write(&spin, "#!/bin/sh\nprintf '%s\\n' \"$*\" >> \"$SPIN_LOG\"\n").unwrap();
    std::fs::set_permissions(&spin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let log = dir.path().join("spin.log");
    let output = Command::new("bash")
        .arg(workspace_root().join(DEPLOY))
        .args(args)
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", dir.path().display()))
        .env("SPIN_LOG", &log)
        .envs(env.iter().cloned())
        .output()
        .unwrap();
    let calls = std::fs::read_to_string(&log).unwrap_or_default();
    (output, calls.lines().map(str::to_string).collect())
}

/// A distinct value for every variable a deployment must supply, as SPIN_VARIABLE_*.
fn secrets_env() -> Vec<(String, String)> {
    must_supply(&spin_variables())
        .iter()
        .map(|name| (env_name(name), format!("value-of-{name}")))
        .collect()
}

/// The `--variable name=value` pairs of a command line.
fn variable_flags(command: &str) -> BTreeMap<String, String> {
    let words: Vec<&str> = command.split_whitespace().collect();
    words
        .windows(2)
        .filter(|w| w[0] == "--variable")
        .map(|w| {
            let (k, v) = w[1].split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// The SPIN_VARIABLE_* names deploy.sh reports missing.
fn reported_missing(stderr: &[u8]) -> BTreeSet<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("SPIN_VARIABLE_"))
        .map(|rest| format!("SPIN_VARIABLE_{}", rest.split_whitespace().next().unwrap()))
        .collect()
}

#[test]
fn deploy_script_is_valid_bash() {
    let out = Command::new("bash")
        .arg("-n")
        .arg(workspace_root().join(DEPLOY))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn deploy_without_secrets_names_each_missing_one_and_runs_nothing() {
    let needed: BTreeSet<String> = must_supply(&spin_variables())
        .iter()
        .map(|n| env_name(n))
        .collect();
    assert!(!needed.is_empty());
    for region in REGIONS {
        let (out, calls) = deploy(&[region], &[]);
        assert_eq!(out.status.code(), Some(1), "{region}");
        assert_eq!(
            reported_missing(&out.stderr),
            needed,
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(calls.is_empty(), "spin ran without the secrets: {calls:?}");
    }
    // One set: only the others are reported.
    let env = secrets_env()[..1].to_vec();
    let (out, calls) = deploy(&["eu"], &env);
    let mut rest = needed.clone();
    rest.remove(&env[0].0);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(reported_missing(&out.stderr), rest);
    assert!(calls.is_empty());
}

#[test]
fn deploy_dry_run_prints_the_spin_commands_with_secrets_masked() {
    let variables = spin_variables();
    let manifest = workspace_root().join("spin.toml");
    for region in REGIONS {
        let mut env = secrets_env();
        env.push(("DRY_RUN".into(), "1".into()));
        let (out, calls) = deploy(&[region], &env);
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(calls.is_empty(), "a dry run ran spin: {calls:?}");
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), 2, "{stdout}");
        assert_eq!(
            lines[0],
            format!("spin build --from {}", manifest.display())
        );
        let deploy_prefix = format!(
            "spin cloud deploy --from {} --environment-name waypost-{region} ",
            manifest.display()
        );
        assert!(lines[1].starts_with(&deploy_prefix), "{}", lines[1]);

        let set = variable_flags(lines[1]);
        assert_eq!(set["region"], region);
        assert_eq!(set["seed_demo_config"], "false");
        for name in set.keys() {
            assert!(
                variables.contains_key(name),
                "deploy.sh sets `{name}`, not in spin.toml"
            );
        }
        for name in must_supply(&variables) {
            assert_eq!(set.get(&name).map(String::as_str), Some("***"), "{name}");
        }
        for (_, value) in secrets_env() {
            assert!(!stdout.contains(&value), "a dry run printed a secret");
        }
    }
}

#[test]
fn deploy_runs_spin_build_then_cloud_deploy_with_every_secret() {
    let env = secrets_env();
    let (out, calls) = deploy(&["us"], &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest = workspace_root().join("spin.toml");
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0], format!("build --from {}", manifest.display()));
    assert!(calls[1].starts_with("cloud deploy "), "{}", calls[1]);
    let set = variable_flags(&calls[1]);
    assert_eq!(set["region"], "us");
    for (env_name, value) in &env {
        let name = env_name.trim_start_matches("SPIN_VARIABLE_").to_lowercase();
        assert_eq!(set.get(&name), Some(value), "{name}");
    }
}

/// The awk over `[variables]` agrees with a TOML parser on lines written to mislead it.
#[test]
fn deploy_reads_the_variables_to_supply_from_the_manifest() {
    let manifest = r#"spin_manifest_version = 2
[application]
name = "x"

[variables]
# gone = { required = true }
plain = { default = "a" }
token = { required = true }
api_key = { default = "", secret = true }
not_secret = { default = "x", secret = false }
tight={secret=true,default=""}
braces = { default = "{ required = true }" } # , secret = true
quoted = { default = 'a, secret = true' }
escaped = { default = "a\" , secret = true" }

[component.a.variables]
other = { secret = true }
"#;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spin.toml");
    std::fs::write(&path, manifest).unwrap();
    let expected: BTreeSet<String> =
        must_supply(&manifest_variables(&toml::from_str(manifest).unwrap()))
            .iter()
            .map(|n| env_name(n))
            .collect();
    assert_eq!(expected.len(), 3);
    let env = [("WAYPOST_MANIFEST".to_string(), path.display().to_string())];
    let (out, calls) = deploy(&["eu"], &env);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(reported_missing(&out.stderr), expected);
    assert!(calls.is_empty());
}

#[test]
fn deploy_refuses_the_demo_and_unknown_regions_before_anything_else() {
    for (region, says) in [
        ("local", "demo"),
        ("mars", "unknown region"),
        ("../eu", "unknown region"),
    ] {
        let (out, calls) = deploy(&[region], &secrets_env());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{region}");
        assert!(stderr.contains(says), "{region}: {stderr}");
        assert!(calls.is_empty());
    }
    let (out, _) = deploy(&[], &[]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage"));
}

// ------------------------------------------------------------------- spinkube/<region>

/// One manifest of `infra/spinkube/<region>/`, after checking its type and that it lives
/// in the region's namespace.
fn spinkube(region: &str, file: &str, api_version: &str, kind: &str) -> Json {
    let doc = yaml_file(&format!("infra/spinkube/{region}/{file}"));
    assert_eq!(str_at(&doc, "/apiVersion"), api_version, "{region}/{file}");
    assert_eq!(str_at(&doc, "/kind"), kind, "{region}/{file}");
    let namespace = format!("waypost-{region}");
    assert_eq!(
        str_at(&doc, "/metadata/namespace"),
        namespace,
        "{region}/{file}"
    );
    doc
}

fn spinapp(region: &str) -> Json {
    spinkube(
        region,
        "spinapp.yaml",
        "core.spinkube.dev/v1alpha1",
        "SpinApp",
    )
}

/// The entry of a YAML list whose `name` is `name`.
fn named<'a>(list: &'a Json, name: &str) -> &'a Json {
    let found = list.as_array().unwrap().iter().find(|e| e["name"] == name);
    found.unwrap_or_else(|| panic!("no `{name}` in {list}"))
}

/// A YAML list of strings, joined by spaces.
fn words(list: &Json) -> String {
    let words: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    words.join(" ")
}

/// Checks a `valueFrom.secretKeyRef` and returns (secret, key).
fn secret_ref(from: &Json) -> (String, String) {
    let r = &from["valueFrom"]["secretKeyRef"];
    assert!(
        from.get("value").is_none(),
        "a literal beside secretKeyRef: {from}"
    );
    (
        str_at(r, "/name").to_string(),
        str_at(r, "/key").to_string(),
    )
}

#[test]
fn spinapps_supply_every_required_variable_from_a_secret() {
    let variables = spin_variables();
    for region in REGIONS {
        let app = spinapp(region);
        assert_eq!(str_at(&app, "/spec/executor"), "containerd-shim-spin");
        assert!(
            app["spec"]["replicas"].as_u64().unwrap() >= 2,
            "{region}: replicas"
        );
        let image = str_at(&app, "/spec/image");
        assert!(
            image.ends_with(&format!("-{region}")),
            "{region}: image tag {image}"
        );

        let mut set = BTreeMap::new();
        for var in app["spec"]["variables"].as_array().unwrap() {
            let name = str_at(var, "/name").to_string();
            assert!(
                variables.contains_key(&name),
                "{region}: `{name}` is not in spin.toml"
            );
            assert!(
                set.insert(name, var.clone()).is_none(),
                "{region}: set twice"
            );
        }
        for name in must_supply(&variables) {
            let var = set
                .get(&name)
                .unwrap_or_else(|| panic!("{region}: SpinApp lacks `{name}`"));
            assert_eq!(secret_ref(var), ("waypost-secrets".into(), name.clone()));
        }
        assert_eq!(str_at(&set["region"], "/value"), region);
        assert_eq!(str_at(&set["seed_demo_config"], "/value"), "false");
    }
}

#[test]
fn spinapp_runtime_config_secret_is_the_regions_runtime_config() {
    for region in REGIONS {
        let app = spinapp(region);
        let secret = spinkube(region, "runtime-config-secret.yaml", "v1", "Secret");
        assert_eq!(
            str_at(&app, "/spec/runtimeConfig/loadFromSecret"),
            str_at(&secret, "/metadata/name")
        );
        // SpinKube reads exactly the key `runtime-config.toml`.
        let data = secret["stringData"].as_object().unwrap();
        assert_eq!(data.keys().collect::<Vec<_>>(), ["runtime-config.toml"]);
        let embedded: toml::Table =
            toml::from_str(data["runtime-config.toml"].as_str().unwrap()).unwrap();
        assert_eq!(
            embedded,
            toml_file(&format!("infra/regions/{region}/runtime-config.toml")),
            "{region}: the Secret differs from infra/regions/{region}/runtime-config.toml"
        );
    }
}

#[test]
fn tick_cronjobs_post_to_the_regions_public_url_every_minute() {
    for region in REGIONS {
        let app = spinapp(region);
        let job = spinkube(region, "webhooks-tick-cronjob.yaml", "batch/v1", "CronJob");
        assert_eq!(str_at(&job, "/spec/schedule"), "* * * * *");
        assert_eq!(str_at(&job, "/spec/concurrencyPolicy"), "Forbid");
        let containers = job
            .pointer("/spec/jobTemplate/spec/template/spec/containers")
            .unwrap();
        let container = &containers[0];
        assert!(str_at(container, "/image").starts_with("curlimages/curl:"));

        // The token is the app's own admin_token, from the same secret.
        let token = named(&container["env"], "ADMIN_TOKEN");
        let app_token = named(&app["spec"]["variables"], "admin_token");
        assert_eq!(secret_ref(token), secret_ref(app_token));

        let script = format!(
            "{} {}",
            words(&container["command"]),
            words(&container["args"])
        );
        let url = format!("{}/admin/webhooks/tick", public_url(region));
        assert!(script.contains(&format!(" {url}")), "{region}: {script}");
        // The header through stdin: the token in no process's arguments.
        assert!(script.contains("-H @-"), "{region}: {script}");
        let request = run_against_local_server(&script.replace(&url, "$TICK_URL"), "ADMIN_TOKEN");
        assert_eq!(request.0, "POST /admin/webhooks/tick");
        assert_eq!(request.1, format!("Bearer {TEST_TOKEN}"));
    }
}

const TEST_TOKEN: &str = "test-token with $pecial chars";

/// Runs a tick command line (`/bin/sh -c '...'` as a container or systemd would, with the
/// token in `token_var` and `$TICK_URL` pointing at a one-shot local server); returns the
/// request line (method and path) and its Authorization header.
fn run_against_local_server(command_line: &str, token_var: &str) -> (String, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8];
        while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap() == 1 {
            head.push(byte[0]);
        }
        conn.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
            .unwrap();
        String::from_utf8(head).unwrap()
    });
    let script = command_line
        .strip_prefix("/bin/sh -c ")
        .expect("a /bin/sh -c command");
    let out = Command::new("/bin/sh")
        .args(["-c", script])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env(token_var, TEST_TOKEN)
        .env(
            "TICK_URL",
            format!("http://127.0.0.1:{port}/admin/webhooks/tick"),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let head = server.join().unwrap();
    let line = head.lines().next().unwrap();
    let auth = head
        .lines()
        .find_map(|l| l.strip_prefix("Authorization: "))
        .unwrap_or_default();
    (
        line.trim_end_matches(" HTTP/1.1").to_string(),
        auth.to_string(),
    )
}

// ------------------------------------------------------------------- systemd

/// A unit file as (section, key, value) entries, in order.
fn unit(file: &str) -> Vec<(String, String, String)> {
    let mut section = String::new();
    let mut entries = Vec::new();
    for line in read(&format!("infra/systemd/{file}"))
        .lines()
        .map(str::trim)
    {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
        } else {
            let (k, v) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("{file}: {line}"));
            entries.push((section.clone(), k.to_string(), v.to_string()));
        }
    }
    entries
}

/// The one value of `key` in `section`.
fn unit_value<'a>(unit: &'a [(String, String, String)], section: &str, key: &str) -> &'a str {
    let values: Vec<_> = unit
        .iter()
        .filter(|(s, k, _)| s == section && k == key)
        .collect();
    assert_eq!(values.len(), 1, "[{section}] {key}: {values:?}");
    &values[0].2
}

/// The flags `waypost up` accepts, from its clap definition (infra/host/src/main.rs).
fn waypost_up_flags() -> BTreeSet<String> {
    let main = read("infra/host/src/main.rs");
    let body = main
        .split("struct UpArgs {")
        .nth(1)
        .unwrap()
        .split("\n}")
        .next()
        .unwrap();
    let mut flags = BTreeSet::new();
    // An attribute rustfmt spread over several lines is read as one.
    let mut attr: Option<String> = None;
    let mut open = false;
    for line in body
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("///"))
    {
        if line.starts_with("#[arg(") || open {
            attr.get_or_insert_with(String::new).push_str(line);
            open = !line.ends_with(")]");
        } else if let (Some(a), Some((field, _))) = (attr.take(), line.split_once(':')) {
            match a.split("long = \"").nth(1) {
                Some(long) => flags.insert(format!("--{}", long.split('"').next().unwrap())),
                None if a.contains("long") => {
                    flags.insert(format!("--{}", field.replace('_', "-")))
                }
                None => false,
            };
            if let Some(short) = a.split("short = '").nth(1) {
                flags.insert(format!("-{}", &short[..1]));
            }
        }
    }
    flags
}

#[test]
fn systemd_unit_runs_waypost_up_with_flags_it_accepts() {
    let unit = unit("waypost@.service");
    let variables = spin_variables();
    let flags = waypost_up_flags();
    for f in [
        "-f",
        "--from",
        "--listen",
        "--runtime-config-file",
        "--state-dir",
        "--variable",
    ] {
        assert!(flags.contains(f), "reading main.rs found {flags:?}");
    }
    let exec = unit_value(&unit, "Service", "ExecStart");
    let argv: Vec<&str> = exec.split_whitespace().collect();
    assert!(
        argv[0].starts_with('/') && argv[0].ends_with("/waypost"),
        "{exec}"
    );
    assert_eq!(argv[1], "up");
    let mut opts: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for pair in argv[2..].chunks(2) {
        assert!(flags.contains(pair[0]), "`waypost up` has no {}", pair[0]);
        opts.entry(pair[0]).or_default().push(pair[1]);
    }
    assert!(opts["-f"][0].starts_with('/') && opts["-f"][0].ends_with("/spin.toml"));
    // The region's runtime config and state, found by the instance name (the region).
    assert_eq!(
        opts["--runtime-config-file"],
        ["/etc/waypost/%i/runtime-config.toml"]
    );
    for region in REGIONS {
        let rel = format!("infra/regions/{region}/runtime-config.toml");
        assert!(workspace_root().join(&rel).is_file(), "{rel}");
    }
    let state_dir = unit_value(&unit, "Service", "StateDirectory");
    assert_eq!(
        opts["--state-dir"],
        [format!("/var/lib/{state_dir}").as_str()]
    );
    assert_eq!(opts["--listen"], ["${WAYPOST_LISTEN}"]);
    assert!(unit_value(&unit, "Service", "Environment").starts_with("WAYPOST_LISTEN=127.0.0.1:"));

    // Only plain values on the command line; secrets come from the env file.
    let set: BTreeMap<&str, &str> = opts["--variable"]
        .iter()
        .map(|v| v.split_once('=').unwrap())
        .collect();
    for name in set.keys() {
        assert!(
            variables.contains_key(*name),
            "`{name}` is not in spin.toml"
        );
        assert!(
            !is_true(&variables, name, "secret"),
            "secret `{name}` on the command line"
        );
    }
    assert_eq!(set["region"], "%i");
    assert_eq!(set["seed_demo_config"], "false");
    assert_eq!(
        unit_value(&unit, "Service", "EnvironmentFile"),
        "/etc/waypost/%i.env"
    );

    for (key, value) in [
        ("DynamicUser", "yes"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("PrivateTmp", "yes"),
        ("Restart", "on-failure"),
    ] {
        assert_eq!(unit_value(&unit, "Service", key), value, "{key}");
    }
    assert!(
        !unit.iter().any(|(_, k, _)| k == "MemoryDenyWriteExecute"),
        "breaks Wasmtime"
    );
}

#[test]
fn systemd_env_example_lists_every_required_variable_without_values() {
    let variables = spin_variables();
    let entries: BTreeMap<String, String> = read("infra/systemd/region.env.example")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect();
    for name in must_supply(&variables) {
        let value = entries
            .get(&env_name(&name))
            .unwrap_or_else(|| panic!("lacks {}", env_name(&name)));
        assert!(value.is_empty(), "{name}: a value in the example");
    }
    for key in entries
        .keys()
        .filter_map(|k| k.strip_prefix("SPIN_VARIABLE_"))
    {
        assert!(
            variables.contains_key(&key.to_lowercase()),
            "SPIN_VARIABLE_{key}: not in spin.toml"
        );
    }
}

#[test]
fn systemd_tick_posts_every_minute_with_the_token_from_the_env_file() {
    let timer = unit("waypost-tick@.timer");
    assert_eq!(unit_value(&timer, "Timer", "OnCalendar"), "*-*-* *:*:00");
    let service = unit("waypost-tick@.service");
    let main = unit("waypost@.service");
    assert_eq!(unit_value(&service, "Service", "Type"), "oneshot");
    assert_eq!(
        unit_value(&service, "Service", "EnvironmentFile"),
        unit_value(&main, "Service", "EnvironmentFile")
    );
    let exec = unit_value(&service, "Service", "ExecStart");
    // systemd substitutes `$VAR` into the arguments; only `$$` reaches the shell, so the
    // token never stands in a command line.
    assert!(
        !exec.replace("$$", "").contains('$'),
        "systemd would expand: {exec}"
    );
    // What the shell gets after systemd's unescaping.
    let command_line = exec.replace("$$", "$").replace("%%", "%").replace('\'', "");
    let command_line = command_line.replace(
        "${WAYPOST_TICK_URL:-http://$WAYPOST_LISTEN}/admin/webhooks/tick",
        "$TICK_URL",
    );
    let request = run_against_local_server(&command_line, "SPIN_VARIABLE_ADMIN_TOKEN");
    assert_eq!(request.0, "POST /admin/webhooks/tick");
    assert_eq!(request.1, format!("Bearer {TEST_TOKEN}"));
}

// ------------------------------------------------------------------- references

/// Every `infra/...` path the deployment files mention exists (`<region>` in each region).
#[test]
fn paths_the_deployment_files_mention_exist() {
    let root = workspace_root();
    let mut files = vec![];
    for dir in ["infra/fermyon", "infra/spinkube", "infra/systemd"] {
        for entry in walk(&root.join(dir)) {
            files.push(entry);
        }
    }
    for region in REGIONS {
        files.push(root.join(format!("infra/regions/{region}/runtime-config.toml")));
    }
    let mut checked = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (at, _) in text.match_indices("infra/") {
            let before = text[..at].chars().last().unwrap_or(' ');
            if before.is_alphanumeric() || before == '_' || before == '-' {
                continue;
            }
            let path: String = text[at..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || "/._-<>@".contains(*c))
                .collect();
            let path = path.trim_end_matches(['.', '>']);
            if path.contains('$') {
                continue;
            }
            for region in REGIONS {
                let concrete = path.replace("<region>", region);
                assert!(
                    root.join(&concrete).exists(),
                    "{} mentions {path}: no {concrete}",
                    file.display()
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 10, "only {checked} paths found");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
