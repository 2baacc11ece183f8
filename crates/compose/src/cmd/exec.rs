//! `exec` (a command in a service's running container) and `run` (a one-off container of a
//! service, its dependencies started first).

use std::sync::Arc;

use anyhow::{Result, anyhow, bail};
use berth_client::StatusError;
use berth_client::client::{Client, encode, query};
use berth_client::stream::{self, Ended, PumpOpts};
use berth_client::tty;
use clap::Args;
use serde_json::{Value, json};

use crate::cli::Ctx;
use crate::convert::Instance;
use crate::engine;
use crate::model::mounts::Mount;
use crate::model::ports::Port;
use crate::model::syntax::FromShort;
use crate::progress::Progress;

#[derive(Debug, Args)]
#[allow(clippy::struct_excessive_bools)] // one bool per compose flag
pub(crate) struct ExecArgs {
    /// Detached mode: Run command in the background
    #[arg(short = 'd', long)]
    detach: bool,
    /// Disable pseudo-TTY allocation. By default `exec` allocates a TTY on a terminal
    #[arg(short = 'T', long = "no-TTY")]
    no_tty: bool,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    env: Vec<String>,
    /// Run the command as this user
    #[arg(short = 'u', long)]
    user: Option<String>,
    /// Path to workdir directory for this command
    #[arg(short = 'w', long)]
    workdir: Option<String>,
    /// Index of the container if service has multiple replicas
    #[arg(long, default_value_t = 1)]
    index: u32,
    /// Give extended privileges to the process
    #[arg(long)]
    privileged: bool,
    service: String,
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true, num_args = 1..)]
    command: Vec<String>,
}

pub(crate) async fn exec(ctx: &Ctx, a: ExecArgs) -> Result<()> {
    let list = super::service_containers(ctx, std::slice::from_ref(&a.service), false).await?;
    let c = list
        .iter()
        .find(|c| c.number == a.index)
        .ok_or_else(|| anyhow!("service {:?} is not running", a.service))?;
    let tty = !a.no_tty && tty::stdin_is_tty();
    let mut config = json!({
        "AttachStdin": !a.detach,
        "AttachStdout": !a.detach,
        "AttachStderr": !a.detach,
        "Tty": tty,
        "Cmd": a.command,
        "Privileged": a.privileged,
        "Env": a.env,
    });
    if let Some(u) = &a.user {
        config["User"] = json!(u);
    }
    if let Some(w) = &a.workdir {
        config["WorkingDir"] = json!(w);
    }
    let created = ctx
        .cl
        .post_json(
            &format!("/containers/{}/exec", encode(&c.id)),
            Some(&config),
        )
        .await?;
    let id = created["Id"].as_str().unwrap_or_default().to_owned();
    let start = format!("/exec/{}/start", encode(&id));
    if a.detach {
        ctx.cl
            .post_json(&start, Some(&json!({"Detach": true, "Tty": tty})))
            .await?;
        return Ok(());
    }
    let conn = ctx
        .cl
        .hijack(&start, Some(&json!({"Detach": false, "Tty": tty})))
        .await?;
    session(
        &ctx.cl,
        conn,
        tty,
        true,
        format!("/exec/{}/resize", encode(&id)),
    )
    .await?;
    let mut info = Value::Null;
    for _ in 0..100 {
        info = ctx
            .cl
            .get_json(&format!("/exec/{}/json", encode(&id)))
            .await?;
        if info["Running"].as_bool() != Some(true) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    exit_with(info["ExitCode"].as_i64().unwrap_or(0))
}

/// Pumps a hijacked connection to our stdio (raw terminal with a TTY).
async fn session(
    cl: &Client,
    conn: berth_client::client::Hijacked,
    tty: bool,
    stdin: bool,
    resize_path: String,
) -> Result<Ended> {
    let raw = (tty && stdin).then(tty::RawMode::enter);
    let rcl = cl.clone();
    let ended = stream::pump(
        conn,
        PumpOpts {
            tty,
            stdin,
            detach_keys: (tty && stdin)
                .then(|| stream::parse_detach_keys(None))
                .flatten(),
        },
        move |h, w| {
            let (cl, path) = (rcl.clone(), resize_path.clone());
            async move {
                let path = query(&path, &[("h", h.to_string()), ("w", w.to_string())]);
                let _ = cl.post_json(&path, None).await;
            }
        },
    )
    .await;
    drop(raw);
    ended
}

fn exit_with(code: i64) -> Result<()> {
    if code != 0 {
        return Err(StatusError::code(i32::try_from(code).unwrap_or(1)).into());
    }
    Ok(())
}

#[derive(Debug, Args)]
#[allow(clippy::struct_excessive_bools)] // one bool per compose flag
pub(crate) struct RunArgs {
    /// Automatically remove the container when it exits
    #[arg(long)]
    rm: bool,
    /// Run container in background and print container ID
    #[arg(short = 'd', long)]
    detach: bool,
    /// Disable pseudo-TTY allocation (default: auto-detected)
    #[arg(short = 'T', long = "no-TTY")]
    no_tty: bool,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    env: Vec<String>,
    /// Add or override a label
    #[arg(short = 'l', long = "label")]
    label: Vec<String>,
    /// Run as specified username or uid
    #[arg(short = 'u', long)]
    user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long)]
    workdir: Option<String>,
    /// Override the entrypoint of the image
    #[arg(long)]
    entrypoint: Option<String>,
    /// Assign a name to the container
    #[arg(long)]
    name: Option<String>,
    /// Don't start linked services
    #[arg(long = "no-deps")]
    no_deps: bool,
    /// Publish a container's port(s) to the host
    #[arg(short = 'p', long = "publish")]
    publish: Vec<String>,
    /// Run command with all service's ports enabled and mapped to the host
    #[arg(long = "service-ports")]
    service_ports: bool,
    /// Bind mount a volume
    #[arg(short = 'v', long = "volume")]
    volume: Vec<String>,
    service: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

pub(crate) async fn run(ctx: &Ctx, a: RunArgs) -> Result<()> {
    let mut project = (*ctx.project).clone();
    super::enable(&mut project, std::slice::from_ref(&a.service));
    let Some(mut svc) = project.file.services.get(&a.service).cloned() else {
        bail!("no such service: {}", a.service);
    };
    let ctx = Ctx {
        project: Arc::new(project),
        ..ctx.clone()
    };
    let progress = Progress::new(ctx.progress, "Running");
    let deps: Vec<String> = if a.no_deps {
        Vec::new()
    } else {
        let g = crate::graph::Graph::new(&ctx.project.file.services)?;
        let mut d: Vec<String> = g
            .with_dependencies(std::slice::from_ref(&a.service))
            .into_iter()
            .collect();
        d.retain(|s| *s != a.service);
        d
    };
    let prepared = async {
        super::up::prepare(
            &ctx,
            &progress,
            std::slice::from_ref(&a.service),
            false,
            false,
        )
        .await?;
        if !deps.is_empty() {
            super::up::up_services(&ctx, &progress, &deps).await?;
        }
        Ok::<(), anyhow::Error>(())
    }
    .await;
    progress.finish();
    prepared?;
    override_service(&mut svc, &a)?;
    let tty = !a.no_tty && !a.detach && tty::stdin_is_tty();
    svc.tty = tty;
    svc.stdin_open = !a.detach;
    let suffix: String = random_hex(12);
    let name = a
        .name
        .clone()
        .unwrap_or_else(|| format!("{}-{}-run-{suffix}", ctx.project.name, a.service));
    let inst = Instance {
        project: &ctx.project,
        service: &a.service,
        svc: &svc,
        number: 1,
        oneoff: true,
    };
    let mut body = inst
        .create_body()
        .map_err(|e| anyhow!("service {:?}: {e}", a.service))?;
    body["AttachStdin"] = json!(!a.detach);
    body["StdinOnce"] = json!(!a.detach);
    let id = engine::create_container(&ctx.cl, &name, &body).await?;
    for (net, ep) in inst.endpoints().into_iter().skip(1) {
        engine::connect(&ctx.cl, &net, &id, &ep).await?;
    }
    if a.detach {
        engine::start(&ctx.cl, &id).await?;
        crate::out(&format!("{name}\n"));
        return Ok(());
    }
    let params = [
        ("stream", "1".to_owned()),
        ("stdin", "1".to_owned()),
        ("stdout", "1".to_owned()),
        ("stderr", "1".to_owned()),
    ];
    let conn = ctx
        .cl
        .hijack(
            &query(&format!("/containers/{}/attach", encode(&id)), &params),
            None,
        )
        .await?;
    engine::start(&ctx.cl, &id).await?;
    let ended = session(
        &ctx.cl,
        conn,
        tty,
        true,
        format!("/containers/{}/resize", encode(&id)),
    )
    .await?;
    if ended == Ended::Detached {
        return Ok(());
    }
    let code = engine::wait(&ctx.cl, &id).await?;
    if a.rm {
        engine::remove(&ctx.cl, &id, true).await?;
    }
    exit_with(code)
}

/// `run`'s flags over the service's definition. Ports are published only with
/// `--service-ports` or `-p`, as in Compose.
fn override_service(svc: &mut crate::model::Service, a: &RunArgs) -> Result<()> {
    if !a.command.is_empty() {
        svc.command = Some(a.command.clone());
    }
    if let Some(e) = &a.entrypoint {
        svc.entrypoint =
            Some(shlex::split(e).ok_or_else(|| anyhow!("invalid --entrypoint {e:?}"))?);
    }
    for e in &a.env {
        let (k, v) = e.split_once('=').map_or_else(
            || (e.clone(), std::env::var(e).ok()),
            |(k, v)| (k.to_owned(), Some(v.to_owned())),
        );
        svc.environment.insert(k, v);
    }
    for l in &a.label {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        svc.labels.insert(k.to_owned(), v.to_owned());
    }
    if a.user.is_some() {
        svc.user.clone_from(&a.user);
    }
    if a.workdir.is_some() {
        svc.working_dir.clone_from(&a.workdir);
    }
    if !a.service_ports {
        svc.ports.clear();
    }
    for p in &a.publish {
        svc.ports.push(Port::from_short(p).map_err(|e| anyhow!(e))?);
    }
    for v in &a.volume {
        svc.volumes
            .push(Mount::from_short(v).map_err(|e| anyhow!(e))?);
    }
    svc.restart = None;
    svc.container_name = None;
    Ok(())
}

/// A random lowercase hex string (the one-off container's suffix, as Compose's).
fn random_hex(n: usize) -> String {
    use sha2::{Digest, Sha256};
    let seed = format!(
        "{:?}{}{:?}",
        std::time::SystemTime::now(),
        std::process::id(),
        std::thread::current().id()
    );
    let mut s = hex::encode(Sha256::digest(seed.as_bytes()));
    s.truncate(n);
    s
}
