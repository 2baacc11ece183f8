//! Go's `fmt` renderings that Docker's classic builder writes into history (`%q` of strings
//! and slices, `%v` of slices, `time.Duration.String`), so `created_by` reads as dockerd's.

use std::time::Duration;

/// `strconv.Quote`.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => {
                let n = c as u32;
                if n <= 0xffff {
                    out.push_str(&format!("\\u{n:04x}"));
                } else {
                    out.push_str(&format!("\\U{n:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `%q` of a `[]string`: `["a" "b"]`.
pub fn quote_list(v: &[String]) -> String {
    format!(
        "[{}]",
        v.iter().map(|s| quote(s)).collect::<Vec<_>>().join(" ")
    )
}

/// `%v` of a `[]string`: `[a b]`.
pub fn list(v: &[String]) -> String {
    format!("[{}]", v.join(" "))
}

/// `%q` of an int (a rune literal): `'\x00'`, `'a'`.
pub fn quote_rune(n: i64) -> String {
    match u32::try_from(n).ok().and_then(char::from_u32) {
        Some('\'') => "'\\''".into(),
        Some('\\') => "'\\\\'".into(),
        Some(c) if !c.is_control() && (c as u32) >= 0x20 => format!("'{c}'"),
        Some(c) => {
            let q = quote(&c.to_string());
            format!("'{}'", &q[1..q.len() - 1])
        }
        None => "'\u{fffd}'".into(),
    }
}

fn frac(mut v: u128, prec: u32) -> String {
    // The fractional digits of v / 10^prec, trailing zeros dropped.
    let mut digits = Vec::new();
    let mut print = false;
    for _ in 0..prec {
        let d = v % 10;
        print = print || d != 0;
        if print {
            digits.push(char::from(b'0' + u8::try_from(d).unwrap_or(0)));
        }
        v /= 10;
    }
    if digits.is_empty() {
        return String::new();
    }
    digits.reverse();
    format!(".{}", digits.into_iter().collect::<String>())
}

/// `time.Duration.String()`: `5s`, `1m30s`, `1h0m0s`, `100ms`, `0s`.
pub fn duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    if ns < 1_000_000_000 {
        let (div, unit, prec) = if ns < 1_000 {
            (1, "ns", 0)
        } else if ns < 1_000_000 {
            (1_000, "µs", 3)
        } else {
            (1_000_000, "ms", 6)
        };
        return format!("{}{}{unit}", ns / div, frac(ns % div, prec));
    }
    let secs = ns / 1_000_000_000;
    let sub = frac(ns % 1_000_000_000, 9);
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}{sub}s")
    } else if m > 0 {
        format!("{m}m{s}{sub}s")
    } else {
        format!("{s}{sub}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_go() {
        assert_eq!(
            quote_list(&["/bin/sh".into(), "-c".into()]),
            "[\"/bin/sh\" \"-c\"]"
        );
        assert_eq!(quote("a\"b\\\n"), "\"a\\\"b\\\\\\n\"");
        assert_eq!(list(&["/data".into(), "/x".into()]), "[/data /x]");
        assert_eq!(quote_rune(0), "'\\x00'");
        assert_eq!(quote_rune(3), "'\\x03'");
        assert_eq!(quote_rune(65), "'A'");
        assert_eq!(duration(Duration::from_secs(5)), "5s");
        assert_eq!(duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(duration(Duration::from_millis(100)), "100ms");
        assert_eq!(duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(duration(Duration::ZERO), "0s");
    }
}
