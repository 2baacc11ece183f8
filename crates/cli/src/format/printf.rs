//! Go's `fmt.Sprintf` for JSON-shaped values: the verbs format strings in the wild use
//! (`%s %v %q %d %x %X %o %b %c %f %e %g %t %%`) with flags (`-+# 0`), width and precision.

use serde_json::Value;

use super::eval::to_text;

#[derive(Debug, Default)]
struct Spec {
    minus: bool,
    plus: bool,
    zero: bool,
    space: bool,
    sharp: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

pub(super) fn printf(fmt: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&f) = chars.peek() {
            match f {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '0' => spec.zero = true,
                ' ' => spec.space = true,
                '#' => spec.sharp = true,
                _ => break,
            }
            chars.next();
        }
        spec.width = number(&mut chars);
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.prec = Some(number(&mut chars).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        match args.next() {
            Some(v) => out.push_str(&pad(&spec, &format_one(verb, &spec, v), verb)),
            None => out.push_str(&format!("%!{verb}(MISSING)")),
        }
    }
    let extra: Vec<String> = args
        .map(|v| format!("{}={}", go_type(v), to_text(v)))
        .collect();
    if !extra.is_empty() {
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

fn number(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<usize> {
    let mut n: Option<usize> = None;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        n = Some(n.unwrap_or(0).saturating_mul(10).saturating_add(d as usize));
        chars.next();
    }
    n
}

fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

fn bad(verb: char, v: &Value) -> String {
    format!("%!{verb}({}={})", go_type(v), to_text(v))
}

fn format_one(verb: char, spec: &Spec, v: &Value) -> String {
    match (verb, v) {
        ('v' | 's', Value::String(s)) => truncate(s, spec.prec),
        ('v', _) => to_text(v),
        ('s', Value::Array(_) | Value::Object(_)) => to_text(v),
        ('q', Value::String(s)) => serde_json::to_string(s).unwrap_or_default(),
        ('x' | 'X', Value::String(s)) => {
            let hex: String = s.bytes().map(|b| format!("{b:02x}")).collect();
            if verb == 'X' { hex.to_uppercase() } else { hex }
        }
        ('t', Value::Bool(b)) => b.to_string(),
        (_, Value::Number(n)) => match n.as_i64() {
            Some(i) => integer(verb, spec, i).unwrap_or_else(|| bad(verb, v)),
            None => float(verb, spec, n.as_f64().unwrap_or(0.0)).unwrap_or_else(|| bad(verb, v)),
        },
        _ => bad(verb, v),
    }
}

fn truncate(s: &str, prec: Option<usize>) -> String {
    match prec {
        Some(p) => s.chars().take(p).collect(),
        None => s.to_string(),
    }
}

fn integer(verb: char, spec: &Spec, i: i64) -> Option<String> {
    let sign = if i < 0 {
        "-"
    } else if spec.plus {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    };
    let m = i.unsigned_abs();
    let digits = match verb {
        'd' | 'v' => m.to_string(),
        'x' => format!("{}{m:x}", if spec.sharp { "0x" } else { "" }),
        'X' => format!("{}{m:X}", if spec.sharp { "0X" } else { "" }),
        'o' => format!("{}{m:o}", if spec.sharp { "0" } else { "" }),
        'b' => format!("{m:b}"),
        'c' => {
            return u32::try_from(i)
                .ok()
                .and_then(char::from_u32)
                .map(String::from);
        }
        'q' => {
            let c = u32::try_from(i).ok().and_then(char::from_u32)?;
            return Some(format!("'{c}'"));
        }
        'f' | 'F' | 'e' | 'g' => {
            // Go refuses these on an integer; JSON numbers that happen to be whole are
            // floats as often as not, so format them as floats.
            #[allow(clippy::cast_precision_loss)] // JSON numbers are f64 in Go already
            return float(verb, spec, i as f64);
        }
        _ => return None,
    };
    let digits = match spec.prec {
        Some(p) if digits.len() < p => format!("{}{digits}", "0".repeat(p - digits.len())),
        _ => digits,
    };
    Some(format!("{sign}{digits}"))
}

fn float(verb: char, spec: &Spec, f: f64) -> Option<String> {
    let sign = if f.is_sign_negative() {
        ""
    } else if spec.plus {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    };
    let body = match verb {
        'f' | 'F' => format!("{f:.*}", spec.prec.unwrap_or(6)),
        'e' => go_exp(&format!("{f:.*e}", spec.prec.unwrap_or(6))),
        'g' | 'v' => match spec.prec {
            Some(p) => format!("{f:.p$}"),
            None => f.to_string(),
        },
        _ => return None,
    };
    Some(format!("{sign}{body}"))
}

/// Rust writes `1.5e3`, Go `1.5e+03`.
fn go_exp(s: &str) -> String {
    match s.split_once('e') {
        Some((m, e)) => {
            let (sign, digits) = match e.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', e),
            };
            format!("{m}e{sign}{digits:0>2}")
        }
        None => s.to_string(),
    }
}

/// Pads to the width: right with `-`, with zeros after the sign for numbers with `0`.
fn pad(spec: &Spec, s: &str, verb: char) -> String {
    let Some(w) = spec.width else {
        return s.to_string();
    };
    let len = s.chars().count();
    if len >= w {
        return s.to_string();
    }
    let fill = w - len;
    if spec.minus {
        return format!("{s}{}", " ".repeat(fill));
    }
    let numeric = !matches!(verb, 's' | 'q' | 'v' | 't' | 'c');
    if spec.zero && numeric {
        let (sign, digits) = match s.chars().next() {
            Some(c @ ('-' | '+' | ' ')) => (c.to_string(), &s[1..]),
            _ => (String::new(), s),
        };
        return format!("{sign}{}{digits}", "0".repeat(fill));
    }
    format!("{}{s}", " ".repeat(fill))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Each line as Go's fmt prints it (checked with docker 28's `--format`).
    #[test]
    fn verbs_flags_width_and_precision_as_go() {
        let p = |f: &str, a: Value| printf(f, a.as_array().map_or(&[][..], Vec::as_slice));
        assert_eq!(
            p(
                "%.5s|%8s|%-6d|%x",
                json!(["8847d6a273be", "fervent", 42, 255])
            ),
            "8847d| fervent|42    |ff"
        );
        assert_eq!(
            p("%05d|%+d|%x|%X", json!([42, 7, "hi", 255])),
            "00042|+7|6869|FF"
        );
        assert_eq!(
            p("%q|%v|%t", json!(["a\"b", [1, 2], true])),
            "\"a\\\"b\"|[1 2]|true"
        );
        assert_eq!(
            p("%.2f|%6.1f|%e", json!([1.23456, 2.5, 1500.0])),
            "1.23|   2.5|1.500000e+03"
        );
        assert_eq!(p("%s %s", json!(["only"])), "only %!s(MISSING)");
        assert_eq!(p("%d", json!(["x"])), "%!d(string=x)");
        assert_eq!(p("100%%", json!([])), "100%");
        assert_eq!(p("%s", json!(["a", "b"])), "a%!(EXTRA string=b)");
    }
}
