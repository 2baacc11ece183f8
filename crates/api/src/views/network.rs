//! `docker network inspect` shape.

use std::collections::{BTreeMap, HashMap};

use berth_network::NetworkInfo;
use serde_json::{Value, json};

use crate::version::ApiVersion;

/// Go writes maps with their keys sorted.
fn sorted(m: &HashMap<String, String>) -> BTreeMap<&String, &String> {
    m.iter().collect()
}

/// `GET /networks/{id}`, in dockerd's order. `names` maps container ids to names.
/// `EnableIPv4` arrived with API 1.47.
pub fn inspect(n: &NetworkInfo, names: &HashMap<String, String>, v: ApiVersion) -> Value {
    let config: Vec<Value> = n
        .subnet
        .iter()
        .map(|s| {
            if n.show_gateway {
                json!({"Subnet": s, "Gateway": n.gateway.clone().unwrap_or_default()})
            } else {
                json!({ "Subnet": s })
            }
        })
        .collect();
    let mut containers = serde_json::Map::new();
    for e in &n.endpoints {
        containers.insert(
            e.container_id.clone(),
            json!({
                "Name": names.get(&e.container_id).cloned().unwrap_or_else(|| e.container_name.clone()),
                "EndpointID": e.id,
                "MacAddress": e.mac,
                "IPv4Address": format!("{}/{}", e.ip, n.subnet.as_deref().and_then(|s| s.split('/').nth(1)).unwrap_or("16")),
                "IPv6Address": "",
            }),
        );
    }
    let mut out = json!({
        "Name": n.name,
        "Id": n.id,
        "Created": super::rfc3339(&n.created),
        "Scope": "local",
        "Driver": n.driver,
        "EnableIPv6": false,
        "IPAM": { "Driver": "default", "Options": null, "Config": config },
        "Internal": n.internal,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": { "Network": "" },
        "ConfigOnly": false,
        "Containers": containers,
        "Options": sorted(&n.options),
        "Labels": sorted(&n.labels),
    });
    if v.at_least(1, 47) {
        let mut m = serde_json::Map::new();
        for (k, val) in out.as_object().into_iter().flatten() {
            m.insert(k.clone(), val.clone());
            if k == "Driver" {
                m.insert("EnableIPv4".into(), json!(true));
            }
        }
        out = Value::Object(m);
    }
    out
}
