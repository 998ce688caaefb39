//! Component dependencies composed in, as Spin composes them (its `spin-compose`
//! crate, with the same `wac-graph`): each dependency is instantiated inside the
//! component, its export plugged into every import its manifest name matches, and
//! what is left of either side's imports becomes the composed component's imports,
//! which the host links as it links any component's.

use anyhow::{Context, bail};
use semver::Version;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use wac_graph::types::{Package, SubtypeChecker, WorldId};
use wac_graph::{CompositionGraph, EncodeOptions, NodeId};

/// A key of `[component.<id>.dependencies]`: a plain name (`greeter`) matching an
/// import of that name, or a package name matching the imports it covers:
/// `ns:pkg` every interface of the package, `ns:pkg/iface` one interface, either
/// with `@version` only that version.
#[derive(Debug, Clone, PartialEq)]
pub enum DependencyName {
    Plain(String),
    Package {
        package: String,
        interface: Option<String>,
        version: Option<Version>,
    },
}

impl FromStr for DependencyName {
    type Err = anyhow::Error;

    fn from_str(name: &str) -> anyhow::Result<Self> {
        if !name.contains(':') {
            if !is_kebab(name) {
                bail!(
                    "`{name}` is neither a kebab-case name nor a package name (`ns:pkg[/interface][@version]`)"
                );
            }
            return Ok(Self::Plain(name.to_string()));
        }
        let (path, version) = match name.split_once('@') {
            Some((path, version)) => {
                let version = Version::parse(version)
                    .with_context(|| format!("`{name}`: `{version}` is not a semver version"))?;
                (path, Some(version))
            }
            None => (name, None),
        };
        let (package, interface) = match path.split_once('/') {
            Some((package, interface)) => (package, Some(interface)),
            None => (path, None),
        };
        let well_formed = package
            .split_once(':')
            .is_some_and(|(ns, pkg)| is_kebab(ns) && is_kebab(pkg))
            && interface.is_none_or(is_kebab);
        if !well_formed {
            bail!(
                "`{name}` is not a package name (`ns:pkg[/interface][@version]`, kebab-case parts)"
            );
        }
        Ok(Self::Package {
            package: package.to_string(),
            interface: interface.map(str::to_string),
            version,
        })
    }
}

impl fmt::Display for DependencyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Plain(name) => f.write_str(name),
            Self::Package {
                package,
                interface,
                version,
            } => {
                f.write_str(package)?;
                if let Some(interface) = interface {
                    write!(f, "/{interface}")?;
                }
                if let Some(version) = version {
                    write!(f, "@{version}")?;
                }
                Ok(())
            }
        }
    }
}

impl DependencyName {
    /// Whether this name covers the component import `import` (`ns:pkg/iface@v`, or
    /// a plain name), as Spin matches them.
    pub fn matches(&self, import: &str) -> bool {
        let Ok(import) = import.parse::<DependencyName>() else {
            return false;
        };
        match (self, import) {
            (Self::Plain(name), Self::Plain(import)) => *name == import,
            (
                Self::Package {
                    package,
                    interface,
                    version,
                },
                Self::Package {
                    package: import_package,
                    interface: Some(import_interface),
                    version: import_version,
                },
            ) => {
                *package == import_package
                    && interface.as_ref().is_none_or(|i| *i == import_interface)
                    && version
                        .as_ref()
                        .is_none_or(|v| Some(v) == import_version.as_ref())
            }
            _ => false,
        }
    }

    /// A package name without an interface (`ns:pkg`, `ns:pkg@1.0.0`).
    pub fn is_whole_package(&self) -> bool {
        matches!(
            self,
            Self::Package {
                interface: None,
                ..
            }
        )
    }
}

/// Kebab-case as the component model spells names: words of lowercase letters and
/// digits, or of uppercase letters and digits, each starting with a letter.
fn is_kebab(name: &str) -> bool {
    !name.is_empty()
        && name.split('-').all(|word| {
            word.starts_with(|c: char| c.is_ascii_alphabetic())
                && (word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                    || word
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()))
        })
}

/// One dependency, read: its manifest name, its component, and the export of it to
/// use for each import the name matches (`None`: the export named as the import).
pub struct Dependency {
    pub name: DependencyName,
    pub bytes: Vec<u8>,
    pub export: Option<String>,
}

/// `component` with `dependencies` composed in. `vet_import` is asked about every
/// import of every dependency (by its index in `dependencies`) before anything is
/// composed, so the caller can refuse a capability the dependency may not have.
pub fn compose(
    component: Vec<u8>,
    dependencies: Vec<Dependency>,
    vet_import: impl Fn(usize, &str) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<u8>> {
    let mut graph = CompositionGraph::new();
    let (world, instance) = register(&mut graph, "root:component", component)?;
    let imports: Vec<String> = graph.types()[world].imports.keys().cloned().collect();

    let mut plugged: BTreeMap<String, (usize, String)> = BTreeMap::new();
    let mut registered = Vec::new();
    for (index, dependency) in dependencies.into_iter().enumerate() {
        let matched: Vec<&String> = imports
            .iter()
            .filter(|import| dependency.name.matches(import))
            .collect();
        if matched.is_empty() {
            bail!(
                "dependency `{}` matches no import of the component (it imports {})",
                dependency.name,
                imports.join(", ")
            );
        }
        let (dep_world, dep_instance) = register(
            &mut graph,
            &format!("dependency:n{index}"),
            dependency.bytes,
        )
        .with_context(|| format!("dependency `{}`", dependency.name))?;
        for import in graph.types()[dep_world].imports.keys() {
            vet_import(index, import)?;
        }
        for import in matched {
            let export = dependency.export.clone().unwrap_or_else(|| import.clone());
            if let Some((other, _)) = plugged.insert(import.clone(), (index, export)) {
                let (other, _, _): &(DependencyName, WorldId, NodeId) = &registered[other];
                bail!(
                    "import `{import}` is matched by two dependencies, `{other}` and `{}`",
                    dependency.name
                );
            }
        }
        registered.push((dependency.name, dep_world, dep_instance));
    }

    let mut cache = Default::default();
    let mut checker = SubtypeChecker::new(&mut cache);
    for (import, (index, export)) in plugged {
        let (name, dep_world, dep_instance) = &registered[index];
        let Some(export_type) = graph.types()[*dep_world].exports.get(&export).copied() else {
            bail!("dependency `{name}` does not export `{export}` (for the import `{import}`)");
        };
        let import_type = graph.types()[world].imports[&import];
        checker
            .is_subtype(export_type, graph.types(), import_type, graph.types())
            .with_context(|| {
                format!(
                    "dependency `{name}`'s export `{export}` does not fit the import `{import}`"
                )
            })?;
        let exported = graph.alias_instance_export(*dep_instance, &export)?;
        graph.set_instantiation_argument(instance, &import, exported)?;
    }

    let exports: Vec<String> = graph.types()[world].exports.keys().cloned().collect();
    for export in exports {
        let node = graph.alias_instance_export(instance, &export)?;
        graph.export(node, &export)?;
    }
    graph
        .encode(EncodeOptions::default())
        .context("encoding the composed component")
}

fn register(
    graph: &mut CompositionGraph,
    name: &str,
    bytes: Vec<u8>,
) -> anyhow::Result<(WorldId, NodeId)> {
    let package = Package::from_bytes(name, None, bytes, graph.types_mut())?;
    let world = package.ty();
    let id = graph.register_package(package)?;
    Ok((world, graph.instantiate(id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> DependencyName {
        text.parse().unwrap()
    }

    #[test]
    fn a_name_matches_the_imports_spin_matches_it_to() {
        for (dependency, imports) in [
            ("foo:bar/baz@0.1.0", vec!["foo:bar/baz@0.1.0"]),
            ("foo:bar/baz", vec!["foo:bar/baz@0.1.0", "foo:bar/baz"]),
            ("foo:bar", vec!["foo:bar/baz@0.1.0", "foo:bar/baz"]),
            ("foo:bar@0.1.0", vec!["foo:bar/baz@0.1.0"]),
            ("foo-bar", vec!["foo-bar"]),
        ] {
            for import in imports {
                assert!(name(dependency).matches(import), "{dependency} ~ {import}");
            }
        }
        for (dependency, imports) in [
            (
                "foo:bar/baz@0.1.0",
                vec!["foo:bar/baz", "foo:bar/baz@0.2.0"],
            ),
            ("foo:bar/baz", vec!["foo:bar/bub", "foo:bar/bub@0.1.0"]),
            ("foo:bar", vec!["foo:bub/bib", "foo-bar"]),
            ("foo:bar@0.1.0", vec!["foo:bar/baz"]),
            ("foo:bar/baz", vec!["foo:bar/baz-bub", "foo-bar"]),
            ("foo-bar", vec!["foo:bar/baz", "foo-baz"]),
        ] {
            for import in imports {
                assert!(
                    !name(dependency).matches(import),
                    "{dependency} !~ {import}"
                );
            }
        }
    }

    #[test]
    fn a_malformed_name_is_refused_saying_what_a_name_looks_like() {
        for bad in [
            "Foo_bar",
            "foo:",
            ":bar",
            "foo:bar/",
            "foo:bar@one",
            "foo:bar/Baz_x",
            "",
        ] {
            let err = bad.parse::<DependencyName>().unwrap_err().to_string();
            assert!(err.contains(&format!("`{bad}`")), "{bad}: {err}");
        }
        assert_eq!(name("foo:bar/baz@1.2.3").to_string(), "foo:bar/baz@1.2.3");
        assert!(name("foo:bar@1.0.0").is_whole_package());
        assert!(!name("foo:bar/baz").is_whole_package());
    }
}
