//! The local terminal: raw mode for `-t` sessions and its size, for resize requests.

use std::io::IsTerminal;

use nix::sys::termios::{self, SetArg, Termios};

/// Puts stdin's terminal in raw mode until dropped, so keystrokes (ctrl-c included) go to the
/// container's terminal instead of being interpreted here.
#[derive(Debug)]
pub struct RawMode {
    saved: Option<Termios>,
}

impl RawMode {
    /// Does nothing when stdin is not a terminal.
    pub fn enter() -> Self {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return Self { saved: None };
        }
        let Ok(saved) = termios::tcgetattr(&stdin) else {
            return Self { saved: None };
        };
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        if termios::tcsetattr(&stdin, SetArg::TCSANOW, &raw).is_err() {
            return Self { saved: None };
        }
        Self { saved: Some(saved) }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = termios::tcsetattr(std::io::stdin(), SetArg::TCSANOW, saved);
        }
    }
}

/// The terminal's (rows, columns), from stdout or else stdin.
pub fn size() -> Option<(u16, u16)> {
    let from = |fd: std::os::fd::BorrowedFd<'_>| {
        rustix::termios::tcgetwinsize(fd)
            .ok()
            .filter(|w| w.ws_row > 0 && w.ws_col > 0)
            .map(|w| (w.ws_row, w.ws_col))
    };
    use std::os::fd::AsFd;
    from(std::io::stdout().as_fd()).or_else(|| from(std::io::stdin().as_fd()))
}

pub fn stdin_is_tty() -> bool {
    std::io::stdin().is_terminal()
}
