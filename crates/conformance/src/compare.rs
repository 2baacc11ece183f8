//! Two normalised answers side by side: status, error message, media type, and the body's
//! shape — keys present, their order, value types, null against empty — plus the values a
//! step names.

use serde_json::Value;

use crate::observe::{BodyKind, Observed};

/// One difference, located: `status`, `message`, `content-type`, `body`, or `body/<pointer>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diff {
    pub at: String,
    pub what: String,
}

fn diff(at: impl Into<String>, what: impl Into<String>) -> Diff {
    Diff {
        at: at.into(),
        what: what.into(),
    }
}

/// What to compare beyond the shape.
#[derive(Debug, Clone, Default)]
pub struct Expect<'a> {
    /// JSON pointers whose values must match (`""` is the whole body).
    pub values: &'a [String],
    /// JSON pointers whose values must match before normalisation.
    pub exact: &'a [String],
    /// Sort a list body by this pointer into its elements first.
    pub sort_by: Option<&'a str>,
}

/// `v` sorted by `key` into each element, when it is a list.
fn sorted(v: &Value, key: &str) -> Value {
    match v {
        Value::Array(a) => {
            let mut a = a.clone();
            a.sort_by_key(|e| e.pointer(key).map(Value::to_string).unwrap_or_default());
            Value::Array(a)
        }
        other => other.clone(),
    }
}

/// The differences between dockerd's answer (`d`) and berth's (`b`).
pub fn compare(d: &Observed, b: &Observed, expect: &Expect<'_>) -> Vec<Diff> {
    if let Some(key) = expect.sort_by {
        let order = |o: &Observed| Observed {
            body: sorted(&o.body, key),
            raw: sorted(&o.raw, key),
            ..o.clone()
        };
        return compare(
            &order(d),
            &order(b),
            &Expect {
                sort_by: None,
                ..expect.clone()
            },
        );
    }
    let mut out = Vec::new();
    if d.status != b.status {
        out.push(diff(
            "status",
            format!("dockerd {}, berth {}", d.status, b.status),
        ));
    }
    if d.status >= 400 || b.status >= 400 {
        if d.message != b.message && d.status >= 400 && b.status >= 400 {
            out.push(diff(
                "message",
                format!(
                    "dockerd {:?}, berth {:?}",
                    d.message.as_deref().unwrap_or(""),
                    b.message.as_deref().unwrap_or("")
                ),
            ));
        }
        return out;
    }
    if d.media_type != b.media_type && d.kind != BodyKind::Empty {
        out.push(diff(
            "content-type",
            format!("dockerd {:?}, berth {:?}", d.media_type, b.media_type),
        ));
    }
    if d.kind != b.kind {
        out.push(diff(
            "body",
            format!("dockerd {}, berth {}", d.kind.as_str(), b.kind.as_str()),
        ));
        return out;
    }
    shape(&d.body, &b.body, "body", &mut out);
    // Stdio streams, archives and text are what a process or a file made: compare them whole.
    let whole = matches!(d.kind, BodyKind::Stream | BodyKind::Tar | BodyKind::Text);
    if whole && d.body != b.body {
        out.push(diff(
            "body",
            format!("dockerd {}, berth {}", short(&d.body), short(&b.body)),
        ));
    }
    for p in expect.values {
        let (x, y) = (d.body.pointer(p), b.body.pointer(p));
        if x != y {
            out.push(diff(
                format!("body{p}"),
                format!(
                    "value: dockerd {}, berth {}",
                    x.map_or_else(|| "absent".to_owned(), short),
                    y.map_or_else(|| "absent".to_owned(), short)
                ),
            ));
        }
    }
    for p in expect.exact {
        let (x, y) = (d.raw.pointer(p), b.raw.pointer(p));
        if x != y {
            out.push(diff(
                format!("body{p}"),
                format!(
                    "exact value: dockerd {}, berth {}",
                    x.map_or_else(|| "absent".to_owned(), short),
                    y.map_or_else(|| "absent".to_owned(), short)
                ),
            ));
        }
    }
    if let (Some(x), Some(y)) = (&d.stat, &b.stat)
        && x != y
    {
        out.push(diff(
            "stat",
            format!("dockerd {}, berth {}", short(x), short(y)),
        ));
    }
    out.dedup();
    out
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 160 {
        let cut: String = s.chars().take(157).collect();
        format!("{cut}...")
    } else {
        s
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(a) if a.is_empty() => "[]",
        Value::Array(_) => "array",
        Value::Object(m) if m.is_empty() => "{}",
        Value::Object(_) => "object",
    }
}

/// Escapes a key for a JSON pointer.
fn seg(k: &str) -> String {
    k.replace('~', "~0").replace('/', "~1")
}

fn shape(d: &Value, b: &Value, at: &str, out: &mut Vec<Diff>) {
    match (d, b) {
        (Value::Object(x), Value::Object(y)) => {
            let missing: Vec<&str> = x
                .keys()
                .filter(|k| !y.contains_key(*k))
                .map(String::as_str)
                .collect();
            let extra: Vec<&str> = y
                .keys()
                .filter(|k| !x.contains_key(*k))
                .map(String::as_str)
                .collect();
            if !missing.is_empty() {
                out.push(diff(at, format!("berth lacks {}", missing.join(", "))));
            }
            if !extra.is_empty() {
                out.push(diff(at, format!("berth adds {}", extra.join(", "))));
            }
            let common_d: Vec<&String> = x.keys().filter(|k| y.contains_key(*k)).collect();
            let common_b: Vec<&String> = y.keys().filter(|k| x.contains_key(*k)).collect();
            if common_d != common_b {
                out.push(diff(at, order_note(&common_d, &common_b)));
            }
            for (k, v) in x {
                if let Some(w) = y.get(k) {
                    shape(v, w, &format!("{at}/{}", seg(k)), out);
                }
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.is_empty() != y.is_empty() {
                out.push(diff(
                    at,
                    format!("dockerd {} items, berth {}", x.len(), y.len()),
                ));
            }
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                shape(v, w, &format!("{at}/{i}"), out);
            }
        }
        _ => {
            let (t, u) = (type_name(d), type_name(b));
            if t != u {
                out.push(diff(at, format!("dockerd {t}, berth {u}")));
            }
        }
    }
}

/// The first key where the orders part.
fn order_note(d: &[&String], b: &[&String]) -> String {
    let i = d.iter().zip(b).position(|(x, y)| x != y).unwrap_or(0);
    format!(
        "key order: dockerd ..{}.., berth ..{}..",
        d[i..]
            .iter()
            .take(3)
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(","),
        b[i..]
            .iter()
            .take(3)
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(",")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obs(status: u16, body: Value) -> Observed {
        Observed {
            status,
            media_type: "application/json".into(),
            message: body
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .filter(|_| status >= 400),
            kind: BodyKind::Json,
            raw: body.clone(),
            body,
            stat: None,
        }
    }

    #[test]
    fn shapes_compare_keys_types_nulls_and_order() {
        let d = obs(200, json!({"A": 1, "B": null, "C": [], "D": {"x": "s"}}));
        let b = obs(
            200,
            json!({"A": "1", "B": [], "D": {"x": "t", "y": 1}, "C": [1]}),
        );
        let diffs = compare(&d, &b, &Expect::default());
        let at = |p: &str| diffs.iter().filter(|d| d.at == p).count();
        assert_eq!(at("body/A"), 1, "{diffs:?}");
        assert_eq!(at("body/B"), 1, "{diffs:?}");
        assert_eq!(at("body/C"), 1, "{diffs:?}");
        assert_eq!(at("body/D"), 1, "{diffs:?}");
        assert!(
            diffs.iter().any(|d| d.what.starts_with("key order")),
            "{diffs:?}"
        );
        assert!(!diffs.iter().any(|d| d.at == "body/D/x"));
    }

    #[test]
    fn errors_compare_status_and_message_only() {
        let d = obs(404, json!({"message": "No such container: x"}));
        let b = obs(404, json!({"message": "No such container: x", "extra": 1}));
        assert!(compare(&d, &b, &Expect::default()).is_empty());
        let b = obs(500, json!({"message": "boom"}));
        let diffs = compare(&d, &b, &Expect::default());
        assert_eq!(diffs.len(), 2);
    }

    #[test]
    fn named_values_must_match() {
        let d = obs(200, json!({"State": {"ExitCode": 137}}));
        let b = obs(200, json!({"State": {"ExitCode": 0}}));
        let values = vec!["/State/ExitCode".to_owned()];
        let diffs = compare(
            &d,
            &b,
            &Expect {
                values: &values,
                exact: &[],
                sort_by: None,
            },
        );
        assert_eq!(diffs.len(), 1);
        assert_eq!(diffs[0].at, "body/State/ExitCode");
    }
}
