//! The command line: docker's commands and management commands, and the dispatch.

use std::ffi::OsString;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::client::Client;
use crate::{
    build as b, containers as c, cp, exec, images as i, networks as n, registry as reg, run,
    system as s, volumes as v,
};

#[derive(Debug, Parser)]
#[command(
    name = "berth",
    about = "A self-sufficient runtime for containers",
    disable_help_subcommand = true,
    disable_version_flag = true,
    arg_required_else_help = true
)]
struct Cli {
    /// Daemon socket to connect to
    #[arg(short = 'H', long = "host", global = false)]
    host: Option<String>,
    /// Name of the context to use to connect to the daemon (overrides DOCKER_HOST env var and
    /// default context set with "docker context use")
    #[arg(short = 'c', long = "context")]
    context: Option<String>,
    /// Print version information and quit
    #[arg(short = 'v', long = "version")]
    version: bool,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Create and run a new container from an image
    Run(run::RunArgs),
    /// Manage contexts
    #[command(subcommand)]
    Context(crate::context::ContextCmd),
    /// Generate the autocompletion script for the specified shell
    Completion(crate::completion::CompletionArgs),
    /// Write man pages for berth and every command
    #[command(hide = true)]
    Man(crate::completion::ManArgs),
    /// Create a new container
    Create(run::CreateArgs),
    /// Start one or more stopped containers
    Start(c::StartArgs),
    /// Stop one or more running containers
    Stop(c::StopArgs),
    /// Kill one or more running containers
    Kill(c::KillArgs),
    /// Restart one or more containers
    Restart(c::StopArgs),
    /// Remove one or more containers
    Rm(c::RmArgs),
    /// List containers
    Ps(c::PsArgs),
    /// Fetch the logs of a container
    Logs(c::LogsArgs),
    /// Execute a command in a running container
    Exec(exec::ExecArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(c::AttachArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(c::NamesArgs),
    /// Return low-level information on objects
    Inspect(s::InspectArgs),
    /// Display the running processes of a container
    Top(c::TopArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(c::StatsArgs),
    /// Pause all processes within one or more containers
    Pause(c::NamesArgs),
    /// Unpause all processes within one or more containers
    Unpause(c::NamesArgs),
    /// Rename a container
    Rename(c::RenameArgs),
    /// List port mappings or a specific mapping for the container
    Port(c::PortArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(cp::CpArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(c::DiffArgs),
    /// Update configuration of one or more containers
    Update(c::UpdateArgs),
    /// Create a new image from a container's changes
    Commit(c::CommitArgs),
    /// Export a container's filesystem as a tar archive
    Export(c::ExportArgs),
    /// List images
    Images(i::ImagesArgs),
    /// Remove one or more images
    Rmi(i::RmiArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(i::TagArgs),
    /// Save one or more images to a tar archive
    Save(i::SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(i::LoadArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(i::ImportArgs),
    /// Show the history of an image
    History(i::HistoryArgs),
    /// Build an image from a Dockerfile
    Build(b::BuildArgs),
    /// Manage builds
    #[command(subcommand)]
    Builder(BuilderCmd),
    /// Download an image from a registry
    Pull(reg::PullArgs),
    /// Upload an image to a registry
    Push(reg::PushArgs),
    /// Log in to a registry
    Login(reg::LoginArgs),
    /// Log out from a registry
    Logout(reg::LogoutArgs),
    /// Search Docker Hub (or a registry) for images
    Search(reg::SearchArgs),
    /// Get real time events from the server
    Events(s::EventsArgs),
    /// Display system-wide information
    Info(s::InfoArgs),
    /// Show the version information
    Version(s::VersionArgs),
    /// Manage containers
    #[command(subcommand)]
    Container(ContainerCmd),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCmd),
    /// Manage volumes
    #[command(subcommand)]
    Volume(v::VolumeCmd),
    /// Manage networks
    #[command(subcommand)]
    Network(n::NetworkCmd),
    /// Manage berth
    #[command(subcommand)]
    System(SystemCmd),
}

#[derive(Debug, Subcommand)]
enum ContainerCmd {
    Attach(c::AttachArgs),
    Commit(c::CommitArgs),
    Cp(cp::CpArgs),
    Create(run::CreateArgs),
    Diff(c::DiffArgs),
    Exec(exec::ExecArgs),
    Export(c::ExportArgs),
    Inspect(c::ContainerInspectArgs),
    Kill(c::KillArgs),
    Logs(c::LogsArgs),
    #[command(name = "ls", visible_aliases = ["ps", "list"])]
    Ls(c::PsArgs),
    Pause(c::NamesArgs),
    Port(c::PortArgs),
    Prune(c::PruneArgs),
    Rename(c::RenameArgs),
    Restart(c::StopArgs),
    #[command(visible_alias = "remove")]
    Rm(c::RmArgs),
    Run(run::RunArgs),
    Start(c::StartArgs),
    Stats(c::StatsArgs),
    Stop(c::StopArgs),
    Top(c::TopArgs),
    Unpause(c::NamesArgs),
    Update(c::UpdateArgs),
    Wait(c::NamesArgs),
}

#[derive(Debug, Subcommand)]
enum ImageCmd {
    Build(Box<b::BuildArgs>),
    History(i::HistoryArgs),
    Import(i::ImportArgs),
    Inspect(i::ImageInspectArgs),
    Load(i::LoadArgs),
    #[command(name = "ls", visible_alias = "list")]
    Ls(i::ImagesArgs),
    Prune(i::ImagePruneArgs),
    Pull(reg::PullArgs),
    Push(reg::PushArgs),
    #[command(visible_alias = "remove")]
    Rm(i::RmiArgs),
    Save(i::SaveArgs),
    Tag(i::TagArgs),
}

#[derive(Debug, Subcommand)]
enum BuilderCmd {
    Build(Box<b::BuildArgs>),
    Prune(b::BuilderPruneArgs),
}

#[derive(Debug, Subcommand)]
enum SystemCmd {
    Df(s::DfArgs),
    Events(s::EventsArgs),
    Info(s::InfoArgs),
    Prune(s::SystemPruneArgs),
}

/// The whole command line as clap sees it (completion scripts, man pages).
pub(crate) fn command() -> clap::Command {
    use clap::CommandFactory;
    Cli::command()
}

/// docker 28's words for an unknown flag ("unknown flag: --bogus", the usage line, "Run
/// 'docker run --help' for more information"), with the subcommand path the flag was given to.
fn unknown_flag_message(e: &clap::Error, args: &[OsString]) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if e.kind() != ErrorKind::UnknownArgument {
        return None;
    }
    let Some(ContextValue::String(bad)) = e.get(ContextKind::InvalidArg) else {
        return None;
    };
    let flag = bad.split('=').next().unwrap_or(bad);
    let (mut cmd, path) = subcommand_of(args, Some(flag));
    let first = if flag.starts_with("--") {
        format!("unknown flag: {flag}")
    } else {
        let c = flag.trim_start_matches('-');
        format!(
            "unknown shorthand flag: '{}' in {flag}",
            c.chars().next().unwrap_or('-')
        )
    };
    let usage = docker_usage(&mut cmd, &path);
    Some(format!(
        "{first}\n\nUsage:  {usage}\n\nRun '{path} --help' for more information"
    ))
}

/// The subcommand `args` name (stopping at `flag`), and its path ("berth container run").
fn subcommand_of(args: &[OsString], flag: Option<&str>) -> (clap::Command, String) {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    cmd.build(); // gives every subcommand its full name ("berth container run") for the usage
    let mut path = vec![cmd.get_name().to_owned()];
    for a in args.iter().skip(1).map(|a| a.to_string_lossy()) {
        if flag.is_some_and(|f| a == f || a.starts_with(&format!("{f}="))) {
            break;
        }
        if let Some(sub) = cmd.find_subcommand(a.as_ref()).cloned() {
            path.push(sub.get_name().to_owned());
            cmd = sub;
        }
    }
    (cmd, path.join(" "))
}

/// docker 28's words for too few or too many arguments, from the command's positional arity
/// as cobra's validators put it: "requires at least 1 argument" (then "See ..."), "requires 2
/// arguments", "requires at most 1 argument" or "requires at least 1 and at most 2 arguments"
/// (then "Run ...").
fn arity_message(e: &clap::Error, args: &[OsString]) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let extra = match e.kind() {
        ErrorKind::MissingRequiredArgument => false,
        // An unexpected positional: clap calls it an unknown argument.
        ErrorKind::UnknownArgument => match e.get(ContextKind::InvalidArg) {
            Some(ContextValue::String(bad)) if !bad.starts_with('-') => true,
            _ => return None,
        },
        _ => return None,
    };
    let (mut cmd, path) = subcommand_of(args, None);
    let (mut min, mut max) = (0usize, 0usize);
    for a in cmd.get_positionals() {
        let range = a.get_num_args().unwrap_or_default();
        if a.is_required_set() {
            min += range.min_values().max(1);
        }
        max = max.saturating_add(range.max_values().max(1));
    }
    if min == 0 && !extra {
        return None;
    }
    let plural = |n: usize| if n == 1 { "argument" } else { "arguments" };
    let (need, next) = if max == usize::MAX {
        (format!("at least {min} {}", plural(min)), "See")
    } else if max == min {
        (format!("{min} {}", plural(min)), "Run")
    } else if min == 0 {
        (format!("at most {max} {}", plural(max)), "Run")
    } else {
        (
            format!("at least {min} and at most {max} {}", plural(max)),
            "Run",
        )
    };
    let bin = path.split(' ').next().unwrap_or("berth").to_owned();
    let usage = docker_usage(&mut cmd, &path);
    Some(format!(
        "{bin}: '{path}' requires {need}\n\nUsage:  {usage}\n\n{next} '{path} --help' for more information"
    ))
}

/// A command's usage line in docker's notation: docker's own (`usage.rs`) for the commands
/// docker has; else from clap, where a positional documented in that notation
/// (`IMAGE [COMMAND] [ARG...]`) reads as its documentation, and clap's `<NAME>` as `NAME`.
fn docker_usage(cmd: &mut clap::Command, path: &str) -> String {
    if let Some((bin, sub)) = path.split_once(' ')
        && let Some(u) = crate::usage::usage_of(bin, sub)
    {
        return u;
    }
    let mut usage = cmd.render_usage().to_string();
    usage = usage.trim_start_matches("Usage:").trim().to_owned();
    for a in cmd.get_positionals() {
        let Some(help) = a.get_help().map(ToString::to_string) else {
            continue;
        };
        let notation = help.chars().any(|c| c.is_ascii_uppercase())
            && help
                .chars()
                .all(|c| c.is_ascii_uppercase() || " []._|:-".contains(c));
        if !notation {
            continue;
        }
        let name = a.get_value_names().and_then(|v| v.first()).map_or_else(
            || a.get_id().to_string().to_uppercase(),
            ToString::to_string,
        );
        let shapes = [
            format!("<{name}>..."),
            format!("[{name}]..."),
            format!("<{name}>"),
            format!("[{name}]"),
        ];
        if let Some(shape) = shapes.iter().find(|s| usage.contains(s.as_str())) {
            usage = usage.replacen(shape.as_str(), &help, 1);
        }
    }
    usage.replace(['<', '>'], "")
}

/// Parses, connects, runs; returns the exit code.
pub(crate) async fn run(args: Vec<OsString>) -> i32 {
    let cli = match Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            let code = match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => 0,
                ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 0,
                _ => 125,
            };
            if let Some(msg) = arity_message(&e, &args) {
                // docker exits 1 here, not with its 125 for flag errors.
                eprintln!("{msg}");
                return 1;
            } else if let Some(msg) = unknown_flag_message(&e, &args) {
                eprintln!("{msg}");
            } else {
                let _ = e.print();
            }
            return code;
        }
    };
    if cli.version {
        s::print_client_version_line();
        return 0;
    }
    let Some(cmd) = cli.cmd else {
        return 0;
    };
    // Credentials are the client's own: logout needs no daemon.
    if let Cmd::Logout(a) = &cmd {
        return match reg::logout(a) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("{e:#}");
                1
            }
        };
    }
    // Completion scripts and man pages come from the parser alone; contexts are the
    // client's own.
    let local = |done: Result<()>| match done {
        Ok(()) => 0,
        Err(e) => crate::report(&e, 1),
    };
    let cmd = match cmd {
        Cmd::Completion(a) => return local(crate::completion::completion(&a)),
        Cmd::Man(a) => return local(crate::completion::man(&a)),
        Cmd::Context(c) => {
            return local(crate::context::run(
                c,
                cli.host.as_deref(),
                cli.context.as_deref(),
            ));
        }
        other => other,
    };
    let host = match crate::context::host(cli.host.as_deref(), cli.context.as_deref()) {
        Ok(h) => h,
        Err(e) => return crate::report(&e, 1),
    };
    // `run` reports every failure before the container starts with 125, as docker does.
    let default_code = if matches!(cmd, Cmd::Run(_) | Cmd::Container(ContainerCmd::Run(_))) {
        125
    } else {
        1
    };
    let client = match crate::host::connect(&host).await {
        Ok(c) => c,
        Err(e) => {
            if matches!(cmd, Cmd::Version(_)) {
                s::print_client_version();
                crate::util::out("\n");
            }
            return crate::report(&e, default_code);
        }
    };
    match dispatch(&client, cmd).await {
        Ok(()) => 0,
        Err(e) => crate::report(&e, default_code),
    }
}

async fn dispatch(cl: &Client, cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::Run(a) => run::run(cl, a).await,
        Cmd::Create(a) => run::create(cl, a).await,
        Cmd::Start(a) => c::start(cl, a).await,
        Cmd::Stop(a) => c::stop(cl, a, false).await,
        Cmd::Restart(a) => c::stop(cl, a, true).await,
        Cmd::Kill(a) => c::kill(cl, a).await,
        Cmd::Rm(a) => c::rm(cl, a).await,
        Cmd::Ps(a) => c::ps(cl, a).await,
        Cmd::Logs(a) => c::logs(cl, a).await,
        Cmd::Exec(a) => exec::exec(cl, a).await,
        Cmd::Attach(a) => c::attach(cl, a).await,
        Cmd::Wait(a) => c::wait(cl, a).await,
        Cmd::Inspect(a) => s::inspect(cl, a).await,
        Cmd::Top(a) => c::top(cl, a).await,
        Cmd::Stats(a) => c::stats(cl, a).await,
        Cmd::Pause(a) => c::pause(cl, a, true).await,
        Cmd::Unpause(a) => c::pause(cl, a, false).await,
        Cmd::Rename(a) => c::rename(cl, a).await,
        Cmd::Port(a) => c::port(cl, a).await,
        Cmd::Cp(a) => cp::cp(cl, a).await,
        Cmd::Diff(a) => c::diff(cl, a).await,
        Cmd::Update(a) => c::update(cl, a).await,
        Cmd::Commit(a) => c::commit(cl, a).await,
        Cmd::Export(a) => c::export(cl, a).await,
        Cmd::Images(a) => i::images(cl, a).await,
        Cmd::Rmi(a) => i::rmi(cl, a).await,
        Cmd::Tag(a) => i::tag(cl, a).await,
        Cmd::Save(a) => i::save(cl, a).await,
        Cmd::Load(a) => i::load(cl, a).await,
        Cmd::Import(a) => i::import(cl, a).await,
        Cmd::History(a) => i::history(cl, a).await,
        Cmd::Build(a) => b::build(cl, a).await,
        Cmd::Builder(BuilderCmd::Build(a)) => b::build(cl, *a).await,
        Cmd::Builder(BuilderCmd::Prune(a)) => b::prune(cl, a).await,
        Cmd::Pull(a) => reg::pull(cl, a).await,
        Cmd::Push(a) => reg::push(cl, a).await,
        Cmd::Login(a) => reg::login(cl, a).await,
        Cmd::Logout(a) => reg::logout(&a),
        // Handled before connecting; here only for completeness of the match.
        Cmd::Context(c) => crate::context::run(c, None, None),
        Cmd::Completion(a) => crate::completion::completion(&a),
        Cmd::Man(a) => crate::completion::man(&a),
        Cmd::Search(a) => reg::search(cl, a).await,
        Cmd::Events(a) => s::events(cl, a).await,
        Cmd::Info(a) => s::info(cl, a).await,
        Cmd::Version(a) => s::version(cl, a).await,
        Cmd::Volume(a) => v::dispatch(cl, a).await,
        Cmd::Network(a) => n::dispatch(cl, a).await,
        Cmd::Container(cmd) => container(cl, cmd).await,
        Cmd::Image(cmd) => image(cl, cmd).await,
        Cmd::System(cmd) => match cmd {
            SystemCmd::Df(a) => crate::df::df(cl, a).await,
            SystemCmd::Events(a) => s::events(cl, a).await,
            SystemCmd::Info(a) => s::info(cl, a).await,
            SystemCmd::Prune(a) => s::prune(cl, a).await,
        },
    }
}

async fn container(cl: &Client, cmd: ContainerCmd) -> Result<()> {
    use ContainerCmd as C;
    match cmd {
        C::Attach(a) => c::attach(cl, a).await,
        C::Commit(a) => c::commit(cl, a).await,
        C::Cp(a) => cp::cp(cl, a).await,
        C::Create(a) => run::create(cl, a).await,
        C::Diff(a) => c::diff(cl, a).await,
        C::Exec(a) => exec::exec(cl, a).await,
        C::Export(a) => c::export(cl, a).await,
        C::Inspect(a) => c::inspect(cl, a).await,
        C::Kill(a) => c::kill(cl, a).await,
        C::Logs(a) => c::logs(cl, a).await,
        C::Ls(a) => c::ps(cl, a).await,
        C::Pause(a) => c::pause(cl, a, true).await,
        C::Port(a) => c::port(cl, a).await,
        C::Prune(a) => c::prune(cl, a).await,
        C::Rename(a) => c::rename(cl, a).await,
        C::Restart(a) => c::stop(cl, a, true).await,
        C::Rm(a) => c::rm(cl, a).await,
        C::Run(a) => run::run(cl, a).await,
        C::Start(a) => c::start(cl, a).await,
        C::Stats(a) => c::stats(cl, a).await,
        C::Stop(a) => c::stop(cl, a, false).await,
        C::Top(a) => c::top(cl, a).await,
        C::Unpause(a) => c::pause(cl, a, false).await,
        C::Update(a) => c::update(cl, a).await,
        C::Wait(a) => c::wait(cl, a).await,
    }
}

async fn image(cl: &Client, cmd: ImageCmd) -> Result<()> {
    use ImageCmd as I;
    match cmd {
        I::Build(a) => b::build(cl, *a).await,
        I::History(a) => i::history(cl, a).await,
        I::Import(a) => i::import(cl, a).await,
        I::Inspect(a) => i::inspect(cl, a).await,
        I::Load(a) => i::load(cl, a).await,
        I::Ls(a) => i::images(cl, a).await,
        I::Prune(a) => i::prune(cl, a).await,
        I::Pull(a) => reg::pull(cl, a).await,
        I::Push(a) => reg::push(cl, a).await,
        I::Rm(a) => i::rmi(cl, a).await,
        I::Save(a) => i::save(cl, a).await,
        I::Tag(a) => i::tag(cl, a).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(args: &[&str]) -> String {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        let e = Cli::try_parse_from(&args).map(|_| ()).unwrap_err();
        unknown_flag_message(&e, &args).unwrap_or_else(|| panic!("not an unknown flag: {e}"))
    }

    #[test]
    fn unknown_flags_read_as_docker_28_writes_them() {
        let m = message(&["berth", "run", "--bogus", "busybox"]);
        let lines: Vec<&str> = m.lines().collect();
        assert_eq!(lines[0], "unknown flag: --bogus");
        assert_eq!(
            lines[2], "Usage:  berth run [OPTIONS] IMAGE [COMMAND] [ARG...]",
            "{m}"
        );
        assert_eq!(lines[4], "Run 'berth run --help' for more information");
        let m = message(&["berth", "container", "run", "-z", "busybox"]);
        assert!(m.starts_with("unknown shorthand flag: 'z' in -z\n"), "{m}");
        assert!(m.ends_with("Run 'berth container run --help' for more information"));
        let m = message(&["berth", "container", "create", "--bogus", "busybox"]);
        assert!(
            m.contains("\nUsage:  berth container create [OPTIONS] IMAGE [COMMAND] [ARG...]\n"),
            "{m}"
        );
        let m = message(&["berth", "exec", "--bogus", "c", "true"]);
        assert!(!m.contains(['<', '>']), "{m}");
    }
}
