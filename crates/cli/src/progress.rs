//! Drawing Docker's pull/push message stream: `indicatif` bars per layer (bytes, rate, ETA)
//! on a terminal, one line per state change otherwise (as the docker CLI does when piped),
//! nothing when quiet.

use std::collections::HashMap;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

use crate::registry::Display;

pub(crate) struct View {
    display: Display,
    multi: MultiProgress,
    bars: HashMap<String, ProgressBar>,
    /// Bars' states, so a piped view prints each state once.
    last: HashMap<String, String>,
}

fn style(with_bytes: bool) -> ProgressStyle {
    let t = if with_bytes {
        "{prefix}: {msg:<18} [{bar:40.cyan/blue}] {bytes:>9}/{total_bytes:<9} {bytes_per_sec:>11} ETA {eta}"
    } else {
        "{prefix}: {msg}"
    };
    ProgressStyle::with_template(t)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

impl View {
    pub(crate) fn new(display: Display) -> Self {
        let multi = MultiProgress::with_draw_target(if display == Display::Bars {
            ProgressDrawTarget::stdout()
        } else {
            ProgressDrawTarget::hidden()
        });
        Self {
            display,
            multi,
            bars: HashMap::new(),
            last: HashMap::new(),
        }
    }

    fn line(&self, s: &str) {
        if self.display == Display::Bars {
            let _ = self.multi.println(s);
        } else if self.display == Display::Stderr {
            eprintln!("{s}");
        } else {
            crate::util::out(&format!("{s}\n"));
        }
    }

    pub(crate) fn message(&mut self, m: &Value) {
        if self.display == Display::Quiet {
            return;
        }
        let status = m["status"].as_str().unwrap_or("");
        let id = m["id"].as_str().unwrap_or("");
        let detail = &m["progressDetail"];
        let is_layer = m.get("progressDetail").is_some() && !id.is_empty();
        if !is_layer {
            // "Pulling from ...", "Digest: ...", "Status: ...".
            if id.is_empty() {
                self.line(status);
            } else {
                self.line(&format!("{id}: {status}"));
            }
            return;
        }
        let bytes = detail["total"]
            .as_u64()
            .map(|t| (detail["current"].as_u64().unwrap_or(0), t));
        if matches!(self.display, Display::Lines | Display::Stderr) {
            if bytes.is_none() && self.last.get(id).is_none_or(|s| s != status) {
                self.line(&format!("{id}: {status}"));
                self.last.insert(id.to_owned(), status.to_owned());
            }
            return;
        }
        let bar = self.bars.entry(id.to_owned()).or_insert_with(|| {
            let b = self.multi.add(ProgressBar::new(0));
            b.set_style(style(false));
            b.set_prefix(id.to_owned());
            b
        });
        match bytes {
            Some((current, total)) => {
                if bar.length() != Some(total) {
                    bar.set_style(style(true));
                    bar.set_length(total);
                    bar.reset_eta();
                }
                bar.set_position(current);
            }
            None => {
                if bar.length().is_some_and(|l| l > 0) {
                    bar.set_style(style(false));
                }
            }
        }
        bar.set_message(status.to_owned());
    }

    pub(crate) fn finish(&mut self) {
        for b in self.bars.values() {
            b.abandon();
        }
        self.bars.clear();
    }
}

/// A bar for bytes moving between the CLI and the daemon (load and import upload an archive,
/// save and export download one): bytes, rate and ETA when the size is known, bytes and rate
/// otherwise. Drawn on stderr, and only when stderr is a terminal, so what goes to stdout
/// (the daemon's messages, an archive) is untouched and a piped run prints nothing extra.
pub(crate) fn transfer_bar(label: &str, total: Option<u64>, quiet: bool) -> ProgressBar {
    use std::io::IsTerminal;
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let (bar, template) = match total {
        Some(n) => (
            ProgressBar::new(n),
            "{msg} [{bar:40.cyan/blue}] {bytes:>9}/{total_bytes:<9} {bytes_per_sec:>11} ETA {eta}",
        ),
        None => (
            ProgressBar::new_spinner(),
            "{msg} {spinner} {bytes:>9} {bytes_per_sec:>11}",
        ),
    };
    bar.set_style(
        ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_draw_target(ProgressDrawTarget::stderr());
    bar.set_message(label.to_owned());
    // Drawn at once: a transfer that ends within the first refresh still shows it ran.
    bar.tick();
    bar
}
