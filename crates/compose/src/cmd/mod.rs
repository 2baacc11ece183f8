//! One module per command family; helpers they share.

pub(crate) mod build;
pub(crate) mod config;
mod converge;
pub(crate) mod down;
pub(crate) mod exec;
pub(crate) mod lifecycle;
pub(crate) mod logs;
pub(crate) mod ps;
pub(crate) mod up;
mod wait;

use anyhow::{Result, bail};

use crate::cli::Ctx;
use crate::engine::{self, Container, OneOff};
use crate::model::Project;

/// The services a command names (all enabled ones when none), checked to exist.
pub(crate) fn select(project: &Project, names: &[String]) -> Result<Vec<String>> {
    if names.is_empty() {
        return Ok(project.file.services.keys().cloned().collect());
    }
    for n in names {
        if !project.file.services.contains_key(n) && !project.disabled.contains_key(n) {
            bail!("no such service: {n}");
        }
    }
    Ok(names.to_vec())
}

/// Naming a service disabled by its profiles enables it (and what it depends on), as Compose
/// does.
pub(crate) fn enable(project: &mut Project, names: &[String]) {
    let mut todo: Vec<String> = names.to_vec();
    while let Some(n) = todo.pop() {
        if let Some(svc) = project.disabled.remove(&n) {
            todo.extend(svc.depends_on.keys().cloned());
            project.file.services.insert(n, svc);
        }
    }
}

/// The project's service containers (not `run` ones), optionally only these services'.
pub(crate) async fn service_containers(
    ctx: &Ctx,
    services: &[String],
    all: bool,
) -> Result<Vec<Container>> {
    let list = engine::containers(&ctx.cl, &ctx.project.name, all, OneOff::Exclude).await?;
    Ok(list
        .into_iter()
        .filter(|c| services.is_empty() || services.contains(&c.service))
        .collect())
}

/// The short name a container is shown by in logs: `web-1` (v2's) or `web_1` (1.x's), from
/// its name without the project prefix.
pub(crate) fn short_name(project: &str, name: &str) -> String {
    name.strip_prefix(&format!("{project}-"))
        .or_else(|| name.strip_prefix(&format!("{project}_")))
        .unwrap_or(name)
        .to_owned()
}

/// Containers grouped for stopping: dependents before what they depend on, each group's
/// members independent of each other (so they stop in parallel).
pub(crate) fn stop_groups(project: &Project, list: Vec<Container>) -> Vec<Vec<Container>> {
    let graph = crate::graph::Graph::new(&project.file.services).ok();
    // Depth of a service = the longest chain of services depending on it.
    fn depth(g: &crate::graph::Graph, s: &str, seen: &mut Vec<String>) -> usize {
        if seen.iter().any(|x| x == s) {
            return 0;
        }
        seen.push(s.to_owned());
        let d = g
            .dependents(s)
            .iter()
            .map(|d| 1 + depth(g, d, seen))
            .max()
            .unwrap_or(0);
        seen.pop();
        d
    }
    let mut groups: Vec<Vec<Container>> = Vec::new();
    for c in list {
        let d = graph
            .as_ref()
            .map_or(0, |g| depth(g, &c.service, &mut Vec::new()));
        if groups.len() <= d {
            groups.resize_with(d + 1, Vec::new);
        }
        groups[d].push(c);
    }
    groups
}

/// Stops containers group by group (see [`stop_groups`]), each group in parallel.
pub(crate) async fn stop_all(
    ctx: &Ctx,
    progress: &crate::progress::Progress,
    list: Vec<Container>,
    timeout: Option<u32>,
) -> Result<()> {
    for group in stop_groups(&ctx.project, list) {
        let stops = group.iter().filter(|c| c.running()).map(|c| async move {
            progress.working("Container", &c.name, "Stopping");
            let r = engine::stop(&ctx.cl, &c.id, timeout).await;
            match &r {
                Ok(()) => progress.done("Container", &c.name, "Stopped"),
                Err(_) => progress.failed("Container", &c.name, "Error"),
            }
            r
        });
        for r in futures_util::future::join_all(stops).await {
            r?;
        }
    }
    Ok(())
}
