//! Template text to nodes: actions split out of the text, then each action's pipeline.
//! Every field reference keeps its byte offset in the source, for Go's `:line:col` errors.

use anyhow::{Result, anyhow, bail};
use serde_json::Value;

#[derive(Debug, Clone)]
pub(super) enum Node {
    Text(String),
    Action(Pipeline),
    If(Pipeline, Vec<Node>, Vec<Node>),
    With(Pipeline, Vec<Node>, Vec<Node>),
    Range(Vec<String>, Pipeline, Vec<Node>, Vec<Node>),
    /// `{{$x := pipeline}}`: binds `$x` for the rest of the enclosing block.
    Assign(String, Pipeline),
}

#[derive(Debug, Clone)]
pub(super) struct Pipeline(pub(super) Vec<Cmd>);

#[derive(Debug, Clone)]
pub(super) struct Cmd(pub(super) Vec<Arg>);

/// `.A.B` (an empty path is `.`), optionally rooted at a variable (`$v.A`).
#[derive(Debug, Clone)]
pub(super) struct FieldRef {
    pub(super) var: Option<String>,
    pub(super) path: Vec<String>,
    /// Where Go reports it: the second element of a chain, else the first.
    pub(super) pos: usize,
    /// As written, for `at <...>` in errors.
    pub(super) text: String,
}

#[derive(Debug, Clone)]
pub(super) enum Arg {
    Field(FieldRef),
    Lit(Value),
    Func(String),
    /// `(pipeline)`, optionally followed by a field chain: `(index .M "k").IP`.
    Sub(Pipeline, Option<FieldRef>),
}

#[derive(Debug)]
enum Piece {
    Text(String),
    /// The action's text and its offset in the source.
    Action(String, usize),
}

/// Parses the whole source into nodes.
pub(super) fn parse(src: &str) -> Result<Vec<Node>> {
    let raw = split_actions(src)?;
    let mut pos = 0;
    let (nodes, end) = parse_nodes(&raw, &mut pos)?;
    if let Some(e) = end {
        bail!("template: unexpected {{{{{e}}}}}");
    }
    Ok(nodes)
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
        let mut inner_at = src.len() - after.len();
        if let Some(s) = inner.strip_prefix("- ") {
            text = text.trim_end();
            inner = s;
            inner_at += 2;
        }
        trim_next = false;
        if let Some(s) = inner.strip_suffix(" -") {
            trim_next = true;
            inner = s;
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text.to_string()));
        }
        let trimmed = inner.trim_start();
        let at = inner_at + (inner.len() - trimmed.len());
        pieces.push(Piece::Action(trimmed.trim_end().to_string(), at));
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
            Piece::Action(a, at) => {
                let (kw, rest, rest_at) = match a.split_once(char::is_whitespace) {
                    Some((k, r)) => (k, r.trim(), at + a.len() - r.trim_start().len()),
                    None => (a.as_str(), "", at + a.len()),
                };
                match kw {
                    "end" | "else" => return Ok((nodes, Some(kw.to_string()))),
                    "if" | "with" | "range" => {
                        let (vars, expr, expr_at) = if kw == "range" {
                            split_range_vars(rest, rest_at)
                        } else {
                            (Vec::new(), rest, rest_at)
                        };
                        let pipe = parse_pipeline(&mut Lexer::new(expr, expr_at))?;
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
                    _ if kw.starts_with('$') && rest.starts_with(":=") => {
                        let expr = rest[2..].trim_start();
                        let expr_at = rest_at + rest.len() - expr.len();
                        let pipe = parse_pipeline(&mut Lexer::new(expr, expr_at))?;
                        nodes.push(Node::Assign(kw.to_string(), pipe));
                    }
                    _ => nodes.push(Node::Action(parse_pipeline(&mut Lexer::new(a, *at))?)),
                }
            }
        }
    }
    Ok((nodes, None))
}

/// `$k, $v := expr` → the variable names, `expr` and where it starts.
fn split_range_vars(s: &str, at: usize) -> (Vec<String>, &str, usize) {
    if let Some((vars, expr)) = s.split_once(":=") {
        let names = vars
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| v.starts_with('$'))
            .collect();
        let expr_at = at + s.len() - expr.trim_start().len();
        return (names, expr.trim(), expr_at);
    }
    (Vec::new(), s, at)
}

struct Lexer<'a> {
    s: &'a [u8],
    i: usize,
    /// Offset of `s` in the template source.
    base: usize,
    /// The last operand read, and where: Go reports a failed `(...).Field` chain there.
    last: (usize, String),
}

impl<'a> Lexer<'a> {
    fn new(s: &'a str, base: usize) -> Self {
        Self {
            s: s.as_bytes(),
            i: 0,
            base,
            last: (base, String::new()),
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
                // A field chain written right after the parenthesis applies to its value.
                let chain = if lx.s.get(lx.i) == Some(&b'.') {
                    let (pos, text) = lx.last.clone();
                    let w = lx.word();
                    Some(FieldRef {
                        var: None,
                        path: w[1..].split('.').map(String::from).collect(),
                        pos,
                        text,
                    })
                } else {
                    None
                };
                push_arg(&mut cmds, Arg::Sub(sub, chain));
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
                lx.last = (lx.base + start, lit.clone());
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
                let at = lx.base + lx.i;
                let w = lx.word();
                lx.last = (at, w.clone());
                push_arg(&mut cmds, word_arg(&w, at)?);
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

/// A field reference: Go reports a chain at its second element.
fn field(var: Option<String>, head: &str, w: &str, at: usize) -> Arg {
    let path: Vec<String> = if w.len() > head.len() {
        w[head.len() + 1..].split('.').map(String::from).collect()
    } else {
        Vec::new()
    };
    let second = match (&var, path.len()) {
        (None, n) if n >= 2 => head.len() + 1 + path[0].len(),
        (Some(_), n) if n >= 1 => head.len(),
        _ => 0,
    };
    Arg::Field(FieldRef {
        var,
        path,
        pos: at + second,
        text: w.to_string(),
    })
}

fn word_arg(w: &str, at: usize) -> Result<Arg> {
    if w == "." {
        return Ok(field(None, "", "", at));
    }
    if w.starts_with('.') {
        return Ok(field(None, "", w, at));
    }
    if w.starts_with('$') {
        let var = w.split('.').next().unwrap_or("$");
        return Ok(field(Some(var.to_string()), var, w, at));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(src: &str) -> Vec<(String, usize)> {
        fn pipe(p: &Pipeline, out: &mut Vec<(String, usize)>) {
            for a in p.0.iter().flat_map(|c| &c.0) {
                match a {
                    Arg::Field(f) => out.push((f.text.clone(), f.pos)),
                    Arg::Sub(inner, chain) => {
                        pipe(inner, out);
                        out.extend(chain.iter().map(|f| (f.text.clone(), f.pos)));
                    }
                    _ => {}
                }
            }
        }
        fn walk(nodes: &[Node], out: &mut Vec<(String, usize)>) {
            for n in nodes {
                let (p, rest): (&Pipeline, Vec<&[Node]>) = match n {
                    Node::Text(_) => continue,
                    Node::Action(p) | Node::Assign(_, p) => (p, vec![]),
                    Node::If(p, a, b) | Node::With(p, a, b) | Node::Range(_, p, a, b) => {
                        (p, vec![a, b])
                    }
                };
                pipe(p, out);
                for r in rest {
                    walk(r, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(&parse(src).unwrap_or_default(), &mut out);
        out
    }

    /// The offsets docker 28 prints (`template: :1:<col>:`) for these templates.
    #[test]
    fn fields_are_placed_where_go_reports_them() {
        assert_eq!(fields("{{.Nope}}"), [(".Nope".into(), 2)]);
        assert_eq!(fields("{{.Config.Nope}}"), [(".Config.Nope".into(), 9)]);
        assert_eq!(
            fields("ab{{.State.Nope.X}}"),
            [(".State.Nope.X".into(), 10)]
        );
        assert_eq!(fields("{{- .A.B -}}"), [(".A.B".into(), 6)]);
        // Go places a failed `(...).Field` at the parenthesis' last operand (docker 28:
        // `:1:35: executing "" at <"bridge">` for `{{(index .NetworkSettings.Networks
        // "bridge").Nope}}`).
        assert_eq!(
            fields(r#"{{(index .N "b").IP}} {{.Config.Nope}}"#),
            [
                (".N".into(), 9),
                ("\"b\"".into(), 12),
                (".Config.Nope".into(), 31)
            ]
        );
        assert_eq!(fields("{{range $k, $v := .L}}{{end}}"), [(".L".into(), 18)]);
        assert_eq!(
            fields("{{$x := .State}}{{$x.Nope}}"),
            [(".State".into(), 8), ("$x.Nope".into(), 20)]
        );
    }
}
