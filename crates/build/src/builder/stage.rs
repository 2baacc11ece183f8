//! One stage: FROM, then each instruction as Docker's classic builder dispatches it — the
//! new run config, the cache probe (parent image + the step's config), and on a miss a new
//! image (with a layer for COPY, ADD, RUN and WORKDIR when they change files).

use std::collections::BTreeMap;

use berth_image::config::{History, ImageConfig};
use bollard_stubs::models::{ContainerConfig, HealthConfig};
use sha2::{Digest as _, Sha256};

use super::{Build, short_id};
use crate::args::StageArgs;
use crate::backend::{Backend, Image, Layer};
use crate::error::{BuildError, Result};
use crate::gofmt;
use crate::parser::{CmdForm, Command, HealthCmd, Instruction};
use crate::shell;
use crate::stages::Stage;

/// Docker's default PATH for Linux images that have none.
pub(crate) const DEFAULT_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The state of a stage between steps.
pub(crate) struct StageCtx<'a, B: Backend> {
    pub(crate) b: &'a Build<B>,
    pub(crate) slot: usize,
    pub(crate) image: Image,
    pub(crate) run: ContainerConfig,
    pub(crate) cmd_set: bool,
    pub(crate) args: StageArgs,
    pub(crate) author: Option<String>,
    /// Results of the stages this one depends on, by index.
    pub(crate) deps: &'a BTreeMap<usize, Image>,
    pub(crate) names: &'a [(usize, Option<String>)],
    pub(crate) index: usize,
}

pub(crate) async fn run_stage<B: Backend>(
    b: &Build<B>,
    stage: &Stage,
    slot: usize,
    first_step: usize,
    deps: &BTreeMap<usize, Image>,
    names: &[(usize, Option<String>)],
) -> Result<Image> {
    b.out.line(
        slot,
        &format!("Step {first_step}/{} : {}", b.total, stage.from.original),
    );
    let meta = b.meta();
    let base = shell::process_word(&stage.base, &meta.meta_env(), b.escape)
        .map_err(|e| BuildError::invalid(e.0))?;
    if base.is_empty() {
        return Err(BuildError::invalid(format!(
            "base name ({}) should not be blank",
            stage.base
        )));
    }
    let image = match crate::stages::find_named(names, &base, stage.index) {
        Some(i) => deps
            .get(&i)
            .cloned()
            .ok_or_else(|| BuildError::invalid(format!("stage {base} was not built")))?,
        None if base == "scratch" => Image {
            id: String::new(),
            config: ImageConfig {
                architecture: "amd64".into(),
                os: "linux".into(),
                ..ImageConfig::default()
            },
        },
        None => b.backend.resolve_image(&base, b.opts.pull).await?,
    };
    if !image.id.is_empty() {
        b.out
            .text(slot, &format!(" ---> {}\n", short_id(&image.id)));
    }
    let mut run = image.config.config.clone().unwrap_or_default();
    let env = run.env.get_or_insert_with(Vec::new);
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.push(format!("PATH={DEFAULT_PATH}"));
    }
    run.open_stdin = Some(false);
    run.stdin_once = Some(false);
    let triggers = run.on_build.take().unwrap_or_default();
    let author = image.config.author.clone();
    let mut s = StageCtx {
        b,
        slot,
        image,
        run,
        cmd_set: false,
        args: StageArgs::default(),
        author,
        deps,
        names,
        index: stage.index,
    };
    if !triggers.is_empty() {
        s.triggers(&triggers).await?;
    }
    for (n, ins) in stage.instructions.iter().enumerate() {
        b.out.line(
            slot,
            &format!("Step {}/{} : {}", first_step + 1 + n, b.total, ins.original),
        );
        s.dispatch(ins).await?;
    }
    Ok(s.image)
}

fn upsert(list: &mut Vec<String>, key: &str, value: &str) {
    let kv = format!("{key}={value}");
    match list.iter_mut().find(|e| e.split('=').next() == Some(key)) {
        Some(e) => *e = kv,
        None => list.push(kv),
    }
}

fn valid_signal(s: &str) -> bool {
    let name = s.strip_prefix("SIG").unwrap_or(s);
    if let Ok(n) = name.parse::<u32>() {
        return (1..=64).contains(&n);
    }
    const NAMES: &[&str] = &[
        "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT",
        "KILL", "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM",
        "TRAP", "TSTP", "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ",
    ];
    NAMES.contains(&name) || name.starts_with("RTMIN") || name.starts_with("RTMAX")
}

fn expose_ports(words: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for w in words {
        let (ports, proto) = w.split_once('/').unwrap_or((w.as_str(), "tcp"));
        let proto = proto.to_ascii_lowercase();
        if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
            return Err(BuildError::invalid(format!("invalid proto: {proto}")));
        }
        let (lo, hi) = ports.split_once('-').unwrap_or((ports, ports));
        let bad = || BuildError::invalid(format!("invalid containerPort: {ports}"));
        let lo: u16 = lo.parse().map_err(|_| bad())?;
        let hi: u16 = hi.parse().map_err(|_| bad())?;
        if hi < lo {
            return Err(BuildError::invalid(format!(
                "invalid range specified for container port: {ports}"
            )));
        }
        for p in lo..=hi {
            out.push(format!("{p}/{proto}"));
        }
    }
    Ok(out)
}

fn health_config(h: &HealthCmd) -> HealthConfig {
    let ns = |d: Option<std::time::Duration>| {
        d.and_then(|d| i64::try_from(d.as_nanos()).ok())
            .filter(|n| *n != 0)
    };
    HealthConfig {
        test: Some(h.test.clone()),
        interval: ns(h.interval),
        timeout: ns(h.timeout),
        retries: h.retries.filter(|r| *r != 0),
        start_period: ns(h.start_period),
        start_interval: ns(h.start_interval),
    }
}

/// `HEALTHCHECK %q` of Docker's HealthConfig: `&{["CMD-SHELL" "true"] "5s" "0s" "0s" '\x00'}`.
fn health_comment(h: &HealthConfig) -> String {
    let d = |n: Option<i64>| {
        gofmt::quote(&gofmt::duration(std::time::Duration::from_nanos(
            u64::try_from(n.unwrap_or(0)).unwrap_or(0),
        )))
    };
    format!(
        "&{{{} {} {} {} {}}}",
        gofmt::quote_list(h.test.as_deref().unwrap_or(&[])),
        d(h.interval),
        d(h.timeout),
        d(h.start_period),
        gofmt::quote_rune(h.retries.unwrap_or(0))
    )
}

impl<B: Backend> StageCtx<'_, B> {
    pub(crate) fn shell(&self) -> Vec<String> {
        self.run
            .shell
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
    }

    /// The environment substitutions see: the run config's Env, then the allowed args.
    pub(crate) fn envs(&self) -> Vec<String> {
        let env = self.run.env.clone().unwrap_or_default();
        let meta = self.b.meta();
        let mut all = env.clone();
        all.extend(self.args.allowed(&meta, &env));
        all
    }

    pub(crate) fn expand(&self, word: &str) -> Result<String> {
        shell::process_word(word, &self.envs(), self.b.escape).map_err(|e| BuildError::invalid(e.0))
    }

    pub(crate) fn now(&self) -> String {
        match self.b.opts.source_date_epoch {
            // Whole seconds: Go's RFC3339Nano writes no fraction for them.
            Some(t) => chrono::DateTime::from_timestamp(t, 0)
                .unwrap_or_default()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            None => berth_image::config::now(),
        }
    }

    /// The cache key of a step: the parent image, the step's config, and what else decides
    /// its result (mounts, network, flags Docker's comment does not show).
    pub(crate) fn cache_key(&self, probe: &ContainerConfig, extra: &serde_json::Value) -> String {
        let v = serde_json::json!({"parent": self.image.id, "config": probe, "extra": extra, "platform": self.b.opts.platform});
        hex::encode(Sha256::digest(v.to_string().as_bytes()))
    }

    /// Takes a cached result if there is one (and prints Docker's lines for it).
    pub(crate) fn probe(&mut self, key: &str) -> Result<bool> {
        if self.b.opts.no_cache {
            return Ok(false);
        }
        let Some(id) = self.b.backend.cache_get(key) else {
            return Ok(false);
        };
        let Ok(config) = self.b.backend.image_config(&id) else {
            return Ok(false);
        };
        self.b.out.text(self.slot, " ---> Using cache\n");
        self.b
            .out
            .text(self.slot, &format!(" ---> {}\n", short_id(&id)));
        self.image = Image { id, config };
        Ok(true)
    }

    /// Records the step's image: the current run config, `probe` as the container config,
    /// one history entry, and `layer` if the step made one.
    pub(crate) fn commit(
        &mut self,
        key: &str,
        probe: &ContainerConfig,
        layer: Option<&Layer>,
        container: Option<String>,
    ) -> Result<()> {
        let mut c = self.image.config.clone();
        let created = self.now();
        c.config = Some(self.run.clone());
        c.container_config = Some(probe.clone());
        c.container = container.filter(|_| self.b.opts.source_date_epoch.is_none());
        c.created = Some(created.clone());
        c.docker_version = Some(self.b.opts.version.clone());
        c.author = self.author.clone();
        if c.os.is_empty() {
            c.os = "linux".into();
        }
        if c.architecture.is_empty() {
            c.architecture = "amd64".into();
        }
        c.history.push(History {
            created: Some(created),
            created_by: Some(probe.cmd.clone().unwrap_or_default().join(" ")),
            author: self.author.clone(),
            comment: None,
            empty_layer: layer.is_none(),
        });
        c.rootfs.typ = "layers".into();
        if let Some(l) = layer {
            c.rootfs
                .diff_ids
                .push(berth_image::Digest::parse(&l.diff_id).map_err(|e| BuildError::backend(&e))?);
        }
        let parent = Some(self.image.id.as_str()).filter(|p| !p.is_empty());
        let id = self.b.backend.commit(parent, layer, &c)?;
        self.b.backend.cache_put(key, &id)?;
        self.b
            .out
            .text(self.slot, &format!(" ---> {}\n", short_id(&id)));
        self.image = Image { id, config: c };
        Ok(())
    }

    /// A step that changes only the config: `#(nop)` in the container config's Cmd.
    async fn nop(&mut self, comment: &str, single_space: bool) -> Result<()> {
        self.run.image = Some(self.image.id.clone()).filter(|i| !i.is_empty());
        let mut probe = self.run.clone();
        let mut cmd = self.shell();
        if single_space {
            cmd.push(format!("#(nop) {comment}"));
        } else {
            cmd.push("#(nop) ".into());
            cmd.push(comment.to_owned());
        }
        probe.cmd = Some(cmd);
        let key = self.cache_key(&probe, &serde_json::Value::Null);
        if self.probe(&key)? {
            self.run = self.image.config.config.clone().unwrap_or_default();
            return Ok(());
        }
        self.commit(&key, &probe, None, None)
    }

    async fn triggers(&mut self, triggers: &[String]) -> Result<()> {
        let n = triggers.len();
        self.b.out.text(
            self.slot,
            &format!(
                "# Executing {n} build trigger{}\n",
                if n > 1 { "s" } else { "" }
            ),
        );
        for t in triggers {
            let df = crate::parser::parse(t)?;
            for ins in &df.instructions {
                Box::pin(self.dispatch(ins)).await?;
            }
        }
        Ok(())
    }

    pub(crate) async fn dispatch(&mut self, ins: &Instruction) -> Result<()> {
        self.run.image = Some(self.image.id.clone()).filter(|i| !i.is_empty());
        match &ins.command {
            Command::From { .. } => Err(BuildError::invalid("FROM is not allowed here")),
            Command::Env(kvs) => self.env_step(kvs).await,
            Command::Label(kvs) => self.label_step(ins, kvs).await,
            Command::Arg(list) => self.arg_step(list).await,
            Command::Expose(words) => self.expose_step(words).await,
            Command::Volume(vols) => self.volume_step(vols).await,
            Command::User(u) => {
                let u = self.expand(u)?;
                self.run.user = Some(u.clone());
                self.nop(&format!("USER {u}"), false).await
            }
            Command::StopSignal(sig) => {
                let sig = self.expand(sig)?;
                if !valid_signal(&sig) {
                    return Err(BuildError::invalid(format!("Invalid signal: {sig}")));
                }
                self.run.stop_signal = Some(sig.clone());
                self.nop(&format!("STOPSIGNAL {sig}"), false).await
            }
            Command::Healthcheck(h) => {
                let hc = health_config(h);
                let comment = format!("HEALTHCHECK {}", health_comment(&hc));
                self.run.healthcheck = Some(hc);
                self.nop(&comment, false).await
            }
            Command::Shell(sh) => {
                self.run.shell = Some(sh.clone());
                self.nop(&format!("SHELL {}", gofmt::list(sh)), false).await
            }
            Command::Onbuild(expr) => {
                self.run
                    .on_build
                    .get_or_insert_with(Vec::new)
                    .push(expr.clone());
                self.nop(&format!("ONBUILD {expr}"), false).await
            }
            Command::Maintainer(m) => {
                self.author = Some(m.clone());
                self.nop(&format!("MAINTAINER {m}"), false).await
            }
            Command::Cmd(form) => {
                let cmd = self.form(form);
                self.run.cmd = Some(cmd.clone());
                self.cmd_set = true;
                self.nop(&format!("CMD {}", gofmt::quote_list(&cmd)), false)
                    .await
            }
            Command::Entrypoint(form) => {
                let ep = self.form(form);
                self.run.entrypoint = Some(ep.clone());
                if !self.cmd_set {
                    self.run.cmd = None;
                }
                self.nop(&format!("ENTRYPOINT {}", gofmt::quote_list(&ep)), false)
                    .await
            }
            Command::Workdir(w) => self.workdir(w).await,
            Command::Run(r) => self.run_step(r).await,
            Command::Copy(c) => self.copy_step(c, false).await,
            Command::Add(c) => self.copy_step(c, true).await,
        }
    }

    async fn env_step(&mut self, kvs: &[(String, String)]) -> Result<()> {
        let mut parts = Vec::new();
        for (k, v) in kvs {
            let (k, v) = (self.expand(k)?, self.expand(v)?);
            upsert(self.run.env.get_or_insert_with(Vec::new), &k, &v);
            parts.push(format!("{k}={v}"));
        }
        self.nop(&format!("ENV {}", parts.join(" ")), false).await
    }

    async fn label_step(&mut self, ins: &Instruction, kvs: &[(String, String)]) -> Result<()> {
        let mut parts = Vec::new();
        for (k, v) in kvs {
            let (k, v) = if ins.line == 0 {
                (k.clone(), v.clone())
            } else {
                (self.expand(k)?, self.expand(v)?)
            };
            self.run
                .labels
                .get_or_insert_with(Default::default)
                .insert(k.clone(), v.clone());
            parts.push(format!("{k}={v}"));
        }
        self.nop(&format!("LABEL {}", parts.join(" ")), false).await
    }

    async fn arg_step(&mut self, list: &[(String, Option<String>)]) -> Result<()> {
        let mut parts = Vec::new();
        for (k, v) in list {
            let v = v.as_ref().map(|v| self.expand(v)).transpose()?;
            let mut all = self
                .b
                .args
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            self.args.declare(&mut all, k, v.clone());
            parts.push(match v {
                Some(v) => format!("{k}={v}"),
                None => k.clone(),
            });
        }
        self.nop(&format!("ARG {}", parts.join(" ")), false).await
    }

    async fn expose_step(&mut self, words: &[String]) -> Result<()> {
        let mut ports = Vec::new();
        for w in words {
            ports.extend(
                shell::process_words(w, &self.envs(), self.b.escape)
                    .map_err(|e| BuildError::invalid(e.0))?,
            );
        }
        let exposed = self.run.exposed_ports.get_or_insert_with(Vec::new);
        for p in expose_ports(&ports)? {
            if !exposed.contains(&p) {
                exposed.push(p);
            }
        }
        exposed.sort();
        ports.sort();
        self.nop(&format!("EXPOSE {}", ports.join(" ")), false)
            .await
    }

    async fn volume_step(&mut self, vols: &[String]) -> Result<()> {
        let mut list = Vec::new();
        for v in vols {
            let v = self.expand(v)?;
            if v.trim().is_empty() {
                return Err(BuildError::invalid(
                    "VOLUME specified can not be an empty string",
                ));
            }
            list.push(v);
        }
        let set = self.run.volumes.get_or_insert_with(Vec::new);
        for v in &list {
            if !set.contains(v) {
                set.push(v.clone());
            }
        }
        set.sort();
        self.nop(&format!("VOLUME {}", gofmt::list(&list)), false)
            .await
    }

    /// Shell form through the stage's SHELL; exec form as given.
    pub(crate) fn form(&self, form: &CmdForm) -> Vec<String> {
        match form {
            CmdForm::Exec(v) => v.clone(),
            CmdForm::Shell(s) => {
                let mut v = self.shell();
                v.push(s.clone());
                v
            }
        }
    }

    /// WORKDIR: the path is made (root-owned, 0755) in a layer of its own when missing.
    async fn workdir(&mut self, w: &str) -> Result<()> {
        let w = self.expand(w)?;
        let cur = self.run.working_dir.clone().unwrap_or_default();
        let joined = if w.starts_with('/') {
            w
        } else {
            format!("/{cur}/{w}")
        };
        let dir = crate::ignore::clean(&joined);
        self.run.working_dir = Some(dir.clone());
        let comment = format!("WORKDIR {dir}");
        let mut probe = self.run.clone();
        let mut cmd = self.shell();
        cmd.push(format!("#(nop) {comment}"));
        probe.cmd = Some(cmd);
        let key = self.cache_key(&probe, &serde_json::Value::Null);
        if self.probe(&key)? {
            self.run = self.image.config.config.clone().unwrap_or_default();
            return Ok(());
        }
        let parent = Some(self.image.id.clone()).filter(|i| !i.is_empty());
        let scratch = self.b.backend.scratch(parent.as_deref()).await?;
        let made = crate::fsroot::Root::open(&scratch.root)
            .and_then(|r| r.mkdir_all(&dir, None).map(|_| ()));
        if let Err(e) = made {
            self.b.backend.discard(scratch).await;
            return Err(e);
        }
        let layer = self
            .b
            .backend
            .finish(scratch, self.b.opts.source_date_epoch)
            .await?;
        self.commit(&key, &probe, layer.as_ref(), None)
    }
}
