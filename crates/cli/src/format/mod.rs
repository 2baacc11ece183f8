//! A subset of Go's `text/template`, enough for docker's `--format` and `inspect -f`.
//!
//! Supported: `{{.A.B}}`, `{{.}}`, `{{json .X}}`, `{{index .M "k"}}`, `upper`, `lower`, `title`,
//! `join`, `split`, `len`, `printf` (Go's verbs, flags, width, precision), `print`, `println`,
//! `eq`, `ne`, `not`, `and`, `or`, `truncate`, `pad`, the `.Label "k"` method, pipelines with
//! `|`, parentheses with a field chain (`(index .M "k").F`), `{{if}}/{{else}}/{{end}}`,
//! `{{range}}` (with `$k, $v :=` variables), `{{with}}`, `{{$x := ...}}` and `{{- -}}`
//! trimming. Data is JSON: docker evaluates templates against Go structs, whose printing and
//! failures (`<no value>`, "map has no entry for key", "can't evaluate field", with Go's
//! `:line:col`) we reproduce (`parse.rs`, `eval.rs`, `printf.rs`).

mod eval;
mod parse;
mod printf;

use anyhow::Result;
use serde_json::Value;

use eval::{Cx, exec_nodes};
pub(crate) use eval::{HeaderFn, Missing};
use parse::Node;

/// A parsed template.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    nodes: Vec<Node>,
    /// The source after escape replacement, for error positions.
    src: String,
    missing: Missing,
}

impl Template {
    /// Parses a template for API JSON (`inspect -f`), after docker's `\t`/`\n` escape
    /// replacement.
    pub(crate) fn parse(src: &str) -> Result<Self> {
        let src = src.replace("\\t", "\t").replace("\\n", "\n");
        Ok(Self {
            nodes: parse::parse(&src)?,
            src,
            missing: Missing::NoEntry,
        })
    }

    /// The same template run against a formatter context of Go type `ty`.
    pub(crate) fn in_context(mut self, ty: &'static str) -> Self {
        self.missing = Missing::Context(ty);
        self
    }

    fn cx<'a>(&'a self, header: Option<HeaderFn<'a>>) -> Cx<'a> {
        Cx {
            header,
            missing: self.missing,
            src: &self.src,
        }
    }

    /// Renders against `data`.
    pub(crate) fn render(&self, data: &Value) -> Result<String> {
        let mut out = String::new();
        let mut vars = vec![("$".to_string(), data.clone())];
        exec_nodes(&self.nodes, data, &mut vars, self.cx(None), &mut out)?;
        Ok(out)
    }

    /// Renders a table header: every field lookup yields its column name.
    pub(crate) fn render_header(&self, header: HeaderFn<'_>) -> Result<String> {
        let mut out = String::new();
        let mut vars = vec![("$".to_string(), Value::Null)];
        exec_nodes(
            &self.nodes,
            &Value::Null,
            &mut vars,
            self.cx(Some(header)),
            &mut out,
        )?;
        Ok(out)
    }
}

/// A `--format` value: a template, `table` or `json`, as docker's formatter understands it.
#[derive(Debug, Clone)]
pub(crate) struct Format {
    /// Print a header row and align columns.
    pub(crate) table: bool,
    pub(crate) template: Template,
    /// What docker's command writes before a template's execution error.
    error_prefix: &'static str,
}

impl Format {
    /// `default` is the command's table template (`table {{.ID}}\t...`); `context` the Go
    /// type docker's command runs templates against (`formatter.ContainerContext`), named in
    /// its errors.
    pub(crate) fn new(user: Option<&str>, default: &str, context: &'static str) -> Result<Self> {
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
            template: Template::parse(&body)?.in_context(context),
            // `docker ps` words it differently from the other list commands.
            error_prefix: if context == "formatter.ContainerContext" {
                "failed to execute template: "
            } else {
                "template parsing error: "
            },
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
            let line = self
                .template
                .render(row)
                .map_err(|e| anyhow::anyhow!("{}{e}", self.error_prefix))?;
            text.push_str(&line);
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
        assert_eq!(
            render("{{.Missing}}", &v),
            "template: :1:2: executing \"\" at <.Missing>: map has no entry for key \"Missing\""
        );
        assert_eq!(render("{{.Config.Labels.zz}}", &v), "<no value>");
        assert_eq!(render(r#"{{index .Config.Labels "zz"}}|"#, &v), "|");
        assert_eq!(render("{{if .Config.Labels.zz}}y{{else}}n{{end}}", &v), "n");
        assert_eq!(render("a\\tb", &v), "a\tb");
    }

    #[test]
    fn control_flow() {
        let v = json!({"L": {"k1": "v1", "k2": "v2"}, "A": [1, 2], "T": true, "F": false});
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
        let f = Format::new(
            Some("table {{.ID}}\t{{.CreatedAt}}"),
            "",
            "formatter.imageContext",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(f.table);
        let rows = vec![json!({"ID": "abc", "CreatedAt": "now"})];
        let out = f
            .render(&rows, &|h| default_header(h))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out, "ID        CREATED AT\nabc       now\n");
        let j = Format::new(Some("json"), "", "formatter.imageContext")
            .unwrap_or_else(|e| panic!("{e}"));
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

    /// Failures and methods as docker 28 shows them for the same data.
    #[test]
    fn lookups_fail_as_go_fails() {
        let v = json!({"State": {"Pid": 7, "Health": null}, "Config": {"Entrypoint": null},
                       "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.2"}}}});
        assert_eq!(
            render(
                r#"{{(index .NetworkSettings.Networks "bridge").IPAddress}}"#,
                &v
            ),
            "172.17.0.2"
        );
        assert_eq!(
            render(r#"{{(index .NetworkSettings.Networks "bridge").Nope}}"#, &v),
            "template: :1:35: executing \"\" at <\"bridge\">: map has no entry for key \"Nope\""
        );
        assert_eq!(
            render("{{.Config.Entrypoint.X}}", &v),
            "template: :1:9: executing \"\" at <.Config.Entrypoint.X>: nil pointer evaluating interface {}.X"
        );
        assert_eq!(
            render("{{$x := .State}}{{$x.Pid}}{{$x.Nope}}", &v),
            "template: :1:30: executing \"\" at <$x.Nope>: map has no entry for key \"Nope\""
        );
        assert_eq!(render("{{$x := .State}}{{$x.Pid}}", &v), "7");
        assert_eq!(
            render(r#"{{index .NetworkSettings.Networks "zz"}}"#, &v),
            "<nil>"
        );
        assert_eq!(
            render(r#"{{.State "x"}}"#, &v),
            "template: :1:2: executing \"\" at <.State>: State is not a method but has arguments"
        );
        let row = json!({"ID": "abc", "Labels": "a=1,x=yes"});
        let f = Format::new(
            Some(r#"{{.Label "x"}}|{{.Label "none"}}|{{printf "%.2s" .ID}}"#),
            "",
            "formatter.ContainerContext",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            f.render(std::slice::from_ref(&row), &default_header)
                .unwrap_or_default(),
            "yes||ab\n"
        );
        let bad = |t: &str| {
            Format::new(Some(t), "", "formatter.ContainerContext")
                .and_then(|f| f.render(std::slice::from_ref(&row), &default_header))
                .unwrap_or_else(|e| e.to_string())
        };
        assert_eq!(
            bad("{{.Nope}}"),
            "failed to execute template: template: :1:2: executing \"\" at <.Nope>: can't evaluate field Nope in type *formatter.ContainerContext"
        );
        assert_eq!(
            bad("{{.Label}}"),
            "failed to execute template: template: :1:2: executing \"\" at <.Label>: wrong number of args for Label: want 1 got 0"
        );
        assert_eq!(
            bad(r#"{{.ID "x"}}"#),
            "failed to execute template: template: :1:2: executing \"\" at <.ID>: wrong number of args for ID: want 0 got 1"
        );
    }
}
