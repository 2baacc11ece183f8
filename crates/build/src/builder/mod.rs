//! The build driver: reads the Dockerfile from the context, plans the stages, builds the
//! stages the target needs (independent ones concurrently; their output is streamed in file
//! order, as a sequential build would print it), labels and tags the result.

mod copy;
mod output;
mod run;
mod stage;

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::future::{BoxFuture, FutureExt, Shared};

use output::Ordered;
pub use output::Progress;

use crate::args::BuildArgs;
use crate::backend::{Backend, Image};
use crate::context::Context;
use crate::error::{BuildError, Result};
use crate::ignore::Ignore;
use crate::parser::{self, Command, Instruction};
use crate::shell;
use crate::stages::Plan;

/// What `POST /build` asks for.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The Dockerfile's path in the context.
    pub dockerfile: String,
    pub tags: Vec<String>,
    pub build_args: BTreeMap<String, Option<String>>,
    pub labels: BTreeMap<String, String>,
    pub target: Option<String>,
    pub no_cache: bool,
    pub pull: bool,
    pub quiet: bool,
    /// Remove intermediate containers after a successful step (default), and after a failed
    /// one (`force_rm`).
    pub rm: bool,
    pub force_rm: bool,
    pub network: String,
    pub extra_hosts: Vec<String>,
    pub shm_size: Option<i64>,
    pub memory: Option<i64>,
    pub cpu_shares: Option<i64>,
    pub platform: String,
    /// Clamp every timestamp to this (reproducible builds).
    pub source_date_epoch: Option<i64>,
    /// `RUN --mount=type=secret` values, by id.
    pub secrets: BTreeMap<String, Vec<u8>>,
    /// Version string written as `docker_version`.
    pub version: String,
}

/// Largest Dockerfile or ignore file read from the context.
const MAX_SMALL: u64 = 8 << 20;

/// Reads the Dockerfile (Docker also tries `dockerfile`) and applies the ignore file.
fn prepare_context(ctx: &mut Context, name: &str) -> Result<String> {
    let name = if name.is_empty() { "Dockerfile" } else { name };
    let name = crate::ignore::clean(name);
    let ignore_name = format!("{name}.dockerignore");
    let ignore_text = match ctx.read_small(&ignore_name, MAX_SMALL)? {
        Some(t) => Some((t, ignore_name)),
        None => ctx
            .read_small(".dockerignore", MAX_SMALL)?
            .map(|t| (t, ".dockerignore".to_owned())),
    };
    let mut found = ctx.read_small(&name, MAX_SMALL)?.map(|t| (t, name.clone()));
    if found.is_none() && name == "Dockerfile" {
        found = ctx
            .read_small("dockerfile", MAX_SMALL)?
            .map(|t| (t, "dockerfile".to_owned()));
    }
    let (text, used) = found.ok_or_else(|| {
        BuildError::invalid(format!("Cannot locate specified Dockerfile: {name}"))
    })?;
    if let Some((t, ig_name)) = ignore_text {
        let ig = Ignore::parse(&String::from_utf8_lossy(&t)).map_err(BuildError::invalid)?;
        ctx.apply_ignore(&ig, &[used.as_str(), ig_name.as_str()]);
        for f in [used.as_str(), ig_name.as_str()] {
            if ig.excludes(f) {
                ctx.remove(f);
            }
        }
    }
    String::from_utf8(text)
        .map_err(|_| BuildError::invalid(format!("the Dockerfile {used} is not UTF-8")))
}

type StageFuture = Shared<BoxFuture<'static, std::result::Result<Image, Arc<BuildError>>>>;

/// Shared by every stage of one build.
pub(crate) struct Build<B: Backend> {
    pub(crate) backend: Arc<B>,
    pub(crate) ctx: Context,
    pub(crate) opts: Options,
    pub(crate) escape: char,
    pub(crate) total: usize,
    pub(crate) args: std::sync::Mutex<BuildArgs>,
    pub(crate) out: Arc<Ordered>,
}

impl<B: Backend> Build<B> {
    pub(crate) fn meta(&self) -> BuildArgs {
        self.args
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Builds the image; returns its id.
pub async fn build<B: Backend>(
    backend: Arc<B>,
    mut ctx: Context,
    opts: Options,
    progress: Arc<dyn Progress>,
) -> Result<String> {
    let text = prepare_context(&mut ctx, &opts.dockerfile)?;
    let df = parser::parse(&text)?;
    let escape = df.directives.escape;
    let mut args = BuildArgs::new(
        opts.build_args.clone(),
        if opts.platform.is_empty() {
            "linux/amd64"
        } else {
            &opts.platform
        },
    );
    let plan0 = Plan::new(&df, &[], escape)?;
    for ins in &plan0.meta {
        if let Command::Arg(list) = &ins.command {
            for (k, v) in list {
                let env = args.meta_env();
                let v = v
                    .as_ref()
                    .map(|v| shell::process_word(v, &env, escape))
                    .transpose()
                    .map_err(|e| BuildError::invalid(e.0))?;
                args.declare_meta(k, v);
            }
        }
    }
    let mut plan = Plan::new(&df, &args.meta_env(), escape)?;
    let target = plan.target(opts.target.as_deref())?;
    for (k, v) in &opts.labels {
        plan.stages[target].instructions.push(Instruction {
            line: 0,
            column: 0,
            end_line: 0,
            original: format!("LABEL {k}={v}"),
            command: Command::Label(vec![(k.clone(), v.clone())]),
        });
    }
    let needed = plan.needed(target);
    let total = plan.meta.len()
        + needed
            .iter()
            .map(|i| 1 + plan.stages[*i].instructions.len())
            .sum::<usize>();
    let b = Arc::new(Build {
        backend,
        ctx,
        escape,
        total,
        args: std::sync::Mutex::new(args),
        out: Arc::new(Ordered::new(progress.clone(), needed.len() + 1, opts.quiet)),
        opts,
    });
    for (n, ins) in plan.meta.iter().enumerate() {
        b.out
            .line(0, &format!("Step {}/{total} : {}", n + 1, ins.original));
    }
    b.out.done(0);
    let mut futures: BTreeMap<usize, StageFuture> = BTreeMap::new();
    let mut step = plan.meta.len();
    for (pos, &i) in needed.iter().enumerate() {
        let stage = plan.stages[i].clone();
        let deps: Vec<(usize, StageFuture)> = stage
            .deps
            .iter()
            .filter_map(|d| futures.get(d).map(|f| (*d, f.clone())))
            .collect();
        let b2 = b.clone();
        let first_step = step + 1;
        step += 1 + stage.instructions.len();
        let names: Vec<(usize, Option<String>)> = plan
            .stages
            .iter()
            .map(|s| (s.index, s.name.clone()))
            .collect();
        let fut = async move {
            let mut done = BTreeMap::new();
            for (d, f) in deps {
                done.insert(d, f.await?);
            }
            let r = stage::run_stage(&b2, &stage, pos + 1, first_step, &done, &names).await;
            b2.out.done(pos + 1);
            r.map_err(Arc::new)
        }
        .boxed()
        .shared();
        futures.insert(i, fut);
    }
    let last = futures
        .get(&target)
        .cloned()
        .ok_or_else(|| BuildError::invalid("no target stage"))?;
    // Every stage runs, even those the target only reaches through another.
    let all: Vec<StageFuture> = futures.values().cloned().collect();
    let results = futures_util::future::join_all(all).await;
    if let Some(Err(e)) = results.into_iter().find(std::result::Result::is_err) {
        b.out.flush_all();
        return Err(unwrap_arc(e));
    }
    let image = last.await.map_err(unwrap_arc)?;
    finish(&b, &image).await
}

fn unwrap_arc(e: Arc<BuildError>) -> BuildError {
    Arc::try_unwrap(e).unwrap_or_else(|e| match &*e {
        BuildError::Run { command, code } => BuildError::Run {
            command: command.clone(),
            code: *code,
        },
        other => BuildError::Backend {
            message: other.to_string(),
            kind: berth_errdefs::HasKind::kind(other),
        },
    })
}

async fn finish<B: Backend>(b: &Build<B>, image: &Image) -> Result<String> {
    let unused = b.meta().unused();
    let out = &b.out;
    if !unused.is_empty() {
        out.line_last(&format!(
            "[Warning] One or more build-args [{}] were not consumed\n",
            unused.join(" ")
        ));
    }
    if image.id.is_empty() {
        return Err(BuildError::invalid(
            "No image was generated. Is your Dockerfile empty?",
        ));
    }
    for t in &b.opts.tags {
        b.backend.tag(&image.id, t)?;
    }
    let short = short_id(&image.id);
    if b.opts.quiet {
        out.raw(&format!("{}\n", image.id));
    } else {
        out.aux(&image.id);
        out.line_last(&format!("Successfully built {short}\n"));
        for t in &b.opts.tags {
            out.line_last(&format!("Successfully tagged {}\n", familiar(t)));
        }
    }
    Ok(image.id.clone())
}

/// `busybox` → `busybox:latest`, as Docker's "Successfully tagged" prints it.
fn familiar(t: &str) -> String {
    match berth_image::Reference::parse(t) {
        Ok(r) => r.familiar(),
        Err(_) => t.to_owned(),
    }
}

pub(crate) fn short_id(id: &str) -> String {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.chars().take(12).collect()
}
