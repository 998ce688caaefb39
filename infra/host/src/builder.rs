//! `waypost build`: runs each component's `[component.<id>.build] command`, in the
//! manifest's order, as `spin build` does.

use crate::manifest::LoadedManifest;
use anyhow::{Context, bail};
use std::process::Command;

pub fn build(manifest: &LoadedManifest, only: &[String]) -> anyhow::Result<()> {
    for (id, component) in &manifest.manifest.component {
        if !only.is_empty() && !only.contains(id) {
            continue;
        }
        let Some(build) = &component.build else {
            continue;
        };
        let workdir = match &build.workdir {
            Some(dir) if std::path::Path::new(dir).is_absolute() => bail!(
                "{}: component.{id}.build.workdir: must be relative",
                manifest.path.display()
            ),
            Some(dir) => manifest.dir.join(dir),
            None => manifest.dir.clone(),
        };
        crate::log::say(format_args!(
            "Building component {id} with `{}`",
            build.command
        ));
        let status = Command::new("sh")
            .arg("-c")
            .arg(&build.command)
            .current_dir(&workdir)
            .status()
            .with_context(|| format!("cannot run the build command for component {id}"))?;
        if !status.success() {
            bail!("build command for component {id} failed with {status}");
        }
    }
    crate::log::say(format_args!("Finished building all Spin components"));
    Ok(())
}
