//! Variable interpolation in every string value of a file: `$VAR`, `${VAR}`, `${VAR:-default}`,
//! `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`, `${VAR+alt}`, and `$$` for a
//! literal `$`. Defaults may themselves hold variables.

use serde_norway::Value;

/// Why a string could not be interpolated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Problem {
    /// `${VAR:?message}` with `VAR` unset (or empty).
    Required { var: String, message: String },
    /// A `${` without its `}`, or a bad variable name.
    Syntax(String),
}

/// Looks a variable up (the shell's environment over `.env`).
pub(crate) trait Lookup {
    fn get(&self, name: &str) -> Option<String>;
}

impl<F: Fn(&str) -> Option<String>> Lookup for F {
    fn get(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// Interpolates one string.
pub(crate) fn interpolate(s: &str, env: &dyn Lookup) -> Result<String, Problem> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        if let Some(r) = rest.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(r) = rest.strip_prefix('{') {
            let end =
                closing_brace(r).ok_or_else(|| Problem::Syntax(format!("missing }} in {s:?}")))?;
            out.push_str(&braced(&r[..end], env)?);
            rest = &r[end + 1..];
        } else {
            let n = name_len(rest);
            if n == 0 {
                // A lone `$` (`cost: 5$`) stays as written.
                out.push('$');
            } else {
                out.push_str(&env.get(&rest[..n]).unwrap_or_default());
                rest = &rest[n..];
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The index of the `}` that closes the `${` just before `s`, across nested `${...}`.
fn closing_brace(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

fn name_len(s: &str) -> usize {
    s.bytes()
        .enumerate()
        .take_while(|(i, b)| {
            b.is_ascii_alphabetic() || *b == b'_' || (*i > 0 && b.is_ascii_digit())
        })
        .count()
}

/// `VAR`, `VAR:-x`, `VAR-x`, `VAR:?x`, `VAR?x`, `VAR:+x`, `VAR+x`.
fn braced(inner: &str, env: &dyn Lookup) -> Result<String, Problem> {
    let n = name_len(inner);
    if n == 0 {
        return Err(Problem::Syntax(format!(
            "invalid variable name in ${{{inner}}}"
        )));
    }
    let (name, op) = inner.split_at(n);
    let value = env.get(name);
    let set = value.is_some();
    let non_empty = value.as_deref().is_some_and(|v| !v.is_empty());
    let (colon, op) = match op.strip_prefix(':') {
        Some(o) => (true, o),
        None => (false, op),
    };
    let present = if colon { non_empty } else { set };
    let Some(kind) = op.chars().next() else {
        if colon {
            return Err(Problem::Syntax(format!("invalid expression ${{{inner}}}")));
        }
        return Ok(value.unwrap_or_default());
    };
    let arg = &op[1..];
    match kind {
        '-' if present => Ok(value.unwrap_or_default()),
        '-' => interpolate(arg, env),
        '?' if present => Ok(value.unwrap_or_default()),
        '?' => Err(Problem::Required {
            var: name.to_owned(),
            message: interpolate(arg, env)?,
        }),
        '+' if present => interpolate(arg, env),
        '+' => Ok(String::new()),
        _ => Err(Problem::Syntax(format!("invalid expression ${{{inner}}}"))),
    }
}

/// Interpolates every string in a YAML tree (values, not keys); on failure returns the path
/// of the value (`services.web.image`) with the problem.
pub(crate) fn tree(
    v: &mut Value,
    env: &dyn Lookup,
    path: &mut Vec<String>,
) -> Result<(), (String, Problem)> {
    match v {
        Value::String(s) => {
            *s = interpolate(s, env).map_err(|p| (path.join("."), p))?;
        }
        Value::Sequence(seq) => {
            for (i, item) in seq.iter_mut().enumerate() {
                path.push(format!("[{i}]"));
                let r = tree(item, env, path);
                path.pop();
                r?;
            }
        }
        Value::Mapping(m) => {
            for (k, item) in m.iter_mut() {
                path.push(k.as_str().map_or_else(|| format!("{k:?}"), String::from));
                let r = tree(item, env, path);
                path.pop();
                r?;
            }
        }
        Value::Tagged(t) => tree(&mut t.value, env, path)?,
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("db".into()),
            "EMPTY" => Some(String::new()),
            "PORT" => Some("5432".into()),
            _ => None,
        }
    }

    fn i(s: &str) -> Result<String, Problem> {
        interpolate(s, &env)
    }

    #[test]
    fn forms() {
        assert_eq!(i("$HOST:${PORT}"), Ok("db:5432".into()));
        assert_eq!(i("${NOPE:-x}"), Ok("x".into()));
        assert_eq!(i("${EMPTY:-x}"), Ok("x".into()));
        assert_eq!(i("${EMPTY-x}"), Ok(String::new()));
        assert_eq!(i("${NOPE-x}"), Ok("x".into()));
        assert_eq!(i("${HOST:+set}"), Ok("set".into()));
        assert_eq!(i("${NOPE:+set}"), Ok(String::new()));
        assert_eq!(i("$$HOST"), Ok("$HOST".into()));
        assert_eq!(i("${NOPE:-${HOST}}"), Ok("db".into()));
        assert_eq!(i("5$"), Ok("5$".into()));
        assert_eq!(i("$NOPE."), Ok(".".into()));
    }

    #[test]
    fn errors() {
        assert_eq!(
            i("${NOPE:?set NOPE}"),
            Err(Problem::Required {
                var: "NOPE".into(),
                message: "set NOPE".into()
            })
        );
        assert!(matches!(i("${EMPTY:?}"), Err(Problem::Required { .. })));
        assert_eq!(i("${EMPTY?x}"), Ok(String::new()));
        assert!(matches!(i("${HOST"), Err(Problem::Syntax(_))));
        assert!(matches!(i("${1X}"), Err(Problem::Syntax(_))));
    }
}
