//! `files` capability: each component's mounts are copied into its own directory in
//! the state dir and preopened read-only at `/`, as Spin does by default.

use crate::manifest::FileMount;
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};

/// Builds `root` from the component's `files` entries (paths relative to `app_dir`).
pub fn materialize(app_dir: &Path, mounts: &[FileMount], root: &Path) -> anyhow::Result<()> {
    if root.exists() {
        std::fs::remove_dir_all(root)
            .with_context(|| format!("cannot clear {}", root.display()))?;
    }
    std::fs::create_dir_all(root)?;
    for (i, mount) in mounts.iter().enumerate() {
        match mount {
            FileMount::Pattern(pattern) => copy_pattern(app_dir, pattern, root)
                .with_context(|| format!("files[{i}] `{pattern}`"))?,
            FileMount::Placement {
                source,
                destination,
            } => {
                let src = app_dir.join(source);
                let dest = root.join(destination.trim_start_matches('/'));
                if src.is_dir() {
                    copy_dir(&src, &dest)
                } else if src.is_file() {
                    copy_file(&src, &dest)
                } else {
                    bail!("source `{source}` does not exist")
                }
                .with_context(|| format!("files[{i}]"))?;
            }
        }
    }
    Ok(())
}

fn copy_pattern(app_dir: &Path, pattern: &str, root: &Path) -> anyhow::Result<()> {
    if pattern.split('/').any(|seg| seg == ".." || seg == ".") {
        bail!("must not contain `.` or `..` segments");
    }
    let direct = app_dir.join(pattern);
    if direct.is_dir() {
        return copy_dir(&direct, &root.join(pattern));
    }
    if direct.is_file() {
        return copy_file(&direct, &root.join(pattern));
    }
    if glob::Pattern::escape(pattern) == pattern {
        bail!("does not exist and does not look like a glob pattern");
    }
    let full = format!(
        "{}/{pattern}",
        glob::Pattern::escape(&app_dir.to_string_lossy())
    );
    for entry in glob::glob(&full)? {
        let path = entry?;
        if path.is_file() {
            let rel = path.strip_prefix(app_dir)?;
            copy_file(&path, &root.join(rel))?;
        }
    }
    Ok(())
}

fn copy_dir(src: &Path, dest: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dest)?;
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        let path = entry.path();
        let target: PathBuf = dest.join(entry.file_name());
        if path.is_dir() {
            copy_dir(&path, &target)?;
        } else {
            copy_file(&path, &target)?;
        }
    }
    Ok(())
}

fn copy_file(src: &Path, dest: &Path) -> anyhow::Result<()> {
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::copy(src, dest)
        .with_context(|| format!("cannot copy {} to {}", src.display(), dest.display()))?;
    Ok(())
}
