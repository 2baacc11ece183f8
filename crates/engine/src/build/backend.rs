//! berth-build's backend over the engine: base images from the image store, scratch roots as
//! overlay mounts of the store's writable layers, RUN steps as real containers through the
//! engine's own create/start path (same isolation, networks and limits as `docker run`),
//! layers made from a container's upper directory without a second copy, the cache index.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_build::backend::{Backend, Image, Layer, Output, RunMount, RunResult, RunSpec, Scratch};
use berth_build::error::{BuildError, Result};
use berth_image::config::ImageConfig;
use bollard_stubs::models::{
    ContainerCreateBody, HostConfig, HostConfigLogConfig, Mount, MountTmpfsOptions, MountType,
};
use nix::mount::{MntFlags, MsFlags};

use crate::engine::Engine;
use crate::lifecycle::create::CreateOptions;
use crate::lifecycle::remove::RemoveOptions;
use crate::{Progress, RegistryAuth};

/// One build's view of the engine.
#[derive(Debug, Clone)]
pub(crate) struct EngineBackend {
    pub(crate) engine: Engine,
    /// `<exec-root>/build/<build id>`: mount points and the tmpfs work directory.
    pub(crate) run_dir: PathBuf,
    /// `<data-root>/build`: the cache index and cache mounts.
    pub(crate) data_dir: PathBuf,
    /// Registry credentials by host (`X-Registry-Config`), for base images to pull.
    pub(crate) auths: BTreeMap<String, RegistryAuth>,
    /// `--platform` of the build, for base images to pull.
    pub(crate) platform: String,
}

fn lib<E: std::error::Error + berth_errdefs::HasKind + 'static>(e: &E) -> BuildError {
    BuildError::backend(e)
}

fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut b);
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The files the engine creates in a container's rootfs as mount points: they are not the
/// step's changes (Docker keeps them in an init layer under the container's).
const PLACEHOLDERS: &[&str] = &["etc/hosts", "etc/hostname", "etc/resolv.conf", ".dockerenv"];

/// The image `reference` names in the store.
fn local_image(engine: &Engine, reference: &str) -> berth_image::Result<Image> {
    let images = engine.images();
    let config = images.image_config(reference)?;
    let id = images.lookup(reference)?.to_string();
    Ok(Image { id, config })
}

/// The credentials of `X-Registry-Config` for the registry `reference` names: keys are
/// registry hosts, with or without a scheme and path (`https://index.docker.io/v1/`).
fn credentials_for(auths: &BTreeMap<String, RegistryAuth>, reference: &str) -> RegistryAuth {
    let Ok(r) = berth_image::Reference::parse(reference) else {
        return RegistryAuth::default();
    };
    let host_of = |key: &str| {
        let k = key
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        let k = k.split('/').next().unwrap_or(k);
        match k {
            "index.docker.io" | "registry-1.docker.io" => "docker.io".to_owned(),
            other => other.to_owned(),
        }
    };
    auths
        .iter()
        .find(|(k, _)| host_of(k) == r.domain)
        .map(|(_, c)| c.clone())
        .unwrap_or_default()
}

/// A base image: from the store, or pulled when it is absent or `pull` asks for the
/// newest (`FROM`, `COPY --from=<image>`, `--pull`), as dockerd's classic builder does.
pub(crate) async fn resolve_base_image(
    engine: &Engine,
    auths: &BTreeMap<String, RegistryAuth>,
    platform: Option<&str>,
    reference: &str,
    pull: bool,
) -> Result<Image> {
    if !pull && let Ok(image) = local_image(engine, reference) {
        return Ok(image);
    }
    let creds = credentials_for(auths, reference);
    let pulled = engine
        .pull(reference, platform, &creds, &Progress::none())
        .await
        .map_err(|e| lib(&e))?;
    local_image(engine, &pulled.id).map_err(|e| lib(&e))
}

impl EngineBackend {
    fn mount_point(&self, handle: &str) -> PathBuf {
        self.run_dir.join("mnt").join(handle)
    }

    fn cache_path(&self, key: &str) -> PathBuf {
        self.data_dir.join("cache").join(key)
    }

    /// Removes mount-point placeholders the container's start left in its upper directory,
    /// and the directories they alone made or copied up.
    fn drop_placeholders(&self, id: &str, extra: &[String]) {
        let images = self.engine.images();
        let upper = images.upper_dir(id);
        let mut paths: Vec<String> = PLACEHOLDERS.iter().map(|s| (*s).to_owned()).collect();
        paths.extend(extra.iter().map(|t| t.trim_start_matches('/').to_owned()));
        for rel in paths {
            let rel = Path::new(&rel);
            let p = upper.join(rel);
            let Ok(m) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            let empty = (m.is_file() && m.len() == 0)
                || (m.is_dir() && std::fs::read_dir(&p).is_ok_and(|mut d| d.next().is_none()));
            if empty && !images.in_lower_layers(id, rel) {
                let _ = std::fs::remove_file(&p).or_else(|_| std::fs::remove_dir(&p));
            }
            let mut parent = rel.parent();
            while let Some(dir) = parent.filter(|d| !d.as_os_str().is_empty()) {
                let dp = upper.join(dir);
                if !std::fs::read_dir(&dp).is_ok_and(|mut d| d.next().is_none())
                    || crate::build::has_opaque(&dp)
                {
                    break;
                }
                let _ = std::fs::remove_dir(&dp);
                parent = dir.parent();
            }
        }
    }

    fn host_mounts(&self, mounts: &[RunMount]) -> Result<Vec<Mount>> {
        let mut out = Vec::new();
        for m in mounts {
            out.push(match m {
                RunMount::Bind {
                    source,
                    target,
                    readonly,
                } => Mount {
                    target: Some(target.clone()),
                    source: Some(source.display().to_string()),
                    typ: Some(MountType::BIND),
                    read_only: Some(*readonly),
                    ..Mount::default()
                },
                RunMount::Cache {
                    id,
                    target,
                    readonly,
                    uid,
                    gid,
                    mode,
                } => {
                    let dir = self.data_dir.join("cache-mounts").join(hex::encode(
                        sha2::Digest::finalize(sha2::Digest::chain_update(
                            <sha2::Sha256 as sha2::Digest>::new(),
                            id.as_bytes(),
                        )),
                    ));
                    if !dir.exists() {
                        std::fs::create_dir_all(&dir).map_err(|e| BuildError::Io {
                            what: "creating",
                            path: dir.clone(),
                            source: e,
                        })?;
                        let _ = nix::unistd::chown(
                            &dir,
                            Some(nix::unistd::Uid::from_raw(*uid)),
                            Some(nix::unistd::Gid::from_raw(*gid)),
                        );
                        let _ = std::fs::set_permissions(
                            &dir,
                            std::os::unix::fs::PermissionsExt::from_mode(*mode),
                        );
                    }
                    Mount {
                        target: Some(target.clone()),
                        source: Some(dir.display().to_string()),
                        typ: Some(MountType::BIND),
                        read_only: Some(*readonly),
                        ..Mount::default()
                    }
                }
                RunMount::Tmpfs { target, size } => Mount {
                    target: Some(target.clone()),
                    typ: Some(MountType::TMPFS),
                    tmpfs_options: Some(MountTmpfsOptions {
                        size_bytes: size.and_then(|s| i64::try_from(s).ok()),
                        ..MountTmpfsOptions::default()
                    }),
                    ..Mount::default()
                },
            });
        }
        Ok(out)
    }

    async fn run_inner(
        &self,
        spec: &RunSpec,
        output: Arc<dyn Output>,
        epoch: Option<i64>,
    ) -> Result<RunResult> {
        let c = spec.config.clone();
        let targets: Vec<String> = spec
            .mounts
            .iter()
            .map(|m| match m {
                RunMount::Bind { target, .. }
                | RunMount::Cache { target, .. }
                | RunMount::Tmpfs { target, .. } => target.clone(),
            })
            .collect();
        let host = HostConfig {
            network_mode: Some(spec.network.clone()),
            extra_hosts: Some(spec.extra_hosts.clone()).filter(|h| !h.is_empty()),
            shm_size: spec.shm_size,
            memory: spec.memory,
            cpu_shares: spec.cpu_shares,
            mounts: Some(self.host_mounts(&spec.mounts)?).filter(|m| !m.is_empty()),
            log_config: Some(HostConfigLogConfig {
                typ: Some("none".into()),
                config: None,
            }),
            ..HostConfig::default()
        };
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            user: c.user,
            env: c.env,
            cmd: c.cmd,
            entrypoint: c.entrypoint,
            working_dir: c.working_dir,
            volumes: c.volumes,
            labels: c.labels,
            exposed_ports: c.exposed_ports,
            shell: c.shell,
            host_config: Some(host),
            ..ContainerCreateBody::default()
        };
        let engine = &self.engine;
        let (id, _) = engine
            .create(CreateOptions::default(), body)
            .await
            .map_err(|e| lib(&e))?;
        output.started(&id);
        let streams = engine
            .attach(
                &id,
                crate::AttachOptions {
                    stdout: true,
                    stderr: true,
                    stream: true,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| lib(&e));
        let forward = streams.map(|mut s| {
            let out = output.clone();
            tokio::spawn(async move {
                while let Some(o) = s.output.recv().await {
                    match o {
                        crate::Output::Stdout(b) => out.stdout(&b),
                        crate::Output::Stderr(b) => out.stderr(&b),
                    }
                }
            })
        });
        let waited = async {
            let mut rx = engine.watch(&id).map_err(|e| lib(&e))?;
            engine.start(&id).await.map_err(|e| lib(&e))?;
            rx.wait_for(|s| s.exits > 0 || s.removed)
                .await
                .map_err(|_| BuildError::invalid(format!("container {id} vanished")))?;
            Ok::<i32, BuildError>(engine.container(&id).map_err(|e| lib(&e))?.state.exit_code)
        }
        .await;
        if let Ok(f) = forward {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), f).await;
        }
        let code = match waited {
            Ok(c) => c,
            Err(e) => {
                self.remove_container(&id).await;
                return Err(e);
            }
        };
        if code != 0 {
            if !spec.keep_failed {
                self.remove_container(&id).await;
            }
            return Ok(RunResult {
                exit_code: code,
                layer: None,
                container: id,
            });
        }
        self.drop_placeholders(&id, &targets);
        let e2 = engine.clone();
        let id2 = id.clone();
        let keep = spec.keep;
        let layer =
            tokio::task::spawn_blocking(move || e2.images().layer_from_upper(&id2, epoch, keep))
                .await
                .map_err(|e| BuildError::invalid(e.to_string()))?
                .map_err(|e| lib(&e));
        if !keep {
            self.remove_container(&id).await;
        }
        let layer = layer?.map(|l| Layer {
            diff_id: l.diff_id,
            chain_id: l.chain_id,
        });
        Ok(RunResult {
            exit_code: 0,
            layer,
            container: id,
        })
    }

    async fn remove_container(&self, id: &str) {
        let opts = RemoveOptions {
            force: true,
            volumes: true,
            link: false,
        };
        if let Err(e) = self.engine.remove(id, opts).await {
            tracing::warn!(container = %id, "removing a build container: {e}");
        }
    }
}

impl Backend for EngineBackend {
    async fn resolve_image(&self, reference: &str, pull: bool) -> Result<Image> {
        let platform = Some(self.platform.as_str()).filter(|p| !p.is_empty());
        resolve_base_image(&self.engine, &self.auths, platform, reference, pull).await
    }

    fn image_config(&self, id: &str) -> Result<ImageConfig> {
        self.engine.images().image_config(id).map_err(|e| lib(&e))
    }

    async fn scratch(&self, image: Option<&str>) -> Result<Scratch> {
        let handle = format!("build-{}", random_hex(16));
        let images = self.engine.images();
        let mounts = match image {
            Some(i) => images.prepare(&handle, i),
            None => images.prepare_empty(&handle),
        }
        .map_err(|e| lib(&e))?;
        let root = self.mount_point(&handle);
        std::fs::create_dir_all(&root).map_err(|e| BuildError::Io {
            what: "creating",
            path: root.clone(),
            source: e,
        })?;
        for m in mounts {
            let data = m.options.join(",");
            if let Err(e) = nix::mount::mount(
                Some(m.source.as_str()),
                &root,
                Some(m.typ.as_str()),
                MsFlags::empty(),
                Some(data.as_str()),
            ) {
                let _ = images.remove(&handle);
                return Err(BuildError::Io {
                    what: "mounting a build root on",
                    path: root,
                    source: e.into(),
                });
            }
        }
        Ok(Scratch { root, handle })
    }

    async fn finish(&self, scratch: Scratch, epoch: Option<i64>) -> Result<Option<Layer>> {
        while nix::mount::umount2(&scratch.root, MntFlags::MNT_DETACH).is_ok() {}
        let _ = std::fs::remove_dir(&scratch.root);
        let e2 = self.engine.clone();
        let h = scratch.handle.clone();
        let layer =
            tokio::task::spawn_blocking(move || e2.images().layer_from_upper(&h, epoch, false))
                .await
                .map_err(|e| BuildError::invalid(e.to_string()))?
                .map_err(|e| lib(&e));
        let _ = self.engine.images().remove(&scratch.handle);
        Ok(layer?.map(|l| Layer {
            diff_id: l.diff_id,
            chain_id: l.chain_id,
        }))
    }

    async fn discard(&self, scratch: Scratch) {
        while nix::mount::umount2(&scratch.root, MntFlags::MNT_DETACH).is_ok() {}
        let _ = std::fs::remove_dir(&scratch.root);
        let _ = self.engine.images().remove(&scratch.handle);
    }

    async fn run(
        &self,
        spec: RunSpec,
        output: Arc<dyn Output>,
        epoch: Option<i64>,
    ) -> Result<RunResult> {
        self.run_inner(&spec, output, epoch).await
    }

    fn commit(
        &self,
        parent: Option<&str>,
        layer: Option<&Layer>,
        config: &ImageConfig,
    ) -> Result<String> {
        self.engine
            .images()
            .add_built(config, parent, layer.map(|l| l.chain_id.as_str()))
            .map_err(|e| lib(&e))
    }

    fn cache_get(&self, key: &str) -> Option<String> {
        let id = std::fs::read_to_string(self.cache_path(key)).ok()?;
        let id = id.trim().to_owned();
        self.engine.images().lookup(&id).ok().map(|d| d.to_string())
    }

    fn cache_put(&self, key: &str, image: &str) -> Result<()> {
        let p = self.cache_path(key);
        berth_fsutil::atomic_write(&p, image.as_bytes()).map_err(|e| BuildError::Io {
            what: "writing",
            path: p,
            source: e,
        })
    }

    fn tag(&self, image: &str, reference: &str) -> Result<()> {
        self.engine
            .images()
            .tag(image, reference)
            .map_err(|e| lib(&e))?;
        self.engine.events().publish(
            "image",
            "tag",
            image,
            std::collections::HashMap::from([("name".to_owned(), reference.to_owned())]),
        );
        Ok(())
    }

    fn work_dir(&self) -> PathBuf {
        self.run_dir.join("work")
    }
}
