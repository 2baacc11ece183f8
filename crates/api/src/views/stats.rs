//! `GET /containers/{id}/stats` in dockerd's shape (its `StatsJSON`, keys in its order;
//! Go's `omitempty` fields left out when zero).

use berth_engine::container::record::ContainerRecord;
use berth_runtime::cgroups::Stats;
use serde_json::{Map, Value, json};

use super::{ZERO_TIME, rfc3339};

/// The blkio lists dockerd reports; berth's cgroup reader fills the first.
const BLKIO: &[&str] = &[
    "io_service_bytes_recursive",
    "io_serviced_recursive",
    "io_queue_recursive",
    "io_service_time_recursive",
    "io_wait_time_recursive",
    "io_merged_recursive",
    "io_time_recursive",
    "sectors_recursive",
];

fn zero_cpu() -> Value {
    json!({
        "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    })
}

fn cpu(s: &Stats, system: u64, ncpu: usize) -> Value {
    let c = &s.cpu;
    let mut usage = json!({"total_usage": c.total_usage});
    if !c.percpu_usage.is_empty() {
        usage["percpu_usage"] = json!(c.percpu_usage);
    }
    usage["usage_in_kernelmode"] = json!(c.usage_in_kernelmode);
    usage["usage_in_usermode"] = json!(c.usage_in_usermode);
    json!({
        "cpu_usage": usage,
        "system_cpu_usage": system,
        "online_cpus": ncpu,
        "throttling_data": {
            "periods": c.throttling_periods,
            "throttled_periods": c.throttled_periods,
            "throttled_time": c.throttled_time,
        },
    })
}

fn memory(s: &Stats) -> Value {
    let m = &s.memory;
    let mut out = Map::new();
    let mut put = |k: &str, v: u64| {
        if v > 0 {
            out.insert(k.to_owned(), json!(v));
        }
    };
    put("usage", m.usage);
    put("max_usage", m.max_usage);
    if !m.stats.is_empty() {
        out.insert("stats".into(), json!(m.stats));
    }
    let mut put = |k: &str, v: u64| {
        if v > 0 {
            out.insert(k.to_owned(), json!(v));
        }
    };
    put("failcnt", m.failcnt);
    put("limit", m.limit);
    Value::Object(out)
}

fn blkio(s: Option<&Stats>) -> Value {
    let mut out = Map::new();
    for (i, k) in BLKIO.iter().enumerate() {
        let v = match s {
            Some(s) if i == 0 => json!(
                s.io_service_bytes
                    .iter()
                    .map(|e| json!({"major": e.major, "minor": e.minor, "op": e.op, "value": e.value}))
                    .collect::<Vec<_>>()
            ),
            Some(_) => json!([]),
            None => Value::Null,
        };
        out.insert((*k).to_owned(), v);
    }
    Value::Object(out)
}

/// Interface counters of the container's network namespace (`/proc/<pid>/net/dev`), as
/// dockerd reports them per interface; loopback left out.
pub fn networks(pid: i32) -> Option<Value> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).ok()?;
    let mut out = Map::new();
    for line in text.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name == "lo" {
            continue;
        }
        let f: Vec<u64> = rest
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        if f.len() < 12 {
            continue;
        }
        out.insert(
            name.to_owned(),
            json!({
                "rx_bytes": f[0], "rx_packets": f[1], "rx_errors": f[2], "rx_dropped": f[3],
                "tx_bytes": f[8], "tx_packets": f[9], "tx_errors": f[10], "tx_dropped": f[11],
            }),
        );
    }
    Some(Value::Object(out))
}

/// One sample; `s` is `None` for a container that does not run (dockerd's zeroed sample).
pub fn sample(rec: &ContainerRecord, s: Option<&Stats>, system: u64, ncpu: usize) -> Value {
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_owned(), v);
    };
    let running = s.is_some();
    put(
        "read",
        json!(if running {
            rfc3339(&chrono::Utc::now())
        } else {
            ZERO_TIME.to_owned()
        }),
    );
    put("preread", json!(ZERO_TIME));
    let mut pids = Map::new();
    if let Some(s) = s {
        pids.insert("current".into(), json!(s.pids.current));
        if s.pids.limit > 0 && s.pids.limit < u64::MAX {
            pids.insert("limit".into(), json!(s.pids.limit));
        }
    }
    put("pids_stats", Value::Object(pids));
    put("blkio_stats", blkio(s));
    put("num_procs", json!(0));
    put("storage_stats", json!({}));
    put(
        "cpu_stats",
        s.map_or_else(zero_cpu, |s| cpu(s, system, ncpu)),
    );
    put("precpu_stats", zero_cpu());
    put("memory_stats", s.map_or_else(|| json!({}), memory));
    put("name", json!(format!("/{}", rec.name)));
    put("id", json!(rec.id));
    if running && let Some(n) = networks(rec.state.pid) {
        put("networks", n);
    }
    Value::Object(m)
}
