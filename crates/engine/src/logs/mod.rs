//! Reading json-file logs for `docker logs`: `--tail` reads backwards from the end, `--since`
//! and `--until` filter by entry time, `--follow` keeps reading as the monitor appends. No
//! request re-parses more of the file than it returns, and a long log streams: entries go out
//! in batches of up to [`BATCH_BYTES`] as they are read, never collected whole first.

mod parse;

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

pub use parse::parse_line;

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
    /// The caller shows each entry's time (`--timestamps`); otherwise `time_ns` is only
    /// parsed when `since` or `until` need it.
    pub timestamps: bool,
}

/// One log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub stream: Stream,
    /// 0 when the query did not need the time (see [`LogQuery::timestamps`]).
    pub time_ns: i64,
    pub line: Vec<u8>,
}

/// A batch is sent once its lines hold this many bytes (or [`BATCH_ENTRIES`] lines): one
/// channel message and one HTTP chunk per batch instead of per line.
pub const BATCH_BYTES: usize = 128 * 1024;
const BATCH_ENTRIES: usize = 4096;

/// Read buffer of a log file: big reads, few syscalls.
const READ_BUFFER: usize = 256 * 1024;

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

    fn wants_time(&self) -> bool {
        self.timestamps || self.since_ns.is_some() || self.until_ns.is_some()
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

/// Hands the entries matching `q` (without following), oldest first, to `emit` until it
/// returns false. Returns the size of the current file at the time of reading, where a
/// follower continues.
pub fn read(
    path: &Path,
    max_file: u32,
    q: &LogQuery,
    mut emit: impl FnMut(LogEntry) -> bool,
) -> io::Result<u64> {
    let end = std::fs::metadata(path).map_or(0, |m| m.len());
    match q.tail {
        Some(0) => {}
        Some(n) => {
            for e in tail(path, max_file, q, n)? {
                if !emit(e) {
                    break;
                }
            }
        }
        None => {
            let mut more = true;
            for f in files(path, max_file) {
                let to = if f == path { end } else { u64::MAX };
                forward(&f, 0, Some(to), q, |e| {
                    more = emit(e);
                    more
                })?;
                if !more {
                    break;
                }
            }
        }
    }
    Ok(end)
}

/// Reads entries of `path` from byte `from` up to `to`, handing the accepted ones to `emit`
/// until it returns false. Returns the offset after the last line read.
pub fn forward(
    path: &Path,
    from: u64,
    to: Option<u64>,
    q: &LogQuery,
    mut emit: impl FnMut(LogEntry) -> bool,
) -> io::Result<u64> {
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(from),
        Err(e) => return Err(e),
    };
    f.seek(SeekFrom::Start(from))?;
    let limit = to.unwrap_or(u64::MAX).saturating_sub(from);
    let mut reader = BufReader::with_capacity(READ_BUFFER, f.take(limit));
    let want_time = q.wants_time();
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
        if let Some(e) = parse_line(&line, want_time)
            && q.accepts(&e)
            && !emit(e)
        {
            return Ok(pos);
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
    let want_time = q.wants_time();
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
            if let Some(e) = parse_line(l, want_time) {
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

/// Entries gathered for one send.
#[derive(Default)]
struct Batch {
    entries: Vec<LogEntry>,
    bytes: usize,
}

impl Batch {
    /// Adds `e`; true when the batch is full and should go out.
    fn add(&mut self, e: LogEntry) -> bool {
        self.bytes += e.line.len();
        self.entries.push(e);
        self.bytes >= BATCH_BYTES || self.entries.len() >= BATCH_ENTRIES
    }

    fn take(&mut self) -> Vec<LogEntry> {
        self.bytes = 0;
        std::mem::take(&mut self.entries)
    }
}

/// Polling interval of `logs --follow` while the container runs.
const FOLLOW_POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// Batches of log entries, oldest first.
pub type LogBatches = tokio::sync::mpsc::Receiver<Vec<LogEntry>>;

impl crate::engine::Engine {
    /// Streams a container's log entries in batches; with `follow`, new entries until it
    /// stops.
    pub fn logs(&self, key: &str, q: LogQuery, follow: bool) -> crate::error::Result<LogBatches> {
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
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        let mut watch = ctr.watch.subscribe();
        tokio::spawn(async move {
            let (q2, p2, tx2) = (q.clone(), path.clone(), tx.clone());
            // What is there now, on a blocking thread that sends each batch as it fills.
            let read_now = tokio::task::spawn_blocking(move || {
                let mut batch = Batch::default();
                let mut open = true;
                let end = read(&p2, max_file, &q2, |e| {
                    if batch.add(e) {
                        open = tx2.blocking_send(batch.take()).is_ok();
                    }
                    open
                });
                if open && !batch.entries.is_empty() {
                    open = tx2.blocking_send(batch.take()).is_ok();
                }
                end.ok().filter(|_| open)
            });
            let Ok(Some(mut pos)) = read_now.await else {
                return;
            };
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
                // Everything appended since the last look, a batch at a time.
                loop {
                    let mut batch = Batch::default();
                    let mut full = false;
                    pos = forward(&path, pos, None, &follow_q, |e| {
                        full = batch.add(e);
                        !full
                    })
                    .unwrap_or(pos);
                    if !batch.entries.is_empty() && tx.send(batch.take()).await.is_err() {
                        return;
                    }
                    if !full {
                        break;
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

    /// Everything `read` hands out, with the offset it returns.
    fn read_all(p: &Path, max_file: u32, q: &LogQuery) -> io::Result<(Vec<LogEntry>, u64)> {
        let mut v = Vec::new();
        let end = read(p, max_file, q, |e| {
            v.push(e);
            true
        })?;
        Ok((v, end))
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
        let (v, end) = read_all(&p, 1, &all()).unwrap();
        assert_eq!(
            text(&v),
            ["line 0", "line 1", "line 2", "line 3", "line 4", "line 5"]
        );
        assert_eq!(end, std::fs::metadata(&p).unwrap().len());
        let q = LogQuery {
            stdout: false,
            ..all()
        };
        assert_eq!(text(&read_all(&p, 1, &q).unwrap().0), ["line 0", "line 3"]);
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
            text(&read_all(&p, 5, &q).unwrap().0),
            ["line 497", "line 498", "line 499"]
        );
        let many = LogQuery {
            tail: Some(40),
            ..all()
        };
        let v = read_all(&p, 5, &many).unwrap().0;
        assert_eq!(v.len(), 40);
        assert_eq!(text(&v)[39], "line 499");
        assert_eq!(text(&v)[0], "line 460");
    }

    #[test]
    fn since_and_until_filter_by_time() {
        let dir = tempfile::tempdir().unwrap();
        let p = write_log(dir.path(), 4, None, 1);
        let timed = LogQuery {
            timestamps: true,
            ..all()
        };
        let (v, _) = read_all(&p, 1, &timed).unwrap();
        assert!(
            v.windows(2)
                .all(|w| w[0].time_ns <= w[1].time_ns && w[0].time_ns > 0)
        );
        let q = LogQuery {
            since_ns: Some(v[2].time_ns),
            ..all()
        };
        assert_eq!(text(&read_all(&p, 1, &q).unwrap().0), ["line 2", "line 3"]);
        let q = LogQuery {
            until_ns: Some(v[1].time_ns),
            ..all()
        };
        assert_eq!(text(&read_all(&p, 1, &q).unwrap().0), ["line 0"]);
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
        let pos = forward(&p, 0, None, &all(), |e| {
            out.push(e);
            true
        })
        .unwrap();
        assert_eq!(pos, len);
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn reading_stops_when_the_receiver_does() {
        let dir = tempfile::tempdir().unwrap();
        let p = write_log(dir.path(), 10, None, 1);
        let mut seen = 0;
        read(&p, 1, &all(), |_| {
            seen += 1;
            seen < 3
        })
        .unwrap();
        assert_eq!(seen, 3);
    }

    #[test]
    fn batches_fill_by_bytes_or_entries() {
        let mut b = Batch::default();
        let entry = |len: usize| LogEntry {
            stream: Stream::Stdout,
            time_ns: 0,
            line: vec![b'x'; len],
        };
        assert!(!b.add(entry(BATCH_BYTES - 1)));
        assert!(b.add(entry(1)), "full by bytes");
        assert_eq!(b.take().len(), 2);
        assert!((1..BATCH_ENTRIES).all(|_| !b.add(entry(1))));
        assert!(b.add(entry(1)), "full by entries");
    }
}
