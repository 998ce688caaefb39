//! `files` capability: each component's mounts are copied into its own directory in
//! the state dir and preopened read-only at `/`, as Spin does by default. Files a
//! directory or a glob brings in are left out when their path in the app matches an
//! `exclude_files` pattern; a file named on its own is always copied, as on Spin.
//! With `up --direct-mounts` (Spin's flag) each entry's directory is mounted as it
//! is instead, so edits to it are seen without a restart.

use crate::manifest::FileMount;
use anyhow::{Context, bail};
use std::path::{Component, Path, PathBuf};

/// Builds `root` from the component's `files` entries (paths relative to `app_dir`),
/// without the files `exclude_files` names.
pub fn materialize(
    app_dir: &Path,
    mounts: &[FileMount],
    exclude_files: &[String],
    root: &Path,
) -> anyhow::Result<()> {
    if root.exists() {
        std::fs::remove_dir_all(root)
            .with_context(|| format!("cannot clear {}", root.display()))?;
    }
    std::fs::create_dir_all(root)?;
    let copier = Copier {
        app_dir,
        exclude: exclude_patterns(exclude_files)?,
    };
    for (i, mount) in mounts.iter().enumerate() {
        match mount {
            FileMount::Pattern(pattern) => copier
                .copy_pattern(pattern, root)
                .with_context(|| format!("files[{i}] `{pattern}`")),
            FileMount::Placement {
                source,
                destination,
            } => copier
                .copy_placement(source, &root.join(destination.trim_start_matches('/')))
                .with_context(|| format!("files[{i}]")),
        }?;
    }
    Ok(())
}

/// `up --direct-mounts`: each entry's directory in the app and where the guest sees
/// it (where its copy would be). Only directories, and no `exclude_files`, as on
/// Spin: there is no copy to leave files out of.
pub fn direct(
    app_dir: &Path,
    mounts: &[FileMount],
    exclude_files: &[String],
) -> anyhow::Result<Vec<(PathBuf, String)>> {
    if !exclude_files.is_empty() {
        bail!("exclude_files cannot be used with --direct-mounts (directories are mounted whole)");
    }
    let mut found = Vec::new();
    for (i, mount) in mounts.iter().enumerate() {
        let (source, guest) = match mount {
            FileMount::Pattern(pattern) => (pattern, pattern),
            FileMount::Placement {
                source,
                destination,
            } => (source, destination),
        };
        if !inside_app(source) {
            bail!("files[{i}]: source `{source}` is outside the application directory");
        }
        let dir = app_dir.join(source);
        if !dir.is_dir() {
            bail!(
                "files[{i}] `{source}`: not a directory (--direct-mounts mounts directories only)"
            );
        }
        let dir = dir
            .canonicalize()
            .with_context(|| format!("files[{i}] `{source}`"))?;
        found.push((dir, format!("/{}", guest.trim_start_matches('/'))));
    }
    Ok(found)
}

/// Whether `source` names a path in the app's directory: no root, no `..`.
fn inside_app(source: &str) -> bool {
    Path::new(source)
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

/// `exclude_files` as glob patterns; an error names the entry.
pub fn exclude_patterns(exclude_files: &[String]) -> anyhow::Result<Vec<glob::Pattern>> {
    exclude_files
        .iter()
        .enumerate()
        .map(|(i, pattern)| {
            glob::Pattern::new(pattern)
                .with_context(|| format!("exclude_files[{i}] `{pattern}`: not a glob pattern"))
        })
        .collect()
}

/// Copies from the app's directory, leaving out what `exclude` matches.
struct Copier<'a> {
    app_dir: &'a Path,
    exclude: Vec<glob::Pattern>,
}

impl Copier<'_> {
    fn copy_pattern(&self, pattern: &str, root: &Path) -> anyhow::Result<()> {
        if pattern.split('/').any(|seg| seg == ".." || seg == ".") {
            bail!("must not contain `.` or `..` segments");
        }
        let direct = self.app_dir.join(pattern);
        if direct.is_dir() {
            return self.copy_dir(&direct, &root.join(pattern));
        }
        if direct.is_file() {
            return copy_file(&direct, &root.join(pattern));
        }
        if glob::Pattern::escape(pattern) == pattern {
            bail!("does not exist and does not look like a glob pattern");
        }
        let full = format!(
            "{}/{pattern}",
            glob::Pattern::escape(&self.app_dir.to_string_lossy())
        );
        for entry in glob::glob(&full)? {
            let path = entry?;
            if path.is_file() && !self.excluded(&path) {
                let rel = path.strip_prefix(self.app_dir)?;
                copy_file(&path, &root.join(rel))?;
            }
        }
        Ok(())
    }

    /// `{ source, destination }`: a file or a directory of the app, nowhere else.
    fn copy_placement(&self, source: &str, dest: &Path) -> anyhow::Result<()> {
        if !inside_app(source) {
            bail!("source `{source}` is outside the application directory");
        }
        let src = self.app_dir.join(source);
        if src.is_dir() {
            self.copy_dir(&src, dest)
        } else if src.is_file() {
            copy_file(&src, dest)
        } else {
            bail!("source `{source}` does not exist")
        }
    }

    fn copy_dir(&self, src: &Path, dest: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dest)?;
        for entry in std::fs::read_dir(src)? {
            let entry = entry?;
            let path = entry.path();
            let target: PathBuf = dest.join(entry.file_name());
            if path.is_dir() {
                self.copy_dir(&path, &target)?;
            } else if !self.excluded(&path) {
                copy_file(&path, &target)?;
            }
        }
        Ok(())
    }

    /// Whether `path`, as a path in the app's directory, matches an exclusion.
    fn excluded(&self, path: &Path) -> bool {
        let in_app = path.strip_prefix(self.app_dir).unwrap_or(path);
        self.exclude.iter().any(|p| p.matches_path(in_app))
    }
}

fn copy_file(src: &Path, dest: &Path) -> anyhow::Result<()> {
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::copy(src, dest)
        .with_context(|| format!("cannot copy {} to {}", src.display(), dest.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The files under `root`, as sorted relative paths.
    fn listing(root: &Path) -> Vec<String> {
        let mut found = Vec::new();
        let mut dirs = vec![root.to_path_buf()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    let rel = path.strip_prefix(root).unwrap();
                    found.push(rel.to_string_lossy().into_owned());
                }
            }
        }
        found.sort();
        found
    }

    #[test]
    fn excluded_files_stay_out_of_directories_and_globs_but_not_named_files() {
        let app = tempfile::tempdir().unwrap();
        for file in [
            "assets/a.txt",
            "assets/secret.key",
            "assets/deep/b.key",
            "c.key",
        ] {
            let path = app.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, file).unwrap();
        }
        let mounts = vec![
            FileMount::Placement {
                source: "assets".into(),
                destination: "/placed".into(),
            },
            FileMount::Pattern("assets/**/*".into()),
            FileMount::Pattern("c.key".into()),
        ];
        let root = app.path().join("mounted");
        let exclude = ["assets/**/*.key".to_string()];
        materialize(app.path(), &mounts, &exclude, &root).unwrap();
        assert_eq!(
            listing(&root),
            ["assets/a.txt", "c.key", "placed/a.txt"],
            "matched against the path in the app, not in the guest"
        );
    }

    #[test]
    fn a_source_outside_the_app_or_a_bad_pattern_is_refused() {
        let app = tempfile::tempdir().unwrap();
        let root = app.path().join("mounted");
        for source in ["/etc", "../outside", "a/../../outside"] {
            let mounts = [FileMount::Placement {
                source: source.into(),
                destination: "/".into(),
            }];
            let error = materialize(app.path(), &mounts, &[], &root).unwrap_err();
            assert!(
                format!("{error:#}").contains("outside the application directory"),
                "{source}: {error:#}"
            );
        }
        let error = exclude_patterns(&["ok/*".into(), "[".into()]).unwrap_err();
        assert!(error.to_string().contains("exclude_files[1]"), "{error}");
    }

    #[test]
    fn direct_mounts_are_the_apps_directories_where_their_copies_would_be() {
        let app = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(app.path().join("static/css")).unwrap();
        std::fs::write(app.path().join("static/a.txt"), "a").unwrap();
        let mounts = [
            FileMount::Pattern("static".into()),
            FileMount::Placement {
                source: "static/css".into(),
                destination: "/styles".into(),
            },
        ];
        let root = app.path().canonicalize().unwrap();
        assert_eq!(
            direct(app.path(), &mounts, &[]).unwrap(),
            vec![
                (root.join("static"), "/static".to_string()),
                (root.join("static/css"), "/styles".to_string()),
            ]
        );
        let refused = |mount: FileMount, exclude: &[String]| {
            direct(app.path(), &[mount], exclude)
                .unwrap_err()
                .to_string()
        };
        let e = refused(FileMount::Pattern("static".into()), &["*.key".into()]);
        assert!(
            e.starts_with("exclude_files cannot be used with --direct-mounts"),
            "{e}"
        );
        let e = refused(FileMount::Pattern("static/a.txt".into()), &[]);
        assert!(e.contains("not a directory"), "{e}");
        let e = refused(FileMount::Pattern("static/*".into()), &[]);
        assert!(e.contains("not a directory"), "{e}");
        let e = refused(
            FileMount::Placement {
                source: "../elsewhere".into(),
                destination: "/".into(),
            },
            &[],
        );
        assert!(e.contains("outside the application directory"), "{e}");
    }
}
