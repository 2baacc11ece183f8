//! Running parsed templates against JSON data, failing where and as Go's `text/template`
//! fails on docker's data.

use anyhow::{Result, anyhow, bail};
use serde_json::Value;

use super::parse::{Arg, Cmd, FieldRef, Node, Pipeline};
use super::printf::printf;

/// How `.Field` lookups resolve: against data, or (for a table header) to the column name.
pub(crate) type HeaderFn<'a> = &'a dyn Fn(&str) -> String;

/// What Go prints for a map key that is not there (an invalid `reflect.Value`).
pub(super) const NO_VALUE: &str = "<no value>";

/// What the data stands for, which decides how a lookup of a field it lacks fails.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Missing {
    /// API JSON (`inspect -f`, `info -f`): docker runs the template on its Go type and, when
    /// that fails, again on the raw JSON with `missingkey=error`. A key missing from a Go map
    /// (labels, networks, ports) prints `<no value>`; from a struct, it fails.
    NoEntry,
    /// A formatter context (`ps`, `images`, ...): a Go struct whose fields are methods, named
    /// as Go names its type (`formatter.ContainerContext`).
    Context(&'static str),
}

/// Everything evaluation needs besides the data and the variables.
#[derive(Clone, Copy)]
pub(super) struct Cx<'a> {
    pub(super) header: Option<HeaderFn<'a>>,
    pub(super) missing: Missing,
    pub(super) src: &'a str,
}

impl Cx<'_> {
    /// Go's execution error: `template: :line:col: executing "" at <field>: msg`.
    fn fail(&self, f: &FieldRef, msg: impl std::fmt::Display) -> anyhow::Error {
        let before = &self.src[..f.pos.min(self.src.len())];
        let line = 1 + before.matches('\n').count();
        let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1);
        anyhow!(
            "template: :{line}:{col}: executing \"\" at <{}>: {msg}",
            f.text
        )
    }
}

pub(super) type Vars = Vec<(String, Value)>;

pub(super) fn exec_nodes(
    nodes: &[Node],
    dot: &Value,
    vars: &mut Vars,
    cx: Cx<'_>,
    out: &mut String,
) -> Result<()> {
    // Variables declared in a block end with it.
    let depth = vars.len();
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Action(p) => out.push_str(&to_text(&eval_pipeline(p, dot, vars, cx)?)),
            Node::Assign(name, p) => {
                let v = eval_pipeline(p, dot, vars, cx)?;
                vars.push((name.clone(), v));
            }
            Node::If(p, a, b) | Node::With(p, a, b) => {
                let v = eval_pipeline(p, dot, vars, cx)?;
                let is_with = matches!(node, Node::With(..));
                // Header rows take a branch on the header's text, as docker's header
                // context does: a field with no header ("") is false.
                if truthy(&v) {
                    let d = if is_with { &v } else { dot };
                    exec_nodes(a, d, vars, cx, out)?;
                } else {
                    exec_nodes(b, dot, vars, cx, out)?;
                }
            }
            Node::Range(names, p, body, other) => {
                let v = eval_pipeline(p, dot, vars, cx)?;
                let items: Vec<(Value, Value)> = match &v {
                    Value::Array(a) => a
                        .iter()
                        .enumerate()
                        .map(|(i, x)| (Value::from(i), x.clone()))
                        .collect(),
                    Value::Object(m) => m
                        .iter()
                        .map(|(k, x)| (Value::String(k.clone()), x.clone()))
                        .collect(),
                    _ => Vec::new(),
                };
                if items.is_empty() {
                    exec_nodes(other, dot, vars, cx, out)?;
                }
                for (k, x) in items {
                    let depth = vars.len();
                    match names.as_slice() {
                        [v1] => vars.push((v1.clone(), x.clone())),
                        [k1, v1, ..] => {
                            vars.push((k1.clone(), k));
                            vars.push((v1.clone(), x.clone()));
                        }
                        _ => {}
                    }
                    exec_nodes(body, &x, vars, cx, out)?;
                    vars.truncate(depth);
                }
            }
        }
    }
    vars.truncate(depth);
    Ok(())
}

fn eval_pipeline(p: &Pipeline, dot: &Value, vars: &Vars, cx: Cx<'_>) -> Result<Value> {
    let mut piped: Option<Value> = None;
    for cmd in &p.0 {
        piped = Some(eval_cmd(cmd, dot, vars, cx, piped)?);
    }
    Ok(piped.unwrap_or(Value::Null))
}

fn eval_cmd(
    cmd: &Cmd,
    dot: &Value,
    vars: &Vars,
    cx: Cx<'_>,
    piped: Option<Value>,
) -> Result<Value> {
    let Some(first) = cmd.0.first() else {
        return Ok(Value::Null);
    };
    let mut args = Vec::new();
    for a in &cmd.0[1..] {
        args.push(eval_arg(a, dot, vars, cx)?);
    }
    args.extend(piped);
    match first {
        Arg::Func(name) => {
            if cx.header.is_some() && name != "json" {
                // Header rows: functions pass the column name through unchanged.
                return Ok(args
                    .into_iter()
                    .find(Value::is_string)
                    .unwrap_or(Value::Null));
            }
            call(name, args)
        }
        Arg::Field(f) if !args.is_empty() => method(f, dot, &args, cx),
        _ if !args.is_empty() => bail!("template: can't give argument to non-function"),
        _ => eval_arg(first, dot, vars, cx),
    }
}

/// `.Label "k"`: the one method with an argument docker's contexts have (containers,
/// images, volumes, networks). Any other field given arguments fails as Go fails.
fn method(f: &FieldRef, dot: &Value, args: &[Value], cx: Cx<'_>) -> Result<Value> {
    let name = f.path.last().map_or("", String::as_str);
    if let Some(h) = cx.header {
        // docker heads a `.Label "k"` column with the label's name.
        return Ok(Value::String(match (name, args.first()) {
            ("Label", Some(k)) => to_text(k),
            _ => h(name),
        }));
    }
    match cx.missing {
        Missing::Context(_) if name == "Label" && f.path.len() == 1 && f.var.is_none() => {
            if args.len() != 1 {
                return Err(cx.fail(
                    f,
                    format!("wrong number of args for Label: want 1 got {}", args.len()),
                ));
            }
            let want = to_text(&args[0]);
            Ok(Value::String(label(dot, &want).unwrap_or_default()))
        }
        Missing::Context(_) => Err(cx.fail(
            f,
            format!("wrong number of args for {name}: want 0 got {}", args.len()),
        )),
        Missing::NoEntry => Err(cx.fail(f, format!("{name} is not a method but has arguments"))),
    }
}

/// A label of a formatter row, whose `Labels` is docker's `k=v,k=v` text.
fn label(row: &Value, key: &str) -> Option<String> {
    let labels = row.get("Labels")?.as_str()?;
    labels.split(',').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == key).then(|| v.to_string())
    })
}

fn eval_arg(a: &Arg, dot: &Value, vars: &Vars, cx: Cx<'_>) -> Result<Value> {
    match a {
        Arg::Lit(v) => Ok(v.clone()),
        Arg::Sub(p, None) => eval_pipeline(p, dot, vars, cx),
        Arg::Sub(p, Some(chain)) => {
            let v = eval_pipeline(p, dot, vars, cx)?;
            if let Some(h) = cx.header {
                return Ok(Value::String(
                    chain.path.last().map(|f| h(f)).unwrap_or_default(),
                ));
            }
            walk(&v, chain, None, cx)
        }
        Arg::Func(name) => call(name, Vec::new()),
        Arg::Field(f) => {
            if let Some(h) = cx.header {
                return Ok(Value::String(match f.path.last() {
                    Some(name) => h(name),
                    None => String::new(),
                }));
            }
            let root = match &f.var {
                None => dot,
                Some(name) => vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v)
                    .ok_or_else(|| anyhow!("template: undefined variable {name:?}"))?,
            };
            if let (Missing::Context(_), [m], None) = (cx.missing, f.path.as_slice(), &f.var)
                && m == "Label"
                && root.get("Label").is_none()
            {
                return Err(cx.fail(f, "wrong number of args for Label: want 1 got 0"));
            }
            walk(root, f, f.var.as_deref(), cx)
        }
    }
}

/// Go maps in docker's API types: a key missing from one of these is `<no value>`, not an
/// error (the parent's name decides; `Config` is a map only under `LogConfig`).
fn is_go_map(parent: Option<&str>, grandparent: Option<&str>) -> bool {
    match parent {
        Some("Config") => grandparent == Some("LogConfig"),
        Some(p) => matches!(
            p,
            "Labels"
                | "Networks"
                | "Ports"
                | "ExposedPorts"
                | "Volumes"
                | "PortBindings"
                | "Sysctls"
                | "StorageOpt"
                | "Data"
                | "Options"
                | "Containers"
                | "DriverOpts"
                | "Status"
                | "Tmpfs"
                | "Annotations"
                | "DriverStatus"
        ),
        None => false,
    }
}

/// The JSON key of a Go field whose name differs from it: templates name the Go field
/// (`{{.Server.APIVersion}}`), the API sends the JSON tag (`ApiVersion`).
fn json_name(go_field: &str) -> Option<&'static str> {
    match go_field {
        "APIVersion" => Some("ApiVersion"),
        _ => None,
    }
}

/// Follows `f.path` from `root`, by reference, cloning only what it returns.
fn walk(root: &Value, f: &FieldRef, root_name: Option<&str>, cx: Cx<'_>) -> Result<Value> {
    let mut cur = root;
    let (mut parent, mut grandparent) = (root_name, None);
    for key in &f.path {
        cur = match cur {
            Value::Object(m) => {
                match m.get(key).or_else(|| json_name(key).and_then(|k| m.get(k))) {
                    Some(v) => v,
                    None => {
                        return match cx.missing {
                            Missing::Context(ty) => {
                                Err(cx.fail(f, format!("can't evaluate field {key} in type *{ty}")))
                            }
                            Missing::NoEntry if is_go_map(parent, grandparent) => {
                                Ok(Value::String(NO_VALUE.into()))
                            }
                            Missing::NoEntry => {
                                Err(cx.fail(f, format!("map has no entry for key \"{key}\"")))
                            }
                        };
                    }
                }
            }
            Value::Null => {
                return Err(cx.fail(f, format!("nil pointer evaluating interface {{}}.{key}")));
            }
            _ => {
                return Err(cx.fail(
                    f,
                    format!("can't evaluate field {key} in type interface {{}}"),
                ));
            }
        };
        grandparent = parent;
        parent = Some(key);
    }
    Ok(cur.clone())
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty() && s != NO_VALUE,
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

/// Go's `%v` for JSON-shaped data.
pub(crate) fn to_text(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(to_text).collect();
            format!("[{}]", items.join(" "))
        }
        Value::Object(m) => {
            let items: Vec<String> = m
                .iter()
                .map(|(k, x)| format!("{k}:{}", to_text(x)))
                .collect();
            format!("map[{}]", items.join(" "))
        }
    }
}

fn str_arg(args: &[Value], i: usize) -> String {
    args.get(i).map(to_text).unwrap_or_default()
}

/// `index m k...`: a key missing from a map of strings (labels, options) is `""`, Go's zero
/// value; from any other map, `<nil>`.
fn index(args: &[Value]) -> Result<Value> {
    let mut cur = args.first().cloned().unwrap_or(Value::Null);
    for k in args.iter().skip(1) {
        cur = match (&cur, k) {
            (Value::Object(m), Value::String(k)) => match m.get(k) {
                Some(v) => v.clone(),
                None if m.values().all(Value::is_string) => Value::String(String::new()),
                None => Value::Null,
            },
            (Value::Array(a), Value::Number(n)) => n
                .as_u64()
                .and_then(|i| usize::try_from(i).ok())
                .and_then(|i| a.get(i).cloned())
                .ok_or_else(|| anyhow!("template: index out of range"))?,
            _ => Value::Null,
        };
    }
    Ok(cur)
}

fn call(name: &str, args: Vec<Value>) -> Result<Value> {
    let s = |i| str_arg(&args, i);
    Ok(match name {
        "json" => Value::String(serde_json::to_string(args.first().unwrap_or(&Value::Null))?),
        "upper" => Value::String(s(0).to_uppercase()),
        "lower" => Value::String(s(0).to_lowercase()),
        "title" => Value::String(
            s(0).split(' ')
                .map(|w| {
                    let mut c = w.chars();
                    c.next()
                        .map(|f| f.to_uppercase().chain(c).collect())
                        .unwrap_or_default()
                })
                .collect::<Vec<String>>()
                .join(" "),
        ),
        "join" => {
            let items: Vec<String> = match args.first() {
                Some(Value::Array(a)) => a.iter().map(to_text).collect(),
                _ => Vec::new(),
            };
            Value::String(items.join(&s(1)))
        }
        "split" => Value::Array(s(0).split(&s(1)).map(|p| Value::String(p.into())).collect()),
        "len" => Value::from(match args.first() {
            Some(Value::Array(a)) => a.len(),
            Some(Value::Object(m)) => m.len(),
            Some(Value::String(x)) => x.len(),
            _ => 0,
        }),
        "index" => index(&args)?,
        "truncate" => {
            let n = args.get(1).and_then(Value::as_u64).unwrap_or(0);
            Value::String(s(0).chars().take(usize::try_from(n).unwrap_or(0)).collect())
        }
        "pad" => {
            let l = args.get(1).and_then(Value::as_u64).unwrap_or(0);
            let r = args.get(2).and_then(Value::as_u64).unwrap_or(0);
            let sp = |n: u64| " ".repeat(usize::try_from(n).unwrap_or(0));
            Value::String(format!("{}{}{}", sp(l), s(0), sp(r)))
        }
        "print" => Value::String(args.iter().map(to_text).collect::<Vec<_>>().join("")),
        "println" => Value::String(format!(
            "{}\n",
            args.iter().map(to_text).collect::<Vec<_>>().join(" ")
        )),
        "printf" => Value::String(printf(&s(0), &args[1.min(args.len())..])),
        "eq" => Value::Bool(args.len() >= 2 && args[1..].iter().any(|a| loose_eq(&args[0], a))),
        "ne" => Value::Bool(args.len() >= 2 && !loose_eq(&args[0], &args[1])),
        "not" => Value::Bool(!args.first().is_some_and(truthy)),
        "and" => args
            .iter()
            .find(|a| !truthy(a))
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Null),
        "or" => args
            .iter()
            .find(|a| truthy(a))
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Null),
        _ => bail!("template: function {name:?} not defined"),
    })
}

fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}
