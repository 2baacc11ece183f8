//! `docker network inspect` shape.

use std::collections::HashMap;

use berth_network::NetworkInfo;
use serde_json::{Value, json};

/// `GET /networks/{id}`. `names` maps container ids to names.
pub fn inspect(n: &NetworkInfo, names: &HashMap<String, String>) -> Value {
    let config: Vec<Value> = n
        .subnet
        .iter()
        .map(|s| json!({"Subnet": s, "Gateway": n.gateway.clone().unwrap_or_default()}))
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
    json!({
        "Name": n.name,
        "Id": n.id,
        "Created": super::rfc3339(&n.created),
        "Scope": "local",
        "Driver": n.driver,
        "EnableIPv4": true,
        "EnableIPv6": false,
        "IPAM": { "Driver": "default", "Options": null, "Config": config },
        "Internal": n.internal,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": { "Network": "" },
        "ConfigOnly": false,
        "Containers": containers,
        "Options": n.options,
        "Labels": n.labels,
    })
}
