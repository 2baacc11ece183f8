//! Waiting on containers: a dependency's `condition`, and `up --wait`.

use std::time::Duration;

use anyhow::{Result, bail};
use serde_json::Value;

use crate::cli::Ctx;
use crate::engine;
use crate::model::service::Condition;

const POLL: Duration = Duration::from_millis(200);

/// Waits until every container of `service` meets `condition`.
pub(crate) async fn condition(ctx: &Ctx, service: &str, condition: Condition) -> Result<()> {
    let containers = super::service_containers(ctx, &[service.to_owned()], true).await?;
    if containers.is_empty() {
        bail!("dependency failed to start: service {service:?} has no container");
    }
    for c in containers {
        loop {
            let v = engine::inspect_container(&ctx.cl, &c.id).await?;
            match met(service, &c.name, &v, condition) {
                Ok(true) => break,
                Ok(false) => tokio::time::sleep(POLL).await,
                // What the dependency printed is usually why it failed.
                Err(e) => {
                    let logs = super::logs::tail(&ctx.cl, &c.id, 20)
                        .await
                        .unwrap_or_default();
                    if logs.trim().is_empty() {
                        return Err(e);
                    }
                    bail!("{e:#}\n{} logs:\n{logs}", c.name);
                }
            }
        }
    }
    Ok(())
}

fn met(service: &str, name: &str, v: &Value, condition: Condition) -> Result<bool> {
    let state = &v["State"];
    let status = state["Status"].as_str().unwrap_or_default();
    let exited = matches!(status, "exited" | "dead");
    let code = state["ExitCode"].as_i64().unwrap_or(0);
    match condition {
        Condition::ServiceStarted => Ok(status != "created"),
        Condition::ServiceHealthy => {
            let health = state["Health"]["Status"].as_str();
            match health {
                None if v["Config"]["Healthcheck"].is_null() => {
                    bail!(
                        "dependency failed to start: container {name} has no healthcheck configured"
                    )
                }
                Some("healthy") => Ok(true),
                Some("unhealthy") => {
                    bail!("dependency failed to start: container {name} is unhealthy")
                }
                _ if exited => {
                    bail!("dependency failed to start: container {name} exited ({code})")
                }
                _ => Ok(false),
            }
        }
        Condition::ServiceCompletedSuccessfully => {
            if !exited {
                return Ok(false);
            }
            if code != 0 {
                bail!("service {service:?} didn't complete successfully: exit {code}");
            }
            Ok(true)
        }
    }
}

/// `up --wait`: every container running, and healthy if it has a healthcheck.
pub(crate) async fn ready(ctx: &Ctx, id: &str, name: &str) -> Result<()> {
    loop {
        let v = engine::inspect_container(&ctx.cl, id).await?;
        let state = &v["State"];
        let status = state["Status"].as_str().unwrap_or_default();
        match (status, state["Health"]["Status"].as_str()) {
            ("exited" | "dead", _) => bail!(
                "container {name} exited ({})",
                state["ExitCode"].as_i64().unwrap_or(0)
            ),
            (_, Some("unhealthy")) => bail!("container {name} is unhealthy"),
            ("running", None | Some("healthy")) => return Ok(()),
            _ => tokio::time::sleep(POLL).await,
        }
    }
}
