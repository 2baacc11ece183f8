//! Merging `-f a.yml -f b.yml` as Compose does: mappings merge key by key; a service's
//! `environment`, `labels`, `depends_on`, `networks`... merge by name whichever syntax each file
//! used; `ports`, `dns`, `cap_add`... append (without duplicates); `volumes` merge by container
//! path; `command`, `entrypoint` and scalars are replaced.

use serde_norway::{Mapping, Value};

/// Keys of a service whose lists or mappings merge by name.
const BY_NAME: &[&str] = &[
    "environment",
    "labels",
    "sysctls",
    "depends_on",
    "networks",
    "ulimits",
    "annotations",
];

/// Keys of a service whose lists append.
const APPEND: &[&str] = &[
    "ports",
    "expose",
    "dns",
    "dns_search",
    "dns_opt",
    "cap_add",
    "cap_drop",
    "env_file",
    "tmpfs",
    "security_opt",
    "profiles",
    "devices",
    "links",
    "external_links",
    "extra_hosts",
    "group_add",
    "volumes_from",
    "configs",
    "secrets",
];

/// Keys that replace whatever the earlier file said.
const REPLACE: &[&str] = &["command", "entrypoint"];

/// Merges `over` into `base` (top level of two files).
pub(crate) fn files(base: &mut Mapping, over: Mapping) {
    for (k, v) in over {
        match (k.as_str(), base.get_mut(&k)) {
            (Some("services"), Some(Value::Mapping(bs))) => {
                if let Value::Mapping(os) = v {
                    for (name, svc) in os {
                        match bs.get_mut(&name) {
                            Some(b) => service(b, svc),
                            None => {
                                bs.insert(name, svc);
                            }
                        }
                    }
                } else {
                    base.insert(k, v);
                }
            }
            (_, Some(b)) => deep(b, v),
            (_, None) => {
                base.insert(k, v);
            }
        }
    }
}

fn service(base: &mut Value, over: Value) {
    let (Value::Mapping(b), Value::Mapping(o)) = (&mut *base, &over) else {
        *base = over;
        return;
    };
    for (k, v) in o.clone() {
        let key = k.as_str().unwrap_or_default().to_owned();
        let Some(existing) = b.get_mut(&k) else {
            b.insert(k, v);
            continue;
        };
        if REPLACE.contains(&key.as_str()) {
            *existing = v;
        } else if BY_NAME.contains(&key.as_str()) {
            let mut m = as_mapping(existing.clone());
            for (name, val) in as_mapping(v) {
                match m.get_mut(&name) {
                    Some(cur) => deep(cur, val),
                    None => {
                        m.insert(name, val);
                    }
                }
            }
            *existing = Value::Mapping(m);
        } else if APPEND.contains(&key.as_str()) {
            let mut seq = as_sequence(existing.clone());
            for item in as_sequence(v) {
                if !seq.contains(&item) {
                    seq.push(item);
                }
            }
            *existing = Value::Sequence(seq);
        } else if key == "volumes" {
            *existing = Value::Sequence(volumes(as_sequence(existing.clone()), as_sequence(v)));
        } else if key == "build" {
            let mut b = build_mapping(existing.clone());
            deep_build(&mut b, build_mapping(v));
            *existing = Value::Mapping(b);
        } else {
            deep(existing, v);
        }
    }
}

/// Recursive merge of mappings; anything else is replaced.
fn deep(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Mapping(b), Value::Mapping(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(cur) => deep(cur, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

fn build_mapping(v: Value) -> Mapping {
    match v {
        Value::Mapping(m) => m,
        other => {
            let mut m = Mapping::new();
            m.insert("context".into(), other);
            m
        }
    }
}

fn deep_build(base: &mut Mapping, over: Mapping) {
    for (k, v) in over {
        let by_name = matches!(k.as_str(), Some("args" | "labels"));
        match base.get_mut(&k) {
            Some(cur) if by_name => {
                let mut m = as_mapping(cur.clone());
                for (name, val) in as_mapping(v) {
                    m.insert(name, val);
                }
                *cur = Value::Mapping(m);
            }
            Some(cur) => deep(cur, v),
            None => {
                base.insert(k, v);
            }
        }
    }
}

/// `[K=V, K]` → `{K: V, K: null}`; `[a, b]` (depends_on, networks) → `{a: null, b: null}`.
fn as_mapping(v: Value) -> Mapping {
    match v {
        Value::Mapping(m) => m,
        Value::Sequence(s) => s
            .into_iter()
            .map(|item| match item {
                Value::String(s) => match s.split_once('=') {
                    Some((k, v)) => (Value::from(k), Value::from(v)),
                    None => (Value::String(s), Value::Null),
                },
                other => (other, Value::Null),
            })
            .collect(),
        _ => Mapping::new(),
    }
}

fn as_sequence(v: Value) -> Vec<Value> {
    match v {
        Value::Sequence(s) => s,
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

/// The container path of a volume entry in either syntax.
fn volume_target(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => {
            let parts: Vec<&str> = s.split(':').collect();
            Some(match parts.as_slice() {
                [t] => (*t).to_owned(),
                [_, t, ..] => (*t).to_owned(),
                [] => return None,
            })
        }
        Value::Mapping(m) => m.get("target").and_then(Value::as_str).map(String::from),
        _ => None,
    }
}

fn volumes(mut base: Vec<Value>, over: Vec<Value>) -> Vec<Value> {
    for v in over {
        let target = volume_target(&v);
        match base
            .iter_mut()
            .find(|b| target.is_some() && volume_target(b) == target)
        {
            Some(slot) => *slot = v,
            None => base.push(v),
        }
    }
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Mapping {
        serde_norway::from_str(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn merges_as_compose_does() {
        let mut base = yaml(
            "services:\n  web:\n    image: a\n    command: [x, y]\n    environment: [A=1, B=2]\n    ports: ['80']\n    volumes: ['./a:/data', 'v:/v']\n    build: ./ctx\n",
        );
        let over = yaml(
            "services:\n  web:\n    image: b\n    command: z\n    environment: {B: 3, C: 4}\n    ports: ['80', '443']\n    volumes: ['./b:/data']\n    build: {args: {X: 1}}\n  db:\n    image: d\n",
        );
        files(&mut base, over);
        let want = yaml(
            "services:\n  web:\n    image: b\n    command: z\n    environment: {A: '1', B: 3, C: 4}\n    ports: ['80', '443']\n    volumes: ['./b:/data', 'v:/v']\n    build: {context: ./ctx, args: {X: 1}}\n  db:\n    image: d\n",
        );
        assert_eq!(base, want);
    }
}
