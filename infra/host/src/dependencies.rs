//! `[component.<id>.dependencies]`, as Spin 4 reads them: components that satisfy a
//! component's imports, composed into it before it is compiled (compose.rs).
//!
//! A dependency comes from a file (`path`) or from another component of the app
//! (`component`, whose build command `waypost build` runs). Spin can also fetch
//! one from a registry or a URL; those are refused by name, since the host fetches
//! nothing at start.
//!
//! What a dependency may use of its component's capabilities is its
//! `inherit_configuration` (or the component's `dependencies_inherit_configuration`).
//! Spin denies the rest through an adapter composed around the dependency. Here the
//! composed component runs in one store with the component's grants, so a
//! dependency that imports a capability its component is granted and it does not
//! inherit is refused at `up`; where the component is not granted it, the
//! dependency is denied it as on Spin.

use crate::compose::{self, DependencyName};
use crate::manifest::{Component, InheritConfiguration, LoadedManifest};
use anyhow::{Context, bail};
use serde::Deserialize;

/// One value of `[component.<id>.dependencies]`: told apart by the key that names
/// its source, so a mistake is reported against that form's fields.
#[derive(Debug, Deserialize)]
#[serde(try_from = "toml::Value")]
pub enum ComponentDependency {
    /// `"ns:pkg/iface" = "^1.0"`: a version from the default registry.
    Version(String),
    Local(Local),
    AppComponent(AppComponent),
    Http(Http),
    Package(Package),
}

/// `{ path = "deps/x.wasm" }`, relative to the manifest.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Local {
    path: String,
    #[serde(default)]
    export: Option<String>,
    #[serde(default)]
    inherit_configuration: Option<InheritConfiguration>,
}

/// `{ component = "id" }`: another component's binary (its grants are not used).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppComponent {
    component: String,
    #[serde(default)]
    export: Option<String>,
    #[serde(default)]
    inherit_configuration: Option<InheritConfiguration>,
}

/// `{ url = "https://...", digest = "sha256:..." }`: parsed to be refused by name.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Http {
    url: String,
    #[allow(dead_code, reason = "parsed to be refused by name")]
    digest: String,
    #[serde(default)]
    export: Option<String>,
    #[serde(default)]
    inherit_configuration: Option<InheritConfiguration>,
}

/// `{ version = "0.1.0", registry = "...", package = "ns:pkg" }`: parsed to be refused
/// by name.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Package {
    version: String,
    #[serde(default)]
    registry: Option<String>,
    #[serde(default)]
    package: Option<String>,
    #[serde(default)]
    export: Option<String>,
    #[serde(default)]
    inherit_configuration: Option<InheritConfiguration>,
}

impl TryFrom<toml::Value> for ComponentDependency {
    type Error = String;

    fn try_from(value: toml::Value) -> Result<Self, String> {
        let has = |key: &str| value.get(key).is_some();
        let parsed = if let toml::Value::String(version) = &value {
            return Ok(Self::Version(version.clone()));
        } else if !value.is_table() {
            return Err("expected a version string or a table".to_string());
        } else if has("path") {
            value.try_into().map(Self::Local)
        } else if has("component") {
            value.try_into().map(Self::AppComponent)
        } else if has("url") {
            value.try_into().map(Self::Http)
        } else if has("version") {
            value.try_into().map(Self::Package)
        } else {
            return Err(
                "expected one of `path`, `component`, `url` or `version` to say where the dependency comes from"
                    .to_string(),
            );
        };
        parsed.map_err(|e| e.message().to_string())
    }
}

impl ComponentDependency {
    fn export(&self) -> Option<&String> {
        match self {
            Self::Version(_) => None,
            Self::Local(d) => d.export.as_ref(),
            Self::AppComponent(d) => d.export.as_ref(),
            Self::Http(d) => d.export.as_ref(),
            Self::Package(d) => d.export.as_ref(),
        }
    }

    fn inherit_configuration(&self) -> Option<&InheritConfiguration> {
        match self {
            Self::Version(_) => None,
            Self::Local(d) => d.inherit_configuration.as_ref(),
            Self::AppComponent(d) => d.inherit_configuration.as_ref(),
            Self::Http(d) => d.inherit_configuration.as_ref(),
            Self::Package(d) => d.inherit_configuration.as_ref(),
        }
    }
}

/// Whether `dependency` of `component` may use the capability `key`.
fn inherits(component: &Component, dependency: &ComponentDependency, key: &str) -> bool {
    match dependency.inherit_configuration() {
        Some(config) => config.includes(key),
        None => component.dependencies_inherit_configuration == Some(true),
    }
}

/// The capability key (as `inherit_configuration` names it) an import needs, for the
/// imports Spin's deny adapter denies.
fn capability_of(import: &str) -> Option<&'static str> {
    let interface = import.split_once('@').map_or(import, |(name, _)| name);
    match interface {
        "wasi:http/outgoing-handler" | "wasi:http/client" | "fermyon:spin/http" => {
            Some("allowed_outbound_hosts")
        }
        _ if interface.starts_with("wasi:sockets/") => Some("allowed_outbound_hosts"),
        "wasi:cli/environment" => Some("environment"),
        "wasi:filesystem/preopens" => Some("files"),
        "spin:key-value/key-value" | "wasi:keyvalue/store" | "fermyon:spin/key-value" => {
            Some("key_value_stores")
        }
        "spin:variables/variables"
        | "wasi:config/store"
        | "fermyon:spin/variables"
        | "fermyon:spin/config" => Some("variables"),
        _ => None,
    }
}

/// Checks component `id`'s dependencies as far as the manifest alone can.
pub fn validate(manifest: &LoadedManifest, id: &str) -> anyhow::Result<()> {
    let file = manifest.path.display();
    let components = &manifest.manifest.component;
    let component = &components[id];
    for (name, dependency) in &component.dependencies {
        let field = format!("{file}: component.{id}.dependencies.\"{name}\"");
        let parsed: DependencyName = name.parse().with_context(|| field.clone())?;
        if component.dependencies_inherit_configuration.is_some()
            && dependency.inherit_configuration().is_some()
        {
            bail!(
                "{field}.inherit_configuration: give it here or as component.{id}.dependencies_inherit_configuration, not both (as Spin)"
            );
        }
        if let Some(config) = dependency.inherit_configuration() {
            config.check_keys(&field)?;
        }
        if parsed.is_whole_package() && dependency.export().is_some() {
            bail!(
                "{field}.export: a dependency named by a whole package cannot take an export (name the interface: `{name}/<interface>`)"
            );
        }
        match dependency {
            ComponentDependency::Version(version) => bail!(
                "{field}: Waypost does not fetch packages from a registry (`{name}` {version}); download the component and give its `path`"
            ),
            ComponentDependency::Package(package) => bail!(
                "{field}: Waypost does not fetch packages from a registry (`{}` {} from {}); download the component and give its `path`",
                package.package.as_deref().unwrap_or(name),
                package.version,
                package
                    .registry
                    .as_deref()
                    .unwrap_or("the default registry")
            ),
            ComponentDependency::Http(http) => bail!(
                "{field}: Waypost does not download dependencies ({}); download it, check it against its digest, and give its `path`",
                http.url
            ),
            ComponentDependency::Local(_) => {}
            ComponentDependency::AppComponent(AppComponent {
                component: other, ..
            }) => {
                let Some(target) = components.get(other) else {
                    bail!("{field}.component: unknown component `{other}`");
                };
                if other == id {
                    bail!("{field}.component: `{id}` cannot depend on itself");
                }
                let own = target.declared_capabilities();
                if !own.is_empty() || !target.dependencies.is_empty() {
                    let what = if own.is_empty() {
                        "dependencies".to_string()
                    } else {
                        own.join(", ")
                    };
                    bail!(
                        "{field}.component: `{other}` is composed into `{id}` as its binary alone, so it may not declare {what} (as Spin)"
                    );
                }
            }
        }
    }
    Ok(())
}

/// Component `id`'s binary with its dependencies composed in.
pub fn component_bytes(manifest: &LoadedManifest, id: &str) -> anyhow::Result<Vec<u8>> {
    let file = manifest.path.display();
    let components = &manifest.manifest.component;
    let component = &components[id];
    let source = manifest.resolve(&component.source);
    if !source.exists() {
        bail!(
            "{file}: component.{id}.source: {} does not exist (run `waypost build` first?)",
            source.display()
        );
    }
    let bytes = std::fs::read(&source).with_context(|| {
        format!(
            "{file}: component.{id}.source: cannot read {}",
            source.display()
        )
    })?;
    if component.dependencies.is_empty() {
        return Ok(bytes);
    }
    let granted = manifest.granted_capabilities(id);
    // In the order `compose` gets them, so its index names the dependency.
    let declared: Vec<(&String, &ComponentDependency)> = component.dependencies.iter().collect();
    let mut dependencies = Vec::new();
    for &(name, dependency) in &declared {
        let field = format!("{file}: component.{id}.dependencies.\"{name}\"");
        let (path, what) = match dependency {
            ComponentDependency::Local(local) => (manifest.resolve(&local.path), "path"),
            ComponentDependency::AppComponent(app) => (
                manifest.resolve(&components[&app.component].source),
                "component",
            ),
            _ => unreachable!("validate refuses the other sources"),
        };
        let bytes = std::fs::read(&path).with_context(|| {
            format!(
                "{field}.{what}: cannot read {} (run `waypost build` first?)",
                path.display()
            )
        })?;
        dependencies.push(compose::Dependency {
            name: name.parse()?,
            bytes,
            export: dependency.export().cloned(),
        });
    }
    compose::compose(bytes, dependencies, |index, import| {
        let (name, dependency) = declared[index];
        match capability_of(import) {
            Some(key) if granted.contains(&key) && !inherits(component, dependency, key) => bail!(
                "dependency `{name}` imports `{import}`, and `{id}` is granted {key}, which the dependency does not inherit. \
                 Spin denies it through an adapter; Waypost cannot deny a dependency what its component is granted, so it refuses: \
                 add \"{key}\" to the dependency's inherit_configuration, or take {key} off `{id}`"
            ),
            _ => Ok(()),
        }
    })
    .with_context(|| format!("{file}: component.{id}.dependencies"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_are_mapped_to_the_capability_spin_denies_them_under() {
        for (import, key) in [
            ("wasi:http/client@0.3.0", Some("allowed_outbound_hosts")),
            (
                "wasi:http/outgoing-handler@0.2.6",
                Some("allowed_outbound_hosts"),
            ),
            ("wasi:sockets/tcp@0.2.6", Some("allowed_outbound_hosts")),
            ("wasi:cli/environment@0.2.6", Some("environment")),
            ("wasi:cli/environment@0.3.0", Some("environment")),
            ("wasi:filesystem/preopens@0.2.6", Some("files")),
            ("spin:key-value/key-value@3.0.0", Some("key_value_stores")),
            ("wasi:keyvalue/store@0.2.0-draft2", Some("key_value_stores")),
            ("spin:variables/variables@3.0.0", Some("variables")),
            (
                "wasi:config/store@0.2.0-draft-2024-09-27",
                Some("variables"),
            ),
            ("wasi:cli/stderr@0.2.6", None),
            ("wasi:http/types@0.3.0", None),
            ("wasi:keyvalue/atomics@0.2.0-draft2", None),
            ("waypost:greeting/greet@0.1.0", None),
        ] {
            assert_eq!(capability_of(import), key, "{import}");
        }
    }
}
