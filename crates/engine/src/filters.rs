//! Docker's list/prune filters: times (`since`/`until`) and labels.

use std::collections::HashMap;

use crate::error::{EngineError, Result};

/// A filter time: RFC 3339, a Unix timestamp (`1700000000[.123]`), or a duration before now
/// (`10m`, `1h30m`). Returns Unix nanoseconds.
pub fn parse_time(s: &str) -> Result<i64> {
    let bad = || EngineError::InvalidArgument(format!("invalid time value {s:?}"));
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return t.timestamp_nanos_opt().ok_or_else(bad);
    }
    if let Some((secs, frac)) = s.split_once('.').or(Some((s, "")))
        && !secs.is_empty()
        && secs.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
    {
        let secs: i64 = secs.parse().map_err(|_| bad())?;
        let nanos: i64 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<9}")[..9].parse().map_err(|_| bad())?
        };
        return secs
            .checked_mul(1_000_000_000)
            .and_then(|s| s.checked_add(nanos))
            .ok_or_else(bad);
    }
    let d = parse_duration(s).ok_or_else(bad)?;
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
    Ok(now - i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Go-style durations: `300ms`, `1.5h`, `2h45m`.
pub fn parse_duration(s: &str) -> Option<std::time::Duration> {
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += n * mult;
        rest = &rest[unit_end..];
    }
    // A duration past what a Duration holds is no duration (not a panic).
    std::time::Duration::try_from_secs_f64(total).ok()
}

/// `label=key`, `label=key=value`, `label!=...` against a set of labels.
pub fn labels_match(
    filters: &HashMap<String, Vec<String>>,
    labels: Option<&HashMap<String, String>>,
) -> bool {
    let empty = HashMap::new();
    let labels = labels.unwrap_or(&empty);
    let has = |expr: &str| match expr.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(expr),
    };
    filters
        .get("label")
        .is_none_or(|v| v.iter().all(|e| has(e)))
        && filters
            .get("label!")
            .is_none_or(|v| v.iter().all(|e| !has(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("1700000000").unwrap(), 1_700_000_000_000_000_000);
        assert_eq!(
            parse_time("1700000000.5").unwrap(),
            1_700_000_000_500_000_000
        );
        assert!(parse_time("2023-11-14T22:13:20Z").is_ok());
        let ago = parse_time("1h").unwrap();
        assert!(ago < chrono::Utc::now().timestamp_nanos_opt().unwrap());
        assert!(parse_time("yesterday").is_err());
        assert_eq!(
            parse_duration("1h30m"),
            Some(std::time::Duration::from_secs(5400))
        );
    }

    #[test]
    fn labels() {
        let l: HashMap<String, String> = [("a".into(), "1".into())].into();
        let f = |k: &str, v: &str| -> HashMap<String, Vec<String>> {
            [(k.to_owned(), vec![v.to_owned()])].into()
        };
        assert!(labels_match(&f("label", "a"), Some(&l)));
        assert!(labels_match(&f("label", "a=1"), Some(&l)));
        assert!(!labels_match(&f("label", "a=2"), Some(&l)));
        assert!(!labels_match(&f("label!", "a"), Some(&l)));
        assert!(labels_match(&HashMap::new(), None));
    }
}
