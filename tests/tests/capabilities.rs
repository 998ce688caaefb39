//! The capability contract (DESIGN.md, `wit/`): every wasm component in the workspace may
//! import only what its world in `wit/capabilities.wit` (package `waypost:capabilities`)
//! allows. A component that starts importing something new (outbound HTTP from `auth`,
//! say) fails here until its world is widened on purpose.
//!
//! Only imports are checked, by name: an import fits a world when the world imports an
//! interface with the same namespace, package and interface name and a semver-compatible
//! version (`wasi:cli/environment@0.2.6` from Rust std fits `@0.2.12`).

use std::fmt;
use std::path::Path;
use waypost_tests::{wasm, workspace_root};
use wit_parser::{PackageId, Resolve};

/// Every wasm component the workspace builds, and the world it must fit.
const CONTRACT: &[(&str, &str)] = &[
    // The app (spin.toml).
    ("waypost-admin", "admin"),
    ("waypost-auth", "auth"),
    ("waypost-quota", "quota"),
    ("waypost-rates", "rates"),
    ("waypost-router", "router"),
    ("waypost-sandbox", "sandbox"),
    ("waypost-webhooks", "webhooks"),
    // Test fixtures (tests/fixtures/host/spin.toml).
    ("waypost-probe", "probe"),
    ("waypost-layer-outer", "layer"),
    ("waypost-layer-inner", "layer"),
    ("waypost-pass", "middleware"),
    // A component dependency and the handler it is composed into (tests/tests/dependencies.rs).
    ("waypost-greeter", "greeter"),
    ("waypost-greet-handler", "greet-handler"),
    // The host bench's trivial component (tests/benches/host-bench.toml).
    ("waypost-hello", "handler"),
];

const PACKAGE: &str = "waypost:capabilities";

#[test]
fn every_component_imports_only_what_its_world_allows() {
    let contract = Contract::load();
    let mut violations = Vec::new();
    for &(package, world) in CONTRACT {
        let world = contract.world(world);
        violations.extend(world.check(package, &built(package)));
    }
    assert!(
        violations.is_empty(),
        "components import what their worlds in wit/capabilities.wit do not allow:\n{}",
        violations
            .iter()
            .map(|v| format!("  {v}\n"))
            .collect::<String>()
    );
}

#[test]
fn a_component_importing_outside_its_world_is_reported() {
    // The probe calls out over HTTP; `admin` may not.
    let violations = Contract::load()
        .world("admin")
        .check("waypost-probe", &built("waypost-probe"));
    let client = violations
        .iter()
        .find(|v| v.import == "wasi:http/client@0.3.0")
        .unwrap_or_else(|| panic!("outbound HTTP not reported; got {violations:?}"));
    let message = client.to_string();
    for part in ["waypost-probe", "wasi:http/client@0.3.0", "admin"] {
        assert!(message.contains(part), "{message:?} does not name {part}");
    }
}

#[test]
fn middleware_admin_and_sandbox_may_not_call_out() {
    // DESIGN.md: only router, rates and webhooks talk to carriers and subscribers.
    let contract = Contract::load();
    for world in ["auth", "quota", "admin", "sandbox", "layer"] {
        assert!(
            !contract.world(world).allows("wasi:http/client@0.3.0"),
            "world `{world}` grants outbound HTTP"
        );
    }
    for world in ["router", "rates", "webhooks"] {
        assert!(
            contract.world(world).allows("wasi:http/client@0.3.0"),
            "{world}"
        );
    }
}

#[test]
fn every_wasm_component_in_the_workspace_has_a_world() {
    let out = std::process::Command::new(std::env::var("CARGO").unwrap_or("cargo".into()))
        .current_dir(workspace_root())
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let missing: Vec<&str> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| {
            p["targets"].as_array().unwrap().iter().any(|t| {
                t["crate_types"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c == "cdylib")
            })
        })
        .map(|p| p["name"].as_str().unwrap())
        .filter(|name| !CONTRACT.iter().any(|(package, _)| package == name))
        .collect();
    assert!(
        missing.is_empty(),
        "wasm components without a world in tests/tests/capabilities.rs CONTRACT: {missing:?}"
    );
}

#[test]
fn versions_match_when_semver_compatible() {
    let world = World {
        name: "w".into(),
        allowed: [
            "wasi:cli/environment@0.2.12",
            "wasi:http/types@0.3.0",
            "wasi:keyvalue/store@0.2.0-draft2",
            "spin:key-value/key-value@3.0.0",
            "local",
        ]
        .map(String::from)
        .to_vec(),
    };
    for fits in [
        "wasi:cli/environment@0.2.6",
        "wasi:cli/environment@0.2.12",
        "wasi:keyvalue/store@0.2.0-draft2",
        "spin:key-value/key-value@3.1.0",
        "local",
    ] {
        assert!(world.allows(fits), "{fits} should fit");
    }
    for does_not in [
        "wasi:cli/environment@0.3.0",
        "wasi:cli/environment",
        "wasi:cli/exit@0.2.12",
        "wasi:http/client@0.3.0",
        "wasi:keyvalue/store@0.2.0-draft3",
        "wasi:http/types@0.3.0-rc-2025-09-16",
        "spin:key-value/key-value@2.0.0",
        "spin:key-value/key-value@4.0.0",
        "other:cli/environment@0.2.12",
    ] {
        assert!(!world.allows(does_not), "{does_not} should not fit");
    }
}

/// `wit/` resolved, with `waypost:capabilities` as the main package.
struct Contract {
    resolve: Resolve,
    package: PackageId,
}

impl Contract {
    fn load() -> Contract {
        let dir = workspace_root().join("wit");
        let mut resolve = Resolve::default();
        let (package, _) = resolve
            .push_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot parse {}: {e:?}", dir.display()));
        let name = resolve.packages[package].name.to_string();
        assert_eq!(name, PACKAGE, "the main package of {}", dir.display());
        Contract { resolve, package }
    }

    /// The world's imported interfaces (after includes), as `ns:pkg/interface@version`.
    fn world(&self, name: &str) -> World {
        let id = *self.resolve.packages[self.package]
            .worlds
            .get(name)
            .unwrap_or_else(|| panic!("no world `{name}` in {PACKAGE} (wit/capabilities.wit)"));
        let allowed = self.resolve.worlds[id]
            .imports
            .keys()
            .map(|key| self.resolve.name_world_key(key))
            .collect();
        World {
            name: name.to_string(),
            allowed,
        }
    }
}

struct World {
    name: String,
    allowed: Vec<String>,
}

#[derive(Debug)]
struct Violation {
    component: String,
    import: String,
    world: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "component `{}` imports `{}`, which its world `{}` does not allow",
            self.component, self.import, self.world
        )
    }
}

impl World {
    fn check(&self, component: &str, wasm: &Path) -> Vec<Violation> {
        imports(wasm)
            .into_iter()
            .filter(|import| !self.allows(import))
            .map(|import| Violation {
                component: component.to_string(),
                import,
                world: self.name.clone(),
            })
            .collect()
    }

    fn allows(&self, import: &str) -> bool {
        let (name, version) = split_version(import);
        self.allowed.iter().any(|allowed| {
            let (allowed_name, allowed_version) = split_version(allowed);
            name == allowed_name
                && match (version, allowed_version) {
                    (None, None) => true,
                    (Some(a), Some(b)) => compatible(a, b),
                    _ => false,
                }
        })
    }
}

/// `ns:pkg/interface@1.2.3` → (`ns:pkg/interface`, `1.2.3`).
fn split_version(name: &str) -> (&str, Option<&str>) {
    match name.split_once('@') {
        Some((name, version)) => (name, Some(version)),
        None => (name, None),
    }
}

/// Cargo's rule: same major; same minor while major is 0; same patch while both are 0.
/// A pre-release (`0.2.0-draft2`) fits only the same pre-release.
fn compatible(a: &str, b: &str) -> bool {
    let (Ok(a), Ok(b)) = (semver::Version::parse(a), semver::Version::parse(b)) else {
        return a == b;
    };
    a.pre == b.pre
        && a.major == b.major
        && (a.major > 0 || a.minor == b.minor)
        && (a.major > 0 || a.minor > 0 || a.patch == b.patch)
}

/// Builds one package (once per test process) and returns its component.
fn built(package: &str) -> std::path::PathBuf {
    wasm(&[package]).remove(0)
}

/// The component's top-level import names (nested modules and components skipped).
fn imports(wasm: &Path) -> Vec<String> {
    let bytes = std::fs::read(wasm).unwrap_or_else(|e| panic!("{}: {e}", wasm.display()));
    let mut names = Vec::new();
    let mut depth = 0;
    for payload in wasmparser::Parser::new(0).parse_all(&bytes) {
        match payload.unwrap_or_else(|e| panic!("{}: {e}", wasm.display())) {
            wasmparser::Payload::Version { encoding, .. } => {
                assert!(
                    depth > 0 || encoding == wasmparser::Encoding::Component,
                    "{} is a core module, not a component",
                    wasm.display()
                );
                depth += 1;
            }
            wasmparser::Payload::End(_) => depth -= 1,
            wasmparser::Payload::ComponentImportSection(section) if depth == 1 => {
                for import in section {
                    let import = import.unwrap_or_else(|e| panic!("{}: {e}", wasm.display()));
                    names.push(import.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    names
}
