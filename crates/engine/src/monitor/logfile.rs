//! The json-file log driver's writer: one JSON object per line,
//! `{"log":"...\n","stream":"stdout","time":"2024-01-01T00:00:00.123456789Z"}`, exactly as
//! Docker writes `<id>-json.log`, with `max-size`/`max-file` rotation.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Longest line written as one entry; longer output is split (Docker uses 16 KiB).
const MAX_LINE: usize = 16 * 1024;

/// Where and how much to log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogConfig {
    pub path: PathBuf,
    /// Rotate when the file would grow past this many bytes.
    pub max_size: Option<u64>,
    /// Files kept, the current one included (Docker's default: 1).
    pub max_file: u32,
}

/// Which output stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        }
    }
}

/// Go's RFC3339Nano (trailing zeros of the fraction trimmed), which Docker's readers expect.
pub fn rfc3339_nano(t: chrono::DateTime<chrono::Utc>) -> String {
    let base = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = t.timestamp_subsec_nanos();
    if nanos == 0 {
        return format!("{base}Z");
    }
    let frac = format!("{nanos:09}");
    format!("{base}.{}Z", frac.trim_end_matches('0'))
}

/// Appends log entries, rotating by size.
#[derive(Debug)]
pub struct JsonFileWriter {
    cfg: LogConfig,
    file: File,
    size: u64,
    partial: [Vec<u8>; 2],
}

/// Docker's mode for json-file logs: a container's output is not for every host user.
const LOG_MODE: u32 = 0o640;

impl JsonFileWriter {
    pub fn open(cfg: LogConfig) -> io::Result<Self> {
        if let Some(dir) = cfg.path.parent() {
            fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(LOG_MODE)
            .open(&cfg.path)?;
        let meta = file.metadata()?;
        if meta.permissions().mode() & 0o7777 != LOG_MODE {
            // A log made before berth restricted them.
            file.set_permissions(fs::Permissions::from_mode(LOG_MODE))?;
        }
        let size = meta.len();
        Ok(Self {
            cfg,
            file,
            size,
            partial: [Vec::new(), Vec::new()],
        })
    }

    /// Logs `data`; complete lines are written now, a trailing partial line waits for its end.
    /// The lines of one read are encoded into one buffer and written with one `write` (a
    /// 64 KiB read of short lines is one syscall, not hundreds), and share one timestamp:
    /// they arrived together.
    pub fn write(&mut self, stream: Stream, data: &[u8]) -> io::Result<()> {
        let idx = stream as usize;
        let mut buf = std::mem::take(&mut self.partial[idx]);
        buf.extend_from_slice(data);
        let time = rfc3339_nano(chrono::Utc::now());
        let mut out = Vec::with_capacity(buf.len() + buf.len() / 2 + 128);
        let mut start = 0;
        while let Some(pos) = memchr::memchr(b'\n', &buf[start..]) {
            let end = start + pos + 1;
            self.entry(&mut out, stream, &buf[start..end], &time)?;
            start = end;
        }
        while buf.len() - start >= MAX_LINE {
            self.entry(&mut out, stream, &buf[start..start + MAX_LINE], &time)?;
            start += MAX_LINE;
        }
        self.append(&out)?;
        buf.drain(..start);
        self.partial[idx] = buf;
        Ok(())
    }

    /// Writes what is left of unterminated lines (at end of output).
    pub fn flush_partial(&mut self) -> io::Result<()> {
        let time = rfc3339_nano(chrono::Utc::now());
        let mut out = Vec::new();
        for stream in [Stream::Stdout, Stream::Stderr] {
            let rest = std::mem::take(&mut self.partial[stream as usize]);
            if !rest.is_empty() {
                self.entry(&mut out, stream, &rest, &time)?;
            }
        }
        self.append(&out)
    }

    /// Encodes one entry at the end of `out` (what is pending for the file). Where the entry
    /// would take the file past `max-size`, what is pending before it goes to the current
    /// file first and the entry opens the next one.
    fn entry(
        &mut self,
        out: &mut Vec<u8>,
        stream: Stream,
        line: &[u8],
        time: &str,
    ) -> io::Result<()> {
        let start = out.len();
        encode(out, stream, line, time)?;
        let before = self.size + start as u64;
        if self
            .cfg
            .max_size
            .is_some_and(|max| before > 0 && self.size + out.len() as u64 > max)
        {
            self.append(&out[..start])?;
            self.rotate()?;
            out.drain(..start);
        }
        Ok(())
    }

    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.file.write_all(bytes)?;
        self.size += bytes.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        let keep = self.cfg.max_file.max(1);
        if keep > 1 {
            for n in (1..keep).rev() {
                let from = rotated(&self.cfg.path, n - 1);
                if from.exists() {
                    fs::rename(&from, rotated(&self.cfg.path, n))?;
                }
            }
        }
        self.file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(LOG_MODE)
            .open(&self.cfg.path)?;
        self.size = 0;
        Ok(())
    }
}

/// One json-file line, `{"log":…,"stream":…,"time":…}\n`, in the order dockerd writes its
/// keys (the reader's fast path expects it). Output that is not UTF-8 is logged lossily, as
/// dockerd does; the string is escaped by serde_json.
fn encode(out: &mut Vec<u8>, stream: Stream, line: &[u8], time: &str) -> io::Result<()> {
    out.extend_from_slice(br#"{"log":"#);
    serde_json::to_writer(&mut *out, &*String::from_utf8_lossy(line)).map_err(io::Error::other)?;
    out.extend_from_slice(br#","stream":""#);
    out.extend_from_slice(stream.name().as_bytes());
    out.extend_from_slice(br#"","time":""#);
    out.extend_from_slice(time.as_bytes());
    out.extend_from_slice(b"\"}\n");
    Ok(())
}

/// `<log>` for n = 0, `<log>.n` otherwise.
pub fn rotated(path: &Path, n: u32) -> PathBuf {
    if n == 0 {
        return path.to_path_buf();
    }
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(p: &Path) -> Vec<serde_json::Value> {
        fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn splits_lines_and_keeps_partials() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let mut w = JsonFileWriter::open(LogConfig {
            path: path.clone(),
            max_size: None,
            max_file: 1,
        })
        .unwrap();
        w.write(Stream::Stdout, b"one\ntw").unwrap();
        w.write(Stream::Stderr, b"err\n").unwrap();
        w.write(Stream::Stdout, b"o\nthree").unwrap();
        w.flush_partial().unwrap();
        let got: Vec<(String, String)> = lines(&path)
            .iter()
            .map(|v| {
                (
                    v["log"].as_str().unwrap().to_owned(),
                    v["stream"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("one\n".into(), "stdout".into()),
                ("err\n".into(), "stderr".into()),
                ("two\n".into(), "stdout".into()),
                ("three".into(), "stdout".into())
            ]
        );
        assert!(lines(&path)[0]["time"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn rotates_by_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let mut w = JsonFileWriter::open(LogConfig {
            path: path.clone(),
            max_size: Some(200),
            max_file: 3,
        })
        .unwrap();
        for i in 0..20 {
            w.write(Stream::Stdout, format!("line {i}\n").as_bytes())
                .unwrap();
        }
        assert!(rotated(&path, 1).exists() && rotated(&path, 2).exists());
        assert!(!rotated(&path, 3).exists());
        assert!(fs::metadata(&path).unwrap().len() <= 200);
        let last = lines(&path).last().unwrap()["log"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(last, "line 19\n");
    }

    #[test]
    fn go_time_format() {
        use chrono::TimeZone;
        let t = chrono::Utc
            .timestamp_opt(1_700_000_000, 120_000_000)
            .unwrap();
        assert_eq!(rfc3339_nano(t), "2023-11-14T22:13:20.12Z");
        let t = chrono::Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        assert_eq!(rfc3339_nano(t), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn one_read_of_many_lines_rotates_between_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let mut w = JsonFileWriter::open(LogConfig {
            path: path.clone(),
            max_size: Some(200),
            max_file: 3,
        })
        .unwrap();
        let all: String = (0..20).map(|i| format!("line {i}\n")).collect();
        w.write(Stream::Stdout, all.as_bytes()).unwrap();
        for n in 0..3 {
            let len = fs::metadata(rotated(&path, n)).unwrap().len();
            assert!(len > 0 && len <= 200, "file {n} holds {len} bytes");
        }
        assert_eq!(lines(&path).last().unwrap()["log"], "line 19\n");
    }

    #[test]
    fn lines_keep_dockerds_key_order_and_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let mut w = JsonFileWriter::open(LogConfig {
            path: path.clone(),
            max_size: None,
            max_file: 1,
        })
        .unwrap();
        w.write(Stream::Stderr, b"a \"q\"\t\\ \xff\n").unwrap();
        let text = fs::read_to_string(&path).unwrap();
        let time = lines(&path)[0]["time"].as_str().unwrap().to_owned();
        assert_eq!(
            text,
            format!(r#"{{"log":"a \"q\"\t\\ �\n","stream":"stderr","time":"{time}"}}"#) + "\n"
        );
        let e = crate::logs::parse_line(text.as_bytes(), true).unwrap();
        assert_eq!(e.line, "a \"q\"\t\\ \u{fffd}\n".as_bytes());
    }
}
