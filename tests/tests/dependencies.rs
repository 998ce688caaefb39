//! `[component.<id>.dependencies]`: components that satisfy another's imports, composed
//! into it at `up` as Spin composes them. `waypost-greet-handler` imports
//! `waypost:greeting/{greet,region}`; `waypost-greeter` exports them (and `shout`),
//! its `region` reading `REGION_HINT` from the environment it can see.

use std::path::Path;
use waypost_tests::{Host, HostOptions, client, up_refused, wasm, write_app};

/// `body` after the application table, with HANDLER and GREETER standing for the
/// two components' files, written as `dir/spin.toml`.
fn write_manifest(dir: &Path, body: &str) -> std::path::PathBuf {
    let built = wasm(&["waypost-greet-handler", "waypost-greeter"]);
    write_app(dir, body, &[("HANDLER", &built[0]), ("GREETER", &built[1])])
}

/// One route, `/...`, to component `greet` (HANDLER) with `component` after its
/// `source` line (its grants and dependencies).
fn one_route(component: &str) -> String {
    format!(
        "[[trigger.http]]\nroute = \"/...\"\ncomponent = \"greet\"\n[component.greet]\nsource = \"HANDLER\"\n{component}"
    )
}

async fn greeting(host: &Host, path: &str) -> String {
    let response = client().get(host.url(path)).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.unwrap()
}

fn up_fails(body: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    up_refused(&write_manifest(dir.path(), body))
}

#[tokio::test]
async fn dependencies_from_a_file_or_an_app_component_satisfy_the_imports_their_names_match() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(
        dir.path(),
        r#"
[[trigger.http]]
route = "/file/..."
component = "from-file"

[[trigger.http]]
route = "/app/..."
component = "from-app"

[[trigger.http]]
route = "/shout/..."
component = "shouted"

# An interface, one with its version: two instances of the same file.
[component.from-file]
source = "HANDLER"
key_value_stores = ["default"]
[component.from-file.dependencies]
"waypost:greeting/greet@0.1.0" = { path = "GREETER" }
"waypost:greeting/region" = { path = "GREETER" }

# A whole package, from a component of the app that no route uses.
[component.from-app]
source = "HANDLER"
[component.from-app.dependencies]
"waypost:greeting" = { component = "greeter" }

# The import satisfied by another export of the same shape.
[component.shouted]
source = "HANDLER"
[component.shouted.dependencies]
"waypost:greeting/greet" = { path = "GREETER", export = "waypost:greeting/shout@0.1.0" }
"waypost:greeting/region@0.1.0" = { path = "GREETER" }

[component.greeter]
source = "GREETER"
"#,
    );
    let host = Host::start(&manifest, HostOptions::default()).unwrap();
    let nowhere = "dependency region: none\nown region: none\n";
    assert_eq!(
        greeting(&host, "/file/?name=ada").await,
        format!("hello, ada\n{nowhere}")
    );
    assert_eq!(
        greeting(&host, "/app/?name=bo").await,
        format!("hello, bo\n{nowhere}")
    );
    assert_eq!(
        greeting(&host, "/shout/?name=cy").await,
        format!("HELLO, CY!\n{nowhere}")
    );
}

#[tokio::test]
async fn a_dependency_uses_its_components_environment_only_when_it_inherits_it() {
    let environment = "environment = { REGION_HINT = \"eu-west\" }\n";
    for dependencies in [
        "dependencies_inherit_configuration = true\n[component.greet.dependencies]\n\"waypost:greeting\" = { path = \"GREETER\" }\n",
        "[component.greet.dependencies]\n\"waypost:greeting\" = { path = \"GREETER\", inherit_configuration = [\"environment\"] }\n",
        "[component.greet.dependencies]\n\"waypost:greeting\" = { path = \"GREETER\", inherit_configuration = true }\n",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let manifest = write_manifest(
            dir.path(),
            &one_route(&format!("{environment}{dependencies}")),
        );
        let host = Host::start(&manifest, HostOptions::default()).unwrap();
        assert_eq!(
            greeting(&host, "/?name=di").await,
            "hello, di\ndependency region: eu-west\nown region: eu-west\n",
            "{dependencies}"
        );
    }

    // Not inherited: Spin hands the dependency an empty environment through its deny
    // adapter; the host, which cannot split one store's grants, refuses to start.
    for dependencies in [
        "[component.greet.dependencies]\n\"waypost:greeting\" = { path = \"GREETER\" }\n",
        "[component.greet.dependencies]\n\"waypost:greeting\" = { path = \"GREETER\", inherit_configuration = [\"files\"] }\n",
        "dependencies_inherit_configuration = false\n[component.greet.dependencies]\n\"waypost:greeting\" = { path = \"GREETER\" }\n",
    ] {
        let err = up_fails(&one_route(&format!("{environment}{dependencies}")));
        for part in [
            "component.greet.dependencies",
            "dependency `waypost:greeting` imports `wasi:cli/environment@",
            "`greet` is granted environment",
            "add \"environment\" to the dependency's inherit_configuration",
        ] {
            assert!(err.contains(part), "{dependencies}: no {part:?} in {err}");
        }
    }
}

#[test]
fn bad_dependencies_stop_up_with_the_file_and_field() {
    let both = "\"waypost:greeting/region\" = { path = \"GREETER\" }\n";
    let greet = "\"waypost:greeting/greet\" = { path = \"GREETER\" }\n";
    for (dependencies, expected) in [
        (
            format!("\"waypost:farewell/bye\" = {{ path = \"GREETER\" }}\n{both}{greet}"),
            vec![
                "component.greet.dependencies",
                "dependency `waypost:farewell/bye` matches no import",
                "waypost:greeting/region@0.1.0",
            ],
        ),
        (
            format!(
                "\"waypost:greeting/greet\" = {{ path = \"GREETER\", export = \"waypost:greeting/wave@0.1.0\" }}\n{both}"
            ),
            vec![
                "dependency `waypost:greeting/greet` does not export `waypost:greeting/wave@0.1.0`",
            ],
        ),
        (
            format!(
                "\"waypost:greeting/greet\" = {{ path = \"GREETER\", export = \"waypost:greeting/region@0.1.0\" }}\n{both}"
            ),
            vec![
                "export `waypost:greeting/region@0.1.0` does not fit the import `waypost:greeting/greet@0.1.0`",
            ],
        ),
        (
            format!("\"waypost:greeting\" = {{ path = \"GREETER\" }}\n{greet}"),
            vec!["import `waypost:greeting/greet@0.1.0` is matched by two dependencies"],
        ),
        (
            both.to_string(),
            vec!["component.greet", "waypost:greeting/greet@0.1.0"],
        ),
        (
            format!("\"waypost:greeting/greet\" = {{ path = \"missing.wasm\" }}\n{both}"),
            vec![
                "component.greet.dependencies.\"waypost:greeting/greet\".path",
                "missing.wasm",
            ],
        ),
        (
            format!("\"waypost:greeting/greet\" = \"^0.1\"\n{both}"),
            vec![
                "dependencies.\"waypost:greeting/greet\"",
                "from a registry",
                "^0.1",
                "give its `path`",
            ],
        ),
        (
            format!(
                "\"waypost:greeting/greet\" = {{ version = \"0.1.0\", registry = \"ghcr.io\", package = \"acme:greeter\" }}\n{both}"
            ),
            vec!["`acme:greeter` 0.1.0 from ghcr.io"],
        ),
        (
            format!(
                "\"waypost:greeting/greet\" = {{ url = \"https://example.com/g.wasm\", digest = \"sha256:00\" }}\n{both}"
            ),
            vec![
                "dependencies.\"waypost:greeting/greet\"",
                "does not download",
                "https://example.com/g.wasm",
            ],
        ),
        (
            format!("\"waypost:greeting/greet\" = {{ component = \"nope\" }}\n{both}"),
            vec![
                "dependencies.\"waypost:greeting/greet\".component",
                "unknown component `nope`",
            ],
        ),
        (
            format!("\"waypost:greeting/greet\" = {{ component = \"greet\" }}\n{both}"),
            vec!["cannot depend on itself"],
        ),
        (
            format!("\"Waypost_Greeting\" = {{ path = \"GREETER\" }}\n{both}"),
            vec![
                "dependencies.\"Waypost_Greeting\"",
                "`Waypost_Greeting` is neither",
            ],
        ),
        (
            "\"waypost:greeting\" = { path = \"GREETER\", export = \"waypost:greeting/shout@0.1.0\" }\n".to_string(),
            vec!["dependencies.\"waypost:greeting\".export", "whole package"],
        ),
        (
            "\"waypost:greeting\" = { path = \"GREETER\", inherit_configuration = [\"ai_models\"] }\n".to_string(),
            vec![
                "dependencies.\"waypost:greeting\".inherit_configuration[0]",
                "unknown capability `ai_models`",
            ],
        ),
        (
            "\"waypost:greeting\" = { path = \"GREETER\", bogus = 1 }\n".to_string(),
            vec![
                "unknown field `bogus`, expected one of `path`, `export`, `inherit_configuration`",
            ],
        ),
        (
            "\"waypost:greeting\" = { file = \"GREETER\" }\n".to_string(),
            vec!["expected one of `path`, `component`, `url` or `version`"],
        ),
    ] {
        let err = up_fails(&one_route(&format!(
            "[component.greet.dependencies]\n{dependencies}"
        )));
        for part in expected {
            assert!(err.contains(part), "{dependencies}: no {part:?} in {err}");
        }
    }

    let err = up_fails(&one_route(
        "dependencies_inherit_configuration = true\n[component.greet.dependencies]\n\"waypost:greeting\" = { path = \"GREETER\", inherit_configuration = true }\n",
    ));
    assert!(err.contains("not both"), "{err}");

    let err = up_fails(&format!(
        "{}[component.lib]\nsource = \"GREETER\"\nkey_value_stores = [\"default\"]\n",
        one_route(
            "[component.greet.dependencies]\n\"waypost:greeting\" = { component = \"lib\" }\n"
        )
    ));
    for part in [
        "dependencies.\"waypost:greeting\".component",
        "`lib`",
        "key_value_stores",
    ] {
        assert!(err.contains(part), "no {part:?} in {err}");
    }
}
