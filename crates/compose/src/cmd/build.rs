//! `build` (and `up --build`): each service's context sent as a tar to `POST /build`, with its
//! Dockerfile, args, target and labels, tagged with the service's image name — what
//! docker-compose does with the classic builder.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result, anyhow};
use berth_client::client::{full, query};
use clap::Args;
use http::Method;

use crate::cli::Ctx;
use crate::engine;
use crate::progress::Progress;

#[derive(Debug, Args)]
pub(crate) struct BuildArgs {
    /// Do not use cache when building the image
    #[arg(long = "no-cache")]
    no_cache: bool,
    /// Always attempt to pull a newer version of the image
    #[arg(long)]
    pull: bool,
    /// Don't print anything to STDOUT
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Set build-time variables for services
    #[arg(long = "build-arg")]
    build_arg: Vec<String>,
    services: Vec<String>,
}

/// Options a build takes from the command line.
#[derive(Debug, Clone, Default)]
pub(crate) struct BuildOpts {
    pub(crate) no_cache: bool,
    pub(crate) pull: bool,
    pub(crate) quiet: bool,
    pub(crate) args: BTreeMap<String, Option<String>>,
}

pub(crate) async fn build(ctx: &Ctx, a: BuildArgs) -> Result<()> {
    let opts = BuildOpts {
        no_cache: a.no_cache,
        pull: a.pull,
        quiet: a.quiet,
        args: a
            .build_arg
            .iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
                None => (kv.clone(), None),
            })
            .collect(),
    };
    let progress = Progress::new(ctx.progress, "Building");
    let r = async {
        for s in super::select(&ctx.project, &a.services)? {
            if ctx.project.file.services[&s].build.is_some() {
                build_service(ctx, &progress, &s, &opts).await?;
            }
        }
        Ok(())
    }
    .await;
    progress.finish();
    r
}

pub(crate) async fn build_service(
    ctx: &Ctx,
    progress: &Progress,
    service: &str,
    opts: &BuildOpts,
) -> Result<()> {
    let p = &ctx.project;
    let b = p.file.services[service]
        .build
        .clone()
        .ok_or_else(|| anyhow!("service {service:?} has no build section"))?;
    let image = p.image_of(service);
    let dockerfile = b.dockerfile.clone().unwrap_or_else(|| "Dockerfile".into());
    let context = std::path::PathBuf::from(&b.context);
    progress.working("Image", &image, "Building");
    let ctx_dir = context.clone();
    let df = dockerfile.clone();
    let tar = tokio::task::spawn_blocking(move || crate::context::pack(&ctx_dir, &df))
        .await?
        .with_context(|| format!("service {service:?}: build context {}", context.display()))?;
    // A value-less arg comes from the environment, and is left out when unset there.
    let mut args: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in b.args.iter().chain(opts.args.iter()) {
        match v.clone().or_else(|| std::env::var(k).ok()) {
            Some(v) => {
                args.insert(k.clone(), v);
            }
            None => {
                args.remove(k);
            }
        }
    }
    let mut params = vec![
        ("t", image.clone()),
        ("dockerfile", dockerfile),
        ("buildargs", serde_json::to_string(&args)?),
        ("labels", serde_json::to_string(&b.labels)?),
        ("rm", "1".to_owned()),
        ("forcerm", "1".to_owned()),
    ];
    for t in &b.tags {
        params.push(("t", t.clone()));
    }
    if let Some(t) = &b.target {
        params.push(("target", t.clone()));
    }
    if let Some(n) = &b.network {
        params.push(("networkmode", n.clone()));
    }
    if let Some(s) = b.shm_size {
        params.push(("shmsize", s.0.to_string()));
    }
    if !b.extra_hosts.is_empty() {
        params.push(("extrahosts", b.extra_hosts.join(",")));
    }
    if !b.cache_from.is_empty() {
        params.push(("cachefrom", serde_json::to_string(&b.cache_from)?));
    }
    if opts.no_cache || b.no_cache == Some(true) {
        params.push(("nocache", "1".to_owned()));
    }
    if opts.pull || b.pull == Some(true) {
        params.push(("pull", "1".to_owned()));
    }
    let sent = ctx
        .cl
        .send(
            Method::POST,
            &query("/build", &params),
            full(tar),
            Some("application/x-tar"),
        )
        .await;
    let resp = match sent {
        Ok(r) => r,
        Err(e) => {
            progress.failed("Image", &image, "Error");
            return Err(e.context(format!("service {service:?}: building {image}")));
        }
    };
    let quiet = opts.quiet;
    let r = engine::messages(resp, |m| {
        if let Some(s) = m["stream"].as_str().filter(|_| !quiet) {
            eprint!("{s}");
        }
    })
    .await;
    if let Err(e) = r {
        progress.failed("Image", &image, "Error");
        return Err(e.context(format!("service {service:?}: building {image}")));
    }
    progress.done("Image", &image, "Built");
    Ok(())
}
