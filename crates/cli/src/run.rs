//! `run` and `create`: docker's container flags into a create request, and the run sequence
//! (create → attach → wait → start → stream → exit with the container's code).

use std::collections::HashMap;

use anyhow::{Result, bail};
use bollard::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HealthConfig, HostConfig,
    HostConfigLogConfig, NetworkingConfig, PortBinding,
};
use clap::{ArgAction, Args};
use http::Method;

use crate::StatusError;
use crate::client::{Client, encode, query};
use crate::opts;
use crate::stream::{self, Ended, PumpOpts};

/// Flags shared by `run` and `create` (docker's `containerOptions`).
#[derive(Debug, Args)]
#[allow(clippy::struct_excessive_bools)] // one bool per docker flag
pub(crate) struct ContainerOpts {
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    tty: bool,
    /// Attach to STDIN, STDOUT or STDERR
    #[arg(short = 'a', long = "attach")]
    attach: Vec<String>,
    /// Assign a name to the container
    #[arg(long)]
    name: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    env: Vec<String>,
    /// Read in a file of environment
    #[arg(long = "env-file")]
    env_file: Vec<String>,
    /// Working directory inside the
    #[arg(short = 'w', long = "workdir")]
    workdir: Option<String>,
    /// Username or UID (format:
    #[arg(short = 'u', long = "user")]
    user: Option<String>,
    /// Overwrite the default ENTRYPOINT
    #[arg(long)]
    entrypoint: Option<String>,
    /// Container host name
    #[arg(short = 'h', long = "hostname")]
    hostname: Option<String>,
    /// Container NIS domain name
    #[arg(long)]
    domainname: Option<String>,
    /// Set meta data on a container
    #[arg(short = 'l', long = "label")]
    label: Vec<String>,
    /// Read in a line delimited file of
    #[arg(long = "label-file")]
    label_file: Vec<String>,
    /// Publish a container's port(s) to
    #[arg(short = 'p', long = "publish")]
    publish: Vec<String>,
    /// Publish all exposed ports to
    #[arg(short = 'P', long = "publish-all")]
    publish_all: bool,
    /// Expose a port or a range of ports
    #[arg(long)]
    expose: Vec<String>,
    /// Bind mount a volume
    #[arg(short = 'v', long = "volume")]
    volume: Vec<String>,
    /// Attach a filesystem mount to the
    #[arg(long)]
    mount: Vec<String>,
    /// Mount volumes from the specified
    #[arg(long = "volumes-from")]
    volumes_from: Vec<String>,
    /// Connect a container to a network
    #[arg(long = "network", alias = "net")]
    network: Option<String>,
    /// Add network-scoped alias for the
    #[arg(long = "network-alias", alias = "net-alias")]
    network_alias: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long)]
    ip: Option<String>,
    /// IPv6 address (e.g., 2001:db8::33)
    #[arg(long)]
    ip6: Option<String>,
    /// Container MAC address (e.g.,
    #[arg(long = "mac-address")]
    mac_address: Option<String>,
    /// Add link to another container
    #[arg(long)]
    link: Vec<String>,
    /// Restart policy to apply when a
    #[arg(long)]
    restart: Option<String>,
    /// Automatically remove the
    #[arg(long)]
    rm: bool,
    /// Memory limit
    #[arg(short = 'm', long)]
    memory: Option<String>,
    /// Swap limit equal to memory plus
    #[arg(long = "memory-swap")]
    memory_swap: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation")]
    memory_reservation: Option<String>,
    /// Tune container memory swappiness
    #[arg(long = "memory-swappiness")]
    memory_swappiness: Option<i64>,
    /// Size of /dev/shm
    #[arg(long = "shm-size")]
    shm_size: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    cpus: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    cpu_shares: Option<i64>,
    /// Limit CPU CFS (Completely Fair
    #[arg(long = "cpu-period")]
    cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair
    #[arg(long = "cpu-quota")]
    cpu_quota: Option<i64>,
    /// CPUs in which to allow execution
    #[arg(long = "cpuset-cpus")]
    cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution
    #[arg(long = "cpuset-mems")]
    cpuset_mems: Option<String>,
    /// Tune container pids limit (set
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pids_limit: Option<i64>,
    /// Disable OOM Killer
    #[arg(long = "oom-kill-disable")]
    oom_kill_disable: bool,
    /// Tune host's OOM preferences
    #[arg(long = "oom-score-adj", allow_hyphen_values = true)]
    oom_score_adj: Option<i64>,
    /// Ulimit options (default [])
    #[arg(long)]
    ulimit: Vec<String>,
    /// Add Linux capabilities
    #[arg(long = "cap-add")]
    cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop")]
    cap_drop: Vec<String>,
    /// Give extended privileges to this
    #[arg(long)]
    privileged: bool,
    /// Security Options
    #[arg(long = "security-opt")]
    security_opt: Vec<String>,
    /// Mount the container's root
    #[arg(long = "read-only")]
    read_only: bool,
    /// Mount a tmpfs directory
    #[arg(long)]
    tmpfs: Vec<String>,
    /// Run an init inside the container
    #[arg(long)]
    init: bool,
    /// Add a host device to the container
    #[arg(long)]
    device: Vec<String>,
    /// Add additional groups to join
    #[arg(long = "group-add")]
    group_add: Vec<String>,
    /// Sysctl options (default map[])
    #[arg(long)]
    sysctl: Vec<String>,
    /// Set custom DNS servers
    #[arg(long)]
    dns: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search")]
    dns_search: Vec<String>,
    /// Set DNS options
    #[arg(long = "dns-option", alias = "dns-opt")]
    dns_option: Vec<String>,
    /// Add a custom host-to-IP mapping
    #[arg(long = "add-host")]
    add_host: Vec<String>,
    /// PID namespace to use
    #[arg(long)]
    pid: Option<String>,
    /// IPC mode to use
    #[arg(long)]
    ipc: Option<String>,
    /// UTS namespace to use
    #[arg(long)]
    uts: Option<String>,
    /// User namespace to use
    #[arg(long)]
    userns: Option<String>,
    /// Cgroup namespace to use
    #[arg(long)]
    cgroupns: Option<String>,
    /// Optional parent cgroup for the
    #[arg(long = "cgroup-parent")]
    cgroup_parent: Option<String>,
    /// Runtime to use for this container
    #[arg(long)]
    runtime: Option<String>,
    /// Signal to stop the container
    #[arg(long = "stop-signal")]
    stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a
    #[arg(long = "stop-timeout")]
    stop_timeout: Option<i64>,
    /// Command to run to check health
    #[arg(long = "health-cmd")]
    health_cmd: Option<String>,
    /// Time between running the check
    #[arg(long = "health-interval")]
    health_interval: Option<String>,
    /// Maximum time to allow one check
    #[arg(long = "health-timeout")]
    health_timeout: Option<String>,
    /// Consecutive failures needed to
    #[arg(long = "health-retries")]
    health_retries: Option<i64>,
    /// Start period for the container
    #[arg(long = "health-start-period")]
    health_start_period: Option<String>,
    /// Disable any container-specified
    #[arg(long = "no-healthcheck")]
    no_healthcheck: bool,
    /// Logging driver for the container
    #[arg(long = "log-driver")]
    log_driver: Option<String>,
    /// Log driver options
    #[arg(long = "log-opt")]
    log_opt: Vec<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    platform: Option<String>,
    /// Pull image before running ("always", "missing", "never")
    #[arg(long, default_value = "missing")]
    pull: String,
    /// Write the container ID to the file
    #[arg(long)]
    cidfile: Option<String>,
    /// Print help
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,
}

#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub(crate) struct CreateArgs {
    #[command(flatten)]
    opts: ContainerOpts,
    /// Suppress the pull output
    #[arg(short = 'q', long)]
    quiet: bool,
    /// IMAGE [COMMAND] [ARG...]
    // No `allow_hyphen_values`: before the image a hyphen is a flag (unknown ones are refused
    // as docker refuses them); after it, `trailing_var_arg` keeps everything for the command.
    #[arg(required = true, trailing_var_arg = true, num_args = 1..)]
    image_and_cmd: Vec<String>,
}

#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    opts: ContainerOpts,
    /// Run container in background and print container ID
    #[arg(short = 'd', long)]
    detach: bool,
    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    sig_proxy: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    detach_keys: Option<String>,
    /// Suppress the pull output
    #[arg(short = 'q', long)]
    quiet: bool,
    /// IMAGE [COMMAND] [ARG...]
    // No `allow_hyphen_values`: before the image a hyphen is a flag (unknown ones are refused
    // as docker refuses them); after it, `trailing_var_arg` keeps everything for the command.
    #[arg(required = true, trailing_var_arg = true, num_args = 1..)]
    image_and_cmd: Vec<String>,
}

/// Builds the create request from the flags.
#[allow(clippy::too_many_lines)] // a flat flag-to-field mapping reads best in one place
fn build(o: &ContainerOpts, image: &str, cmd: &[String]) -> Result<ContainerCreateBody> {
    let mut env = Vec::new();
    for f in &o.env_file {
        env.extend(opts::read_env_file(f)?);
    }
    env.extend(o.env.iter().map(|e| opts::env_value(e)));

    let mut labels = Vec::new();
    for f in &o.label_file {
        labels.extend(opts::read_env_file(f)?);
    }
    labels.extend(o.label.iter().cloned());

    let mut exposed: Vec<String> = Vec::new();
    for e in &o.expose {
        exposed.extend(opts::parse_expose(e)?);
    }
    let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for p in &o.publish {
        for m in opts::parse_port_spec(p)? {
            if !exposed.contains(&m.container) {
                exposed.push(m.container.clone());
            }
            bindings
                .entry(m.container)
                .or_insert_with(|| Some(Vec::new()))
                .get_or_insert_with(Vec::new)
                .push(PortBinding {
                    host_ip: Some(m.host_ip),
                    host_port: Some(m.host_port),
                });
        }
    }

    let mut binds = Vec::new();
    let mut volumes = Vec::new();
    for v in &o.volume {
        match opts::parse_volume(v)? {
            opts::VolumeSpec::Bind(b) => binds.push(b),
            opts::VolumeSpec::Anonymous(d) => volumes.push(d),
        }
    }
    let mounts = o
        .mount
        .iter()
        .map(|m| opts::parse_mount(m))
        .collect::<Result<Vec<_>>>()?;

    let healthcheck = health(o)?;

    // `--entrypoint ""` resets the image's entrypoint: docker sends `[""]`.
    let entrypoint = o.entrypoint.as_ref().map(|e| vec![e.clone()]);

    let attach_all = o.attach.is_empty();
    let attached = |s: &str| o.attach.iter().any(|a| a.eq_ignore_ascii_case(s));
    let attach_stdin = if attach_all {
        o.interactive
    } else {
        attached("stdin")
    };

    let mut tmpfs = HashMap::new();
    for t in &o.tmpfs {
        let (p, opt) = opts::parse_tmpfs(t);
        tmpfs.insert(p, opt);
    }

    let networking_config = match &o.network {
        Some(net)
            if !o.network_alias.is_empty()
                || o.ip.is_some()
                || o.ip6.is_some()
                || o.mac_address.is_some() =>
        {
            let ipam = (o.ip.is_some() || o.ip6.is_some()).then(|| EndpointIpamConfig {
                ipv4_address: o.ip.clone(),
                ipv6_address: o.ip6.clone(),
                ..Default::default()
            });
            let ep = EndpointSettings {
                aliases: non_empty(o.network_alias.clone()),
                mac_address: o.mac_address.clone(),
                ipam_config: ipam,
                ..Default::default()
            };
            Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(net.clone(), ep)])),
            })
        }
        _ => None,
    };

    let host_config = HostConfig {
        binds: non_empty(binds),
        mounts: non_empty(mounts),
        volumes_from: non_empty(o.volumes_from.clone()),
        port_bindings: (!bindings.is_empty()).then_some(bindings),
        publish_all_ports: o.publish_all.then_some(true),
        network_mode: o.network.clone(),
        links: non_empty(o.link.clone()),
        restart_policy: o.restart.as_deref().map(opts::parse_restart).transpose()?,
        auto_remove: o.rm.then_some(true),
        memory: o.memory.as_deref().map(opts::parse_memory).transpose()?,
        memory_swap: o
            .memory_swap
            .as_deref()
            .map(opts::parse_memory_swap)
            .transpose()?,
        memory_reservation: o
            .memory_reservation
            .as_deref()
            .map(opts::parse_memory)
            .transpose()?,
        memory_swappiness: o.memory_swappiness,
        shm_size: o.shm_size.as_deref().map(opts::parse_memory).transpose()?,
        nano_cpus: o.cpus.as_deref().map(opts::parse_cpus).transpose()?,
        cpu_shares: o.cpu_shares,
        cpu_period: o.cpu_period,
        cpu_quota: o.cpu_quota,
        cpuset_cpus: o.cpuset_cpus.clone(),
        cpuset_mems: o.cpuset_mems.clone(),
        pids_limit: o.pids_limit,
        oom_kill_disable: o.oom_kill_disable.then_some(true),
        oom_score_adj: o.oom_score_adj,
        ulimits: non_empty(
            o.ulimit
                .iter()
                .map(|u| opts::parse_ulimit(u))
                .collect::<Result<Vec<_>>>()?,
        ),
        cap_add: non_empty(o.cap_add.clone()),
        cap_drop: non_empty(o.cap_drop.clone()),
        privileged: o.privileged.then_some(true),
        security_opt: non_empty(security_opts(&o.security_opt)?),
        readonly_rootfs: o.read_only.then_some(true),
        tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
        init: o.init.then_some(true),
        devices: non_empty(
            o.device
                .iter()
                .map(|d| opts::parse_device(d))
                .collect::<Result<Vec<_>>>()?,
        ),
        group_add: non_empty(o.group_add.clone()),
        sysctls: (!o.sysctl.is_empty()).then(|| opts::kv_map(&o.sysctl)),
        dns: non_empty(o.dns.clone()),
        dns_search: non_empty(o.dns_search.clone()),
        dns_options: non_empty(o.dns_option.clone()),
        extra_hosts: non_empty(o.add_host.clone()),
        pid_mode: o.pid.clone(),
        ipc_mode: o.ipc.clone(),
        uts_mode: o.uts.clone(),
        userns_mode: o.userns.clone(),
        cgroupns_mode: o
            .cgroupns
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|_| anyhow::anyhow!("invalid --cgroupns"))?,
        cgroup_parent: o.cgroup_parent.clone(),
        runtime: o.runtime.clone(),
        log_config: (o.log_driver.is_some() || !o.log_opt.is_empty()).then(|| {
            HostConfigLogConfig {
                typ: o.log_driver.clone(),
                config: (!o.log_opt.is_empty()).then(|| opts::kv_map(&o.log_opt)),
            }
        }),
        console_size: if o.tty {
            crate::tty::size().map(|(h, w)| vec![usize::from(h), usize::from(w)])
        } else {
            None
        },
        ..Default::default()
    };

    Ok(ContainerCreateBody {
        image: Some(image.to_string()),
        cmd: (!cmd.is_empty()).then(|| cmd.to_vec()),
        entrypoint,
        env: non_empty(env),
        labels: (!labels.is_empty()).then(|| opts::kv_map(&labels)),
        working_dir: o.workdir.clone(),
        user: o.user.clone(),
        hostname: o.hostname.clone(),
        domainname: o.domainname.clone(),
        tty: Some(o.tty),
        open_stdin: Some(o.interactive),
        stdin_once: Some(o.interactive && attach_stdin),
        attach_stdin: Some(attach_stdin),
        attach_stdout: Some(attach_all || attached("stdout")),
        attach_stderr: Some(attach_all || attached("stderr")),
        exposed_ports: non_empty(exposed),
        volumes: non_empty(volumes),
        healthcheck,
        stop_signal: o.stop_signal.clone(),
        stop_timeout: o.stop_timeout,
        host_config: Some(host_config),
        networking_config,
        ..Default::default()
    })
}

fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

fn health(o: &ContainerOpts) -> Result<Option<HealthConfig>> {
    let dur = |s: &Option<String>| s.as_deref().map(opts::parse_go_duration).transpose();
    let any = o.health_cmd.is_some()
        || o.health_interval.is_some()
        || o.health_timeout.is_some()
        || o.health_retries.is_some()
        || o.health_start_period.is_some();
    if o.no_healthcheck {
        if any {
            bail!("--no-healthcheck conflicts with --health-* options");
        }
        return Ok(Some(HealthConfig {
            test: Some(vec!["NONE".into()]),
            ..Default::default()
        }));
    }
    if !any {
        return Ok(None);
    }
    Ok(Some(HealthConfig {
        test: o
            .health_cmd
            .as_ref()
            .map(|c| vec!["CMD-SHELL".into(), c.clone()]),
        interval: dur(&o.health_interval)?,
        timeout: dur(&o.health_timeout)?,
        retries: o.health_retries,
        start_period: dur(&o.health_start_period)?,
        ..Default::default()
    }))
}

/// `seccomp=<file>` is sent as the file's JSON, as docker does; other options pass through.
fn security_opts(items: &[String]) -> Result<Vec<String>> {
    items
        .iter()
        .map(|s| {
            let s = s.replacen(':', "=", usize::from(!s.contains('=')));
            match s.split_once('=') {
                Some(("seccomp", v)) if v != "unconfined" && v != "builtin" => {
                    let text = std::fs::read_to_string(v).map_err(|e| {
                        anyhow::anyhow!("opening seccomp profile ({v}) failed: {e}")
                    })?;
                    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                        anyhow::anyhow!("compacting json for seccomp profile ({v}) failed: {e}")
                    })?;
                    Ok(format!("seccomp={json}"))
                }
                _ => Ok(s),
            }
        })
        .collect()
}

/// `busybox` -> `busybox:latest`, as docker names it in messages.
fn normalize_ref(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    if last.contains(':') || image.contains('@') {
        image.to_string()
    } else {
        format!("{image}:latest")
    }
}

/// A failed `run` step, in docker's words and with docker's exit code.
fn run_failure(err: &anyhow::Error, code: i32) -> anyhow::Error {
    StatusError::new(
        code,
        format!(
            "berth: {}\n\nRun 'berth run --help' for more information",
            crate::describe(err)
        ),
    )
    .into()
}

/// docker's mapping of a start error to 126 (cannot execute) / 127 (not found) / 125.
fn start_exit_code(message: &str) -> i32 {
    if message.contains("executable file not found")
        || message.contains("no such file or directory")
        || message.contains("system cannot find the file specified")
    {
        127
    } else if message.contains("permission denied") || message.contains("is a directory") {
        126
    } else {
        125
    }
}

async fn create_container(
    cl: &Client,
    o: &ContainerOpts,
    image_and_cmd: &[String],
    quiet: bool,
) -> Result<String> {
    let (image, cmd) = image_and_cmd
        .split_first()
        .ok_or_else(|| anyhow::anyhow!("requires at least 1 argument"))?;
    let display = if quiet {
        crate::registry::Display::Quiet
    } else {
        crate::registry::Display::Stderr
    };
    match o.pull.as_str() {
        "always" => {
            crate::registry::pull_image(cl, image, o.platform.as_deref(), false, display).await?;
        }
        "missing" | "never" => {}
        other => bail!(
            "invalid pull option: '{other}': must be one of \"always\", \"missing\" or \"never\""
        ),
    }
    let body = build(o, image, cmd)?;
    match create_once(cl, o, body.clone()).await {
        Err(e)
            if o.pull == "missing"
                && crate::client::status_of(&e) == Some(404)
                && crate::describe(&e).contains("image") =>
        {
            if !quiet {
                eprintln!("Unable to find image '{}' locally", normalize_ref(image));
            }
            crate::registry::pull_image(cl, image, o.platform.as_deref(), false, display).await?;
            create_once(cl, o, body).await
        }
        other => other,
    }
}

async fn create_once(cl: &Client, o: &ContainerOpts, body: ContainerCreateBody) -> Result<String> {
    let options = bollard::query_parameters::CreateContainerOptions {
        name: o.name.clone(),
        platform: o.platform.clone().unwrap_or_default(),
    };
    match cl.docker.create_container(Some(options), body).await {
        Ok(resp) => {
            for w in resp.warnings {
                eprintln!("WARNING: {w}");
            }
            if let Some(path) = &o.cidfile {
                std::fs::write(path, &resp.id)?;
            }
            Ok(resp.id)
        }
        Err(e) => Err(anyhow::Error::from(e)),
    }
}

pub(crate) async fn create(cl: &Client, a: CreateArgs) -> Result<()> {
    let id = create_container(cl, &a.opts, &a.image_and_cmd, a.quiet).await?;
    crate::util::out(&format!("{id}\n"));
    Ok(())
}

pub(crate) async fn run(cl: &Client, a: RunArgs) -> Result<()> {
    let o = &a.opts;
    if a.detach && !o.attach.is_empty() {
        bail!("Conflicting options: -a and -d");
    }
    if !a.detach && o.tty && o.interactive && !crate::tty::stdin_is_tty() {
        return Err(StatusError::new(1, "the input device is not a TTY").into());
    }
    let id = create_container(cl, o, &a.image_and_cmd, a.quiet)
        .await
        .map_err(|e| run_failure(&e, 125))?;
    if a.detach {
        start(cl, &id).await?;
        crate::util::out(&format!("{id}\n"));
        return Ok(());
    }
    let attach_stdin =
        o.interactive && (o.attach.is_empty() || o.attach.iter().any(|s| s == "stdin"));
    let mut params = vec![
        ("stream", "1".to_string()),
        ("stdin", u8::from(attach_stdin).to_string()),
        ("stdout", "1".to_string()),
        ("stderr", "1".to_string()),
    ];
    if let Some(k) = &a.detach_keys {
        params.push(("detachKeys", k.clone()));
    }
    let conn = cl
        .hijack(
            &query(&format!("/containers/{}/attach", encode(&id)), &params),
            None,
        )
        .await
        .map_err(|e| run_failure(&e, 125))?;
    // Registered before start so a fast exit is not missed; with --rm the container may be
    // gone by the time we ask, so wait for its removal instead.
    let condition = if o.rm { "removed" } else { "next-exit" };
    let waiter = wait_registered(cl, &id, condition).await?;

    let raw = (o.tty && attach_stdin).then(crate::tty::RawMode::enter);
    if let Err(e) = start(cl, &id).await {
        drop(raw);
        return Err(e);
    }
    let signals = (a.sig_proxy && !o.tty).then(|| proxy_signals(cl.clone(), id.clone()));
    let resize_cl = cl.clone();
    let resize_id = id.clone();
    let ended = stream::pump(
        conn,
        PumpOpts {
            tty: o.tty,
            stdin: attach_stdin,
            detach_keys: (o.tty && attach_stdin)
                .then(|| stream::parse_detach_keys(a.detach_keys.as_deref()))
                .flatten(),
        },
        move |h, w| {
            resize(
                resize_cl.clone(),
                format!("/containers/{}/resize", encode(&resize_id)),
                h,
                w,
            )
        },
    )
    .await;
    drop(raw);
    if let Some(s) = signals {
        s.abort();
    }
    if ended? == Ended::Detached {
        return Ok(());
    }
    let code = waiter.await.unwrap_or_else(|e| Err(e.into()))?;
    if code != 0 {
        return Err(StatusError::code(code).into());
    }
    Ok(())
}

async fn start(cl: &Client, id: &str) -> Result<()> {
    if let Err(e) = cl
        .docker
        .start_container(id, None::<bollard::query_parameters::StartContainerOptions>)
        .await
    {
        let e = anyhow::Error::from(e);
        let code = start_exit_code(&crate::describe(&e));
        return Err(run_failure(&e, code));
    }
    Ok(())
}

/// Sends `POST /containers/{id}/wait` and returns once the daemon has answered with headers
/// (docker flushes them as soon as the waiter is registered); the task yields the exit code.
pub(crate) async fn wait_registered(
    cl: &Client,
    id: &str,
    condition: &str,
) -> Result<tokio::task::JoinHandle<Result<i32>>> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let cl = cl.clone();
    let path = query(
        &format!("/containers/{}/wait", encode(id)),
        &[("condition", condition.to_string())],
    );
    let task = tokio::spawn(async move {
        let resp = cl
            .send(Method::POST, &path, crate::client::empty(), None)
            .await;
        let _ = tx.send(());
        let v = crate::client::read_json(resp?).await?;
        if let Some(m) = v
            .pointer("/Error/Message")
            .and_then(|m| m.as_str())
            .filter(|m| !m.is_empty())
        {
            eprintln!("berth: {m}");
        }
        let code = v
            .get("StatusCode")
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(0);
        Ok(i32::try_from(code).unwrap_or(1))
    });
    // A daemon that holds the headers back would stall us forever; give it a moment only.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), rx).await;
    Ok(task)
}

/// POSTs a resize; failures (e.g. the container already exited) do not matter.
pub(crate) async fn resize(cl: Client, path: String, h: u16, w: u16) {
    let path = query(&path, &[("h", h.to_string()), ("w", w.to_string())]);
    let _ = cl.post_json(&path, None).await;
}

/// Without a TTY, ctrl-c and SIGTERM go to the container (docker's `--sig-proxy`).
fn proxy_signals(cl: Client, id: String) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return;
        };
        loop {
            let sig = tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            };
            let path = query(
                &format!("/containers/{}/kill", encode(&id)),
                &[("signal", sig.to_string())],
            );
            let _ = cl.post_json(&path, None).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct T {
        #[command(flatten)]
        a: RunArgsWrap,
    }
    #[derive(Debug, Args)]
    #[command(disable_help_flag = true)]
    struct RunArgsWrap {
        #[command(flatten)]
        r: RunArgs,
    }

    fn parse(args: &[&str]) -> RunArgs {
        let mut v = vec!["run"];
        v.extend_from_slice(args);
        T::try_parse_from(v).unwrap_or_else(|e| panic!("{e}")).a.r
    }

    #[test]
    fn unknown_flags_before_the_image_are_refused_and_the_command_keeps_its_own() {
        let mut v = vec!["run", "--bogus", "busybox"];
        let e = T::try_parse_from(&v).map(|_| ()).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::UnknownArgument);
        v = vec!["run", "busybox", "ls", "-la", "--bogus"];
        let a = T::try_parse_from(&v).unwrap_or_else(|e| panic!("{e}")).a.r;
        assert_eq!(a.image_and_cmd, ["busybox", "ls", "-la", "--bogus"]);
    }

    #[test]
    fn run_flags_to_create_body() {
        let a = parse(&[
            "-it",
            "--rm",
            "-h",
            "box",
            "-p",
            "8080:80",
            "-m",
            "512m",
            "-e",
            "A=1",
            "--cpus",
            "0.5",
            "-v",
            "/data",
            "--restart",
            "on-failure:2",
            "busybox",
            "sh",
            "-c",
            "echo hi",
        ]);
        assert!(a.opts.tty && a.opts.interactive && a.opts.rm);
        let (image, cmd) = a
            .image_and_cmd
            .split_first()
            .unwrap_or_else(|| panic!("no image"));
        let b = build(&a.opts, image, cmd).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            b.cmd,
            Some(vec!["sh".into(), "-c".into(), "echo hi".into()])
        );
        assert_eq!(b.hostname.as_deref(), Some("box"));
        assert_eq!(b.exposed_ports, Some(vec!["80/tcp".into()]));
        assert_eq!(b.volumes, Some(vec!["/data".into()]));
        assert_eq!(b.stdin_once, Some(true));
        let h = b.host_config.unwrap_or_default();
        assert_eq!(h.memory, Some(512 << 20));
        assert_eq!(h.nano_cpus, Some(500_000_000));
        assert_eq!(h.auto_remove, Some(true));
        let pb = h.port_bindings.unwrap_or_default();
        assert_eq!(
            pb["80/tcp"].as_ref().map(|v| v[0].host_port.clone()),
            Some(Some("8080".into()))
        );
    }

    #[test]
    fn exit_codes_and_refs() {
        assert_eq!(
            start_exit_code("exec: \"/x\": stat /x: no such file or directory"),
            127
        );
        assert_eq!(start_exit_code("exec: \"/etc\": permission denied"), 126);
        assert_eq!(start_exit_code("something else"), 125);
        assert_eq!(normalize_ref("busybox"), "busybox:latest");
        assert_eq!(normalize_ref("localhost:5000/x"), "localhost:5000/x:latest");
        assert_eq!(normalize_ref("a:1"), "a:1");
    }
}
