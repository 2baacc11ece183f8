//! Building the process to exec from runc's `exec` flags or a `--process` file.

use std::path::PathBuf;

use oci_spec::runtime::{Capability, Process, UserBuilder};

use super::CliError;
use super::args::ExecArgs;

/// The process `exec` runs: `--process` as given, or the container's own process with the
/// flags applied (runc's behaviour).
pub(crate) fn exec_process(base: &Process, a: &ExecArgs) -> Result<Process, CliError> {
    if let Some(path) = &a.process {
        let data = std::fs::read(path).map_err(|source| CliError::Io {
            what: "reading",
            path: path.clone(),
            source,
        })?;
        return serde_json::from_slice(&data)
            .map_err(|e| CliError::Usage(format!("parsing process file {}: {e}", path.display())));
    }
    if a.command.is_empty() {
        return Err(CliError::Usage(
            "exec needs a command (or --process)".into(),
        ));
    }
    let mut p = base.clone();
    p.set_args(Some(a.command.clone()));
    p.set_terminal(Some(a.tty));
    p.set_console_size(None);
    if let Some(cwd) = &a.cwd {
        p.set_cwd(PathBuf::from(cwd));
    }
    let mut env = p.env().clone().unwrap_or_default();
    for kv in &a.env {
        let key = kv.split('=').next().unwrap_or_default();
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    p.set_env(Some(env));
    if let Some(user) = &a.user {
        p.set_user(parse_user(user, &a.additional_gids)?);
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if !a.caps.is_empty() {
        add_caps(&mut p, &a.caps)?;
    }
    Ok(p)
}

fn parse_user(spec: &str, gids: &[u32]) -> Result<oci_spec::runtime::User, CliError> {
    let bad = || CliError::Usage(format!("invalid --user {spec:?}: expected uid[:gid]"));
    let (uid, gid): (u32, u32) = match spec.split_once(':') {
        Some((u, g)) => (u.parse().map_err(|_| bad())?, g.parse().map_err(|_| bad())?),
        None => (spec.parse().map_err(|_| bad())?, 0),
    };
    let mut b = UserBuilder::default().uid(uid).gid(gid);
    if !gids.is_empty() {
        b = b.additional_gids(gids.to_vec());
    }
    b.build().map_err(|e| CliError::Usage(e.to_string()))
}

fn add_caps(p: &mut Process, caps: &[String]) -> Result<(), CliError> {
    let parsed: Vec<Capability> = caps
        .iter()
        .map(|c| {
            c.parse()
                .map_err(|_| CliError::Usage(format!("unknown capability {c:?}")))
        })
        .collect::<Result<_, _>>()?;
    let mut set = p.capabilities().clone().unwrap_or_default();
    let add = |s: &Option<oci_spec::runtime::Capabilities>| {
        let mut s = s.clone().unwrap_or_default();
        s.extend(parsed.iter().copied());
        Some(s)
    };
    set.set_bounding(add(set.bounding()));
    set.set_effective(add(set.effective()));
    set.set_permitted(add(set.permitted()));
    p.set_capabilities(Some(set));
    Ok(())
}
