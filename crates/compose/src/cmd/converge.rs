//! Bringing one service to what the file says: keep containers whose config hash and image
//! are unchanged, recreate the others, add or remove containers to match its scale.

use anyhow::{Context, Result, anyhow};

use crate::cli::Ctx;
use crate::convert::{Instance, container_name};
use crate::engine::{self, Container};
use crate::labels;
use crate::progress::Progress;

/// How `up` treats existing containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recreate {
    /// When the config hash or the image changed.
    Diverged,
    /// Always (`--force-recreate`).
    Force,
    /// Never (`--no-recreate`).
    Never,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    pub(crate) recreate: Recreate,
    pub(crate) start: bool,
    pub(crate) scale: u32,
    pub(crate) timeout: Option<u32>,
}

/// Converges `service`; returns its containers' (id, name) after.
pub(crate) async fn service(
    ctx: &Ctx,
    progress: &Progress,
    service: &str,
    plan: Plan,
) -> Result<Vec<(String, String)>> {
    let project = &ctx.project;
    let svc = project
        .file
        .services
        .get(service)
        .ok_or_else(|| anyhow!("no such service: {service}"))?;
    let want_hash = labels::config_hash(project, service, svc);
    let image = project.image_of(service);
    let image_id = engine::image(&ctx.cl, &image)
        .await?
        .and_then(|v| v["Id"].as_str().map(String::from))
        .ok_or_else(|| anyhow!("service {service:?}: no such image: {image}"))?;
    let existing = super::service_containers(ctx, &[service.to_owned()], true).await?;
    let mut result = Vec::new();
    let mut taken = Vec::new();
    for c in existing {
        if c.number == 0 || c.number > plan.scale || taken.contains(&c.number) {
            remove(ctx, progress, &c, plan.timeout).await?;
            continue;
        }
        taken.push(c.number);
        let diverged = c.hash != want_hash || c.image_id != image_id;
        let recreate = match plan.recreate {
            Recreate::Force => true,
            Recreate::Diverged => diverged,
            Recreate::Never => false,
        };
        if recreate {
            result.push(recreate_one(ctx, progress, service, &c, plan).await?);
        } else {
            if plan.start && !c.running() {
                start(ctx, progress, service, &c.id, &c.name).await?;
            } else {
                progress.done(
                    "Container",
                    &c.name,
                    if c.running() { "Running" } else { "Created" },
                );
            }
            result.push((c.id.clone(), c.name.clone()));
        }
    }
    for n in 1..=plan.scale {
        if taken.contains(&n) {
            continue;
        }
        let name = container_name(project, service, n);
        let id = create(ctx, progress, service, n, &name, "Creating", "Created").await?;
        if plan.start {
            start(ctx, progress, service, &id, &name).await?;
        }
        result.push((id, name));
    }
    Ok(result)
}

/// Stops and replaces a container, keeping its name (and so the naming convention of the
/// tool that created it).
async fn recreate_one(
    ctx: &Ctx,
    progress: &Progress,
    service: &str,
    old: &Container,
    plan: Plan,
) -> Result<(String, String)> {
    progress.working("Container", &old.name, "Recreate");
    engine::stop(&ctx.cl, &old.id, plan.timeout).await?;
    engine::remove(&ctx.cl, &old.id, false).await?;
    let id = create(
        ctx,
        progress,
        service,
        old.number,
        &old.name,
        "Recreate",
        "Recreated",
    )
    .await?;
    if plan.start {
        start(ctx, progress, service, &id, &old.name).await?;
    }
    Ok((id, old.name.clone()))
}

async fn create(
    ctx: &Ctx,
    progress: &Progress,
    service: &str,
    number: u32,
    name: &str,
    doing: &str,
    done: &str,
) -> Result<String> {
    let project = &ctx.project;
    let svc = &project.file.services[service];
    let inst = Instance {
        project,
        service,
        svc,
        number,
        oneoff: false,
    };
    progress.working("Container", name, doing);
    let body = inst
        .create_body()
        .map_err(|e| anyhow!("service {service:?}: {e}"))?;
    let id = match engine::create_container(&ctx.cl, name, &body).await {
        Ok(id) => id,
        Err(e) => {
            progress.failed("Container", name, "Error");
            return Err(e);
        }
    };
    for (net, ep) in inst.endpoints().into_iter().skip(1) {
        engine::connect(&ctx.cl, &net, &id, &ep)
            .await
            .with_context(|| format!("connecting {name} to network {net}"))?;
    }
    progress.done("Container", name, done);
    Ok(id)
}

/// Starts a container; a failure is reported with the container's last log lines.
pub(crate) async fn start(
    ctx: &Ctx,
    progress: &Progress,
    service: &str,
    id: &str,
    name: &str,
) -> Result<()> {
    progress.working("Container", name, "Starting");
    if let Err(e) = engine::start(&ctx.cl, id).await {
        progress.failed("Container", name, "Error");
        let logs = super::logs::tail(&ctx.cl, id, 20).await.unwrap_or_default();
        let msg = berth_client::describe(&e);
        if logs.trim().is_empty() {
            return Err(anyhow!("service {service:?} failed to start: {msg}"));
        }
        return Err(anyhow!(
            "service {service:?} failed to start: {msg}\n{name} logs:\n{logs}"
        ));
    }
    progress.done("Container", name, "Started");
    Ok(())
}

pub(crate) async fn remove(
    ctx: &Ctx,
    progress: &Progress,
    c: &Container,
    timeout: Option<u32>,
) -> Result<()> {
    if c.running() {
        progress.working("Container", &c.name, "Stopping");
        engine::stop(&ctx.cl, &c.id, timeout).await?;
        progress.done("Container", &c.name, "Stopped");
    }
    progress.working("Container", &c.name, "Removing");
    engine::remove(&ctx.cl, &c.id, false).await?;
    progress.done("Container", &c.name, "Removed");
    Ok(())
}
