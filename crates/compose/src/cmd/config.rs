//! `config`: the resolved model (merged, interpolated, normalized, names resolved), as YAML or
//! JSON; or one of its lists (`--services`, `--volumes`, `--networks`, `--images`,
//! `--profiles`); `-q` only validates.

use anyhow::{Result, bail};
use clap::Args;
use serde_json::Value;

use crate::model::Project;

#[derive(Debug, Args)]
#[allow(clippy::struct_excessive_bools)] // one bool per compose flag
pub(crate) struct ConfigArgs {
    /// Format the output. Values: [yaml | json]
    #[arg(long, default_value = "yaml")]
    format: String,
    /// Only validate the configuration, don't print anything
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Print the service names, one per line
    #[arg(long)]
    services: bool,
    /// Print the volume names, one per line
    #[arg(long)]
    volumes: bool,
    /// Print the network names, one per line
    #[arg(long)]
    networks: bool,
    /// Print the image names, one per line
    #[arg(long)]
    images: bool,
    /// Print the profile names, one per line
    #[arg(long)]
    profiles: bool,
    /// Print the service config hash, one per line ("*" for all)
    #[arg(long)]
    hash: Option<String>,
}

pub(crate) fn config(p: &Project, a: &ConfigArgs) -> Result<()> {
    if a.quiet {
        return Ok(());
    }
    let lines: Option<Vec<String>> = if a.services {
        Some(p.file.services.keys().cloned().collect())
    } else if a.volumes {
        Some(p.file.volumes.keys().cloned().collect())
    } else if a.networks {
        Some(p.file.networks.keys().cloned().collect())
    } else if a.images {
        Some(p.file.services.keys().map(|s| p.image_of(s)).collect())
    } else if a.profiles {
        let mut all: Vec<String> = p
            .file
            .services
            .values()
            .chain(p.disabled.values())
            .flat_map(|s| s.profiles.iter().cloned())
            .collect();
        all.sort();
        all.dedup();
        Some(all)
    } else {
        a.hash.as_ref().map(|h| {
            p.file
                .services
                .iter()
                .filter(|(n, _)| h == "*" || h.split(',').any(|x| x == n.as_str()))
                .map(|(n, s)| format!("{n} {}", crate::labels::config_hash(p, n, s)))
                .collect()
        })
    };
    if let Some(lines) = lines {
        lines.iter().for_each(|l| crate::out(&format!("{l}\n")));
        return Ok(());
    }
    let v = resolved(p)?;
    match a.format.as_str() {
        "json" => crate::out(&format!("{}\n", serde_json::to_string_pretty(&v)?)),
        "yaml" => crate::out(&serde_norway::to_string(&v)?),
        f => bail!("invalid --format {f:?}: expected \"yaml\" or \"json\""),
    }
    Ok(())
}

/// The model as scripts want it: the project's name first, engine names filled in.
fn resolved(p: &Project) -> Result<Value> {
    let mut file = serde_json::to_value(&p.file)?;
    let Value::Object(map) = &mut file else {
        bail!("the model did not serialize to a mapping");
    };
    map.remove("name");
    for (kind, key) in [("networks", true), ("volumes", false)] {
        if let Some(Value::Object(items)) = map.get_mut(kind) {
            for (k, v) in items.iter_mut() {
                let name = if key {
                    p.network_name(k)
                } else {
                    p.volume_name(k)
                };
                if let Value::Object(o) = v {
                    o.insert("name".into(), Value::from(name));
                }
            }
        }
    }
    let mut out = serde_json::Map::new();
    out.insert("name".into(), Value::from(p.name.clone()));
    out.extend(std::mem::take(map));
    Ok(Value::Object(out))
}
