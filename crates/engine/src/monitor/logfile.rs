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
    pub fn write(&mut self, stream: Stream, data: &[u8]) -> io::Result<()> {
        let idx = stream as usize;
        let mut buf = std::mem::take(&mut self.partial[idx]);
        buf.extend_from_slice(data);
        let mut start = 0;
        while let Some(pos) = buf[start..].iter().position(|&b| b == b'\n') {
            let end = start + pos + 1;
            self.entry(stream, &buf[start..end])?;
            start = end;
        }
        while buf.len() - start >= MAX_LINE {
            self.entry(stream, &buf[start..start + MAX_LINE])?;
            start += MAX_LINE;
        }
        buf.drain(..start);
        self.partial[idx] = buf;
        Ok(())
    }

    /// Writes what is left of unterminated lines (at end of output).
    pub fn flush_partial(&mut self) -> io::Result<()> {
        for stream in [Stream::Stdout, Stream::Stderr] {
            let rest = std::mem::take(&mut self.partial[stream as usize]);
            if !rest.is_empty() {
                self.entry(stream, &rest)?;
            }
        }
        Ok(())
    }

    fn entry(&mut self, stream: Stream, line: &[u8]) -> io::Result<()> {
        #[derive(Serialize)]
        struct Entry<'a> {
            log: &'a str,
            stream: &'a str,
            time: String,
        }
        let text = String::from_utf8_lossy(line);
        let mut json = serde_json::to_vec(&Entry {
            log: &text,
            stream: stream.name(),
            time: rfc3339_nano(chrono::Utc::now()),
        })
        .map_err(io::Error::other)?;
        json.push(b'\n');
        let len = json.len() as u64;
        if self
            .cfg
            .max_size
            .is_some_and(|max| self.size > 0 && self.size + len > max)
        {
            self.rotate()?;
        }
        self.file.write_all(&json)?;
        self.size += len;
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
}
