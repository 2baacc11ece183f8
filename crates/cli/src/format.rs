//! A subset of Go's `text/template`, enough for docker's `--format` and `inspect -f`.
//!
//! Supported: `{{.A.B}}`, `{{.}}`, `{{json .X}}`, `{{index .M "k"}}`, `upper`, `lower`, `title`,
//! `join`, `split`, `len`, `printf`, `print`, `println`, `eq`, `ne`, `not`, `and`, `or`,
//! `truncate`, `pad`, pipelines with `|`, parentheses, `{{if}}/{{else}}/{{end}}`,
//! `{{range}}` (with `$k, $v :=` variables), `{{with}}` and `{{- -}}` trimming. Data is JSON:
//! docker evaluates templates against Go structs, whose printing we approximate.

use anyhow::{Result, anyhow, bail};
use serde_json::Value;

/// A parsed template.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipeline),
    If(Pipeline, Vec<Node>, Vec<Node>),
    With(Pipeline, Vec<Node>, Vec<Node>),
    Range(Vec<String>, Pipeline, Vec<Node>, Vec<Node>),
}

#[derive(Debug, Clone)]
struct Pipeline(Vec<Cmd>);

#[derive(Debug, Clone)]
struct Cmd(Vec<Arg>);

#[derive(Debug, Clone)]
enum Arg {
    /// `.A.B` (empty path is `.`), optionally rooted at a variable (`$v.A`).
    Field(Option<String>, Vec<String>),
    Lit(Value),
    Func(String),
    Sub(Pipeline),
}

/// How `.Field` lookups resolve: against data, or (for a table header) to the column name.
type HeaderFn<'a> = &'a dyn Fn(&str) -> String;

impl Template {
    /// Parses a template, after docker's `\t`/`\n` escape replacement.
    pub(crate) fn parse(src: &str) -> Result<Self> {
        let src = src.replace("\\t", "\t").replace("\\n", "\n");
        let raw = split_actions(&src)?;
        let mut pos = 0;
        let (nodes, end) = parse_nodes(&raw, &mut pos)?;
        if let Some(e) = end {
            bail!("template: unexpected {{{{{e}}}}}");
        }
        Ok(Self { nodes })
    }

    /// Renders against `data`.
    pub(crate) fn render(&self, data: &Value) -> Result<String> {
        let mut out = String::new();
        let mut vars = vec![("$".to_string(), data.clone())];
        exec_nodes(&self.nodes, data, &mut vars, None, &mut out)?;
        Ok(out)
    }

    /// Renders a table header: every field lookup yields its column name.
    pub(crate) fn render_header(&self, header: HeaderFn<'_>) -> Result<String> {
        let mut out = String::new();
        let mut vars = vec![("$".to_string(), Value::Null)];
        exec_nodes(&self.nodes, &Value::Null, &mut vars, Some(header), &mut out)?;
        Ok(out)
    }
}

/// A `--format` value: a template, `table` or `json`, as docker's formatter understands it.
#[derive(Debug, Clone)]
pub(crate) struct Format {
    /// Print a header row and align columns.
    pub(crate) table: bool,
    pub(crate) template: Template,
}

impl Format {
    /// `default` is the command's table template (`table {{.ID}}\t...`).
    pub(crate) fn new(user: Option<&str>, default: &str) -> Result<Self> {
        let src = match user {
            None | Some("") | Some("table") => default.to_string(),
            Some("json") => "{{json .}}".to_string(),
            Some(s) => s.to_string(),
        };
        let (table, body) = match src.strip_prefix("table") {
            Some(rest) => (true, rest.trim_start().to_string()),
            None => (false, src),
        };
        Ok(Self {
            table,
            template: Template::parse(&body)?,
        })
    }

    /// Renders rows (plus header for tables) and returns the text to print.
    pub(crate) fn render(&self, rows: &[Value], header: HeaderFn<'_>) -> Result<String> {
        let mut text = String::new();
        if self.table {
            let h = self.template.render_header(header)?;
            text.push_str(&h);
            text.push('\n');
        }
        for row in rows {
            text.push_str(&self.template.render(row)?);
            text.push('\n');
        }
        Ok(if self.table {
            crate::table::tabwrite(&text)
        } else {
            text
        })
    }
}

/// Fallback header for a field: `CreatedAt` -> `CREATED AT`.
pub(crate) fn default_header(field: &str) -> String {
    let mut s = String::new();
    let chars: Vec<char> = field.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        if i > 0
            && c.is_uppercase()
            && (chars[i - 1].is_lowercase() || chars.get(i + 1).is_some_and(|n| n.is_lowercase()))
        {
            s.push(' ');
        }
        s.extend(c.to_uppercase());
    }
    s
}

// ---- lexing into text and action pieces ----

#[derive(Debug)]
enum Piece {
    Text(String),
    Action(String),
}

fn split_actions(src: &str) -> Result<Vec<Piece>> {
    let mut pieces = Vec::new();
    let mut rest = src;
    let mut trim_next = false;
    while let Some(start) = rest.find("{{") {
        let mut text = &rest[..start];
        if trim_next {
            text = text.trim_start();
        }
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| anyhow!("template: unclosed action"))?;
        let mut inner = &after[..end];
        if let Some(s) = inner.strip_prefix("- ") {
            text = text.trim_end();
            inner = s;
        }
        trim_next = false;
        if let Some(s) = inner.strip_suffix(" -") {
            trim_next = true;
            inner = s;
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text.to_string()));
        }
        pieces.push(Piece::Action(inner.trim().to_string()));
        rest = &after[end + 2..];
    }
    let text = if trim_next { rest.trim_start() } else { rest };
    if !text.is_empty() {
        pieces.push(Piece::Text(text.to_string()));
    }
    Ok(pieces)
}

// Returns the nodes up to a closing keyword (`end` or `else`), which it also returns.
fn parse_nodes(pieces: &[Piece], pos: &mut usize) -> Result<(Vec<Node>, Option<String>)> {
    let mut nodes = Vec::new();
    while *pos < pieces.len() {
        let piece = &pieces[*pos];
        *pos += 1;
        match piece {
            Piece::Text(t) => nodes.push(Node::Text(t.clone())),
            Piece::Action(a) => {
                let (kw, rest) = match a.split_once(char::is_whitespace) {
                    Some((k, r)) => (k, r.trim()),
                    None => (a.as_str(), ""),
                };
                match kw {
                    "end" | "else" => return Ok((nodes, Some(kw.to_string()))),
                    "if" | "with" | "range" => {
                        let (vars, expr) = if kw == "range" {
                            split_range_vars(rest)
                        } else {
                            (Vec::new(), rest)
                        };
                        let pipe = parse_pipeline(&mut Lexer::new(expr))?;
                        let (body, end) = parse_nodes(pieces, pos)?;
                        let other = match end.as_deref() {
                            Some("else") => {
                                let (o, end2) = parse_nodes(pieces, pos)?;
                                if end2.as_deref() != Some("end") {
                                    bail!("template: missing {{{{end}}}}");
                                }
                                o
                            }
                            Some("end") => Vec::new(),
                            _ => bail!("template: missing {{{{end}}}}"),
                        };
                        nodes.push(match kw {
                            "if" => Node::If(pipe, body, other),
                            "with" => Node::With(pipe, body, other),
                            _ => Node::Range(vars, pipe, body, other),
                        });
                    }
                    _ if a.starts_with("/*") => {}
                    _ => nodes.push(Node::Action(parse_pipeline(&mut Lexer::new(a))?)),
                }
            }
        }
    }
    Ok((nodes, None))
}

fn split_range_vars(s: &str) -> (Vec<String>, &str) {
    if let Some((vars, expr)) = s.split_once(":=") {
        let names = vars
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| v.starts_with('$'))
            .collect();
        return (names, expr.trim());
    }
    (Vec::new(), s)
}

struct Lexer<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Lexer<'a> {
    fn new(s: &'a str) -> Self {
        Self {
            s: s.as_bytes(),
            i: 0,
        }
    }
    fn skip_ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.s.get(self.i).copied()
    }
    fn word(&mut self) -> String {
        let start = self.i;
        while self.i < self.s.len()
            && !self.s[self.i].is_ascii_whitespace()
            && !matches!(self.s[self.i], b'|' | b'(' | b')')
        {
            self.i += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
    }
}

fn parse_pipeline(lx: &mut Lexer<'_>) -> Result<Pipeline> {
    let mut cmds = vec![Cmd(Vec::new())];
    loop {
        match lx.peek() {
            None | Some(b')') => break,
            Some(b'|') => {
                lx.i += 1;
                cmds.push(Cmd(Vec::new()));
            }
            Some(b'(') => {
                lx.i += 1;
                let sub = parse_pipeline(lx)?;
                if lx.peek() != Some(b')') {
                    bail!("template: unclosed parenthesis");
                }
                lx.i += 1;
                push_arg(&mut cmds, Arg::Sub(sub));
            }
            Some(b'"') => {
                let start = lx.i;
                lx.i += 1;
                while lx.i < lx.s.len() && lx.s[lx.i] != b'"' {
                    if lx.s[lx.i] == b'\\' {
                        lx.i += 1;
                    }
                    lx.i += 1;
                }
                lx.i += 1;
                let lit = String::from_utf8_lossy(&lx.s[start..lx.i.min(lx.s.len())]).into_owned();
                let v: String = serde_json::from_str(&lit)
                    .map_err(|_| anyhow!("template: bad string {lit}"))?;
                push_arg(&mut cmds, Arg::Lit(Value::String(v)));
            }
            Some(b'`') => {
                lx.i += 1;
                let start = lx.i;
                while lx.i < lx.s.len() && lx.s[lx.i] != b'`' {
                    lx.i += 1;
                }
                let v = String::from_utf8_lossy(&lx.s[start..lx.i]).into_owned();
                lx.i += 1;
                push_arg(&mut cmds, Arg::Lit(Value::String(v)));
            }
            Some(_) => {
                let w = lx.word();
                push_arg(&mut cmds, word_arg(&w)?);
            }
        }
    }
    if cmds.iter().any(|c| c.0.is_empty()) {
        bail!("template: missing value for command");
    }
    Ok(Pipeline(cmds))
}

fn push_arg(cmds: &mut [Cmd], arg: Arg) {
    if let Some(last) = cmds.last_mut() {
        last.0.push(arg);
    }
}

fn word_arg(w: &str) -> Result<Arg> {
    if w == "." {
        return Ok(Arg::Field(None, Vec::new()));
    }
    if let Some(path) = w.strip_prefix('.') {
        return Ok(Arg::Field(
            None,
            path.split('.').map(String::from).collect(),
        ));
    }
    if w.starts_with('$') {
        let mut parts = w.split('.');
        let var = parts.next().unwrap_or("$").to_string();
        return Ok(Arg::Field(Some(var), parts.map(String::from).collect()));
    }
    match w {
        "true" => return Ok(Arg::Lit(Value::Bool(true))),
        "false" => return Ok(Arg::Lit(Value::Bool(false))),
        "nil" => return Ok(Arg::Lit(Value::Null)),
        _ => {}
    }
    if let Ok(n) = w.parse::<i64>() {
        return Ok(Arg::Lit(Value::from(n)));
    }
    if let Ok(n) = w.parse::<f64>() {
        return Ok(Arg::Lit(Value::from(n)));
    }
    if w.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return Ok(Arg::Func(w.to_string()));
    }
    bail!("template: unexpected {w:?}")
}

// ---- execution ----

type Vars = Vec<(String, Value)>;

fn exec_nodes(
    nodes: &[Node],
    dot: &Value,
    vars: &mut Vars,
    header: Option<HeaderFn<'_>>,
    out: &mut String,
) -> Result<()> {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Action(p) => out.push_str(&to_text(&eval_pipeline(p, dot, vars, header)?)),
            Node::If(p, a, b) | Node::With(p, a, b) => {
                let v = eval_pipeline(p, dot, vars, header)?;
                let is_with = matches!(node, Node::With(..));
                if header.is_some() || truthy(&v) {
                    let d = if is_with { &v } else { dot };
                    exec_nodes(a, d, vars, header, out)?;
                } else {
                    exec_nodes(b, dot, vars, header, out)?;
                }
            }
            Node::Range(names, p, body, other) => {
                let v = eval_pipeline(p, dot, vars, header)?;
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
                    exec_nodes(other, dot, vars, header, out)?;
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
                    exec_nodes(body, &x, vars, header, out)?;
                    vars.truncate(depth);
                }
            }
        }
    }
    Ok(())
}

fn eval_pipeline(
    p: &Pipeline,
    dot: &Value,
    vars: &Vars,
    header: Option<HeaderFn<'_>>,
) -> Result<Value> {
    let mut piped: Option<Value> = None;
    for cmd in &p.0 {
        piped = Some(eval_cmd(cmd, dot, vars, header, piped)?);
    }
    Ok(piped.unwrap_or(Value::Null))
}

fn eval_cmd(
    cmd: &Cmd,
    dot: &Value,
    vars: &Vars,
    header: Option<HeaderFn<'_>>,
    piped: Option<Value>,
) -> Result<Value> {
    let Some(first) = cmd.0.first() else {
        return Ok(Value::Null);
    };
    if let Arg::Func(name) = first {
        let mut args = Vec::new();
        for a in &cmd.0[1..] {
            args.push(eval_arg(a, dot, vars, header)?);
        }
        if let Some(v) = piped {
            args.push(v);
        }
        if header.is_some() && name != "json" {
            // Header rows: functions pass the column name through unchanged.
            return Ok(args
                .into_iter()
                .find(Value::is_string)
                .unwrap_or(Value::Null));
        }
        return call(name, args);
    }
    if cmd.0.len() > 1 || piped.is_some() {
        bail!("template: can't give argument to non-function");
    }
    eval_arg(first, dot, vars, header)
}

fn eval_arg(a: &Arg, dot: &Value, vars: &Vars, header: Option<HeaderFn<'_>>) -> Result<Value> {
    match a {
        Arg::Lit(v) => Ok(v.clone()),
        Arg::Sub(p) => eval_pipeline(p, dot, vars, header),
        Arg::Func(name) => call(name, Vec::new()),
        Arg::Field(var, path) => {
            if let Some(h) = header {
                return Ok(Value::String(match path.last() {
                    Some(f) => h(f),
                    None => String::new(),
                }));
            }
            let mut cur = match var {
                None => dot.clone(),
                Some(name) => vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| anyhow!("template: undefined variable {name:?}"))?,
            };
            for key in path {
                cur = match &cur {
                    Value::Object(m) => m.get(key).cloned().unwrap_or(Value::Null),
                    Value::Null => Value::Null,
                    other => bail!(
                        "template: can't evaluate field {key} in type {}",
                        type_name(other)
                    ),
                };
            }
            Ok(cur)
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "nil",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "slice",
        Value::Object(_) => "map",
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
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
        "index" => {
            let mut cur = args.first().cloned().unwrap_or(Value::Null);
            for k in args.iter().skip(1) {
                cur = match (&cur, k) {
                    (Value::Object(m), Value::String(k)) => {
                        m.get(k).cloned().unwrap_or(Value::Null)
                    }
                    (Value::Array(a), Value::Number(n)) => n
                        .as_u64()
                        .and_then(|i| usize::try_from(i).ok())
                        .and_then(|i| a.get(i).cloned())
                        .ok_or_else(|| anyhow!("template: index out of range"))?,
                    _ => Value::Null,
                };
            }
            cur
        }
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

// `%s`, `%v`, `%d`, `%q` and `%%`: what format strings in the wild use.
fn printf(fmt: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut it = args.iter();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('q') => out.push_str(
                &serde_json::to_string(&it.next().map(to_text).unwrap_or_default())
                    .unwrap_or_default(),
            ),
            Some(_) => out.push_str(&it.next().map(to_text).unwrap_or_default()),
            None => out.push('%'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(t: &str, v: &Value) -> String {
        Template::parse(t)
            .and_then(|t| t.render(v))
            .unwrap_or_else(|e| e.to_string())
    }

    #[test]
    fn fields_and_functions() {
        let v = json!({"State": {"Status": "running", "Pid": 42}, "Name": "/x",
                       "Config": {"Labels": {"a.b": "c"}, "Env": ["A=1", "B=2"]}});
        assert_eq!(render("{{.State.Status}}", &v), "running");
        assert_eq!(render("{{.State.Pid}}", &v), "42");
        // Key order follows serde_json's map (sorted, or insertion with preserve_order, which
        // the workspace build enables): compare values.
        let state: Value = serde_json::from_str(&render("{{json .State}}", &v)).unwrap_or_default();
        assert_eq!(state, json!({"Pid": 42, "Status": "running"}));
        assert_eq!(render(r#"{{index .Config.Labels "a.b"}}"#, &v), "c");
        assert_eq!(render(r#"{{join .Config.Env ","}}"#, &v), "A=1,B=2");
        assert_eq!(render("{{.Name | upper}}", &v), "/X");
        assert_eq!(render("{{.Config.Env}}", &v), "[A=1 B=2]");
        assert_eq!(render("{{.Missing}}", &v), "<nil>");
        assert_eq!(render("a\\tb", &v), "a\tb");
    }

    #[test]
    fn control_flow() {
        let v = json!({"L": {"k1": "v1", "k2": "v2"}, "A": [1, 2], "T": true});
        assert_eq!(
            render("{{range $k, $v := .L}}{{$k}}={{$v}};{{end}}", &v),
            "k1=v1;k2=v2;"
        );
        assert_eq!(render("{{range .A}}<{{.}}>{{end}}", &v), "<1><2>");
        assert_eq!(render("{{if .T}}yes{{else}}no{{end}}", &v), "yes");
        assert_eq!(render("{{if .F}}yes{{else}}no{{end}}", &v), "no");
        assert_eq!(render("{{- if .T -}}  x  {{- end}}", &v), "x");
        assert_eq!(render(r#"{{printf "%s-%d" "a" 3}}"#, &v), "a-3");
        assert_eq!(render("{{len .A}}", &v), "2");
    }

    #[test]
    fn table_format_and_headers() {
        let f = Format::new(Some("table {{.ID}}\t{{.CreatedAt}}"), "")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(f.table);
        let rows = vec![json!({"ID": "abc", "CreatedAt": "now"})];
        let out = f
            .render(&rows, &|h| default_header(h))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out, "ID        CREATED AT\nabc       now\n");
        let j = Format::new(Some("json"), "").unwrap_or_else(|e| panic!("{e}"));
        let line = j.render(&rows, &default_header).unwrap_or_default();
        assert!(line.ends_with('\n'), "{line:?}");
        let row: Value = serde_json::from_str(&line).unwrap_or_default();
        assert_eq!(row, json!({"CreatedAt": "now", "ID": "abc"}));
    }

    #[test]
    fn headers() {
        assert_eq!(default_header("CreatedAt"), "CREATED AT");
        assert_eq!(default_header("ID"), "ID");
        assert_eq!(default_header("LocalVolumes"), "LOCAL VOLUMES");
    }
}
