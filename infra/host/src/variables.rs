//! Variables capability: application variables resolved once at start-up from the
//! providers (explicit `--variable`, `SPIN_VARIABLE_<NAME>`, runtime config, manifest
//! default), then each component's variable templates expanded against them.

use crate::wit::spin::variables::variables as spin_vars;
use anyhow::{Context, bail};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use wasmtime::component::{HasData, Linker};

/// An application variable as the manifest declares it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VariableDecl {
    pub default: Option<String>,
    pub required: bool,
    pub secret: bool,
}

/// Spin's rule for variable names: lowercase ASCII letters, digits and `_`, starting
/// with a letter.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}

/// Values supplied from outside the manifest, highest priority first.
#[derive(Debug, Default, Clone)]
pub struct Providers {
    /// `--variable name=value` on the command line.
    pub explicit: HashMap<String, String>,
    /// `SPIN_VARIABLE_<NAME>` environment variables (names upper-cased).
    pub env: HashMap<String, String>,
    /// Values from the runtime config's `[variables]` table.
    pub runtime_config: HashMap<String, String>,
}

impl Providers {
    pub fn from_process_env(
        explicit: HashMap<String, String>,
        runtime_config: HashMap<String, String>,
    ) -> Self {
        let env = std::env::vars()
            .filter_map(|(k, v)| Some((k.strip_prefix("SPIN_VARIABLE_")?.to_lowercase(), v)))
            .collect();
        Self {
            explicit,
            env,
            runtime_config,
        }
    }

    fn lookup(&self, name: &str) -> Option<&String> {
        self.explicit
            .get(name)
            .or_else(|| self.env.get(name))
            .or_else(|| self.runtime_config.get(name))
    }
}

/// Resolves every application variable, or names the first required one that has
/// no value.
pub fn resolve_app_variables(
    decls: &BTreeMap<String, VariableDecl>,
    providers: &Providers,
) -> anyhow::Result<HashMap<String, String>> {
    let mut values = HashMap::new();
    for (name, decl) in decls {
        match providers.lookup(name).or(decl.default.as_ref()) {
            Some(value) => {
                values.insert(name.clone(), value.clone());
            }
            None if decl.required => bail!(
                "required variable `{name}` has no value: set SPIN_VARIABLE_{} or pass --variable {name}=...",
                name.to_uppercase()
            ),
            None => {}
        }
    }
    Ok(values)
}

/// The variable names a template refers to (`{{ name }}`), in order.
pub fn template_references(template: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        out.push(after[..end].trim().to_string());
        rest = &after[end + 2..];
    }
    out
}

/// Expands `{{ name }}` references in a component variable template.
pub fn expand_template(
    template: &str,
    app_values: &HashMap<String, String>,
) -> anyhow::Result<String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .with_context(|| format!("unterminated `{{{{` in template `{template}`"))?;
        let name = after[..end].trim();
        let value = app_values.get(name).with_context(|| {
            format!("template `{template}` refers to variable `{name}`, which has no value")
        })?;
        out.push_str(value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The variables one component can read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComponentVariables(pub Arc<HashMap<String, String>>);

pub struct Variables;

impl HasData for Variables {
    type Data<'a> = &'a ComponentVariables;
}

pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    getter: fn(&mut T) -> &ComponentVariables,
) -> wasmtime::Result<()> {
    spin_vars::add_to_linker::<T, Variables>(linker, getter)
}

impl spin_vars::Host for &ComponentVariables {}

impl<T: Send> spin_vars::HostWithStore<T> for Variables {
    async fn get(
        accessor: &wasmtime::component::Accessor<T, Self>,
        name: String,
    ) -> wasmtime::Result<Result<String, spin_vars::Error>> {
        if !is_valid_name(&name) {
            return Ok(Err(spin_vars::Error::InvalidName(format!(
                "invalid variable name `{name}`"
            ))));
        }
        Ok(accessor.with(|mut a| {
            a.get()
                .0
                .get(&name)
                .cloned()
                .ok_or(spin_vars::Error::Undefined(format!(
                    "no variable for `{name}`"
                )))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decls(items: &[(&str, VariableDecl)]) -> BTreeMap<String, VariableDecl> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn names_follow_spin_rules() {
        assert!(is_valid_name("admin_token"));
        assert!(is_valid_name("a1"));
        assert!(!is_valid_name("Admin"));
        assert!(!is_valid_name("1a"));
        assert!(!is_valid_name("a-b"));
        assert!(!is_valid_name(""));
    }

    #[test]
    fn explicit_beats_env_beats_runtime_config_beats_default() {
        let d = decls(&[(
            "v",
            VariableDecl {
                default: Some("default".into()),
                ..Default::default()
            },
        )]);
        let mut p = Providers::default();
        assert_eq!(resolve_app_variables(&d, &p).unwrap()["v"], "default");
        p.runtime_config.insert("v".into(), "rc".into());
        assert_eq!(resolve_app_variables(&d, &p).unwrap()["v"], "rc");
        p.env.insert("v".into(), "env".into());
        assert_eq!(resolve_app_variables(&d, &p).unwrap()["v"], "env");
        p.explicit.insert("v".into(), "flag".into());
        assert_eq!(resolve_app_variables(&d, &p).unwrap()["v"], "flag");
    }

    #[test]
    fn missing_required_variable_is_named() {
        let d = decls(&[(
            "admin_token",
            VariableDecl {
                required: true,
                ..Default::default()
            },
        )]);
        let err = resolve_app_variables(&d, &Providers::default()).unwrap_err();
        assert!(err.to_string().contains("`admin_token`"), "{err}");
        assert!(
            err.to_string().contains("SPIN_VARIABLE_ADMIN_TOKEN"),
            "{err}"
        );
    }

    #[test]
    fn templates_expand_and_reject_unknown_references() {
        let values: HashMap<_, _> = [("region".to_string(), "eu".to_string())].into();
        assert_eq!(
            expand_template("https://{{ region }}.example", &values).unwrap(),
            "https://eu.example"
        );
        assert_eq!(expand_template("plain", &values).unwrap(), "plain");
        assert!(expand_template("{{ nope }}", &values).is_err());
        assert!(expand_template("{{ region", &values).is_err());
    }
}
