//! `docker system df`: the summary table, and with `-v` a table per kind of object.

use anyhow::Result;
use serde_json::{Value, json};

use crate::client::Client;
use crate::format::{Format, default_header};
use crate::system::DfArgs;
use crate::table::{human_size, human_size4};
use crate::util::out;

#[allow(clippy::cast_precision_loss)] // sizes for display
pub(crate) async fn df(cl: &Client, a: DfArgs) -> Result<()> {
    let d = cl.get_json("/system/df").await?;
    if a.verbose && a.format.is_none() {
        return verbose(&d);
    }
    let n = |v: &Value, k: &str| v[k].as_i64().unwrap_or(0).max(0);
    let arr = |k: &str| d[k].as_array().cloned().unwrap_or_default();
    let reclaim = |r: i64, total: i64| {
        if total > 0 {
            format!("{} ({}%)", human_size4(r as f64), r * 100 / total)
        } else {
            human_size4(r as f64)
        }
    };
    let images = arr("Images");
    let img_size = d["LayersSize"]
        .as_i64()
        .unwrap_or_else(|| images.iter().map(|i| n(i, "Size")).sum());
    let active_imgs: Vec<&Value> = images.iter().filter(|i| n(i, "Containers") > 0).collect();
    let used: i64 = active_imgs
        .iter()
        .map(|i| n(i, "Size") - n(i, "SharedSize"))
        .sum();
    let containers = arr("Containers");
    let c_size: i64 = containers.iter().map(|c| n(c, "SizeRw")).sum();
    let c_active = containers
        .iter()
        .filter(|c| c["State"] == "running")
        .count();
    let c_reclaim: i64 = containers
        .iter()
        .filter(|c| c["State"] != "running")
        .map(|c| n(c, "SizeRw"))
        .sum();
    let volumes = arr("Volumes");
    let vsize = |v: &Value| {
        v.pointer("/UsageData/Size")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            .max(0)
    };
    let vrefs = |v: &Value| {
        v.pointer("/UsageData/RefCount")
            .and_then(Value::as_i64)
            .unwrap_or(0)
    };
    let v_size: i64 = volumes.iter().map(vsize).sum();
    let v_active = volumes.iter().filter(|v| vrefs(v) > 0).count();
    let v_reclaim: i64 = volumes.iter().filter(|v| vrefs(v) == 0).map(vsize).sum();
    let cache = arr("BuildCache");
    let b_size: i64 = cache.iter().map(|b| n(b, "Size")).sum();
    let b_active = cache
        .iter()
        .filter(|b| b["InUse"].as_bool().unwrap_or(false))
        .count();
    let b_reclaim: i64 = cache
        .iter()
        .filter(|b| !b["InUse"].as_bool().unwrap_or(false))
        .map(|b| n(b, "Size"))
        .sum();
    let rows = vec![
        json!({"Type": "Images", "TotalCount": images.len().to_string(), "Active": active_imgs.len().to_string(),
               "Size": human_size4(img_size as f64), "Reclaimable": reclaim((img_size - used).max(0), img_size)}),
        json!({"Type": "Containers", "TotalCount": containers.len().to_string(), "Active": c_active.to_string(),
               "Size": human_size4(c_size as f64), "Reclaimable": reclaim(c_reclaim, c_size)}),
        json!({"Type": "Local Volumes", "TotalCount": volumes.len().to_string(), "Active": v_active.to_string(),
               "Size": human_size4(v_size as f64), "Reclaimable": reclaim(v_reclaim, v_size)}),
        json!({"Type": "Build Cache", "TotalCount": cache.len().to_string(), "Active": b_active.to_string(),
               "Size": human_size4(b_size as f64), "Reclaimable": reclaim(b_reclaim, b_size)}),
    ];
    let f = Format::new(
        a.format.as_deref(),
        "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
        "formatter.diskUsageImagesContext",
    )?;
    out(&f.render(&rows, &|h| match h {
        "TotalCount" => "TOTAL".into(),
        other => default_header(other),
    })?);
    Ok(())
}

/// `system df -v`: images, containers, volumes and build cache, each under its heading, as
/// docker lays them out.
#[allow(clippy::cast_precision_loss)] // sizes for display
fn verbose(d: &Value) -> Result<()> {
    let n = |v: &Value, k: &str| v[k].as_i64().unwrap_or(0).max(0);
    let mut text = String::from("Images space usage:\n\n");
    let images = crate::images::image_rows(&d["Images"], true);
    text.push_str(&Format::new(
        None,
        "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}",
        "formatter.diskUsageContext",
    )?
    .render(&images, &crate::images::header)?);
    text.push_str("\nContainers space usage:\n\n");
    let containers: Vec<Value> = d["Containers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let mut row = crate::ps::row(c, true);
            row["Size"] = json!(human_size(n(c, "SizeRw") as f64));
            row
        })
        .collect();
    text.push_str(&Format::new(
        None,
        "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}",
        "formatter.diskUsageContext",
    )?
    .render(&containers, &crate::ps::header)?);
    text.push_str("\nLocal Volumes space usage:\n\n");
    let volumes: Vec<Value> = d["Volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| {
            let usage = |k: &str| v.pointer(&format!("/UsageData/{k}")).and_then(Value::as_i64);
            json!({
                "Name": v["Name"],
                "Links": usage("RefCount").map_or("N/A".into(), |r| r.to_string()),
                "Size": usage("Size").filter(|s| *s >= 0).map_or("N/A".into(), |s| human_size4(s as f64)),
            })
        })
        .collect();
    text.push_str(
        &Format::new(
            None,
            "table {{.Name}}\t{{.Links}}\t{{.Size}}",
            "formatter.diskUsageContext",
        )?
        .render(&volumes, &|h| match h {
            "Name" => "VOLUME NAME".into(),
            other => default_header(other),
        })?,
    );
    let cache = d["BuildCache"].as_array().cloned().unwrap_or_default();
    let total: i64 = cache.iter().map(|b| n(b, "Size")).sum();
    text.push_str(&format!(
        "\nBuild cache usage: {}\n\n",
        human_size4(total as f64)
    ));
    let cache: Vec<Value> = cache
        .iter()
        .map(|b| {
            let ago = |k: &str| {
                b[k].as_str()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .map_or_else(String::new, |t| crate::table::ago(t.timestamp()))
            };
            json!({
                "ID": b["ID"], "CacheType": b["Type"],
                "Size": human_size4(n(b, "Size") as f64),
                "CreatedSince": ago("CreatedAt"), "LastUsedSince": ago("LastUsedAt"),
                "UsageCount": n(b, "UsageCount").to_string(),
                "Shared": b["Shared"].as_bool().unwrap_or(false).to_string(),
            })
        })
        .collect();
    text.push_str(&Format::new(
        None,
        "table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}",
        "formatter.diskUsageContext",
    )?
    .render(&cache, &|h| match h {
        "ID" => "CACHE ID".into(),
        "CreatedSince" => "CREATED".into(),
        "LastUsedSince" => "LAST USED".into(),
        "UsageCount" => "USAGE".into(),
        other => default_header(other),
    })?);
    out(&text);
    Ok(())
}
