//! `logs` (and `up`'s attached output): every container's stream, line by line, prefixed with
//! its short name (`web-1  | `) in a colour of its own.

use std::io::Write;

use anyhow::Result;
use berth_client::client::{Client, body_stream, empty, encode, query};
use berth_client::stream::Demux;
use clap::Args;
use futures_util::StreamExt;
use http::Method;
use tokio::sync::mpsc;

use crate::cli::Ctx;
use crate::engine;

#[derive(Debug, Args)]
pub(crate) struct LogsArgs {
    /// Follow log output
    #[arg(short = 'f', long)]
    follow: bool,
    /// Show timestamps
    #[arg(short = 't', long)]
    timestamps: bool,
    /// Number of lines to show from the end of the logs for each container
    #[arg(short = 'n', long, default_value = "all")]
    tail: String,
    /// Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m)
    #[arg(long)]
    since: Option<String>,
    /// Produce monochrome output
    #[arg(long = "no-color")]
    no_color: bool,
    /// Don't print prefix in logs
    #[arg(long = "no-log-prefix")]
    no_log_prefix: bool,
    services: Vec<String>,
}

/// Compose v2's prefix colours, in the order it hands them out.
const COLORS: &[&str] = &["36", "33", "32", "35", "34", "96", "93", "92", "95", "94"];

#[derive(Debug, Clone)]
struct Stream {
    id: String,
    prefix: String,
    color: Option<&'static str>,
}

#[derive(Debug, Clone)]
struct Opts {
    follow: bool,
    timestamps: bool,
    tail: String,
    since: Option<String>,
}

pub(crate) async fn logs(ctx: &Ctx, a: LogsArgs) -> Result<()> {
    let services = if a.services.is_empty() {
        Vec::new()
    } else {
        super::select(&ctx.project, &a.services)?
    };
    let list = super::service_containers(ctx, &services, true).await?;
    let ids: Vec<(String, String)> = list.into_iter().map(|c| (c.id, c.name)).collect();
    let opts = Opts {
        follow: a.follow,
        timestamps: a.timestamps,
        tail: a.tail,
        since: a.since,
    };
    run(ctx, &ids, &opts, !a.no_color && ctx.color, !a.no_log_prefix).await
}

/// `up` without `-d`: everyone's output until every container has exited (or one has, with
/// `--abort-on-container-exit`); ctrl-c stops the containers, as Compose does.
pub(crate) async fn attach(
    ctx: &Ctx,
    ids: &[(String, String)],
    color: bool,
    prefix: bool,
    abort_on_exit: bool,
    timeout: Option<u32>,
) -> Result<()> {
    let opts = Opts {
        follow: true,
        timestamps: false,
        tail: "all".into(),
        since: None,
    };
    let stopped = async {
        if abort_on_exit {
            let waits = ids
                .iter()
                .map(|(id, _)| Box::pin(engine::wait(&ctx.cl, id)));
            let _ = futures_util::future::select_all(waits).await;
            eprintln!("Aborting on container exit...");
        } else {
            let _ = tokio::signal::ctrl_c().await;
            eprintln!("Gracefully stopping... (press Ctrl+C again to force)");
        }
    };
    tokio::select! {
        r = run(ctx, ids, &opts, color, prefix) => return r,
        () = stopped => {}
    }
    let progress = crate::progress::Progress::new(ctx.progress, "Stopping");
    let wanted: Vec<&String> = ids.iter().map(|(id, _)| id).collect();
    let list: Vec<_> = super::service_containers(ctx, &[], false)
        .await?
        .into_iter()
        .filter(|c| wanted.contains(&&c.id))
        .collect();
    let r = super::stop_all(ctx, &progress, list, timeout).await;
    progress.finish();
    r
}

async fn run(
    ctx: &Ctx,
    ids: &[(String, String)],
    opts: &Opts,
    color: bool,
    prefix: bool,
) -> Result<()> {
    let width = ids
        .iter()
        .map(|(_, n)| super::short_name(&ctx.project.name, n).len())
        .max()
        .unwrap_or(0);
    let (tx, mut rx) = mpsc::channel::<String>(256);
    let mut services: Vec<String> = Vec::new();
    for (id, name) in ids {
        let short = super::short_name(&ctx.project.name, name);
        // One colour per service, as Compose does.
        let service = short
            .rsplit_once(['-', '_'])
            .map_or(short.as_str(), |(s, _)| s)
            .to_owned();
        let idx = services
            .iter()
            .position(|s| *s == service)
            .unwrap_or_else(|| {
                services.push(service.clone());
                services.len() - 1
            });
        let s = Stream {
            id: id.clone(),
            prefix: if prefix {
                format!("{short:<width$} | ")
            } else {
                String::new()
            },
            color: color.then(|| COLORS[idx % COLORS.len()]),
        };
        let (cl, tx, opts) = (ctx.cl.clone(), tx.clone(), opts.clone());
        tokio::spawn(async move {
            if let Err(e) = stream(&cl, &s, &opts, &tx).await {
                let _ = tx.send(format!("{}error: {e:#}\n", s.prefix)).await;
            }
        });
    }
    drop(tx);
    let mut out = std::io::stdout();
    while let Some(line) = rx.recv().await {
        let _ = out.write_all(line.as_bytes());
        let _ = out.flush();
    }
    Ok(())
}

async fn stream(cl: &Client, s: &Stream, opts: &Opts, tx: &mpsc::Sender<String>) -> Result<()> {
    let info = engine::inspect_container(cl, &s.id).await?;
    let tty = info["Config"]["Tty"].as_bool().unwrap_or(false);
    let mut params = vec![
        ("stdout", "1".to_owned()),
        ("stderr", "1".to_owned()),
        ("follow", opts.follow.to_string()),
        ("timestamps", opts.timestamps.to_string()),
        ("tail", opts.tail.clone()),
    ];
    if let Some(since) = &opts.since {
        params.push(("since", since.clone()));
    }
    let resp = cl
        .send(
            Method::GET,
            &query(&format!("/containers/{}/logs", encode(&s.id)), &params),
            empty(),
            None,
        )
        .await?;
    let mut body = Box::pin(body_stream(resp));
    let mut demux = (!tty).then(Demux::default);
    let mut pending = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        match &mut demux {
            Some(d) => d
                .push(&chunk)
                .into_iter()
                .for_each(|(_, p)| pending.extend(p)),
            None => pending.extend_from_slice(&chunk),
        }
        while let Some(i) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=i).collect();
            tx.send(render(s, &line)).await?;
        }
    }
    if !pending.is_empty() {
        pending.push(b'\n');
        tx.send(render(s, &pending)).await?;
    }
    Ok(())
}

fn render(s: &Stream, line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    match s.color {
        Some(c) if !s.prefix.is_empty() => format!("\x1b[{c}m{}\x1b[0m{text}", s.prefix),
        _ => format!("{}{text}", s.prefix),
    }
}

/// The last `n` lines of a container's output, for error reports.
pub(crate) async fn tail(cl: &Client, id: &str, n: usize) -> Result<String> {
    let (tx, mut rx) = mpsc::channel::<String>(1024);
    let s = Stream {
        id: id.to_owned(),
        prefix: String::new(),
        color: None,
    };
    let opts = Opts {
        follow: false,
        timestamps: false,
        tail: n.to_string(),
        since: None,
    };
    let cl = cl.clone();
    let task = tokio::spawn(async move { stream(&cl, &s, &opts, &tx).await });
    let mut out = String::new();
    while let Some(l) = rx.recv().await {
        out.push_str(&l);
    }
    task.await??;
    Ok(out)
}
