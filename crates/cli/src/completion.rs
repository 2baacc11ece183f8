//! `berth completion <shell>` and `berth man`: shell completion and man pages generated from
//! the same clap definitions as the parser (`clap_complete`, `clap_mangen`), so neither can
//! fall behind a flag. For bash and fish, the arguments that name containers, images, networks
//! and volumes complete from the daemon (through berth's own `ps`/`images`/... with `--format`).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Args)]
pub(crate) struct CompletionArgs {
    /// The shell to print the completion script for
    #[arg(value_enum)]
    shell: Shell,
}

#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// Directory to write berth.1 and one berth-<command>.1 per command into
    #[arg(long, default_value = ".")]
    dir: PathBuf,
}

/// The commands whose arguments name containers (`berth stop`, `berth container stop`).
const CONTAINER_COMMANDS: &[&str] = &[
    "start", "stop", "restart", "kill", "rm", "logs", "exec", "attach", "wait", "inspect", "top",
    "stats", "pause", "unpause", "rename", "port", "cp", "diff", "update", "commit", "export",
];

/// Which daemon objects a command's arguments name.
const NAMED: &[(&str, &[&str])] = &[
    ("containers", CONTAINER_COMMANDS),
    (
        "images",
        &["rmi", "history", "save", "tag", "push", "run", "create"],
    ),
];

/// Group commands (`berth network rm`): the group, its object and the commands naming one.
const GROUPS: &[(&str, &str, &[&str])] = &[
    ("container", "containers", CONTAINER_COMMANDS),
    (
        "image",
        "images",
        &["rm", "history", "inspect", "save", "tag", "push"],
    ),
    (
        "network",
        "networks",
        &["rm", "inspect", "connect", "disconnect"],
    ),
    ("volume", "volumes", &["rm", "inspect"]),
];

/// The berth command that lists each kind of name.
const LISTERS: &[(&str, &str)] = &[
    (
        "containers",
        "berth ps -a --format '{{.Names}}' 2>/dev/null",
    ),
    (
        "images",
        "berth images --format '{{.Repository}}:{{.Tag}}' 2>/dev/null | grep -v '<none>'",
    ),
    (
        "networks",
        "berth network ls --format '{{.Name}}' 2>/dev/null",
    ),
    ("volumes", "berth volume ls -q 2>/dev/null"),
];

pub(crate) fn completion(a: &CompletionArgs) -> Result<()> {
    let mut cmd = crate::cli::command();
    let mut script = Vec::new();
    let shell = match a.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(shell, &mut cmd, "berth", &mut script);
    match a.shell {
        Shell::Bash => script.extend_from_slice(bash_names().as_bytes()),
        Shell::Fish => script.extend_from_slice(fish_names().as_bytes()),
        Shell::Zsh => {}
    }
    std::io::stdout()
        .write_all(&script)
        .context("writing the completion script")
}

fn lister(kind: &str) -> &'static str {
    LISTERS
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or("true", |(_, l)| l)
}

/// A wrapper around clap's `_berth`: a word that is not a flag, after a command that names
/// daemon objects, completes from the daemon; anything else is clap's.
fn bash_names() -> String {
    let mut cases = String::new();
    for (kind, cmds) in NAMED {
        cases.push_str(&format!("        {}) kind={kind} ;;\n", cmds.join("|")));
    }
    let mut groups = String::new();
    for (group, kind, cmds) in GROUPS {
        let patterns: Vec<String> = cmds.iter().map(|c| format!("\"{group} {c}\"")).collect();
        groups.push_str(&format!(
            "            {}) kind={kind} ;;\n",
            patterns.join("|")
        ));
    }
    let mut list = String::new();
    for (kind, _) in LISTERS {
        list.push_str(&format!("        {kind}) names=$({}) ;;\n", lister(kind)));
    }
    format!(
        r#"
# berth: names of containers, images, networks and volumes from the daemon.
_berth_with_names() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" words=() w kind="" names=""
    for w in "${{COMP_WORDS[@]:1:COMP_CWORD-1}}"; do
        case "$w" in -*) ;; *) words+=("$w") ;; esac
    done
    if [[ "$cur" != -* && ${{#words[@]}} -ge 1 ]]; then
        case "${{words[0]}}" in
{cases}        esac
        if [[ ${{#words[@]}} -ge 2 ]]; then
            case "${{words[0]}} ${{words[1]}}" in
{groups}            esac
        fi
    fi
    if [[ -n "$kind" ]]; then
        case "$kind" in
{list}        esac
        COMPREPLY=($(compgen -W "$names" -- "$cur"))
        [[ ${{#COMPREPLY[@]}} -gt 0 ]] && return 0
    fi
    _berth "$@"
}}
complete -F _berth_with_names -o bashdefault -o default berth
"#
    )
}

fn fish_names() -> String {
    let mut out = String::from("\n# berth: names from the daemon.\n");
    for (kind, cmds) in NAMED {
        out.push_str(&format!(
            "complete -c berth -n '__fish_seen_subcommand_from {}' -f -a '({})'\n",
            cmds.join(" "),
            lister(kind).replace('\'', "\\'")
        ));
    }
    out
}

/// Writes `berth.1` and a page per command (`berth-container-run.1`) into `a.dir`.
pub(crate) fn man(a: &ManArgs) -> Result<()> {
    std::fs::create_dir_all(&a.dir).with_context(|| format!("creating {}", a.dir.display()))?;
    let mut cmd = crate::cli::command();
    cmd.build();
    let mut written = 0;
    write_pages(&cmd, "berth", &a.dir, &mut written)?;
    eprintln!("{written} man pages written to {}", a.dir.display());
    Ok(())
}

fn write_pages(cmd: &clap::Command, name: &str, dir: &Path, written: &mut usize) -> Result<()> {
    if cmd.is_hide_set() {
        return Ok(());
    }
    let path = dir.join(format!("{name}.1"));
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .title(name.to_owned())
        .render(&mut buf)
        .with_context(|| format!("rendering {}", path.display()))?;
    std::fs::write(&path, buf).with_context(|| format!("writing {}", path.display()))?;
    *written += 1;
    for sub in cmd.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        write_pages(sub, &format!("{name}-{}", sub.get_name()), dir, written)?;
    }
    Ok(())
}
