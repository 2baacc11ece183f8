//! `.env` and `env_file` files: `KEY=VALUE` lines, `export ` prefixes, `#` comments, single
//! quotes (literal), double quotes (escapes, interpolation), unquoted values (interpolation,
//! trailing ` #comment` dropped). A later value may use an earlier one.

use std::collections::BTreeMap;

use super::interpolate::{self, Lookup, Problem};

/// A line that is not `KEY=VALUE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadLine {
    pub(crate) line: usize,
    pub(crate) why: String,
}

/// Parses a file's text; `outer` resolves variables the file itself does not set.
pub(crate) fn parse(
    text: &str,
    outer: &dyn Lookup,
) -> Result<BTreeMap<String, Option<String>>, BadLine> {
    let mut vars: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut lines = text.lines().enumerate();
    while let Some((n, raw)) = lines.next() {
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let bad = |why: &str| BadLine {
            line: n + 1,
            why: why.to_owned(),
        };
        let Some((key, value)) = line.split_once('=') else {
            // `KEY` alone: taken from the environment, if set there.
            let key = line.trim();
            if key.contains(char::is_whitespace) {
                return Err(bad("expected KEY=VALUE"));
            }
            vars.insert(key.to_owned(), None);
            continue;
        };
        let key = key.trim();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(bad("expected KEY=VALUE"));
        }
        let value = value.trim_start();
        let lookup = |name: &str| match vars.get(name) {
            Some(Some(v)) => Some(v.clone()),
            _ => outer.get(name),
        };
        let parsed = if let Some(rest) = value.strip_prefix('\'') {
            let (body, _) = closing(rest, '\'', &mut lines).ok_or_else(|| bad("unclosed '"))?;
            body
        } else if let Some(rest) = value.strip_prefix('"') {
            let (body, _) = closing(rest, '"', &mut lines).ok_or_else(|| bad("unclosed \""))?;
            let body = unescape(&body);
            interpolate::interpolate(&body, &lookup).map_err(|p| bad(&describe(&p)))?
        } else {
            let body = match value.find(" #") {
                Some(i) => &value[..i],
                None => value,
            };
            interpolate::interpolate(body.trim_end(), &lookup).map_err(|p| bad(&describe(&p)))?
        };
        vars.insert(key.to_owned(), Some(parsed));
    }
    Ok(vars)
}

fn describe(p: &Problem) -> String {
    match p {
        Problem::Required { var, message } => format!("required variable {var}: {message}"),
        Problem::Syntax(s) => s.clone(),
    }
}

/// The text up to the closing quote, continuing over following lines for multi-line values.
fn closing<'a>(
    first: &str,
    quote: char,
    lines: &mut impl Iterator<Item = (usize, &'a str)>,
) -> Option<(String, ())> {
    let mut body = String::new();
    let mut cur = first.to_owned();
    loop {
        let mut escaped = false;
        for (i, c) in cur.char_indices() {
            if quote == '"' && c == '\\' && !escaped {
                escaped = true;
                continue;
            }
            if c == quote && !escaped {
                body.push_str(&cur[..i]);
                return Some((body, ()));
            }
            escaped = false;
        }
        body.push_str(&cur);
        body.push('\n');
        cur = lines.next()?.1.to_owned();
    }
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(o) => out.push(o),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn parses_the_forms() {
        let text =
            "# comment\nA=1\nexport B = two\nC='$A lit'\nD=\"x\\ny $A\"\nE=v #c\nF=${A}2\nG\n";
        let v = parse(text, &none).unwrap_or_else(|e| panic!("{e:?}"));
        let get = |k: &str| v.get(k).cloned().flatten();
        assert_eq!(get("A").as_deref(), Some("1"));
        assert_eq!(get("B").as_deref(), Some("two"));
        assert_eq!(get("C").as_deref(), Some("$A lit"));
        assert_eq!(get("D").as_deref(), Some("x\ny 1"));
        assert_eq!(get("E").as_deref(), Some("v"));
        assert_eq!(get("F").as_deref(), Some("12"));
        assert_eq!(v.get("G"), Some(&None));
    }

    #[test]
    fn multi_line_and_errors() {
        let v = parse("K=\"a\nb\"\n", &none).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(v.get("K").cloned().flatten().as_deref(), Some("a\nb"));
        assert_eq!(parse("A B=1", &none).map_err(|e| e.line), Err(1));
        assert!(parse("A='x", &none).is_err());
    }
}
