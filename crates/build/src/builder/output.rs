//! The build's output stream. Stages may run concurrently; each one's lines are held until
//! the stages before it (in file order) have finished, so the stream reads like a
//! sequential build. With `quiet`, everything is held and shown only on failure.

use std::sync::Mutex;

/// Receives Docker's JSON messages.
pub trait Progress: Send + Sync {
    /// `{"stream": text}`.
    fn stream(&self, text: &str);
    /// `{"aux": {"ID": id}}`.
    fn aux(&self, id: &str);
}

struct State {
    current: usize,
    done: Vec<bool>,
    held: Vec<Vec<String>>,
}

pub(crate) struct Ordered {
    sink: std::sync::Arc<dyn Progress>,
    quiet: bool,
    state: Mutex<State>,
}

impl Ordered {
    pub(crate) fn new(sink: std::sync::Arc<dyn Progress>, slots: usize, quiet: bool) -> Self {
        Self {
            sink,
            quiet,
            state: Mutex::new(State {
                current: 0,
                done: vec![false; slots],
                held: vec![Vec::new(); slots],
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Text from slot `slot` (0: meta args, then one per stage).
    pub(crate) fn text(&self, slot: usize, text: &str) {
        let mut s = self.lock();
        if slot == s.current && !self.quiet {
            self.sink.stream(text);
        } else if let Some(h) = s.held.get_mut(slot) {
            h.push(text.to_owned());
        }
    }

    /// A `Step N/M : ...` line: the text, then a separate newline, as dockerd sends them.
    pub(crate) fn line(&self, slot: usize, text: &str) {
        self.text(slot, text);
        self.text(slot, "\n");
    }

    pub(crate) fn done(&self, slot: usize) {
        let mut s = self.lock();
        if let Some(d) = s.done.get_mut(slot) {
            *d = true;
        }
        while s.current < s.done.len() && s.done[s.current] {
            s.current += 1;
            if s.current < s.held.len() && !self.quiet {
                let cur = s.current;
                for t in std::mem::take(&mut s.held[cur]) {
                    self.sink.stream(&t);
                }
            }
        }
    }

    /// After a failure: whatever was held (quiet mode shows it all now).
    pub(crate) fn flush_all(&self) {
        let mut s = self.lock();
        let start = if self.quiet { 0 } else { s.current };
        for slot in start..s.held.len() {
            for t in std::mem::take(&mut s.held[slot]) {
                self.sink.stream(&t);
            }
        }
    }

    /// A line after every stage (warnings, "Successfully ...").
    pub(crate) fn line_last(&self, text: &str) {
        if !self.quiet {
            self.sink.stream(text);
        }
    }

    pub(crate) fn raw(&self, text: &str) {
        self.sink.stream(text);
    }

    pub(crate) fn aux(&self, id: &str) {
        self.sink.aux(id);
    }
}
