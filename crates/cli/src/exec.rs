//! `exec`: create an exec instance, start it on a hijacked connection, exit with its code.

use anyhow::Result;
use clap::Args;
use serde_json::{Value, json};

use crate::StatusError;
use crate::client::{Client, encode};
use crate::stream::{self, Ended, PumpOpts};

#[derive(Debug, Args)]
#[allow(clippy::struct_excessive_bools)] // one bool per docker flag
pub(crate) struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short, long)]
    detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    detach_keys: Option<String>,
    /// Set environment variables
    #[arg(short, long)]
    env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    env_file: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    interactive: bool,
    /// Give extended privileges to the command
    #[arg(long)]
    privileged: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    tty: bool,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short, long)]
    user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    workdir: Option<String>,
    container: String,
    /// COMMAND [ARG...]
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true, num_args = 1..)]
    command: Vec<String>,
}

pub(crate) async fn exec(cl: &Client, a: ExecArgs) -> Result<()> {
    if !a.detach && a.tty && a.interactive && !crate::tty::stdin_is_tty() {
        return Err(StatusError::new(1, "the input device is not a TTY").into());
    }
    let mut env = Vec::new();
    for f in &a.env_file {
        env.extend(crate::opts::read_env_file(f)?);
    }
    env.extend(a.env.iter().map(|e| crate::opts::env_value(e)));
    let mut config = json!({
        "AttachStdin": a.interactive && !a.detach,
        "AttachStdout": !a.detach,
        "AttachStderr": !a.detach,
        "Tty": a.tty,
        "Cmd": a.command,
        "Privileged": a.privileged,
    });
    if !env.is_empty() {
        config["Env"] = json!(env);
    }
    if let Some(u) = &a.user {
        config["User"] = json!(u);
    }
    if let Some(w) = &a.workdir {
        config["WorkingDir"] = json!(w);
    }
    if let Some(k) = &a.detach_keys {
        config["DetachKeys"] = json!(k);
    }
    if let Some((h, w)) = crate::tty::size().filter(|_| a.tty) {
        config["ConsoleSize"] = json!([h, w]);
    }
    let created = cl
        .post_json(
            &format!("/containers/{}/exec", encode(&a.container)),
            Some(&config),
        )
        .await?;
    let id = created["Id"].as_str().unwrap_or("").to_string();
    let start_path = format!("/exec/{}/start", encode(&id));
    if a.detach {
        cl.post_json(&start_path, Some(&json!({"Detach": true, "Tty": a.tty})))
            .await?;
        return Ok(());
    }
    let conn = cl
        .hijack(&start_path, Some(&json!({"Detach": false, "Tty": a.tty})))
        .await?;
    let raw = (a.tty && a.interactive).then(crate::tty::RawMode::enter);
    let rcl = cl.clone();
    let rpath = format!("/exec/{}/resize", encode(&id));
    let ended = stream::pump(
        conn,
        PumpOpts {
            tty: a.tty,
            stdin: a.interactive,
            detach_keys: (a.tty && a.interactive)
                .then(|| stream::parse_detach_keys(a.detach_keys.as_deref()))
                .flatten(),
        },
        move |h, w| crate::run::resize(rcl.clone(), rpath.clone(), h, w),
    )
    .await;
    drop(raw);
    if ended? == Ended::Detached {
        return Ok(());
    }
    // The output can close a moment before the daemon records the exit code.
    let mut info = Value::Null;
    for _ in 0..100 {
        info = cl.get_json(&format!("/exec/{}/json", encode(&id))).await?;
        if info.get("Running").and_then(Value::as_bool) != Some(true) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let code = info.get("ExitCode").and_then(Value::as_i64).unwrap_or(0);
    if code != 0 {
        return Err(StatusError::code(i32::try_from(code).unwrap_or(1)).into());
    }
    Ok(())
}
