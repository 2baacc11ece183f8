//! `up`: networks and volumes, images (built or pulled), then each service converged in
//! dependency order — independent services in parallel, each once its dependencies meet their
//! `condition`; then `--wait`, or the containers' output until they exit.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Result, anyhow, bail};
use clap::Args;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::converge::{self, Plan, Recreate};
use crate::cli::Ctx;
use crate::engine;
use crate::graph::Graph;
use crate::labels;
use crate::model::Project;
use crate::progress::Progress;

#[derive(Debug, Args)]
#[allow(clippy::struct_excessive_bools)] // one bool per compose flag
pub(crate) struct UpArgs {
    /// Detached mode: Run containers in the background
    #[arg(short = 'd', long)]
    detach: bool,
    /// Build images before starting containers
    #[arg(long)]
    build: bool,
    /// Don't build an image, even if it's policy
    #[arg(long = "no-build")]
    no_build: bool,
    /// Recreate containers even if their configuration and image haven't changed
    #[arg(long = "force-recreate")]
    force_recreate: bool,
    /// If containers already exist, don't recreate them
    #[arg(long = "no-recreate")]
    no_recreate: bool,
    /// Don't start linked services
    #[arg(long = "no-deps")]
    no_deps: bool,
    /// Don't start the services after creating them
    #[arg(long = "no-start")]
    no_start: bool,
    /// Scale SERVICE to NUM instances (SERVICE=NUM)
    #[arg(long)]
    scale: Vec<String>,
    /// Wait for services to be running|healthy. Implies detached mode
    #[arg(long)]
    wait: bool,
    /// Remove containers for services not defined in the Compose file
    #[arg(long = "remove-orphans")]
    remove_orphans: bool,
    /// Use this timeout in seconds for container shutdown
    #[arg(short = 't', long)]
    timeout: Option<u32>,
    /// Stops all containers if any container was stopped
    #[arg(long = "abort-on-container-exit")]
    abort_on_container_exit: bool,
    /// Produce monochrome output
    #[arg(long = "no-color")]
    no_color: bool,
    /// Don't print prefix in logs
    #[arg(long = "no-log-prefix")]
    no_log_prefix: bool,
    services: Vec<String>,
}

pub(crate) async fn up(ctx: &Ctx, a: UpArgs) -> Result<()> {
    let mut project = (*ctx.project).clone();
    super::enable(&mut project, &a.services);
    let selected = super::select(&project, &a.services)?;
    let scales = parse_scales(&project, &a.scale)?;
    let graph = Graph::new(&project.file.services)?;
    let targets: Vec<String> = if a.no_deps {
        selected
    } else {
        graph.with_dependencies(&selected).into_iter().collect()
    };
    let ctx = Ctx {
        project: Arc::new(project),
        ..ctx.clone()
    };
    let opts = UpOpts {
        recreate: if a.force_recreate {
            Recreate::Force
        } else if a.no_recreate {
            Recreate::Never
        } else {
            Recreate::Diverged
        },
        start: !a.no_start,
        build: a.build,
        no_build: a.no_build,
        orphans: Some(a.remove_orphans),
        timeout: a.timeout,
    };
    let progress = Progress::new(ctx.progress, "Running");
    let result = bring_up(&ctx, &progress, &graph, &targets, &scales, &opts).await;
    progress.finish();
    let containers = result?;
    if a.wait {
        for (id, name) in containers.values().flatten() {
            super::wait::ready(&ctx, id, name).await?;
        }
        return Ok(());
    }
    if a.detach || a.no_start {
        return Ok(());
    }
    let ids: Vec<(String, String)> = containers.into_values().flatten().collect();
    super::logs::attach(
        &ctx,
        &ids,
        !a.no_color && ctx.color,
        !a.no_log_prefix,
        a.abort_on_container_exit,
        a.timeout,
    )
    .await
}

type Started = BTreeMap<String, Vec<(String, String)>>;

/// What `up`'s flags decide.
#[derive(Debug, Clone, Copy)]
struct UpOpts {
    recreate: Recreate,
    start: bool,
    build: bool,
    no_build: bool,
    /// Look for orphans (`Some`), removing them when true.
    orphans: Option<bool>,
    timeout: Option<u32>,
}

/// Brings `services` up as a plain `up -d` would (`run` starts a service's dependencies so).
pub(crate) async fn up_services(ctx: &Ctx, progress: &Progress, services: &[String]) -> Result<()> {
    let graph = Graph::new(&ctx.project.file.services)?;
    let opts = UpOpts {
        recreate: Recreate::Diverged,
        start: true,
        build: false,
        no_build: false,
        orphans: None,
        timeout: None,
    };
    bring_up(ctx, progress, &graph, services, &BTreeMap::new(), &opts)
        .await
        .map(drop)
}

async fn bring_up(
    ctx: &Ctx,
    progress: &Progress,
    graph: &Graph,
    targets: &[String],
    scales: &BTreeMap<String, u32>,
    a: &UpOpts,
) -> Result<Started> {
    let project = &ctx.project;
    prepare(ctx, progress, targets, a.build, a.no_build).await?;
    if let Some(remove) = a.orphans {
        orphans(ctx, progress, remove, a.timeout).await?;
    }
    let recreate = a.recreate;
    // One task per service; each waits for its dependencies' outcome, published on a watch
    // channel (None = not finished yet).
    let mut senders = BTreeMap::new();
    let mut receivers = BTreeMap::new();
    for s in targets {
        let (tx, rx) = watch::channel::<Option<Result<(), String>>>(None);
        senders.insert(s.clone(), tx);
        receivers.insert(s.clone(), rx);
    }
    let mut tasks = Vec::new();
    for s in targets {
        let svc = &project.file.services[s];
        let plan = Plan {
            recreate,
            start: a.start,
            scale: scales.get(s).copied().unwrap_or_else(|| svc.replicas()),
            timeout: a.timeout,
        };
        let deps: Vec<(
            String,
            crate::model::service::Dependency,
            watch::Receiver<_>,
        )> = graph
            .deps(s)
            .filter_map(|d| {
                let rx = receivers.get(d)?.clone();
                let dep = svc.depends_on.get(d).cloned().unwrap_or_default();
                Some((d.clone(), dep, rx))
            })
            .collect();
        let tx = senders.remove(s).ok_or_else(|| anyhow!("service {s}"))?;
        let (ctx, progress, name) = (ctx.clone(), progress.clone(), s.clone());
        let no_start = !a.start;
        tasks.push(tokio::spawn(async move {
            let r = async {
                for (dep, d, mut rx) in deps {
                    let outcome = rx
                        .wait_for(Option::is_some)
                        .await
                        .map_err(|e| anyhow!("{e}"))?
                        .clone();
                    if let Some(Err(e)) = outcome {
                        bail!("dependency {dep:?} of {name:?} failed: {e}");
                    }
                    if !no_start {
                        super::wait::condition(&ctx, &dep, d.condition).await?;
                    }
                }
                converge::service(&ctx, &progress, &name, plan).await
            }
            .await;
            let _ = tx.send(Some(r.as_ref().map(drop).map_err(|e| format!("{e:#}"))));
            (name, r)
        }));
    }
    let mut started = Started::new();
    let mut first_error = None;
    for t in tasks {
        let (name, r) = t.await?;
        match r {
            Ok(c) => {
                started.insert(name, c);
            }
            Err(e) if first_error.is_none() => first_error = Some(e),
            Err(_) => {}
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(started),
    }
}

fn parse_scales(project: &Project, flags: &[String]) -> Result<BTreeMap<String, u32>> {
    let mut out = BTreeMap::new();
    for f in flags {
        let (svc, n) = f
            .split_once('=')
            .ok_or_else(|| anyhow!("invalid --scale {f:?}: expected SERVICE=NUM"))?;
        if !project.file.services.contains_key(svc) {
            bail!("no such service: {svc}");
        }
        let n: u32 = n
            .parse()
            .map_err(|_| anyhow!("invalid --scale {f:?}: {n:?} is not a number"))?;
        out.insert(svc.to_owned(), n);
    }
    Ok(out)
}

/// What containers of `targets` need before they are created: networks, volumes, images.
pub(crate) async fn prepare(
    ctx: &Ctx,
    progress: &Progress,
    targets: &[String],
    build: bool,
    no_build: bool,
) -> Result<()> {
    networks(ctx, progress, targets).await?;
    volumes(ctx, progress, targets).await?;
    images(ctx, progress, targets, build, no_build).await
}

/// Creates the networks the targets use; an external one must exist.
async fn networks(ctx: &Ctx, progress: &Progress, targets: &[String]) -> Result<()> {
    let p = &ctx.project;
    let mut keys: Vec<String> = targets
        .iter()
        .flat_map(|s| p.file.services[s].network_names())
        .collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        let def = p.file.networks.get(&key).cloned().unwrap_or_default();
        let name = p.network_name(&key);
        if engine::network(&ctx.cl, &name).await?.is_some() {
            continue;
        }
        if def.external.is_external() {
            bail!("network {name} declared as external, but could not be found");
        }
        progress.working("Network", &name, "Creating");
        let mut labels: BTreeMap<String, String> = def.labels.clone();
        labels.extend(labels::project_labels(p));
        labels.insert(labels::NETWORK.into(), key.clone());
        let mut body = json!({
            "Name": name,
            "CheckDuplicate": true,
            "Driver": def.driver.clone().unwrap_or_else(|| "bridge".into()),
            "Internal": def.internal,
            "Attachable": def.attachable,
            "Labels": labels,
        });
        if !def.driver_opts.is_empty() {
            body["Options"] = json!(def.driver_opts);
        }
        if let Some(v6) = def.enable_ipv6 {
            body["EnableIPv6"] = json!(v6);
        }
        if let Some(ipam) = &def.ipam {
            let config: Vec<Value> = ipam
                .config
                .iter()
                .map(|c| {
                    json!({"Subnet": c.subnet, "IPRange": c.ip_range, "Gateway": c.gateway,
                           "AuxiliaryAddresses": c.aux_addresses})
                })
                .collect();
            body["IPAM"] = json!({
                "Driver": ipam.driver.clone().unwrap_or_else(|| "default".into()),
                "Config": config,
                "Options": ipam.options,
            });
        }
        if let Err(e) = ctx.cl.post_json("/networks/create", Some(&body)).await {
            progress.failed("Network", &name, "Error");
            return Err(e);
        }
        progress.done("Network", &name, "Created");
    }
    Ok(())
}

/// Creates the named volumes the targets mount; an external one must exist.
async fn volumes(ctx: &Ctx, progress: &Progress, targets: &[String]) -> Result<()> {
    let p = &ctx.project;
    let mut keys: Vec<String> = targets
        .iter()
        .flat_map(|s| p.file.services[s].volumes.iter())
        .filter(|m| m.kind == crate::model::mounts::MountKind::Volume)
        .filter_map(|m| m.source.clone())
        .collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        let def = p.file.volumes.get(&key).cloned().unwrap_or_default();
        let name = p.volume_name(&key);
        if engine::volume(&ctx.cl, &name).await?.is_some() {
            continue;
        }
        if def.external.is_external() {
            bail!("external volume {name:?} not found");
        }
        progress.working("Volume", &name, "Creating");
        let mut labels: BTreeMap<String, String> = def.labels.clone();
        labels.extend(labels::project_labels(p));
        labels.insert(labels::VOLUME.into(), key.clone());
        let body = json!({
            "Name": name,
            "Driver": def.driver.clone().unwrap_or_else(|| "local".into()),
            "DriverOpts": def.driver_opts,
            "Labels": labels,
        });
        if let Err(e) = ctx.cl.post_json("/volumes/create", Some(&body)).await {
            progress.failed("Volume", &name, "Error");
            return Err(e);
        }
        progress.done("Volume", &name, "Created");
    }
    Ok(())
}

/// Builds what has `build:` (always with `--build`, else when the image is missing) and pulls
/// missing images of the others.
async fn images(
    ctx: &Ctx,
    progress: &Progress,
    targets: &[String],
    build: bool,
    no_build: bool,
) -> Result<()> {
    let p = &ctx.project;
    let mut to_build = Vec::new();
    for s in targets {
        let svc = &p.file.services[s];
        let image = p.image_of(s);
        let present = engine::image(&ctx.cl, &image).await?.is_some();
        if svc.build.is_some() && !no_build && (build || !present) {
            to_build.push(s.clone());
        } else if !present {
            progress.working("Image", &image, "Pulling");
            if let Err(e) = engine::pull(&ctx.cl, &image).await {
                progress.failed("Image", &image, "Error");
                return Err(e.context(format!("service {s:?}: pulling {image}")));
            }
            progress.done("Image", &image, "Pulled");
        }
    }
    for s in to_build {
        super::build::build_service(ctx, progress, &s, &super::build::BuildOpts::default()).await?;
    }
    Ok(())
}

/// Containers of the project whose service is gone from the file.
async fn orphans(ctx: &Ctx, progress: &Progress, remove: bool, timeout: Option<u32>) -> Result<()> {
    let p = &ctx.project;
    let all = super::service_containers(ctx, &[], true).await?;
    let orphans: Vec<_> = all
        .into_iter()
        .filter(|c| {
            !p.file.services.contains_key(&c.service) && !p.disabled.contains_key(&c.service)
        })
        .collect();
    if orphans.is_empty() {
        return Ok(());
    }
    if remove {
        for c in &orphans {
            converge::remove(ctx, progress, c, timeout).await?;
        }
    } else {
        let names: Vec<&str> = orphans.iter().map(|c| c.name.as_str()).collect();
        eprintln!(
            "WARN[0000] Found orphan containers ({}) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
            names.join(", ")
        );
    }
    Ok(())
}
