//! RUN: the command (shell or exec form, heredocs), its build args (`|N K=V` in history, as
//! Docker writes it), BuildKit's `--mount` and `--network`, then a real container.

use std::sync::Arc;

use serde_json::json;

use super::short_id;
use super::stage::StageCtx;
use crate::backend::{Backend, Output, RunMount, RunSpec, Scratch};
use crate::error::{BuildError, Result};
use crate::parser::{CmdForm, RunCmd};

/// Forwards a RUN step's output into the build stream (stderr in red, as dockerd does).
struct StepOutput {
    out: Arc<super::output::Ordered>,
    slot: usize,
}

impl Output for StepOutput {
    fn started(&self, container: &str) {
        self.out.text(
            self.slot,
            &format!(" ---> Running in {}\n", short_id(container)),
        );
    }
    fn stdout(&self, data: &[u8]) {
        self.out.text(self.slot, &String::from_utf8_lossy(data));
    }
    fn stderr(&self, data: &[u8]) {
        self.out.text(
            self.slot,
            &format!("\u{1b}[91m{}\u{1b}[0m", String::from_utf8_lossy(data)),
        );
    }
}

/// A parsed `--mount=` spec.
#[derive(Debug, Default)]
struct MountSpec {
    typ: String,
    target: String,
    source: String,
    from: Option<String>,
    id: Option<String>,
    readonly: Option<bool>,
    required: bool,
    mode: Option<u32>,
    uid: Option<u32>,
    gid: Option<u32>,
    size: Option<u64>,
}

fn parse_mount(spec: &str) -> Result<MountSpec> {
    let mut m = MountSpec {
        typ: "bind".into(),
        ..MountSpec::default()
    };
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let num = |v: &str, base: u32| {
            u32::from_str_radix(v, base)
                .map_err(|_| BuildError::invalid(format!("invalid value for {k}: {v}")))
        };
        match k {
            "type" => m.typ = v.to_owned(),
            "target" | "dst" | "destination" => m.target = v.to_owned(),
            "source" | "src" => m.source = v.to_owned(),
            "from" => m.from = Some(v.to_owned()),
            "id" => m.id = Some(v.to_owned()),
            "ro" | "readonly" => m.readonly = Some(v.is_empty() || v == "true"),
            "rw" | "readwrite" => m.readonly = Some(!(v.is_empty() || v == "true")),
            "required" => m.required = v.is_empty() || v == "true",
            "mode" => m.mode = Some(num(v, 8)?),
            "uid" => m.uid = Some(num(v, 10)?),
            "gid" => m.gid = Some(num(v, 10)?),
            "size" => m.size = Some(crate::builder::copy::parse_size(v)?),
            "sharing" | "env" => {}
            other => {
                return Err(BuildError::invalid(format!(
                    "unexpected key '{other}' in '{spec}'"
                )));
            }
        }
    }
    if m.typ == "secret" && m.target.is_empty() {
        let id = m.id.clone().unwrap_or_else(|| m.source.clone());
        m.target = format!("/run/secrets/{id}");
    }
    if m.target.is_empty() {
        return Err(BuildError::invalid(format!(
            "mount {spec:?}: target is required"
        )));
    }
    Ok(m)
}

impl<B: Backend> StageCtx<'_, B> {
    /// The command the container runs, and any heredoc scripts to mount.
    fn run_command(&self, r: &RunCmd, files: &mut Vec<(String, String, u32)>) -> Vec<String> {
        match (&r.cmd, r.heredocs.first()) {
            (None, Some(h)) if h.content.starts_with("#!") => {
                let target = format!("/dev/pipes/{}", h.name);
                files.push((target.clone(), h.content.clone(), 0o755));
                vec![target]
            }
            (None, Some(h)) => self.form(&CmdForm::Shell(h.content.clone())),
            (Some(CmdForm::Shell(s)), Some(_)) => {
                let mut text = s.clone();
                for h in &r.heredocs {
                    text.push('\n');
                    text.push_str(&h.content);
                    text.push_str(&h.name);
                }
                self.form(&CmdForm::Shell(text))
            }
            (Some(form), _) => self.form(form),
            (None, None) => Vec::new(),
        }
    }

    pub(crate) async fn run_step(&mut self, r: &RunCmd) -> Result<()> {
        let mut files = Vec::new();
        let cmd = self.run_command(r, &mut files);
        let env = self.run.env.clone().unwrap_or_default();
        let meta = self.b.meta();
        let build_args = self.args.allowed(&meta, &env);
        let mut save_cmd = cmd.clone();
        if !build_args.is_empty() {
            let shown: Vec<String> = build_args
                .iter()
                .filter(|kv| self.args.shown(kv.split('=').next().unwrap_or_default()))
                .cloned()
                .collect();
            save_cmd = std::iter::once(format!("|{}", shown.len()))
                .chain(shown)
                .chain(cmd.clone())
                .collect();
        }
        let mut probe = self.run.clone();
        probe.cmd = Some(save_cmd);
        probe.entrypoint = None;
        let network = r
            .network
            .clone()
            .unwrap_or_else(|| self.b.opts.network.clone());
        let extra = json!({"mounts": r.mounts, "network": r.network, "files": files});
        let key = self.cache_key(&probe, &extra);
        if self.probe(&key)? {
            self.run = self.image.config.config.clone().unwrap_or_default();
            return Ok(());
        }
        let mut views = Vec::new();
        let result = self
            .run_container(r, cmd, build_args, network, &files, &mut views)
            .await;
        for v in views {
            self.b.backend.discard(v).await;
        }
        let (res, command) = result?;
        if res.exit_code != 0 {
            return Err(BuildError::Run {
                command,
                code: res.exit_code,
            });
        }
        if self.b.opts.rm || self.b.opts.force_rm {
            self.b.out.text(
                self.slot,
                &format!(
                    "Removing intermediate container {}\n",
                    short_id(&res.container)
                ),
            );
        }
        self.commit(
            &key,
            &probe,
            res.layer.as_ref(),
            Some(res.container.clone()),
        )
    }

    async fn run_container(
        &mut self,
        r: &RunCmd,
        cmd: Vec<String>,
        build_args: Vec<String>,
        network: String,
        files: &[(String, String, u32)],
        views: &mut Vec<Scratch>,
    ) -> Result<(crate::backend::RunResult, String)> {
        let mut mounts = Vec::new();
        let work = self.b.backend.work_dir();
        for (n, (target, content, mode)) in files.iter().enumerate() {
            let p = work.join(format!("heredoc-{}-{n}", self.index));
            std::fs::write(&p, content).map_err(BuildError::io("writing", &p))?;
            std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(*mode))
                .map_err(BuildError::io("writing", &p))?;
            mounts.push(RunMount::Bind {
                source: p,
                target: target.clone(),
                readonly: true,
            });
        }
        for (n, spec) in r.mounts.iter().enumerate() {
            if let Some(m) = self.mount(spec, n, views).await? {
                mounts.push(m);
            }
        }
        let mut config = self.run.clone();
        config.cmd = Some(cmd.clone());
        config.entrypoint = Some(vec![String::new()]);
        config.healthcheck = None;
        let mut env = config.env.take().unwrap_or_default();
        env.extend(build_args);
        config.env = Some(env);
        let spec = RunSpec {
            image: self.image.id.clone(),
            config,
            network: if network.is_empty() {
                "default".into()
            } else {
                network
            },
            extra_hosts: self.b.opts.extra_hosts.clone(),
            shm_size: self.b.opts.shm_size,
            mounts,
            memory: self.b.opts.memory,
            cpu_shares: self.b.opts.cpu_shares,
            keep_failed: !self.b.opts.force_rm,
            keep: !(self.b.opts.rm || self.b.opts.force_rm),
        };
        let out = self.b.out.clone();
        let output = Arc::new(StepOutput {
            out,
            slot: self.slot,
        });
        let res = self
            .b
            .backend
            .run(spec, output, self.b.opts.source_date_epoch)
            .await?;
        Ok((res, cmd.join(" ")))
    }

    async fn mount(
        &mut self,
        spec: &str,
        n: usize,
        views: &mut Vec<Scratch>,
    ) -> Result<Option<RunMount>> {
        let m = parse_mount(spec)?;
        match m.typ.as_str() {
            "cache" => Ok(Some(RunMount::Cache {
                id: m.id.clone().unwrap_or_else(|| m.target.clone()),
                target: m.target,
                readonly: m.readonly.unwrap_or(false),
                uid: m.uid.unwrap_or(0),
                gid: m.gid.unwrap_or(0),
                mode: m.mode.unwrap_or(0o755),
            })),
            "tmpfs" => Ok(Some(RunMount::Tmpfs {
                target: m.target,
                size: m.size,
            })),
            "secret" => {
                let id = m.id.clone().unwrap_or_else(|| m.source.clone());
                let Some(data) = self.b.opts.secrets.get(&id) else {
                    if m.required {
                        return Err(BuildError::NotFound(format!("secret {id}: not found")));
                    }
                    return Ok(None);
                };
                let p = self
                    .b
                    .backend
                    .work_dir()
                    .join(format!("secret-{}-{n}", self.index));
                std::fs::write(&p, data).map_err(BuildError::io("writing", &p))?;
                std::fs::set_permissions(
                    &p,
                    std::os::unix::fs::PermissionsExt::from_mode(m.mode.unwrap_or(0o400)),
                )
                .map_err(BuildError::io("writing", &p))?;
                if m.uid.is_some() || m.gid.is_some() {
                    nix::unistd::chown(
                        &p,
                        m.uid.map(nix::unistd::Uid::from_raw),
                        m.gid.map(nix::unistd::Gid::from_raw),
                    )
                    .map_err(|e| BuildError::io("changing the owner of", &p)(e.into()))?;
                }
                Ok(Some(RunMount::Bind {
                    source: p,
                    target: m.target,
                    readonly: true,
                }))
            }
            "bind" => {
                let readonly = m.readonly.unwrap_or(true);
                let source = match &m.from {
                    Some(from) => {
                        let image = self.source_image(from).await?;
                        let view = self
                            .b
                            .backend
                            .scratch(Some(&image).filter(|i| !i.is_empty()).map(String::as_str))
                            .await?;
                        let root = view.root.clone();
                        views.push(view);
                        let rel = crate::ignore::clean(&format!("/{}", m.source));
                        let root_fd = std::os::fd::OwnedFd::from(
                            std::fs::File::open(&root).map_err(BuildError::io("opening", &root))?,
                        );
                        let fd = berth_fsutil::open_in_root(
                            std::os::fd::AsFd::as_fd(&root_fd),
                            std::path::Path::new(&rel),
                            nix::fcntl::OFlag::O_PATH,
                        )
                        .map_err(|e| BuildError::NotFound(format!("{}: {e}", m.source)))?;
                        std::fs::read_link(berth_fsutil::fd_path(std::os::fd::AsFd::as_fd(&fd)))
                            .map_err(BuildError::io("resolving", &rel))?
                    }
                    None => self.context_tree(&m.source, n)?,
                };
                Ok(Some(RunMount::Bind {
                    source,
                    target: m.target,
                    readonly,
                }))
            }
            other => Err(BuildError::invalid(format!(
                "unsupported mount type {other:?}"
            ))),
        }
    }
}
