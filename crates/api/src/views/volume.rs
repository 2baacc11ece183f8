//! `docker volume inspect` shape.

use berth_engine::volumes::Volume;
use serde_json::{Value, json};

/// `GET /volumes/{name}`.
pub fn inspect(v: &Volume, size: Option<u64>, ref_count: usize) -> Value {
    // dockerd writes no labels and no options as null.
    let map = |m: &std::collections::HashMap<String, String>| {
        if m.is_empty() {
            Value::Null
        } else {
            json!(m.iter().collect::<std::collections::BTreeMap<_, _>>())
        }
    };
    let mut out = json!({
        "CreatedAt": v.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "Driver": v.driver,
        "Labels": map(&v.labels),
        "Mountpoint": v.mountpoint.display().to_string(),
        "Name": v.name,
        "Options": map(&v.options),
        "Scope": "local",
    });
    if let Some(s) = size {
        out["UsageData"] = json!({"RefCount": ref_count, "Size": s});
    }
    out
}
