//! runc-style logging: containerd reads the runtime's `--log` file as JSON lines
//! (`{"level":"error","msg":"...","time":"..."}`) to build its error messages, so only that
//! format may appear there in json mode.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use super::args::LogFormat;

/// Where the CLI reports errors and debug lines.
#[derive(Debug)]
pub(crate) struct Logger {
    file: Option<File>,
    format: LogFormat,
    debug: bool,
}

impl Logger {
    pub(crate) fn open(path: Option<&Path>, format: LogFormat, debug: bool) -> Self {
        let file = path.and_then(|p| OpenOptions::new().create(true).append(true).open(p).ok());
        Self {
            file,
            format,
            debug,
        }
    }

    pub(crate) fn error(&mut self, msg: &str) {
        self.write("error", msg);
        if self.file.is_some() {
            // containerd shows the log; humans running the CLI look at stderr.
            eprintln!("berth runtime: {msg}");
        }
    }

    pub(crate) fn debug(&mut self, msg: &str) {
        if self.debug {
            self.write("debug", msg);
        }
    }

    fn write(&mut self, level: &str, msg: &str) {
        let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let line = match self.format {
            LogFormat::Json => {
                serde_json::json!({"level": level, "msg": msg, "time": time}).to_string()
            }
            LogFormat::Text => format!(
                "time=\"{time}\" level={level} msg=\"{}\"",
                msg.replace('"', "\\\"")
            ),
        };
        match &mut self.file {
            Some(f) => {
                let _ = writeln!(f, "{line}");
            }
            None => eprintln!("{line}"),
        }
    }
}
