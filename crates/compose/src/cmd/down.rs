//! `down`: the project's containers (dependents first), its networks, and with `-v` its
//! volumes, with `--rmi` its images.

use anyhow::{Result, bail};
use berth_client::client::{encode, query, status_of};
use clap::Args;

use crate::cli::Ctx;
use crate::engine::{self, OneOff};
use crate::labels;
use crate::progress::Progress;

#[derive(Debug, Args)]
pub(crate) struct DownArgs {
    /// Remove named volumes declared in the "volumes" section of the Compose file and anonymous
    /// volumes attached to containers
    #[arg(short = 'v', long)]
    volumes: bool,
    /// Remove images used by services. "local" remove only images that don't have a custom
    /// tag ("local"|"all")
    #[arg(long)]
    rmi: Option<String>,
    /// Remove containers for services not defined in the Compose file
    #[arg(long = "remove-orphans")]
    remove_orphans: bool,
    /// Specify a shutdown timeout in seconds
    #[arg(short = 't', long)]
    timeout: Option<u32>,
}

pub(crate) async fn down(ctx: &Ctx, a: DownArgs) -> Result<()> {
    if let Some(r) = &a.rmi
        && r != "local"
        && r != "all"
    {
        bail!("invalid --rmi {r:?}: expected \"local\" or \"all\"");
    }
    let p = &ctx.project;
    let progress = Progress::new(ctx.progress, "Running");
    let r = async {
        containers(ctx, &progress, &a).await?;
        networks(ctx, &progress).await?;
        if a.volumes {
            volumes(ctx, &progress).await?;
        }
        if let Some(mode) = &a.rmi {
            for s in p.file.services.keys() {
                let custom = p.file.services[s].image.is_some();
                if mode == "all" || !custom {
                    remove_image(ctx, &progress, &p.image_of(s)).await?;
                }
            }
        }
        Ok(())
    }
    .await;
    progress.finish();
    r
}

async fn containers(ctx: &Ctx, progress: &Progress, a: &DownArgs) -> Result<()> {
    let p = &ctx.project;
    // A project known only by name (no file) owns every container carrying its label.
    let known = |s: &str| {
        p.file.services.is_empty() || p.file.services.contains_key(s) || p.disabled.contains_key(s)
    };
    let mut list = engine::containers(&ctx.cl, &p.name, true, OneOff::Include).await?;
    let orphans: Vec<String> = list
        .iter()
        .filter(|c| !c.oneoff && !known(&c.service))
        .map(|c| c.name.clone())
        .collect();
    if !a.remove_orphans {
        list.retain(|c| c.oneoff || known(&c.service));
        if !orphans.is_empty() {
            eprintln!(
                "WARN[0000] Found orphan containers ({}) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
                orphans.join(", ")
            );
        }
    }
    // Dependents stop before what they depend on; independent ones in parallel.
    super::stop_all(ctx, progress, list.clone(), a.timeout).await?;
    for c in &list {
        progress.working("Container", &c.name, "Removing");
        engine::remove(&ctx.cl, &c.id, a.volumes).await?;
        progress.done("Container", &c.name, "Removed");
    }
    Ok(())
}

async fn networks(ctx: &Ctx, progress: &Progress) -> Result<()> {
    let p = &ctx.project;
    let mut names: Vec<String> = p
        .file
        .networks
        .iter()
        .filter(|(_, n)| !n.external.is_external())
        .map(|(k, _)| p.network_name(k))
        .collect();
    // The project's own networks (by label) too, e.g. `default` when the file no longer
    // uses it, or a project known only by name.
    for n in engine::labelled(&ctx.cl, "networks", &p.name).await? {
        if let Some(name) = n["Name"].as_str()
            && !names.iter().any(|x| x == name)
            && n["Labels"][labels::NETWORK].is_string()
        {
            names.push(name.to_owned());
        }
    }
    for name in names {
        if engine::network(&ctx.cl, &name).await?.is_none() {
            continue;
        }
        progress.working("Network", &name, "Removing");
        match ctx.cl.delete(&format!("/networks/{}", encode(&name))).await {
            Ok(_) => progress.done("Network", &name, "Removed"),
            Err(e) if status_of(&e) == Some(404) => progress.done("Network", &name, "Removed"),
            Err(e) => {
                progress.failed("Network", &name, "Error");
                return Err(e);
            }
        }
    }
    Ok(())
}

async fn volumes(ctx: &Ctx, progress: &Progress) -> Result<()> {
    let p = &ctx.project;
    let mut names: Vec<String> = p
        .file
        .volumes
        .iter()
        .filter(|(_, v)| !v.external.is_external())
        .map(|(k, _)| p.volume_name(k))
        .collect();
    if p.file.services.is_empty() {
        for v in engine::labelled(&ctx.cl, "volumes", &p.name).await? {
            if let Some(n) = v["Name"].as_str() {
                names.push(n.to_owned());
            }
        }
    }
    for name in names {
        if engine::volume(&ctx.cl, &name).await?.is_none() {
            continue;
        }
        progress.working("Volume", &name, "Removing");
        match ctx.cl.delete(&format!("/volumes/{}", encode(&name))).await {
            Ok(_) => progress.done("Volume", &name, "Removed"),
            Err(e) => {
                progress.failed("Volume", &name, "Error");
                return Err(e);
            }
        }
    }
    Ok(())
}

async fn remove_image(ctx: &Ctx, progress: &Progress, image: &str) -> Result<()> {
    if engine::image(&ctx.cl, image).await?.is_none() {
        return Ok(());
    }
    progress.working("Image", image, "Removing");
    match ctx
        .cl
        .delete(&query(
            &format!("/images/{}", encode(image)),
            &[("force", "false".into())],
        ))
        .await
    {
        Ok(_) => progress.done("Image", image, "Removed"),
        Err(e) => {
            progress.failed("Image", image, "Error");
            return Err(e);
        }
    }
    Ok(())
}
