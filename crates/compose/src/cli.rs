//! `berth compose`'s command line (Compose v2's flags) and the dispatch.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use berth_client::client::Client;
use clap::{Args, Parser, Subcommand};

use crate::cmd;
use crate::load::{self, Environment, LoadError, Options};
use crate::model::Project;
use crate::progress::Mode;

#[derive(Debug, Parser)]
#[command(
    name = "berth compose",
    about = "Define and run multi-container applications",
    disable_help_subcommand = true,
    arg_required_else_help = true
)]
pub(crate) struct Cli {
    /// Compose configuration files
    #[arg(short = 'f', long = "file")]
    file: Vec<PathBuf>,
    /// Project name
    #[arg(short = 'p', long = "project-name")]
    project_name: Option<String>,
    /// Specify an alternate working directory (default: the path of the first Compose file)
    #[arg(long = "project-directory")]
    project_directory: Option<PathBuf>,
    /// Specify an alternate environment file
    #[arg(long = "env-file")]
    env_file: Vec<PathBuf>,
    /// Specify a profile to enable
    #[arg(long = "profile")]
    profile: Vec<String>,
    /// Set type of progress output
    #[arg(long, value_enum, default_value = "auto")]
    progress: Mode,
    /// Control when to print ANSI control characters ("never"|"always"|"auto")
    #[arg(long, default_value = "auto")]
    ansi: String,
    /// Daemon socket to connect to
    #[arg(short = 'H', long = "host")]
    host: Option<String>,
    #[command(subcommand)]
    cmd: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create and start containers
    Up(cmd::up::UpArgs),
    /// Stop and remove containers, networks
    Down(cmd::down::DownArgs),
    /// List containers
    Ps(cmd::ps::PsArgs),
    /// View output from containers
    Logs(cmd::logs::LogsArgs),
    /// Build or rebuild services
    Build(cmd::build::BuildArgs),
    /// Pull service images
    Pull(Services),
    /// Push service images
    Push(Services),
    /// Execute a command in a running container
    Exec(cmd::exec::ExecArgs),
    /// Run a one-off command on a service
    Run(cmd::exec::RunArgs),
    /// Start services
    Start(Services),
    /// Stop services
    Stop(Timeout),
    /// Restart service containers
    Restart(Timeout),
    /// Removes stopped service containers
    Rm(cmd::lifecycle::RmArgs),
    /// Force stop service containers
    Kill(cmd::lifecycle::KillArgs),
    /// Parse, resolve and render the compose file in canonical format
    #[command(visible_alias = "convert")]
    Config(cmd::config::ConfigArgs),
    /// List images used by the created containers
    Images(cmd::lifecycle::ImagesArgs),
    /// Display the running processes
    Top(Services),
    /// Show the Docker Compose version information
    Version,
}

/// Commands that take only service names.
#[derive(Debug, Args)]
pub(crate) struct Services {
    pub(crate) services: Vec<String>,
}

/// `stop`, `restart`.
#[derive(Debug, Args)]
pub(crate) struct Timeout {
    /// Specify a shutdown timeout in seconds
    #[arg(short = 't', long = "timeout")]
    pub(crate) timeout: Option<u32>,
    pub(crate) services: Vec<String>,
}

/// What every command works with.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    pub(crate) cl: Client,
    pub(crate) project: Arc<Project>,
    pub(crate) progress: Mode,
    /// Colours on stdout (log prefixes).
    pub(crate) color: bool,
}

/// Parses, loads the project, connects, runs; returns the exit code.
pub(crate) async fn run(args: Vec<OsString>) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            let code = match e.kind() {
                ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 0,
                _ => 1,
            };
            let _ = e.print();
            return code;
        }
    };
    if matches!(cli.cmd, Command::Version) {
        crate::out(&format!(
            "berth compose version {}\n",
            crate::labels::COMPOSE_VERSION
        ));
        return 0;
    }
    let project = match project(&cli) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{}", berth_client::describe(&e));
            return 1;
        }
    };
    // `config` needs no daemon.
    if let Command::Config(a) = &cli.cmd {
        return match cmd::config::config(&project, a) {
            Ok(()) => 0,
            Err(e) => berth_client::report(&e, 1),
        };
    }
    let host = berth_client::host::select(cli.host.as_deref());
    let cl = match berth_client::host::connect(&host).await {
        Ok(c) => c,
        Err(e) => return berth_client::report(&e, 1),
    };
    let color = match cli.ansi.as_str() {
        "never" => false,
        "always" => true,
        _ => std::io::IsTerminal::is_terminal(&std::io::stdout()),
    };
    let ctx = Ctx {
        cl,
        project: Arc::new(project),
        progress: if cli.ansi == "never" && cli.progress == Mode::Auto {
            Mode::Plain
        } else {
            cli.progress
        },
        color,
    };
    match dispatch(&ctx, cli.cmd).await {
        Ok(()) => 0,
        Err(e) => berth_client::report(&e, 1),
    }
}

/// Loads the project; with `-p` and no file, an empty project of that name (so `down`, `ps`,
/// `logs` work on a project whose file is gone, as with Compose).
fn project(cli: &Cli) -> Result<Project> {
    let opts = Options {
        files: cli.file.clone(),
        project_name: cli.project_name.clone(),
        project_directory: cli.project_directory.clone(),
        env_files: cli.env_file.clone(),
        profiles: cli.profile.clone(),
    };
    match load::load(&opts, &Environment::from_process()) {
        Ok(p) => Ok(p),
        Err(LoadError::NoFile { .. }) if cli.project_name.is_some() && cli.file.is_empty() => {
            let name = cli.project_name.clone().unwrap_or_default();
            Ok(Project {
                name,
                working_dir: std::env::current_dir()?,
                config_files: Vec::new(),
                file: crate::model::File::default(),
                disabled: Default::default(),
            })
        }
        Err(e) => Err(e.into()),
    }
}

async fn dispatch(ctx: &Ctx, cmd: Command) -> Result<()> {
    use cmd::lifecycle as l;
    match cmd {
        Command::Up(a) => cmd::up::up(ctx, a).await,
        Command::Down(a) => cmd::down::down(ctx, a).await,
        Command::Ps(a) => cmd::ps::ps(ctx, a).await,
        Command::Logs(a) => cmd::logs::logs(ctx, a).await,
        Command::Build(a) => cmd::build::build(ctx, a).await,
        Command::Pull(a) => l::pull(ctx, &a.services).await,
        Command::Push(a) => l::push(ctx, &a.services).await,
        Command::Exec(a) => cmd::exec::exec(ctx, a).await,
        Command::Run(a) => cmd::exec::run(ctx, a).await,
        Command::Start(a) => l::start(ctx, &a.services).await,
        Command::Stop(a) => l::stop(ctx, &a.services, a.timeout).await,
        Command::Restart(a) => l::restart(ctx, &a.services, a.timeout).await,
        Command::Rm(a) => l::rm(ctx, a).await,
        Command::Kill(a) => l::kill(ctx, a).await,
        Command::Images(a) => l::images(ctx, a).await,
        Command::Top(a) => l::top(ctx, &a.services).await,
        Command::Config(_) | Command::Version => Ok(()),
    }
}
