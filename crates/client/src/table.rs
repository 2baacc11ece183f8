//! Docker's table layout and human-readable values.
//!
//! docker renders tables through Go's `text/tabwriter` (minwidth 10, padding 3, spaces) and
//! sizes/durations through `go-units`; scripts and eyes both compare against those, so the
//! algorithms below follow the Go ones closely rather than approximating them.

/// Go `tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)`: what docker uses for every table.
pub fn tabwrite(text: &str) -> String {
    tabwrite_min(text, 10)
}

/// The same with another minimum column width (`top` uses 20).
pub fn tabwrite_min(text: &str, min_width: usize) -> String {
    let lines: Vec<Vec<&str>> = text.split('\n').map(|l| l.split('\t').collect()).collect();
    let mut out = String::new();
    let mut widths = Vec::new();
    format_block(&lines, 0, lines.len(), min_width, &mut widths, &mut out);
    out
}

const PADDING: usize = 3;

fn width(s: &str) -> usize {
    s.chars().count()
}

// A transcription of tabwriter's recursive `format`: a column block is a run of consecutive
// lines that all have a tab-terminated cell in this column; each block gets its own width.
fn format_block(
    lines: &[Vec<&str>],
    mut line0: usize,
    line1: usize,
    min_width: usize,
    widths: &mut Vec<usize>,
    out: &mut String,
) {
    let column = widths.len();
    let mut this = line0;
    while this < line1 {
        if column + 1 >= lines[this].len() {
            this += 1;
            continue;
        }
        write_lines(lines, line0, this, widths, out);
        line0 = this;
        let mut w = min_width;
        while this < line1 && column + 1 < lines[this].len() {
            w = w.max(width(lines[this][column]) + PADDING);
            this += 1;
        }
        widths.push(w);
        format_block(lines, line0, this, min_width, widths, out);
        widths.pop();
        line0 = this;
    }
    write_lines(lines, line0, line1, widths, out);
}

fn write_lines(
    lines: &[Vec<&str>],
    line0: usize,
    line1: usize,
    widths: &[usize],
    out: &mut String,
) {
    for (i, line) in lines.iter().enumerate().take(line1).skip(line0) {
        for (j, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if j < widths.len() {
                out.extend(std::iter::repeat_n(
                    ' ',
                    widths[j].saturating_sub(width(cell)),
                ));
            }
        }
        // The text after the last newline is a line too; it gets no newline of its own.
        if i + 1 < lines.len() {
            out.push('\n');
        }
    }
}

/// go-units `HumanDuration`.
pub fn human_duration(secs: i64) -> String {
    let s = secs;
    if s < 1 {
        return "Less than a second".into();
    }
    if s == 1 {
        return "1 second".into();
    }
    if s < 60 {
        return format!("{s} seconds");
    }
    let minutes = s / 60;
    if minutes == 1 {
        return "About a minute".into();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    // go-units rounds hours to the nearest one.
    let hours = (s + 1800) / 3600;
    if hours == 1 {
        return "About an hour".into();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", s / 3600 / 24 / 365)
}

/// "N ago" for a unix timestamp, as in docker's CREATED column.
pub fn ago(unix: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    format!("{} ago", human_duration(now - unix))
}

/// Go's `time.Time.String()` shape for a unix timestamp, in local time (docker's CreatedAt).
pub fn created_at(unix: i64) -> String {
    use chrono::TimeZone;
    match chrono::Local.timestamp_opt(unix, 0).single() {
        // Go prints the zone's abbreviation; chrono knows only the offset, which for UTC
        // is the common case and has a known name.
        Some(t) if t.offset().local_minus_utc() == 0 => {
            t.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string()
        }
        Some(t) => t.format("%Y-%m-%d %H:%M:%S %z %z").to_string(),
        None => unix.to_string(),
    }
}

/// go-units `HumanSizeWithPrecision(size, 3)` (decimal units): docker's SIZE columns.
pub fn human_size(bytes: f64) -> String {
    custom_size(
        bytes,
        3,
        1000.0,
        &["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"],
    )
}

/// go-units `HumanSize` (precision 4): `system df`.
pub fn human_size4(bytes: f64) -> String {
    custom_size(
        bytes,
        4,
        1000.0,
        &["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"],
    )
}

/// go-units `BytesSize` (binary units): `stats`.
pub fn bytes_size(bytes: f64) -> String {
    custom_size(
        bytes,
        4,
        1024.0,
        &["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"],
    )
}

fn custom_size(mut size: f64, precision: usize, base: f64, units: &[&str]) -> String {
    let mut i = 0;
    while size >= base && i + 1 < units.len() {
        size /= base;
        i += 1;
    }
    format!("{}{}", go_g(size, precision), units[i])
}

/// Go's `%.<prec>g`: shortest of %e/%f by exponent, trailing zeros dropped.
pub fn go_g(v: f64, prec: usize) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let p = prec.max(1);
    let sci = format!("{:.*e}", p - 1, v);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i64 = exp.parse().unwrap_or(0);
    let p_i = i64::try_from(p).unwrap_or(i64::MAX);
    if exp < -4 || exp >= p_i {
        let m = trim_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{m}e{sign}{:02}", exp.abs());
    }
    let decimals = usize::try_from(p_i - 1 - exp).unwrap_or(0);
    trim_zeros(&format!("{v:.decimals$}")).to_string()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// Docker's short id: 12 hex characters, without any `sha256:` prefix.
pub fn short_id(id: &str) -> String {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    id.chars().take(12).collect()
}

/// Truncates with docker's ellipsis (`stringutils.Ellipsis`).
pub fn ellipsis(s: &str, max: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= max {
        return s.to_string();
    }
    if max <= 3 {
        return chars[..max].iter().collect();
    }
    let mut t: String = chars[..max - 1].iter().collect();
    t.push('…');
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tabwriter_matches_docker_ps_header() {
        let t = tabwrite("CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tPORTS\tNAMES\n");
        assert_eq!(
            t,
            "CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n"
        );
    }

    #[test]
    fn tabwriter_widens_columns_per_block() {
        let t = tabwrite("A\tB\nlonger-cell\tC\n");
        assert_eq!(t, "A             B\nlonger-cell   C\n");
    }

    #[test]
    fn durations() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(1), "1 second");
        assert_eq!(human_duration(2), "2 seconds");
        assert_eq!(human_duration(60), "About a minute");
        assert_eq!(human_duration(150), "2 minutes");
        assert_eq!(human_duration(3600), "About an hour");
        assert_eq!(human_duration(3 * 3600), "3 hours");
        assert_eq!(human_duration(3 * 86400), "3 days");
        assert_eq!(human_duration(20 * 86400), "2 weeks");
        assert_eq!(human_duration(90 * 86400), "3 months");
        assert_eq!(human_duration(800 * 86400), "2 years");
    }

    #[test]
    fn sizes() {
        assert_eq!(human_size(4_260_000.0), "4.26MB");
        assert_eq!(human_size(1_980_000.0), "1.98MB");
        assert_eq!(human_size(100.0), "100B");
        assert_eq!(human_size(0.0), "0B");
        assert_eq!(human_size(12_345_678.0), "12.3MB");
        assert_eq!(human_size(999_900.0), "1e+03kB");
        assert_eq!(bytes_size(1024.0 * 1024.0 * 1.5), "1.5MiB");
        assert_eq!(human_size4(1_234_567.0), "1.235MB");
    }

    #[test]
    fn ids_and_ellipsis() {
        assert_eq!(short_id("sha256:0123456789abcdef"), "0123456789ab");
        assert_eq!(ellipsis("abcdefghij", 5), "abcd…");
        assert_eq!(ellipsis("abc", 5), "abc");
    }
}
