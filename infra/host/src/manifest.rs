//! `spin.toml` (manifest version 2): the subset Waypost's host runs, parsed strictly
//! (unknown fields are errors) and validated so every error names the file and field.

use crate::dependencies::ComponentDependency;
use crate::routes::RoutePattern;
use crate::static_response::{StaticResponse, StaticResponseToml};
use crate::variables::{VariableDecl, is_valid_name};
use anyhow::{Context, bail};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub spin_manifest_version: u32,
    pub application: Application,
    #[serde(default)]
    pub variables: BTreeMap<String, VariableToml>,
    #[serde(default)]
    pub trigger: Triggers,
    #[serde(default)]
    pub component: BTreeMap<String, Component>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Application {
    pub name: String,
    #[allow(dead_code, reason = "parsed so the manifest is checked whole")]
    #[serde(default)]
    pub version: Option<String>,
    #[allow(dead_code, reason = "parsed so the manifest is checked whole")]
    #[serde(default)]
    pub description: Option<String>,
    #[allow(dead_code, reason = "parsed so the manifest is checked whole")]
    #[serde(default)]
    pub authors: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariableToml {
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub secret: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Triggers {
    #[serde(default)]
    pub http: Vec<HttpTrigger>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpTrigger {
    #[allow(dead_code, reason = "parsed so the manifest is checked whole")]
    #[serde(default)]
    pub id: Option<String>,
    pub route: RouteToml,
    /// The trigger's component, unless it has a `static_response` (one of the two).
    #[serde(default)]
    component: Option<String>,
    #[serde(default)]
    static_response: Option<StaticResponseToml>,
    #[serde(default)]
    executor: Option<Executor>,
    #[serde(default)]
    pub dependencies: TriggerDependencies,
}

impl HttpTrigger {
    /// What answers the trigger's route; `validate` has checked there is one.
    pub fn handler(&self) -> TriggerHandler<'_> {
        match (&self.component, &self.static_response) {
            (Some(component), _) => TriggerHandler::Component(component),
            (None, Some(response)) => TriggerHandler::Static(response),
            (None, None) => unreachable!("validate requires a component or a static_response"),
        }
    }

    /// The trigger's component, if it has one.
    pub fn component(&self) -> Option<&str> {
        self.component.as_deref()
    }
}

/// A trigger's component, or the response the host gives in its place.
pub enum TriggerHandler<'a> {
    Component(&'a str),
    Static(&'a StaticResponseToml),
}

/// `executor = { type = "http" }` (or Spin's older `"spin"`): a component serving
/// HTTP, the only kind the host runs. Spin's `"wagi"` is parsed to be refused by name.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
enum Executor {
    #[serde(alias = "spin")]
    Http,
    Wagi(#[allow(dead_code, reason = "parsed to be refused by name")] toml::Table),
}

/// `route = "/x"` or `route = { private = true }` (reachable only by service chaining).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RouteToml {
    Path(String),
    Private { private: bool },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerDependencies {
    /// Outermost first; the trigger's component is innermost.
    #[serde(default)]
    pub middleware: Vec<MiddlewareRef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MiddlewareRef {
    pub component: String,
    /// Which of the primary component's capabilities this middleware may use
    /// (`true`, `false`, or a list of keys such as `["key_value_stores"]`).
    #[serde(default)]
    pub inherit_configuration: Option<InheritConfiguration>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum InheritConfiguration {
    All(bool),
    Some(Vec<String>),
}

/// The capability keys a middleware can inherit, as Spin names them.
pub const CAPABILITY_KEYS: [&str; 5] = [
    "allowed_outbound_hosts",
    "environment",
    "files",
    "key_value_stores",
    "variables",
];

impl InheritConfiguration {
    pub fn includes(&self, key: &str) -> bool {
        match self {
            Self::All(all) => *all,
            Self::Some(keys) => keys.iter().any(|k| k == key),
        }
    }

    /// Refuses a key that is not one of `CAPABILITY_KEYS`, naming it under `field`
    /// (the middleware or dependency whose `inherit_configuration` this is).
    pub fn check_keys(&self, field: &str) -> anyhow::Result<()> {
        let Self::Some(keys) = self else {
            return Ok(());
        };
        for (k, key) in keys.iter().enumerate() {
            if !CAPABILITY_KEYS.contains(&key.as_str()) {
                bail!(
                    "{field}.inherit_configuration[{k}]: unknown capability `{key}` (one of {})",
                    CAPABILITY_KEYS.join(", ")
                );
            }
        }
        Ok(())
    }
}

impl MiddlewareRef {
    pub fn inherits(&self, key: &str) -> bool {
        self.inherit_configuration
            .as_ref()
            .is_some_and(|config| config.includes(key))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    pub source: String,
    #[allow(dead_code, reason = "parsed so the manifest is checked whole")]
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default)]
    pub files: Vec<FileMount>,
    /// Glob patterns, relative to the app's directory, of files `files` brings in
    /// that the component must not see.
    #[serde(default)]
    pub exclude_files: Vec<String>,
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    pub key_value_stores: Vec<String>,
    #[serde(default)]
    pub build: Option<BuildConfig>,
    /// `true`: every dependency may use all of this component's capabilities (unless
    /// it says otherwise with its own `inherit_configuration`).
    #[serde(default)]
    pub dependencies_inherit_configuration: Option<bool>,
    /// Components satisfying this one's imports, by import name (dependencies.rs).
    #[serde(default)]
    pub dependencies: BTreeMap<String, ComponentDependency>,
}

/// `"static/**"` (mounted at the same relative path) or `{ source, destination }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum FileMount {
    Pattern(String),
    Placement { source: String, destination: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildConfig {
    pub command: String,
    #[serde(default)]
    pub workdir: Option<String>,
    #[allow(dead_code, reason = "parsed so the manifest is checked whole")]
    #[serde(default)]
    pub watch: Vec<String>,
}

impl Component {
    /// The capability keys this component grants itself.
    pub fn declared_capabilities(&self) -> Vec<&'static str> {
        let mut keys = Vec::new();
        if !self.allowed_outbound_hosts.is_empty() {
            keys.push("allowed_outbound_hosts");
        }
        if !self.environment.is_empty() {
            keys.push("environment");
        }
        if !self.files.is_empty() {
            keys.push("files");
        }
        if !self.key_value_stores.is_empty() {
            keys.push("key_value_stores");
        }
        if !self.variables.is_empty() {
            keys.push("variables");
        }
        keys
    }
}

/// A manifest read from disk, with the directory its relative paths resolve from.
pub struct LoadedManifest {
    pub path: PathBuf,
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl LoadedManifest {
    /// `up --env`, as Spin applies it: each pair set in every component's
    /// environment, over the manifest's value for the same name. Added after
    /// `validate`, so middleware is not taken to declare an environment of its own.
    pub fn add_environment(&mut self, environment: &[(String, String)]) {
        for component in self.manifest.component.values_mut() {
            component.environment.extend(environment.iter().cloned());
        }
    }

    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read manifest {}", path.display()))?;
        let manifest: Manifest =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        Ok(Self {
            path: path.to_path_buf(),
            dir,
            manifest,
        })
    }

    pub fn resolve(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }

    /// Checks what does not need the component binaries: ids, routes, references,
    /// variables, store labels. `known_stores` are the labels the runtime config
    /// defines (plus `default`).
    pub fn validate(&self, known_stores: &[String]) -> anyhow::Result<()> {
        let m = &self.manifest;
        let file = self.path.display();
        if m.spin_manifest_version != 2 {
            bail!(
                "{file}: spin_manifest_version: expected 2, found {}",
                m.spin_manifest_version
            );
        }
        for (name, v) in &m.variables {
            if !is_valid_name(name) {
                bail!(
                    "{file}: variables.{name}: invalid name (lowercase letters, digits and `_`, starting with a letter)"
                );
            }
            if v.required == v.default.is_some() {
                bail!("{file}: variables.{name}: must be `required` OR have a `default`");
            }
        }
        for (id, c) in &m.component {
            if !is_valid_component_id(id) {
                bail!(
                    "{file}: component.{id}: invalid id (lowercase letters, digits and `-`, starting with a letter)"
                );
            }
            for (name, template) in &c.variables {
                if !is_valid_name(name) {
                    bail!("{file}: component.{id}.variables.{name}: invalid variable name");
                }
                for reference in crate::variables::template_references(template) {
                    if !m.variables.contains_key(&reference) {
                        bail!(
                            "{file}: component.{id}.variables.{name}: refers to `{reference}`, which is not in [variables]"
                        );
                    }
                }
            }
            for (i, label) in c.key_value_stores.iter().enumerate() {
                if !known_stores.iter().any(|k| k == label) {
                    bail!(
                        "{file}: component.{id}.key_value_stores[{i}]: store `{label}` is not defined (define it in the runtime config's [key_value_store.{label}])"
                    );
                }
            }
            crate::dependencies::validate(self, id)?;
            crate::files::exclude_patterns(&c.exclude_files)
                .with_context(|| format!("{file}: component.{id}"))?;
            for (i, host) in c.allowed_outbound_hosts.iter().enumerate() {
                crate::allowed_hosts::AllowedHost::parse(host).with_context(|| {
                    format!("{file}: component.{id}.allowed_outbound_hosts[{i}]")
                })?;
            }
        }
        for (i, t) in m.trigger.http.iter().enumerate() {
            let trigger = format!("{file}: trigger.http[{i}]");
            if let Some(Executor::Wagi(_)) = t.executor {
                bail!("{trigger}.executor: Wagi components are not run here, only `http` ones");
            }
            let component = match (&t.component, &t.static_response) {
                (Some(_), Some(_)) => {
                    bail!("{trigger}: give either `component` or `static_response`, not both")
                }
                (None, None) => bail!("{trigger}: give `component` or `static_response`"),
                (None, Some(response)) => {
                    StaticResponse::from_toml(response)
                        .with_context(|| format!("{trigger}.static_response"))?;
                    if !t.dependencies.middleware.is_empty() {
                        bail!(
                            "{trigger}.dependencies.middleware: a static_response runs no component for middleware to wrap"
                        );
                    }
                    None
                }
                (Some(component), None) => Some(component),
            };
            if let Some(component) = component
                && !m.component.contains_key(component)
            {
                bail!("{trigger}.component: unknown component `{component}`");
            }
            for (j, mw) in t.dependencies.middleware.iter().enumerate() {
                let field = format!("{file}: trigger.http[{i}].dependencies.middleware[{j}]");
                let Some(c) = m.component.get(&mw.component) else {
                    bail!("{field}.component: unknown component `{}`", mw.component);
                };
                let own = c.declared_capabilities();
                if !own.is_empty() {
                    bail!(
                        "{field}.component: middleware `{}` may not have its own resources or permissions (it declares {}); grant them on `{}` and list them in inherit_configuration",
                        mw.component,
                        own.join(", "),
                        component.map(String::as_str).unwrap_or_default()
                    );
                }
                if let Some(config) = &mw.inherit_configuration {
                    config.check_keys(&field)?;
                }
            }
            match &t.route {
                RouteToml::Path(route) => {
                    RoutePattern::parse(route)
                        .with_context(|| format!("{file}: trigger.http[{i}].route"))?;
                }
                RouteToml::Private { private: false } => bail!(
                    "{file}: trigger.http[{i}].route: must be a string pattern or `{{ private = true }}`"
                ),
                RouteToml::Private { private: true } => {}
            }
        }
        Ok(())
    }

    /// The capability keys component `id`'s instances are granted: its own, and as
    /// middleware what it inherits from each trigger's component it wraps.
    pub fn granted_capabilities(&self, id: &str) -> Vec<&'static str> {
        let m = &self.manifest;
        let mut keys = m.component[id].declared_capabilities();
        for trigger in &m.trigger.http {
            let Some(primary) = trigger.component().and_then(|c| m.component.get(c)) else {
                continue;
            };
            for mw in trigger
                .dependencies
                .middleware
                .iter()
                .filter(|mw| mw.component == id)
            {
                keys.extend(
                    primary
                        .declared_capabilities()
                        .into_iter()
                        .filter(|key| mw.inherits(key)),
                );
            }
        }
        keys.sort();
        keys.dedup();
        keys
    }

    pub fn variable_decls(&self) -> BTreeMap<String, VariableDecl> {
        self.manifest
            .variables
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    VariableDecl {
                        default: v.default.clone(),
                        required: v.required,
                        secret: v.secret,
                    },
                )
            })
            .collect()
    }
}

/// Spin component ids: kebab-case (lowercase letters, digits, `-`), starting with a letter.
pub fn is_valid_component_id(id: &str) -> bool {
    let mut chars = id.chars();
    matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-' | '_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> anyhow::Result<LoadedManifest> {
        let manifest: Manifest = toml::from_str(text)?;
        Ok(LoadedManifest {
            path: PathBuf::from("spin.toml"),
            dir: PathBuf::from("."),
            manifest,
        })
    }

    const GOOD: &str = r#"
spin_manifest_version = 2
[application]
name = "t"
[variables]
region = { default = "eu" }
[[trigger.http]]
route = "/v1/..."
component = "router"
dependencies.middleware = [{ component = "auth" }]
[component.router]
source = "router.wasm"
key_value_stores = ["default"]
variables = { region = "{{ region }}" }
[component.auth]
source = "auth.wasm"
"#;

    fn default_store() -> Vec<String> {
        vec!["default".to_string()]
    }

    #[test]
    fn a_good_manifest_validates() {
        load(GOOD).unwrap().validate(&default_store()).unwrap();
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = load(&GOOD.replace("[component.auth]", "[component.auth]\nsorce = \"x\""))
            .err()
            .unwrap();
        assert!(err.to_string().contains("sorce"), "{err}");
    }

    /// The error as `up` prints it: every context, outermost first.
    fn validation_error(text: &str) -> String {
        let error = load(text).unwrap().validate(&default_store()).unwrap_err();
        format!("{error:#}")
    }

    #[test]
    fn a_trigger_has_a_component_or_a_static_response() {
        let static_trigger = "[[trigger.http]]\nroute = \"/moved\"\nstatic_response = { status_code = 301, headers = { location = \"/v1/\" } }\n";
        load(&format!("{GOOD}{static_trigger}"))
            .unwrap()
            .validate(&default_store())
            .unwrap();

        let both = validation_error(&format!("{GOOD}{static_trigger}component = \"router\"\n"));
        assert!(both.contains("trigger.http[1]: give either"), "{both}");
        let neither = validation_error(&format!("{GOOD}[[trigger.http]]\nroute = \"/x\"\n"));
        assert!(
            neither.contains("trigger.http[1]: give `component`"),
            "{neither}"
        );
        let bad = validation_error(&format!(
            "{GOOD}[[trigger.http]]\nroute = \"/x\"\nstatic_response = {{ status_code = 42 }}\n"
        ));
        assert!(bad.contains("trigger.http[1].static_response"), "{bad}");
        assert!(bad.contains("status_code: 42"), "{bad}");
        let wrapped = validation_error(&format!(
            "{GOOD}{static_trigger}dependencies.middleware = [{{ component = \"auth\" }}]\n"
        ));
        assert!(
            wrapped.contains("trigger.http[1].dependencies.middleware"),
            "{wrapped}"
        );
    }

    #[test]
    fn an_http_executor_is_accepted_and_wagi_refused_by_name() {
        let with = |executor: &str| {
            GOOD.replace(
                "component = \"router\"\n",
                &format!("component = \"router\"\nexecutor = {executor}\n"),
            )
        };
        for http in ["{ type = \"http\" }", "{ type = \"spin\" }"] {
            load(&with(http))
                .unwrap()
                .validate(&default_store())
                .unwrap();
        }
        let wagi = validation_error(&with("{ type = \"wagi\", argv = \"x\" }"));
        assert!(wagi.contains("trigger.http[0].executor: Wagi"), "{wagi}");
    }

    #[test]
    fn unknown_component_is_named_with_its_field() {
        let err = validation_error(&GOOD.replace("component = \"router\"", "component = \"nope\""));
        assert!(err.contains("trigger.http[0].component"), "{err}");
        assert!(err.contains("`nope`"), "{err}");
    }

    #[test]
    fn unknown_middleware_is_named_with_its_field() {
        let err = validation_error(
            &GOOD.replace("{ component = \"auth\" }", "{ component = \"authz\" }"),
        );
        assert!(
            err.contains("dependencies.middleware[0].component"),
            "{err}"
        );
    }

    #[test]
    fn a_misspelt_middleware_key_is_refused_not_ignored() {
        let text = GOOD.replace(
            "{ component = \"auth\" }",
            "{ component = \"auth\", inherit_config = true }",
        );
        let Err(err) = load(&text) else {
            panic!("a misspelt key was taken");
        };
        let err = format!("{err:#}");
        assert!(err.contains("unknown field `inherit_config`"), "{err}");
        assert!(err.contains("`inherit_configuration`"), "{err}");
    }

    #[test]
    fn undefined_store_label_is_named() {
        let err = validation_error(&GOOD.replace("[\"default\"]", "[\"cache\"]"));
        assert!(
            err.contains("component.router.key_value_stores[0]"),
            "{err}"
        );
        assert!(err.contains("`cache`"), "{err}");
    }

    #[test]
    fn bad_route_is_named() {
        let err = validation_error(&GOOD.replace("/v1/...", "v1"));
        assert!(err.contains("trigger.http[0].route"), "{err}");
    }

    #[test]
    fn middleware_with_its_own_permissions_is_refused() {
        let err = validation_error(&GOOD.replace(
            "[component.auth]\nsource = \"auth.wasm\"",
            "[component.auth]\nsource = \"auth.wasm\"\nkey_value_stores = [\"default\"]",
        ));
        assert!(
            err.contains("dependencies.middleware[0].component"),
            "{err}"
        );
        assert!(err.contains("key_value_stores"), "{err}");
    }

    #[test]
    fn unknown_inherited_capability_is_named() {
        let err = validation_error(&GOOD.replace(
            "{ component = \"auth\" }",
            "{ component = \"auth\", inherit_configuration = [\"kv\"] }",
        ));
        assert!(err.contains("inherit_configuration[0]"), "{err}");
    }

    #[test]
    fn variable_needs_required_or_default() {
        let err = validation_error(&GOOD.replace("region = { default = \"eu\" }", "region = {}"));
        assert!(err.contains("variables.region"), "{err}");
    }

    #[test]
    fn template_to_unknown_variable_is_named() {
        let err = validation_error(&GOOD.replace("{{ region }}", "{{ zone }}"));
        assert!(err.contains("component.router.variables.region"), "{err}");
    }
}
