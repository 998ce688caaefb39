//! `spin up` flags the host takes as Spin does: `--max-instance-memory` (and the
//! runtime config's `max_instance_memory`), `--key-value`, `--variable` in its file
//! forms, component output, the listen port, the compilation cache and the engine's
//! flags. Most run the probe component alone on `/...`.

use std::path::{Path, PathBuf};
use waypost_tests::get_text as get;
use waypost_tests::{
    Host, HostOptions, client, free_port, host_command, run_host, up_refused_with, wasm, write_app,
};

/// The probe on `/...` with `component` after its `source` line.
fn probe_app(dir: &Path, component: &str) -> PathBuf {
    let probe = wasm(&["waypost-probe"]);
    let body = format!(
        "[[trigger.http]]\nroute = \"/...\"\ncomponent = \"probe\"\n[component.probe]\nsource = \"PROBE\"\n{component}"
    );
    write_app(dir, &body, &[("PROBE", &probe[0])])
}

/// The probe app with `assets/hello.txt` (`hi`) in its directory, mounted as `files`
/// says; returns the manifest and the file.
fn probe_app_with_assets(dir: &Path, files: &str) -> (PathBuf, PathBuf) {
    std::fs::create_dir(dir.join("assets")).unwrap();
    let hello = dir.join("assets/hello.txt");
    std::fs::write(&hello, "hi").unwrap();
    (probe_app(dir, files), hello)
}

fn start(manifest: &Path, args: &[&str], env: &[(&str, &str)]) -> Host {
    let opts = HostOptions {
        args: args.iter().map(|a| a.to_string()).collect(),
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    };
    Host::start(manifest, opts).unwrap()
}

const MIB: u64 = 1 << 20;

#[tokio::test]
async fn an_instance_growing_past_its_memory_limit_fails_its_request_and_the_next_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = probe_app(dir.path(), "");
    let limit = (32 * MIB).to_string();
    let host = start(&manifest, &[], &[("SPIN_MAX_INSTANCE_MEMORY", &limit)]);

    assert_eq!(
        get(&host, "/alloc?mib=8").await,
        (200, "allocated 8 MiB".into())
    );
    let response = client()
        .get(host.url("/alloc?mib=48"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    assert!(
        host.logged_line(&[
            r#""event":"memory_limit_exceeded""#,
            r#""component":"probe""#,
            &format!(r#""max_instance_memory":"{limit}""#),
        ]),
        "{}",
        host.logs()
    );
    assert_eq!(
        get(&host, "/alloc?mib=8").await,
        (200, "allocated 8 MiB".into())
    );
}

#[tokio::test]
async fn the_runtime_configs_limit_applies_the_flag_overrides_it_and_the_default_is_256_mib() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = probe_app(dir.path(), "");
    let config = dir.path().join("runtime-config.toml");
    std::fs::write(&config, format!("max_instance_memory = {}\n", 16 * MIB)).unwrap();
    let config = config.to_str().unwrap();

    let from_config = start(&manifest, &["--runtime-config-file", config], &[]);
    assert_eq!(get(&from_config, "/alloc?mib=24").await.0, 500);
    drop(from_config);

    let flag = (64 * MIB).to_string();
    let args = [
        "--runtime-config-file",
        config,
        "--max-instance-memory",
        &flag,
    ];
    let overridden = start(&manifest, &args, &[]);
    assert_eq!(get(&overridden, "/alloc?mib=24").await.0, 200);
    assert_eq!(get(&overridden, "/alloc?mib=80").await.0, 500);
    drop(overridden);

    let default = start(&manifest, &[], &[]);
    assert_eq!(get(&default, "/alloc?mib=200").await.0, 200);
    assert_eq!(get(&default, "/alloc?mib=300").await.0, 500);
}

#[test]
fn a_memory_limit_out_of_range_or_below_a_components_start_stops_up() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = probe_app(dir.path(), "");

    let e = up_refused_with(&manifest, &["--max-instance-memory", "65536"]);
    assert!(
        e.contains("component.probe: its memory starts at")
            && e.contains("more than the instance memory limit of 65536 bytes"),
        "{e}"
    );
    let e = up_refused_with(&manifest, &["--max-instance-memory", "0"]);
    assert!(
        e.contains("--max-instance-memory: 0 bytes: must be from 65536"),
        "{e}"
    );
    let e = up_refused_with(&manifest, &["--max-instance-memory", "lots"]);
    assert!(e.contains("--max-instance-memory"), "{e}");

    let config = dir.path().join("runtime-config.toml");
    std::fs::write(&config, "max_instance_memory = 5000000000\n").unwrap();
    let e = up_refused_with(
        &manifest,
        &["--runtime-config-file", config.to_str().unwrap()],
    );
    assert!(
        e.contains(&format!(
            "{}: max_instance_memory: 5000000000 bytes",
            config.display()
        )),
        "{e}"
    );
}

#[tokio::test]
async fn key_values_are_written_to_the_default_store_before_serving_over_what_it_held() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = probe_app(dir.path(), "key_value_stores = [\"default\"]\n");
    let state = dir.path().join("state");
    let opts = |args: &[&str]| HostOptions {
        args: args.iter().map(|a| a.to_string()).collect(),
        state_dir: Some(state.clone()),
        ..Default::default()
    };

    let before = Host::start(&manifest, opts(&[])).unwrap();
    let set = client()
        .put(before.url("/kv/set?store=default&key=carrier"))
        .body("old")
        .send()
        .await
        .unwrap();
    assert!(set.status().is_success());
    drop(before);

    let args = [
        "--key-value",
        "carrier=ups",
        "--key-value",
        "carrier=dhl",
        "--key-value",
        "region=eu=west",
        "--key-value",
        "empty=",
    ];
    let seeded = Host::start(&manifest, opts(&args)).unwrap();
    let value = |key: &str| format!("/kv/get?store=default&key={key}");
    assert_eq!(get(&seeded, &value("carrier")).await, (200, "dhl".into()));
    assert_eq!(
        get(&seeded, &value("region")).await,
        (200, "eu=west".into())
    );
    assert_eq!(get(&seeded, &value("empty")).await, (200, "".into()));
    drop(seeded);

    // Written to the store itself: there after a restart without the flags.
    let after = Host::start(&manifest, opts(&[])).unwrap();
    assert_eq!(get(&after, &value("carrier")).await, (200, "dhl".into()));
}

#[tokio::test]
async fn a_refused_up_writes_no_key_values() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let state_arg = state.to_str().unwrap();
    let required = "[variables]\ntoken = { required = true }\n";
    let broken = probe_app(dir.path(), "key_value_stores = [\"default\"]\n");
    let text = std::fs::read_to_string(&broken).unwrap();
    std::fs::write(&broken, format!("{text}{required}")).unwrap();
    let e = up_refused_with(
        &broken,
        &["--state-dir", state_arg, "--key-value", "carrier=ups"],
    );
    assert!(e.contains("token"), "{e}");
    let e = up_refused_with(&broken, &["--key-value", "carrier"]);
    assert!(e.contains("`carrier` is not of the form name=value"), "{e}");

    let manifest = probe_app(dir.path(), "key_value_stores = [\"default\"]\n");
    let opts = HostOptions {
        state_dir: Some(state.clone()),
        ..Default::default()
    };
    let host = Host::start(&manifest, opts).unwrap();
    let (status, _) = get(&host, "/kv/get?store=default&key=carrier").await;
    assert_eq!(status, 404, "the refused up wrote nothing");
}

#[tokio::test]
async fn variables_come_from_files_as_spin_up_reads_them_and_the_last_flag_wins() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = probe_app(
        dir.path(),
        r#"[component.probe.variables]
token = "{{ token }}"
region = "{{ region }}"
plan = "{{ plan }}"
[variables]
token = { required = true, secret = true }
region = { default = "us" }
plan = { required = true }
"#,
    );
    let at = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let secret = at("token.txt", "tok-from-file\n");
    let json = at("vars.json", r#"{"region": "eu", "plan": "pro"}"#);
    let toml = at("vars.toml", "plan = \"team\"\n");
    let args = [
        "--variable".to_string(),
        format!("token=@{secret}"),
        "--variable".to_string(),
        format!("@{json}"),
        "--variable".to_string(),
        format!("@{toml}"),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let host = start(&manifest, &args, &[]);
    assert_eq!(
        get(&host, "/var/token").await,
        (200, "tok-from-file\n".into())
    );
    assert_eq!(get(&host, "/var/region").await, (200, "eu".into()));
    assert_eq!(get(&host, "/var/plan").await, (200, "team".into()));
    drop(host);

    let bad = at("bad.toml", "plan = 7\ntoken = \"hunter2\"\n");
    let e = up_refused_with(&manifest, &["--variable", &format!("@{bad}")]);
    assert!(
        e.contains(&format!(
            "--variable @{bad}: `plan` is not a string (integer)"
        )),
        "{e}"
    );
    let missing = dir.path().join("missing.txt");
    let e = up_refused_with(
        &manifest,
        &["--variable", &format!("token=@{}", missing.display())],
    );
    assert!(
        e.contains("--variable token=@") && e.contains("missing.txt"),
        "{e}"
    );
    let e = up_refused_with(&manifest, &["--variable", "@vars.yaml"]);
    assert!(e.contains("must end in .json or .toml"), "{e}");
}

/// The probe twice: as `probe` on `/probe/...` and as `other` on `/other/...`.
fn two_printers(dir: &Path) -> PathBuf {
    let probe = wasm(&["waypost-probe"]);
    let body = r#"
[[trigger.http]]
route = "/probe/..."
component = "probe"
[[trigger.http]]
route = "/other/..."
component = "other"
[component.probe]
source = "PROBE"
[component.other]
source = "PROBE"
"#;
    write_app(dir, body, &[("PROBE", &probe[0])])
}

/// Has `component` print `<component>-<tag>-out` to stdout and `...-err` to stderr.
async fn print(host: &Host, component: &str, tag: &str) {
    let path = format!("/{component}/print?out={component}-{tag}-out&err={component}-{tag}-err");
    assert_eq!(get(host, &path).await, (200, "printed".into()));
}

fn read(path: PathBuf) -> String {
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test]
async fn component_output_goes_to_its_own_log_files_and_only_followed_components_reach_the_host_log()
 {
    let dir = tempfile::tempdir().unwrap();
    let manifest = two_printers(dir.path());
    let logs = dir.path().join("logs");
    let logs_arg = logs.to_str().unwrap();

    let followed = start(
        &manifest,
        &["--log-dir", logs_arg, "--follow", "probe"],
        &[],
    );
    print(&followed, "probe", "a").await;
    print(&followed, "other", "a").await;
    let host_log = followed.logs();
    assert!(host_log.contains("probe-a-err"), "{host_log}");
    assert!(
        !host_log.contains("other-a-err"),
        "not followed: {host_log}"
    );
    assert!(
        !host_log.contains("-a-out"),
        "stdout is not the log: {host_log}"
    );
    drop(followed);
    assert_eq!(read(logs.join("probe_stdout.txt")), "probe-a-out\n");
    assert_eq!(read(logs.join("probe_stderr.txt")), "probe-a-err\n");
    assert_eq!(read(logs.join("other_stdout.txt")), "other-a-out\n");
    assert_eq!(read(logs.join("other_stderr.txt")), "other-a-err\n");

    // Appended to across runs; --quiet passes nothing on.
    let quiet = start(&manifest, &["--log-dir", logs_arg, "--quiet"], &[]);
    print(&quiet, "probe", "b").await;
    let host_log = quiet.logs();
    assert!(!host_log.contains("probe-b-err"), "{host_log}");
    drop(quiet);
    assert_eq!(
        read(logs.join("probe_stderr.txt")),
        "probe-a-err\nprobe-b-err\n"
    );

    // No flags: no files written, every component followed.
    let plain = start(&manifest, &[], &[]);
    print(&plain, "other", "c").await;
    assert!(plain.logged("other-c-err"), "{}", plain.logs());
    drop(plain);
    assert!(!read(logs.join("other_stderr.txt")).contains("other-c-err"));
}

#[test]
fn a_refused_up_leaves_no_log_files_behind() {
    let dir = tempfile::tempdir().unwrap();
    // Refused while the chains are built, after the log files are opened: `plain`
    // does not import the handler, so it cannot be middleware.
    let manifest = probe_app(
        dir.path(),
        "[component.plain]\nsource = \"PROBE\"\n[[trigger.http]]\nroute = \"/wrapped/...\"\ncomponent = \"probe\"\ndependencies.middleware = [{ component = \"plain\" }]\n",
    );
    let logs = dir.path().join("logs");
    let e = up_refused_with(&manifest, &["--log-dir", logs.to_str().unwrap()]);
    assert!(e.contains("does not import"), "{e}");
    assert!(!logs.exists(), "a refused up made {}", logs.display());

    std::fs::create_dir(&logs).unwrap();
    std::fs::write(logs.join("probe_stdout.txt"), "from before\n").unwrap();
    up_refused_with(&manifest, &["--log-dir", logs.to_str().unwrap()]);
    let left: Vec<_> = std::fs::read_dir(&logs)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["probe_stdout.txt"]);
    let before = std::fs::read_to_string(logs.join("probe_stdout.txt")).unwrap();
    assert_eq!(before, "from before\n");
}

#[tokio::test]
async fn the_runtime_configs_log_dir_is_used_and_truncate_logs_empties_it_first() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = two_printers(dir.path());
    let config_dir = dir.path().join("config");
    std::fs::create_dir(&config_dir).unwrap();
    let config = config_dir.join("runtime-config.toml");
    std::fs::write(&config, "log_dir = \"component-logs\"\n").unwrap();
    let config_arg = config.to_str().unwrap();
    let logs = config_dir.join("component-logs");

    let first = start(&manifest, &["--runtime-config-file", config_arg], &[]);
    print(&first, "probe", "a").await;
    drop(first);
    assert_eq!(read(logs.join("probe_stdout.txt")), "probe-a-out\n");
    std::fs::write(
        logs.join("removed_stdout.txt"),
        "from a component since removed",
    )
    .unwrap();

    // Refused once the logs are open (a middleware as a trigger's handler): kept.
    let layer = wasm(&["waypost-layer-outer"]);
    let refused_dir = dir.path().join("refused");
    std::fs::create_dir(&refused_dir).unwrap();
    let refused = write_app(
        &refused_dir,
        "[[trigger.http]]\nroute = \"/...\"\ncomponent = \"probe\"\n[component.probe]\nsource = \"LAYER\"\n",
        &[("LAYER", &layer[0])],
    );
    let e = up_refused_with(
        &refused,
        &["--runtime-config-file", config_arg, "--truncate-logs"],
    );
    assert!(e.contains("is middleware"), "{e}");
    assert_eq!(read(logs.join("probe_stdout.txt")), "probe-a-out\n");

    let truncated = start(
        &manifest,
        &["--runtime-config-file", config_arg, "--truncate-logs"],
        &[],
    );
    print(&truncated, "probe", "b").await;
    drop(truncated);
    assert_eq!(read(logs.join("probe_stdout.txt")), "probe-b-out\n");
    assert_eq!(read(logs.join("removed_stdout.txt")), "");

    // `--log-dir ""` turns the runtime config's off.
    let none = start(
        &manifest,
        &["--runtime-config-file", config_arg, "--log-dir", ""],
        &[],
    );
    print(&none, "probe", "c").await;
    drop(none);
    assert_eq!(read(logs.join("probe_stdout.txt")), "probe-b-out\n");
    let cwd = std::env::current_dir().unwrap();
    assert!(
        !cwd.join("probe_stdout.txt").exists(),
        "an empty log dir is none, not the working directory"
    );
}

#[test]
fn following_a_component_the_app_lacks_or_with_quiet_stops_up() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = two_printers(dir.path());
    let e = up_refused_with(&manifest, &["--follow", "porbe"]);
    assert!(
        e.contains("--follow: no component `porbe` in the app; its components are: other, probe"),
        "{e}"
    );
    let e = up_refused_with(&manifest, &["--follow", "probe", "--quiet"]);
    assert!(e.contains("--quiet") && e.contains("--follow"), "{e}");
}

#[tokio::test]
async fn a_listen_port_in_use_is_refused_or_with_find_free_port_the_next_free_one_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = probe_app(dir.path(), "");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();

    let (ok, e) = run_host(
        &["up", "-f", manifest.to_str().unwrap(), "--listen", &addr],
        &[],
    );
    assert!(!ok);
    assert!(
        e.contains(&format!("cannot listen on {addr}: it is already in use"))
            && e.contains("--find-free-port"),
        "{e}"
    );

    let opts = HostOptions {
        listen: Some(addr.clone()),
        args: vec!["--find-free-port".into()],
        ..Default::default()
    };
    let host = Host::start(&manifest, opts).unwrap();
    assert_ne!(host.addr, addr);
    assert_eq!(get(&host, "/").await, (200, "probe".into()));
}

#[tokio::test]
async fn an_http1_request_head_larger_than_http1_max_buf_size_gets_431() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = probe_app(dir.path(), "");
    let big = "x".repeat(12 * 1024);
    let status = |host: &Host| {
        let request = client().get(host.url("/")).header("x-big", big.clone());
        async move { request.send().await.unwrap().status().as_u16() }
    };

    let bounded = start(&manifest, &[], &[("SPIN_HTTP1_MAX_BUF_SIZE", "8192")]);
    assert_eq!(status(&bounded).await, 431);
    assert_eq!(get(&bounded, "/").await, (200, "probe".into()));
    drop(bounded);

    let default = start(&manifest, &[], &[]);
    assert_eq!(status(&default).await, 200);
    drop(default);

    let e = up_refused_with(&manifest, &["--http1-max-buf-size", "4096"]);
    assert!(
        e.contains("--http1-max-buf-size 4096: must be at least 8192"),
        "{e}"
    );
    assert!(
        !e.contains("Serving"),
        "refused before the app is loaded: {e}"
    );
}

/// The host's `components_loaded` start-up event: (compiled, from cache, directory).
fn components_loaded(host: &Host) -> (String, String, String) {
    let logs = host.logs();
    let line = logs
        .lines()
        .find(|l| l.contains("\"event\":\"components_loaded\""))
        .unwrap_or_else(|| panic!("no components_loaded event: {logs}"));
    let event: serde_json::Value = serde_json::from_str(line).unwrap();
    let field = |name: &str| event[name].as_str().unwrap().to_string();
    (field("compiled"), field("from_cache"), field("cache"))
}

#[tokio::test]
async fn compiled_components_are_kept_across_restarts_where_the_cache_flags_say() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = probe_app(dir.path(), "");
    let cache = dir.path().join("cache");
    let cache_dir = cache.to_str().unwrap();
    // Wasmtime names the directory as it resolves it.
    let shown = dir.path().canonicalize().unwrap().join("cache");

    let host = start(&manifest, &["--cache-dir", cache_dir], &[]);
    assert_eq!(
        components_loaded(&host),
        ("1".into(), "0".into(), shown.display().to_string())
    );
    assert_eq!(get(&host, "/").await, (200, "probe".into()));
    drop(host);
    let host = start(&manifest, &["--cache-dir", cache_dir], &[]);
    assert_eq!(
        components_loaded(&host),
        ("0".into(), "1".into(), shown.display().to_string()),
        "a restart compiles nothing"
    );
    drop(host);

    // Unoptimised code with DWARF is another artifact, not the one cached.
    let host = start(&manifest, &["--cache-dir", cache_dir, "--debug-info"], &[]);
    assert_eq!(components_loaded(&host).0, "1");
    assert_eq!(get(&host, "/").await, (200, "probe".into()));
    drop(host);

    // Spin's variable for --disable-cache.
    let host = start(&manifest, &[], &[("DISABLE_WASMTIME_CACHE", "true")]);
    assert_eq!(
        components_loaded(&host),
        ("1".into(), "0".into(), "off".into())
    );
    drop(host);

    // Wasmtime's cache configuration, by flag and then by Spin's variable.
    let elsewhere = dir.path().canonicalize().unwrap().join("wasmtime-cache");
    let config = dir.path().join("cache.toml");
    std::fs::write(
        &config,
        format!(
            "[cache]\ndirectory = \"{}\"\nfiles-total-size-soft-limit = \"64Mi\"\n",
            elsewhere.display()
        ),
    )
    .unwrap();
    let host = start(&manifest, &["--cache", config.to_str().unwrap()], &[]);
    assert_eq!(
        components_loaded(&host),
        ("1".into(), "0".into(), elsewhere.display().to_string())
    );
    drop(host);
    let host = start(
        &manifest,
        &[],
        &[("WASMTIME_CACHE_FILE", config.to_str().unwrap())],
    );
    assert_eq!(
        components_loaded(&host),
        ("0".into(), "1".into(), elsewhere.display().to_string())
    );
}

#[test]
fn a_cache_configuration_wasmtime_would_refuse_stops_up_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = probe_app(dir.path(), "");
    let config = dir.path().join("cache.toml");
    let flag = format!("--cache {}", config.display());

    std::fs::write(&config, "[cache]\ndirectory = \"relative/dir\"\n").unwrap();
    let e = up_refused_with(&manifest, &["--cache", config.to_str().unwrap()]);
    assert!(e.contains(&flag) && e.contains("has to be absolute"), "{e}");

    std::fs::write(&config, "[cache]\nsize = \"1G\"\n").unwrap();
    let e = up_refused_with(&manifest, &["--cache", config.to_str().unwrap()]);
    assert!(
        e.contains(&flag) && e.contains("unknown field `size`"),
        "{e}"
    );

    // Wasmtime's cleanup deletes what it did not write in its directory.
    let shared = dir.path().canonicalize().unwrap().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::write(shared.join("keep.txt"), "mine").unwrap();
    let toml = format!("[cache]\ndirectory = \"{}\"\n", shared.display());
    std::fs::write(&config, toml).unwrap();
    let e = up_refused_with(&manifest, &["--cache", config.to_str().unwrap()]);
    assert!(
        e.contains(&flag) && e.contains("holds `keep.txt`, which Wasmtime's cache cleanup"),
        "{e}"
    );
    let state = dir.path().join("state");
    let state = state.to_str().unwrap();
    let e = up_refused_with(&manifest, &["--state-dir", state, "--cache-dir", state]);
    assert!(e.contains("holds the state dir"), "{e}");
    assert_eq!(
        std::fs::read_to_string(shared.join("keep.txt")).unwrap(),
        "mine"
    );

    std::fs::remove_file(&config).unwrap();
    let e = up_refused_with(&manifest, &["--cache", config.to_str().unwrap()]);
    assert!(e.contains(&flag), "{e}");

    let e = up_refused_with(
        &manifest,
        &["--cache", config.to_str().unwrap(), "--cache-dir", "x"],
    );
    assert!(e.contains("cannot be used with"), "{e}");
    let e = up_refused_with(&manifest, &["--disable-cache", "--cache-dir", "x"]);
    assert!(e.contains("cannot be used with"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_pooling_disabled_instances_are_not_limited_by_the_pool_and_memory_still_is() {
    // A pool of one instance: a second request while the first sleeps finds no slot.
    let dir = tempfile::tempdir().unwrap();
    let manifest = probe_app(dir.path(), "");
    let env = [
        ("SPIN_WASMTIME_INSTANCE_COUNT", "1"),
        ("SPIN_MAX_INSTANCE_MEMORY", "33554432"),
    ];
    let reuse = ["--max-instance-concurrent-reuse-count", "1"];
    let second_while_first_sleeps = |host: Host| async move {
        let slow = tokio::spawn(client().get(host.url("/slow?ms=1500")).send());
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let second = get(&host, "/").await.0;
        assert_eq!(slow.await.unwrap().unwrap().status(), 200);
        (second, host)
    };
    let (status, _) = second_while_first_sleeps(start(&manifest, &reuse, &env)).await;
    assert_eq!(status, 503, "the pool of one is in use");

    let mut flags = reuse.to_vec();
    flags.push("--disable-pooling");
    let (status, host) = second_while_first_sleeps(start(&manifest, &flags, &env)).await;
    assert_eq!(status, 200, "{}", host.logs());
    assert_eq!(get(&host, "/alloc?mib=8").await.0, 200);
    assert_eq!(get(&host, "/alloc?mib=48").await.0, 500);
    assert!(host.logged("\"event\":\"memory_limit_exceeded\""));
}

#[tokio::test]
async fn a_host_whose_stderr_is_closed_starts_and_serves() {
    // A supervisor whose log pipe has gone: every write to stderr fails (EPIPE).
    let dir = tempfile::tempdir().unwrap();
    let manifest = probe_app(dir.path(), "");
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let addr = format!("127.0.0.1:{}", free_port());
    let mut child = host_command(None)
        .args(["up", "-f", manifest.to_str().unwrap(), "--listen", &addr])
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .stderr(writer)
        .spawn()
        .unwrap();
    let mut answer = None;
    for _ in 0..600 {
        if let Ok(r) = client().get(format!("http://{addr}/")).send().await {
            answer = Some(r.status().as_u16());
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the host stopped: {status}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(answer, Some(200));
}

#[tokio::test]
async fn allow_transient_write_lets_a_component_change_its_files_until_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let (manifest, original) = probe_app_with_assets(
        dir.path(),
        "files = [{ source = \"assets\", destination = \"/\" }]\n",
    );
    let state = dir.path().join("state");
    let start_with = |args: &[&str]| {
        let opts = HostOptions {
            args: args.iter().map(|a| a.to_string()).collect(),
            state_dir: Some(state.clone()),
            ..Default::default()
        };
        Host::start(&manifest, opts).unwrap()
    };

    let host = start_with(&["--allow-transient-write"]);
    assert_eq!(get(&host, "/files-write/hello.txt").await.0, 200);
    assert_eq!(get(&host, "/files-write/new.txt").await.0, 200);
    assert_eq!(get(&host, "/files/hello.txt").await, (200, "x".into()));
    assert_eq!(get(&host, "/files/new.txt").await, (200, "x".into()));
    drop(host);
    assert_eq!(std::fs::read_to_string(&original).unwrap(), "hi");
    assert!(!dir.path().join("assets/new.txt").exists());

    // Without the flag the files are read-only, and as the app has them.
    let host = start_with(&[]);
    assert_eq!(get(&host, "/files/hello.txt").await, (200, "hi".into()));
    assert_eq!(get(&host, "/files/new.txt").await.0, 404);
    assert_eq!(get(&host, "/files-write/hello.txt").await.0, 403);
}

#[tokio::test]
async fn direct_mounts_serve_the_apps_directories_as_they_are_edited() {
    let dir = tempfile::tempdir().unwrap();
    let (manifest, source) = probe_app_with_assets(dir.path(), "files = [\"assets\"]\n");

    let host = start(&manifest, &["--direct-mounts"], &[]);
    assert_eq!(
        get(&host, "/files/assets/hello.txt").await,
        (200, "hi".into())
    );
    std::fs::write(&source, "edited").unwrap();
    assert_eq!(
        get(&host, "/files/assets/hello.txt").await,
        (200, "edited".into()),
        "seen without a restart"
    );
    assert_eq!(get(&host, "/files-write/assets/new.txt").await.0, 403);
    assert!(!dir.path().join("assets/new.txt").exists());
    drop(host);

    // A copy, by default: the edit after start is not seen.
    let host = start(&manifest, &[], &[]);
    std::fs::write(&source, "edited again").unwrap();
    assert_eq!(
        get(&host, "/files/assets/hello.txt").await,
        (200, "edited".into())
    );
    drop(host);

    let e = up_refused_with(&manifest, &["--direct-mounts", "--allow-transient-write"]);
    assert!(e.contains("cannot be used with"), "{e}");
    let excluding = probe_app(
        dir.path(),
        "files = [\"assets\"]\nexclude_files = [\"**/*.key\"]\n",
    );
    let e = up_refused_with(&excluding, &["--direct-mounts"]);
    assert!(
        e.contains("component.probe: exclude_files cannot be used with --direct-mounts"),
        "{e}"
    );
    let a_file = probe_app(dir.path(), "files = [\"assets/hello.txt\"]\n");
    let e = up_refused_with(&a_file, &["--direct-mounts"]);
    assert!(
        e.contains("files[0] `assets/hello.txt`: not a directory"),
        "{e}"
    );
}
