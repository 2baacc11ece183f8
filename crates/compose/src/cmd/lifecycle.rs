//! `start`, `stop`, `restart`, `rm`, `kill`, `pull`, `push`, `images`, `top`.

use anyhow::{Result, bail};
use berth_client::table::{human_size, short_id, tabwrite};
use clap::Args;
use serde_json::Value;

use crate::cli::Ctx;
use crate::engine;
use crate::graph::Graph;
use crate::progress::Progress;

#[derive(Debug, Args)]
pub(crate) struct RmArgs {
    /// Don't ask to confirm removal
    #[arg(short = 'f', long)]
    force: bool,
    /// Stop the containers, if required, before removing
    #[arg(short = 's', long)]
    stop: bool,
    /// Remove any anonymous volumes attached to containers
    #[arg(short = 'v', long)]
    volumes: bool,
    services: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct KillArgs {
    /// SIGNAL to send to the container
    #[arg(short = 's', long, default_value = "SIGKILL")]
    signal: String,
    services: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ImagesArgs {
    /// Only display IDs
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Format the output ("table"|"json")
    #[arg(long, default_value = "table")]
    format: String,
    services: Vec<String>,
}

/// Services in start order (dependencies first), restricted to `names` when given.
fn ordered(ctx: &Ctx, names: &[String]) -> Result<Vec<String>> {
    let selected = super::select(&ctx.project, names)?;
    let order = Graph::new(&ctx.project.file.services)?.order();
    Ok(order.into_iter().filter(|s| selected.contains(s)).collect())
}

pub(crate) async fn start(ctx: &Ctx, names: &[String]) -> Result<()> {
    let progress = Progress::new(ctx.progress, "Running");
    let r = async {
        for s in ordered(ctx, names)? {
            for c in super::service_containers(ctx, std::slice::from_ref(&s), true).await? {
                if !c.running() {
                    super::converge::start(ctx, &progress, &s, &c.id, &c.name).await?;
                }
            }
        }
        Ok(())
    }
    .await;
    progress.finish();
    r
}

pub(crate) async fn stop(ctx: &Ctx, names: &[String], timeout: Option<u32>) -> Result<()> {
    let progress = Progress::new(ctx.progress, "Stopping");
    let r = async {
        let services = super::select(&ctx.project, names)?;
        let list = super::service_containers(ctx, &services, false).await?;
        super::stop_all(ctx, &progress, list, timeout).await
    }
    .await;
    progress.finish();
    r
}

pub(crate) async fn restart(ctx: &Ctx, names: &[String], timeout: Option<u32>) -> Result<()> {
    let progress = Progress::new(ctx.progress, "Restarting");
    let r = async {
        for s in ordered(ctx, names)? {
            for c in super::service_containers(ctx, &[s], true).await? {
                progress.working("Container", &c.name, "Restarting");
                engine::restart(&ctx.cl, &c.id, timeout).await?;
                progress.done("Container", &c.name, "Started");
            }
        }
        Ok(())
    }
    .await;
    progress.finish();
    r
}

pub(crate) async fn rm(ctx: &Ctx, a: RmArgs) -> Result<()> {
    let list = super::service_containers(ctx, &a.services, true).await?;
    let (running, stopped): (Vec<_>, Vec<_>) =
        list.into_iter().partition(engine::Container::running);
    let targets = if a.stop {
        running.into_iter().chain(stopped).collect()
    } else {
        stopped
    };
    if targets.is_empty() {
        eprintln!("No stopped containers");
        return Ok(());
    }
    if !a.force {
        let names: Vec<&str> = targets.iter().map(|c| c.name.as_str()).collect();
        eprintln!("Going to remove {}", names.join(", "));
        bail!("refusing to remove without confirmation: use -f");
    }
    let progress = Progress::new(ctx.progress, "Removing");
    let r = async {
        for c in &targets {
            if c.running() {
                progress.working("Container", &c.name, "Stopping");
                engine::stop(&ctx.cl, &c.id, None).await?;
            }
            progress.working("Container", &c.name, "Removing");
            engine::remove(&ctx.cl, &c.id, a.volumes).await?;
            progress.done("Container", &c.name, "Removed");
        }
        Ok(())
    }
    .await;
    progress.finish();
    r
}

pub(crate) async fn kill(ctx: &Ctx, a: KillArgs) -> Result<()> {
    let progress = Progress::new(ctx.progress, "Killing");
    let r = async {
        for c in super::service_containers(ctx, &a.services, false).await? {
            progress.working("Container", &c.name, "Killing");
            engine::kill(&ctx.cl, &c.id, &a.signal).await?;
            progress.done("Container", &c.name, "Killed");
        }
        Ok(())
    }
    .await;
    progress.finish();
    r
}

/// Images of services that name one (services that only build have nothing to pull).
fn image_services(ctx: &Ctx, names: &[String]) -> Result<Vec<(String, String)>> {
    let p = &ctx.project;
    Ok(super::select(p, names)?
        .into_iter()
        .filter_map(|s| p.file.services[&s].image.clone().map(|i| (s, i)))
        .collect())
}

pub(crate) async fn pull(ctx: &Ctx, names: &[String]) -> Result<()> {
    let progress = Progress::new(ctx.progress, "Pulling");
    let r = async {
        for (s, image) in image_services(ctx, names)? {
            if ctx.project.file.services[&s].build.is_some()
                && engine::image(&ctx.cl, &image).await?.is_some()
            {
                continue;
            }
            progress.working("Image", &image, "Pulling");
            if let Err(e) = engine::pull(&ctx.cl, &image).await {
                progress.failed("Image", &image, "Error");
                return Err(e.context(format!("service {s:?}: pulling {image}")));
            }
            progress.done("Image", &image, "Pulled");
        }
        Ok(())
    }
    .await;
    progress.finish();
    r
}

pub(crate) async fn push(ctx: &Ctx, names: &[String]) -> Result<()> {
    let progress = Progress::new(ctx.progress, "Pushing");
    let r = async {
        for (s, image) in image_services(ctx, names)? {
            progress.working("Image", &image, "Pushing");
            if let Err(e) = engine::push(&ctx.cl, &image).await {
                progress.failed("Image", &image, "Error");
                return Err(e.context(format!("service {s:?}: pushing {image}")));
            }
            progress.done("Image", &image, "Pushed");
        }
        Ok(())
    }
    .await;
    progress.finish();
    r
}

pub(crate) async fn images(ctx: &Ctx, a: ImagesArgs) -> Result<()> {
    let list = super::service_containers(ctx, &a.services, true).await?;
    let mut rows = Vec::new();
    for c in &list {
        let image = engine::image(&ctx.cl, &c.image_id)
            .await?
            .unwrap_or(Value::Null);
        let tag = c.raw["Image"].as_str().unwrap_or_default();
        let (repo, tag) = engine::split_ref(tag);
        rows.push((
            c.name.clone(),
            repo,
            tag,
            c.image_id.clone(),
            image["Size"].as_f64().unwrap_or(0.0),
        ));
    }
    if a.quiet {
        let mut ids: Vec<String> = rows.iter().map(|r| r.3.clone()).collect();
        ids.dedup();
        ids.iter().for_each(|i| crate::out(&format!("{i}\n")));
        return Ok(());
    }
    if a.format == "json" {
        let v: Vec<Value> = rows
            .iter()
            .map(|(name, repo, tag, id, size)| {
                serde_json::json!({"ContainerName": name, "Repository": repo, "Tag": tag, "ID": id, "Size": size})
            })
            .collect();
        crate::out(&format!("{}\n", Value::from(v)));
        return Ok(());
    }
    let mut text = String::from("CONTAINER\tREPOSITORY\tTAG\tIMAGE ID\tSIZE\n");
    for (name, repo, tag, id, size) in rows {
        text.push_str(&format!(
            "{name}\t{repo}\t{tag}\t{}\t{}\n",
            short_id(&id),
            human_size(size)
        ));
    }
    crate::out(&tabwrite(&text));
    Ok(())
}

pub(crate) async fn top(ctx: &Ctx, names: &[String]) -> Result<()> {
    let list = super::service_containers(ctx, names, false).await?;
    let mut text = String::new();
    for c in list {
        let v = ctx
            .cl
            .get_json(&format!(
                "/containers/{}/top",
                berth_client::client::encode(&c.id)
            ))
            .await?;
        text.push_str(&format!("{}\n", c.name));
        let titles: Vec<&str> = v["Titles"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let mut table = titles.join("\t");
        table.push('\n');
        for p in v["Processes"].as_array().into_iter().flatten() {
            let cols: Vec<&str> = p
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            table.push_str(&cols.join("\t"));
            table.push('\n');
        }
        text.push_str(&tabwrite(&table));
        text.push('\n');
    }
    crate::out(&text);
    Ok(())
}
