//! `docker volume inspect` shape.

use berth_engine::volumes::Volume;
use serde_json::{Value, json};

/// `GET /volumes/{name}`.
pub fn inspect(v: &Volume, size: Option<u64>, ref_count: usize) -> Value {
    let mut out = json!({
        "CreatedAt": v.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "Driver": v.driver,
        "Labels": v.labels,
        "Mountpoint": v.mountpoint.display().to_string(),
        "Name": v.name,
        "Options": v.options,
        "Scope": "local",
    });
    if let Some(s) = size {
        out["UsageData"] = json!({"Size": s, "RefCount": ref_count});
    }
    out
}
