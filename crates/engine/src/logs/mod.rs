//! Reading json-file logs for `docker logs`: `--tail` reads backwards from the end, `--since`
//! and `--until` filter by entry time, `--follow` keeps reading as the monitor appends. No
//! request re-parses more of the file than it returns.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::monitor::logfile::{Stream, rotated};

/// What to read.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    pub stdout: bool,
    pub stderr: bool,
    /// Only entries at or after this Unix time (ns).
    pub since_ns: Option<i64>,
    /// Only entries before this Unix time (ns).
    pub until_ns: Option<i64>,
    /// Only the last n entries.
    pub tail: Option<usize>,
}

/// One log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub stream: Stream,
    pub time_ns: i64,
    pub line: Vec<u8>,
}

#[derive(Deserialize)]
struct RawEntry {
    log: String,
    stream: String,
    time: chrono::DateTime<chrono::Utc>,
}

/// Parses one line of a json-file log.
pub fn parse_line(line: &[u8]) -> Option<LogEntry> {
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

impl LogQuery {
    pub fn accepts(&self, e: &LogEntry) -> bool {
        let stream_ok = match e.stream {
            Stream::Stdout => self.stdout,
            Stream::Stderr => self.stderr,
        };
        stream_ok
            && self.since_ns.is_none_or(|s| e.time_ns >= s)
            && self.until_ns.is_none_or(|u| e.time_ns < u)
    }
}

/// The log files, oldest first: `<log>.N`, ..., `<log>.1`, `<log>`.
fn files(path: &Path, max_file: u32) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = (1..max_file.max(1))
        .rev()
        .map(|n| rotated(path, n))
        .filter(|p| p.exists())
        .collect();
    out.push(path.to_path_buf());
    out
}

/// Reads the entries matching `q` (without following). Returns them with the size of the
/// current file at the time of reading, where a follower continues.
pub fn read(path: &Path, max_file: u32, q: &LogQuery) -> io::Result<(Vec<LogEntry>, u64)> {
    let end = std::fs::metadata(path).map_or(0, |m| m.len());
    let entries = match q.tail {
        Some(0) => Vec::new(),
        Some(n) => tail(path, max_file, q, n)?,
        None => {
            let mut v = Vec::new();
            for f in files(path, max_file) {
                forward(
                    &f,
                    0,
                    Some(if f == path { end } else { u64::MAX }),
                    q,
                    &mut v,
                )?;
            }
            v
        }
    };
    Ok((entries, end))
}

/// Reads entries of `path` from byte `from` up to `to`, appending the accepted ones.
pub fn forward(
    path: &Path,
    from: u64,
    to: Option<u64>,
    q: &LogQuery,
    out: &mut Vec<LogEntry>,
) -> io::Result<u64> {
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(from),
        Err(e) => return Err(e),
    };
    f.seek(SeekFrom::Start(from))?;
    let limit = to.unwrap_or(u64::MAX).saturating_sub(from);
    let mut reader = BufReader::new(f.take(limit));
    let mut pos = from;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 || line.last() != Some(&b'\n') {
            // End, or a line the writer has not finished: leave it for the next read.
            return Ok(pos);
        }
        pos += n as u64;
        if let Some(e) = parse_line(&line)
            && q.accepts(&e)
        {
            out.push(e);
        }
    }
}

/// The accepted entries among the last `n`, reading each file backwards in blocks. As in
/// dockerd, `--tail` counts the log's lines whatever their stream or time; the stream,
/// `since` and `until` choose among those (`logs --tail 1` of a container whose last line
/// went to stdout shows nothing of stderr).
fn tail(path: &Path, max_file: u32, q: &LogQuery, n: usize) -> io::Result<Vec<LogEntry>> {
    let mut found: Vec<LogEntry> = Vec::new();
    let mut counted = 0;
    for f in files(path, max_file).into_iter().rev() {
        counted += backwards(&f, q, n - counted, &mut found)?;
        if counted >= n {
            break;
        }
    }
    found.reverse();
    Ok(found)
}

/// Reads up to `want` lines from the end of `path`, keeping the accepted ones; returns how
/// many lines it read.
fn backwards(path: &Path, q: &LogQuery, want: usize, out: &mut Vec<LogEntry>) -> io::Result<usize> {
    const BLOCK: u64 = 64 * 1024;
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut end = f.metadata()?.len();
    let mut carry: Vec<u8> = Vec::new();
    let mut taken = 0;
    while end > 0 && taken < want {
        let start = end.saturating_sub(BLOCK);
        let mut block = vec![0u8; usize::try_from(end - start).unwrap_or(0)];
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut block)?;
        block.extend_from_slice(&carry);
        let mut lines: Vec<&[u8]> = block.split(|&b| b == b'\n').collect();
        // The first piece may be a partial line unless we reached the file's start.
        carry = if start > 0 {
            lines.remove(0).to_vec()
        } else {
            Vec::new()
        };
        for l in lines.into_iter().rev() {
            if let Some(e) = parse_line(l) {
                if q.accepts(&e) {
                    out.push(e);
                }
                taken += 1;
                if taken == want {
                    return Ok(taken);
                }
            }
        }
        end = start;
    }
    Ok(taken)
}

/// Polling interval of `logs --follow` while the container runs.
const FOLLOW_POLL: std::time::Duration = std::time::Duration::from_millis(50);

impl crate::engine::Engine {
    /// Streams a container's log entries; with `follow`, new entries until it stops.
    pub fn logs(
        &self,
        key: &str,
        q: LogQuery,
        follow: bool,
    ) -> crate::error::Result<tokio::sync::mpsc::Receiver<LogEntry>> {
        let ctr = self.lookup(key)?;
        let rec = ctr.snapshot();
        let Some(path) = rec.log_path.clone() else {
            return Err(crate::error::EngineError::InvalidArgument(
                "configured logging driver does not support reading".into(),
            ));
        };
        let max_file = rec
            .host_config
            .log_config
            .as_ref()
            .and_then(|l| l.config.as_ref())
            .and_then(|c| c.get("max-file"))
            .and_then(|m| m.parse().ok())
            .unwrap_or(1);
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        let mut watch = ctr.watch.subscribe();
        tokio::spawn(async move {
            let q2 = q.clone();
            let p2 = path.clone();
            let Ok(Ok((entries, mut pos))) =
                tokio::task::spawn_blocking(move || read(&p2, max_file, &q2)).await
            else {
                return;
            };
            for e in entries {
                if tx.send(e).await.is_err() {
                    return;
                }
            }
            if !follow {
                return;
            }
            let follow_q = LogQuery { tail: None, ..q };
            loop {
                let running = watch.borrow().status.is_live()
                    || watch.borrow().status == crate::container::state::Status::Restarting;
                let size = std::fs::metadata(&path).map_or(0, |m| m.len());
                if size < pos {
                    pos = 0; // rotated
                }
                let mut fresh = Vec::new();
                pos = forward(&path, pos, None, &follow_q, &mut fresh).unwrap_or(pos);
                for e in fresh {
                    if tx.send(e).await.is_err() {
                        return;
                    }
                }
                if !running || watch.borrow().removed {
                    return;
                }
                tokio::select! {
                    _ = tokio::time::sleep(FOLLOW_POLL) => {}
                    _ = watch.changed() => {}
                    _ = tx.closed() => return,
                }
            }
        });
        Ok(rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::logfile::{JsonFileWriter, LogConfig};

    fn write_log(dir: &Path, n: usize, max_size: Option<u64>, max_file: u32) -> PathBuf {
        let path = dir.join("c-json.log");
        let mut w = JsonFileWriter::open(LogConfig {
            path: path.clone(),
            max_size,
            max_file,
        })
        .unwrap();
        for i in 0..n {
            let stream = if i % 3 == 0 {
                Stream::Stderr
            } else {
                Stream::Stdout
            };
            w.write(stream, format!("line {i}\n").as_bytes()).unwrap();
        }
        path
    }

    fn text(v: &[LogEntry]) -> Vec<String> {
        v.iter()
            .map(|e| String::from_utf8_lossy(&e.line).trim().to_owned())
            .collect()
    }

    fn all() -> LogQuery {
        LogQuery {
            stdout: true,
            stderr: true,
            ..LogQuery::default()
        }
    }

    #[test]
    fn reads_all_and_filters_streams() {
        let dir = tempfile::tempdir().unwrap();
        let p = write_log(dir.path(), 6, None, 1);
        let (v, end) = read(&p, 1, &all()).unwrap();
        assert_eq!(
            text(&v),
            ["line 0", "line 1", "line 2", "line 3", "line 4", "line 5"]
        );
        assert_eq!(end, std::fs::metadata(&p).unwrap().len());
        let q = LogQuery {
            stdout: false,
            ..all()
        };
        assert_eq!(text(&read(&p, 1, &q).unwrap().0), ["line 0", "line 3"]);
    }

    #[test]
    fn tail_counts_every_stream_before_choosing_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let line = |stream: &str, text: &str, t: u32| {
            format!(
                "{{\"log\":\"{text}\\n\",\"stream\":\"{stream}\",\"time\":\"2026-12-04T00:00:0{t}Z\"}}\n"
            )
        };
        let log = line("stdout", "a", 1) + &line("stderr", "b", 2) + &line("stdout", "c", 3);
        std::fs::write(&path, log).unwrap();
        let q = |n: usize| LogQuery {
            stdout: false,
            stderr: true,
            tail: Some(n),
            ..LogQuery::default()
        };
        assert!(
            tail(&path, 1, &q(1), 1).unwrap().is_empty(),
            "the last line is stdout's"
        );
        assert_eq!(tail(&path, 1, &q(2), 2).unwrap().len(), 1);
    }

    #[test]
    fn tail_reads_backwards_across_rotated_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = write_log(dir.path(), 500, Some(2000), 5);
        let q = LogQuery {
            tail: Some(3),
            ..all()
        };
        assert_eq!(
            text(&read(&p, 5, &q).unwrap().0),
            ["line 497", "line 498", "line 499"]
        );
        let many = LogQuery {
            tail: Some(40),
            ..all()
        };
        let v = read(&p, 5, &many).unwrap().0;
        assert_eq!(v.len(), 40);
        assert_eq!(text(&v)[39], "line 499");
        assert_eq!(text(&v)[0], "line 460");
    }

    #[test]
    fn since_and_until_filter_by_time() {
        let dir = tempfile::tempdir().unwrap();
        let p = write_log(dir.path(), 4, None, 1);
        let (v, _) = read(&p, 1, &all()).unwrap();
        let q = LogQuery {
            since_ns: Some(v[2].time_ns),
            ..all()
        };
        assert_eq!(text(&read(&p, 1, &q).unwrap().0), ["line 2", "line 3"]);
        let q = LogQuery {
            until_ns: Some(v[1].time_ns),
            ..all()
        };
        assert_eq!(text(&read(&p, 1, &q).unwrap().0), ["line 0"]);
    }

    #[test]
    fn forward_leaves_unfinished_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = write_log(dir.path(), 2, None, 1);
        let len = std::fs::metadata(&p).unwrap().len();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .and_then(|mut f| io::Write::write_all(&mut f, b"{\"log\":\"par"))
            .unwrap();
        let mut out = Vec::new();
        let pos = forward(&p, 0, None, &all(), &mut out).unwrap();
        assert_eq!(pos, len);
        assert_eq!(out.len(), 2);
    }
}
