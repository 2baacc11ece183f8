//! dockerd's JSON shapes for the objects berth stores as Docker's API models: every key
//! dockerd writes, in its order, with Go's zero value where berth has nothing stored. The
//! generated models (`bollard-stubs`) skip absent fields when serialised; clients and diffs
//! expect dockerd's complete objects (`"User": ""`, `"Binds": null`, `"Runtime": "runc"`).

use serde_json::{Map, Value, json};

/// A key and what dockerd writes when the value is unset: `Some(zero)`, or `None` for
/// fields it leaves out when empty (`omitempty`).
type Key = (&'static str, Option<Value>);

fn keys(list: &[(&'static str, Option<Value>)]) -> Vec<Key> {
    list.to_vec()
}

/// `Config` of a container (and of an image).
pub(crate) fn container_config() -> Vec<Key> {
    let (n, s, f) = (Some(Value::Null), Some(json!("")), Some(json!(false)));
    keys(&[
        ("Hostname", s.clone()),
        ("Domainname", s.clone()),
        ("User", s.clone()),
        ("AttachStdin", f.clone()),
        ("AttachStdout", f.clone()),
        ("AttachStderr", f.clone()),
        ("ExposedPorts", None),
        ("Tty", f.clone()),
        ("OpenStdin", f.clone()),
        ("StdinOnce", f),
        ("Env", n.clone()),
        ("Cmd", n.clone()),
        ("Healthcheck", None),
        ("ArgsEscaped", None),
        ("Image", s.clone()),
        ("Volumes", n.clone()),
        ("WorkingDir", s),
        ("Entrypoint", n.clone()),
        ("NetworkDisabled", None),
        ("MacAddress", None),
        ("OnBuild", n.clone()),
        ("Labels", n),
        ("StopSignal", None),
        ("StopTimeout", None),
        ("Shell", None),
    ])
}

/// `HostConfig` of a container, resources included, as dockerd 20.10 lays it out.
pub(crate) fn host_config() -> Vec<Key> {
    let (n, s, z, f) = (
        Some(Value::Null),
        Some(json!("")),
        Some(json!(0)),
        Some(json!(false)),
    );
    keys(&[
        ("Binds", n.clone()),
        ("ContainerIDFile", s.clone()),
        ("LogConfig", Some(json!({"Type": "", "Config": null}))),
        ("NetworkMode", s.clone()),
        ("PortBindings", n.clone()),
        (
            "RestartPolicy",
            Some(json!({"Name": "", "MaximumRetryCount": 0})),
        ),
        ("AutoRemove", f.clone()),
        ("VolumeDriver", s.clone()),
        ("VolumesFrom", n.clone()),
        ("CapAdd", n.clone()),
        ("CapDrop", n.clone()),
        ("CgroupnsMode", s.clone()),
        ("Dns", n.clone()),
        ("DnsOptions", n.clone()),
        ("DnsSearch", n.clone()),
        ("ExtraHosts", n.clone()),
        ("GroupAdd", n.clone()),
        ("IpcMode", s.clone()),
        ("Cgroup", s.clone()),
        ("Links", n.clone()),
        ("OomScoreAdj", z.clone()),
        ("PidMode", s.clone()),
        ("Privileged", f.clone()),
        ("PublishAllPorts", f.clone()),
        ("ReadonlyRootfs", f.clone()),
        ("SecurityOpt", n.clone()),
        ("StorageOpt", None),
        ("Tmpfs", None),
        ("UTSMode", s.clone()),
        ("UsernsMode", s.clone()),
        ("ShmSize", z.clone()),
        ("Sysctls", None),
        ("Runtime", None),
        ("ConsoleSize", Some(json!([0, 0]))),
        ("Isolation", s.clone()),
        ("CpuShares", z.clone()),
        ("Memory", z.clone()),
        ("NanoCpus", z.clone()),
        ("CgroupParent", s.clone()),
        ("BlkioWeight", z.clone()),
        ("BlkioWeightDevice", n.clone()),
        ("BlkioDeviceReadBps", n.clone()),
        ("BlkioDeviceWriteBps", n.clone()),
        ("BlkioDeviceReadIOps", n.clone()),
        ("BlkioDeviceWriteIOps", n.clone()),
        ("CpuPeriod", z.clone()),
        ("CpuQuota", z.clone()),
        ("CpuRealtimePeriod", z.clone()),
        ("CpuRealtimeRuntime", z.clone()),
        ("CpusetCpus", s.clone()),
        ("CpusetMems", s),
        ("Devices", n.clone()),
        ("DeviceCgroupRules", n.clone()),
        ("DeviceRequests", n.clone()),
        ("KernelMemory", z.clone()),
        ("KernelMemoryTCP", z.clone()),
        ("MemoryReservation", z.clone()),
        ("MemorySwap", z.clone()),
        ("MemorySwappiness", n.clone()),
        ("OomKillDisable", f),
        ("PidsLimit", n.clone()),
        ("Ulimits", n.clone()),
        ("CpuCount", z.clone()),
        ("CpuPercent", z.clone()),
        ("IOMaximumIOps", z.clone()),
        ("IOMaximumBandwidth", z),
        ("Mounts", None),
        ("MaskedPaths", n.clone()),
        ("ReadonlyPaths", n),
        ("Init", None),
    ])
}

/// `value` (a serialised model) laid out as `keys`: dockerd's keys first, in its order, with
/// zero values for what is unset; any other key berth stored (a newer API's field) after
/// them.
pub(crate) fn ordered(value: &Value, keys: &[Key]) -> Value {
    let src = value.as_object();
    let mut out = Map::new();
    for (k, zero) in keys {
        match src.and_then(|m| m.get(*k)).filter(|v| !v.is_null()) {
            Some(v) => {
                out.insert((*k).to_owned(), v.clone());
            }
            None => {
                if let Some(z) = zero {
                    out.insert((*k).to_owned(), z.clone());
                }
            }
        }
    }
    for (k, v) in src.into_iter().flatten() {
        if !out.contains_key(k) && !v.is_null() {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

/// Serialises a model and lays it out as `keys`.
pub(crate) fn model<T: serde::Serialize>(m: &T, keys: &[Key]) -> Value {
    ordered(&serde_json::to_value(m).unwrap_or(Value::Null), keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_keys_get_go_zero_values_in_order() {
        let v = ordered(
            &json!({"Cmd": ["sh"], "Image": "busybox", "Extra": 1}),
            &container_config(),
        );
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys[0], "Hostname");
        assert_eq!(v["User"], "");
        assert_eq!(v["Env"], Value::Null);
        assert_eq!(v["Cmd"], json!(["sh"]));
        assert!(v.get("ExposedPorts").is_none(), "omitempty stays out");
        assert_eq!(keys.last().unwrap().as_str(), "Extra");
    }

    #[test]
    fn host_config_has_every_key() {
        let v = ordered(&json!({"NetworkMode": "bridge"}), &host_config());
        for k in [
            "Binds",
            "LogConfig",
            "RestartPolicy",
            "ShmSize",
            "Ulimits",
            "MaskedPaths",
        ] {
            assert!(v.get(k).is_some(), "{k}");
        }
        assert!(v.get("Runtime").is_none());
    }
}
