//! One line of a json-file log. Every line berth's monitor (and dockerd) writes has one shape,
//! `{"log":"…","stream":"stdout","time":"…"}`, so it is scanned in place: the string is copied
//! once (unescaped where it has escapes) and the time parsed only when the reader asked for it.
//! A line of any other shape (keys reordered, extra keys, whitespace) goes through serde_json,
//! which reads any JSON object; both give the same entry for the same line.

use serde::Deserialize;

use super::LogEntry;
use crate::monitor::logfile::Stream;

/// Parses one line (its newline optional). Without `want_time` the entry's `time_ns` is 0 and
/// the time text is not parsed: `logs` without `--since`, `--until` or `--timestamps`.
pub fn parse_line(line: &[u8], want_time: bool) -> Option<LogEntry> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    fast(line, want_time).or_else(|| general(line))
}

fn fast(line: &[u8], want_time: bool) -> Option<LogEntry> {
    let rest = line.strip_prefix(br#"{"log":""#)?;
    let mut text = Vec::with_capacity(rest.len().saturating_sub(48));
    let rest = unescape(rest, &mut text)?;
    let (stream, rest) = if let Some(r) = rest.strip_prefix(br#","stream":"stdout","time":""#) {
        (Stream::Stdout, r)
    } else {
        let r = rest.strip_prefix(br#","stream":"stderr","time":""#)?;
        (Stream::Stderr, r)
    };
    let time = rest.strip_suffix(br#""}"#)?;
    // A time has no escapes or quotes; anything else is for the general parser.
    if time.iter().any(|&b| b == b'"' || b == b'\\') {
        return None;
    }
    let time_ns = if want_time { time_ns(time)? } else { 0 };
    Some(LogEntry {
        stream,
        time_ns,
        line: text,
    })
}

fn time_ns(text: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(text).ok()?;
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()?
        .timestamp_nanos_opt()
}

/// Copies the JSON string that `s` starts inside (after its opening quote) into `out`,
/// unescaped; returns what follows its closing quote. `None` for what JSON does not allow
/// (a bad escape, a lone surrogate, a raw control character, invalid UTF-8) — the general
/// parser then judges the line.
fn unescape<'a>(mut s: &'a [u8], out: &mut Vec<u8>) -> Option<&'a [u8]> {
    loop {
        let i = memchr::memchr2(b'"', b'\\', s)?;
        let plain = &s[..i];
        if plain.iter().any(|&b| b < 0x20) || std::str::from_utf8(plain).is_err() {
            return None;
        }
        out.extend_from_slice(plain);
        if s[i] == b'"' {
            return Some(&s[i + 1..]);
        }
        let escape = *s.get(i + 1)?;
        s = &s[i + 2..];
        let byte = match escape {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let (c, rest) = unicode_escape(s)?;
                s = rest;
                out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                continue;
            }
            _ => return None,
        };
        out.push(byte);
    }
}

/// The character of a `\uXXXX` escape (`s` starts after the `u`), a surrogate pair included.
fn unicode_escape(s: &[u8]) -> Option<(char, &[u8])> {
    let unit = |s: &[u8]| -> Option<u32> {
        let hex = std::str::from_utf8(s.get(..4)?).ok()?;
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u32::from_str_radix(hex, 16).ok()
    };
    let first = unit(s)?;
    if !(0xD800..0xDC00).contains(&first) {
        return Some((char::from_u32(first)?, &s[4..]));
    }
    let low = unit(s.get(4..)?.strip_prefix(b"\\u")?)?;
    if !(0xDC00..0xE000).contains(&low) {
        return None;
    }
    let c = 0x10000 + ((first - 0xD800) << 10) + (low - 0xDC00);
    Some((char::from_u32(c)?, &s[10..]))
}

#[derive(Deserialize)]
struct RawEntry {
    log: String,
    stream: String,
    time: chrono::DateTime<chrono::Utc>,
}

fn general(line: &[u8]) -> Option<LogEntry> {
    let raw: RawEntry = serde_json::from_slice(line).ok()?;
    let stream = if raw.stream == "stderr" {
        Stream::Stderr
    } else {
        Stream::Stdout
    };
    Some(LogEntry {
        stream,
        time_ns: raw.time.timestamp_nanos_opt()?,
        line: raw.log.into_bytes(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_written_shape_in_place() {
        let e = parse_line(
            br#"{"log":"a \"b\"\tc\u00e9\ud83d\ude00\n","stream":"stderr","time":"2026-12-04T00:00:01.5Z"}"#,
            true,
        )
        .unwrap();
        assert_eq!(e.stream, Stream::Stderr);
        assert_eq!(e.line, "a \"b\"\tcé😀\n".as_bytes());
        assert_eq!(e.time_ns, 1_796_342_401_500_000_000);
        assert!(
            fast(
                br#"{"log":"x","stream":"stdout","time":"2026-12-04T00:00:01Z"}"#,
                false
            )
            .is_some()
        );
    }

    #[test]
    fn time_is_parsed_only_when_asked() {
        let line = br#"{"log":"x\n","stream":"stdout","time":"2026-12-04T00:00:01Z"}"#;
        assert_eq!(parse_line(line, false).unwrap().time_ns, 0);
        assert_ne!(parse_line(line, true).unwrap().time_ns, 0);
    }

    #[test]
    fn other_shapes_go_through_serde() {
        let reordered = br#"{"stream":"stdout","time":"2026-12-04T00:00:01Z","log":"x\n"}"#;
        assert!(fast(reordered, true).is_none());
        assert_eq!(parse_line(reordered, true).unwrap().line, b"x\n");
        for bad in [
            &br#"{"log":"x\q","stream":"stdout","time":"2026-12-04T00:00:01Z"}"#[..],
            br#"{"log":"\ud83d","stream":"stdout","time":"2026-12-04T00:00:01Z"}"#,
            br#"{"log":"x","stream":"stdout","time":"not a time"}"#,
            b"{\"log\":\"\x01\",\"stream\":\"stdout\",\"time\":\"2026-12-04T00:00:01Z\"}",
            br#"{"log":"x""#,
            b"",
        ] {
            assert!(
                parse_line(bad, true).is_none(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    proptest::proptest! {
        /// The in-place parser reads what serde_json reads from the writer's shape: any
        /// text, either stream, any time the writer can write.
        #[test]
        fn the_fast_path_agrees_with_serde(
            log in proptest::prelude::any::<String>(),
            stderr in proptest::prelude::any::<bool>(),
            nanos in 0i64..4_000_000_000_000_000_000,
        ) {
            let stream = if stderr { "stderr" } else { "stdout" };
            let time = crate::monitor::logfile::rfc3339_nano(
                chrono::DateTime::from_timestamp_nanos(nanos),
            );
            let line = serde_json::json!({"log": log, "stream": stream, "time": time}).to_string();
            let fast = fast(line.as_bytes(), true).expect("the writer's shape takes the fast path");
            proptest::prop_assert_eq!(Some(fast.clone()), general(line.as_bytes()));
            proptest::prop_assert_eq!(fast.line, log.into_bytes());
            proptest::prop_assert_eq!(fast.time_ns, nanos);
        }
    }
}
