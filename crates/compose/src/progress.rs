//! Compose v2's progress display on stderr: on a terminal a live block, one line per network,
//! volume, image and container with its state and elapsed time, redrawn in place; when piped,
//! one plain line per change (` Container p-web-1  Started`).

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How progress is shown (`--progress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Mode {
    Auto,
    Tty,
    Plain,
    Quiet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Working,
    Done,
    Failed,
}

#[derive(Debug)]
struct Line {
    kind: &'static str,
    name: String,
    status: String,
    outcome: Outcome,
    started: Instant,
    ended: Option<Instant>,
}

#[derive(Debug)]
struct State {
    title: String,
    lines: Vec<Line>,
    drawn: usize,
    frame: usize,
}

/// A progress display; cheap to clone into tasks.
#[derive(Debug, Clone)]
pub(crate) struct Progress {
    mode: Mode,
    state: Arc<Mutex<State>>,
}

const SPINNER: &[char] = &['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

impl Progress {
    pub(crate) fn new(mode: Mode, title: &str) -> Self {
        let mode = match mode {
            Mode::Auto if std::io::stderr().is_terminal() => Mode::Tty,
            Mode::Auto => Mode::Plain,
            m => m,
        };
        let p = Self {
            mode,
            state: Arc::new(Mutex::new(State {
                title: title.to_owned(),
                lines: Vec::new(),
                drawn: 0,
                frame: 0,
            })),
        };
        if mode == Mode::Tty {
            let ticker = p.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    if !ticker.tick() {
                        break;
                    }
                }
            });
        }
        p
    }

    /// `kind` is `Network`, `Volume`, `Image` or `Container`; `status` e.g. `Creating`.
    pub(crate) fn working(&self, kind: &'static str, name: &str, status: &str) {
        self.update(kind, name, status, Outcome::Working);
    }

    pub(crate) fn done(&self, kind: &'static str, name: &str, status: &str) {
        self.update(kind, name, status, Outcome::Done);
    }

    pub(crate) fn failed(&self, kind: &'static str, name: &str, status: &str) {
        self.update(kind, name, status, Outcome::Failed);
    }

    fn update(&self, kind: &'static str, name: &str, status: &str, outcome: Outcome) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        let now = Instant::now();
        let idx = match st
            .lines
            .iter()
            .position(|l| l.kind == kind && l.name == name)
        {
            Some(i) => i,
            None => {
                st.lines.push(Line {
                    kind,
                    name: name.to_owned(),
                    status: String::new(),
                    outcome,
                    started: now,
                    ended: None,
                });
                st.lines.len() - 1
            }
        };
        let line = &mut st.lines[idx];
        line.status = status.to_owned();
        line.outcome = outcome;
        line.ended = (outcome != Outcome::Working).then_some(now);
        match self.mode {
            Mode::Plain => {
                let text = format!(" {kind} {name}  {status}\n");
                let _ = std::io::stderr().write_all(text.as_bytes());
            }
            Mode::Tty => draw(&mut st),
            Mode::Auto | Mode::Quiet => {}
        }
    }

    /// Redraws (spinners, elapsed times); false once the display is finished.
    fn tick(&self) -> bool {
        let Ok(mut st) = self.state.lock() else {
            return false;
        };
        if st.title.is_empty() {
            return false;
        }
        st.frame += 1;
        draw(&mut st);
        true
    }

    /// Draws the final state and stops redrawing.
    pub(crate) fn finish(&self) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        if self.mode == Mode::Tty && !st.lines.is_empty() {
            draw(&mut st);
        }
        st.title.clear();
    }
}

fn draw(st: &mut State) {
    if st.title.is_empty() {
        return;
    }
    let done = st
        .lines
        .iter()
        .filter(|l| l.outcome != Outcome::Working)
        .count();
    let width = st
        .lines
        .iter()
        .map(|l| l.kind.len() + 1 + l.name.len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    if st.drawn > 0 {
        out.push_str(&format!("\x1b[{}A", st.drawn));
    }
    out.push_str(&format!(
        "\x1b[2K\x1b[34m[+] {} {done}/{}\x1b[0m\n",
        st.title,
        st.lines.len()
    ));
    let now = Instant::now();
    for l in &st.lines {
        let mark = match l.outcome {
            Outcome::Working => format!("{}", SPINNER[st.frame % SPINNER.len()]),
            Outcome::Done => "\x1b[32m✔\x1b[0m".to_owned(),
            Outcome::Failed => "\x1b[31m✘\x1b[0m".to_owned(),
        };
        let elapsed = l.ended.unwrap_or(now).duration_since(l.started);
        let label = format!("{} {}", l.kind, l.name);
        out.push_str(&format!(
            "\x1b[2K {mark} {label:<width$}  {:<10} {:>5.1}s\n",
            l.status,
            elapsed.as_secs_f64()
        ));
    }
    st.drawn = st.lines.len() + 1;
    let _ = std::io::stderr().write_all(out.as_bytes());
}
