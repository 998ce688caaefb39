//! `up --variable`, in the four forms `spin up` takes: `name=value`, `name=@file`
//! (the file's contents, as they are, trailing newline included, as Spin reads it),
//! and `@file.json` / `@file.toml` (a table of names to string values). Later flags
//! win over earlier ones. A secret passed by file stays out of the process list and
//! shell history; the errors about a file name its path and where in it, never a
//! value read from it.

use anyhow::{Context, bail};
use std::path::PathBuf;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VariableFlag {
    Literal(String, String),
    FileContent(String, PathBuf),
    JsonFile(PathBuf),
    TomlFile(PathBuf),
}

impl FromStr for VariableFlag {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(path) = s.strip_prefix('@') {
            let path = PathBuf::from(path);
            return match path.extension().and_then(|e| e.to_str()) {
                Some("json") => Ok(Self::JsonFile(path)),
                Some("toml") => Ok(Self::TomlFile(path)),
                _ => Err(format!(
                    "`{s}`: a file of variables must end in .json or .toml"
                )),
            };
        }
        let Some((name, value)) = s.split_once('=') else {
            return Err(format!(
                "`{s}` is not of the form name=value, name=@file, @file.json or @file.toml"
            ));
        };
        Ok(match value.strip_prefix('@') {
            Some(path) => Self::FileContent(name.into(), path.into()),
            None => Self::Literal(name.into(), value.into()),
        })
    }
}

impl VariableFlag {
    /// The (name, value) pairs this flag sets, reading its file if it names one.
    pub fn values(&self) -> anyhow::Result<Vec<(String, String)>> {
        match self {
            Self::Literal(name, value) => Ok(vec![(name.clone(), value.clone())]),
            Self::FileContent(name, path) => {
                let value = std::fs::read_to_string(path)
                    .with_context(|| format!("--variable {name}=@{}", path.display()))?;
                Ok(vec![(name.clone(), value)])
            }
            Self::JsonFile(path) => {
                let text = read(path)?;
                let table: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text)
                    .map_err(|e| {
                        // serde_json's messages name a position and what was expected,
                        // not the text found there.
                        anyhow::anyhow!(
                            "--variable @{}: not a JSON object of strings: {e}",
                            path.display()
                        )
                    })?;
                table
                    .into_iter()
                    .map(|(name, value)| match value {
                        serde_json::Value::String(s) => Ok((name, s)),
                        other => not_a_string(path, &name, json_kind(&other)),
                    })
                    .collect()
            }
            Self::TomlFile(path) => {
                let text = read(path)?;
                let table: toml::Table = toml::from_str(&text).map_err(|e| {
                    // toml's own message quotes the line, which may hold a secret.
                    let line = e.span().map(|span| line_of(&text, span.start));
                    anyhow::anyhow!(
                        "--variable @{}: not a TOML table of strings: {}{}",
                        path.display(),
                        e.message(),
                        line.map(|l| format!(" (line {l})")).unwrap_or_default()
                    )
                })?;
                table
                    .into_iter()
                    .map(|(name, value)| match value {
                        toml::Value::String(s) => Ok((name, s)),
                        other => not_a_string(path, &name, other.type_str()),
                    })
                    .collect()
            }
        }
    }
}

/// Every flag's pairs, in order, so that a later flag's value for a name wins.
pub fn resolve(flags: &[VariableFlag]) -> anyhow::Result<Vec<(String, String)>> {
    let mut values = Vec::new();
    for flag in flags {
        values.extend(flag.values()?);
    }
    Ok(values)
}

fn read(path: &std::path::Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("--variable @{}", path.display()))
}

fn not_a_string<T>(path: &std::path::Path, name: &str, kind: &str) -> anyhow::Result<T> {
    bail!(
        "--variable @{}: `{name}` is not a string ({kind}); variable values are strings",
        path.display()
    )
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> VariableFlag {
        s.parse().unwrap()
    }

    fn written(dir: &std::path::Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn each_form_parses_as_spin_reads_it() {
        assert_eq!(parse("k=v"), VariableFlag::Literal("k".into(), "v".into()));
        assert_eq!(
            parse("k=a=b"),
            VariableFlag::Literal("k".into(), "a=b".into())
        );
        assert_eq!(parse("k="), VariableFlag::Literal("k".into(), "".into()));
        assert_eq!(
            parse("k=@secret.txt"),
            VariableFlag::FileContent("k".into(), "secret.txt".into())
        );
        assert_eq!(parse("@v.json"), VariableFlag::JsonFile("v.json".into()));
        assert_eq!(parse("@v.toml"), VariableFlag::TomlFile("v.toml".into()));
    }

    #[test]
    fn a_flag_of_no_form_is_refused_saying_which_forms_there_are() {
        let e = "nope".parse::<VariableFlag>().unwrap_err();
        assert!(
            e.contains("`nope` is not of the form name=value, name=@file"),
            "{e}"
        );
        for file in ["@vars", "@vars.yaml"] {
            let e = file.parse::<VariableFlag>().unwrap_err();
            assert!(e.contains("must end in .json or .toml"), "{e}");
        }
    }

    #[test]
    fn files_give_their_values_and_later_flags_win() {
        let dir = tempfile::tempdir().unwrap();
        let at = |name: &str, text: &str| written(dir.path(), name, text);
        let flags = [
            VariableFlag::JsonFile(at("a.json", r#"{"token": "from-json", "region": "eu"}"#)),
            VariableFlag::TomlFile(at("b.toml", "token = \"from-toml\"\nplan = \"pro\"\n")),
            VariableFlag::FileContent("key".into(), at("key.txt", "line one\n")),
            VariableFlag::Literal("plan".into(), "free".into()),
        ];
        let values: std::collections::HashMap<_, _> =
            resolve(&flags).unwrap().into_iter().collect();
        assert_eq!(values["token"], "from-toml");
        assert_eq!(values["region"], "eu");
        assert_eq!(
            values["key"], "line one\n",
            "read as it is, as Spin reads it"
        );
        assert_eq!(values["plan"], "free");
    }

    #[test]
    fn a_bad_file_is_named_without_quoting_what_it_holds() {
        let dir = tempfile::tempdir().unwrap();
        let at = |name: &str, text: &str| written(dir.path(), name, text);
        let cases = [
            (
                VariableFlag::TomlFile(at("broken.toml", "ok = \"x\"\ntoken = hunter2-secret\n")),
                "broken.toml: not a TOML table of strings:",
                "(line 2)",
            ),
            (
                VariableFlag::TomlFile(at("number.toml", "port = 4242\n")),
                "number.toml: `port` is not a string (integer)",
                "",
            ),
            (
                VariableFlag::JsonFile(at("broken.json", r#"{"token": hunter2-secret}"#)),
                "broken.json: not a JSON object of strings:",
                "line 1",
            ),
            (
                VariableFlag::JsonFile(at("list.json", r#"["hunter2-secret"]"#)),
                "list.json: not a JSON object of strings:",
                "",
            ),
            (
                VariableFlag::JsonFile(at("number.json", r#"{"port": 4242}"#)),
                "number.json: `port` is not a string (number)",
                "",
            ),
            (
                VariableFlag::FileContent("k".into(), dir.path().join("missing.txt")),
                "--variable k=@",
                "",
            ),
        ];
        for (flag, expected, also) in cases {
            let e = format!("{:#}", flag.values().unwrap_err());
            assert!(e.contains(expected) && e.contains(also), "{e}");
            assert!(!e.contains("hunter2") && !e.contains("4242"), "{e}");
        }
    }
}
