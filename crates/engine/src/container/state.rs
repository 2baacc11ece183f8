//! A container's lifecycle as a type: every change of status goes through [`transition`], so
//! an illegal move is an error with Docker's class (409 Conflict, 304 Not Modified) instead of
//! a corrupted record.

use berth_errdefs::ErrorKind;
use serde::{Deserialize, Serialize};

/// Docker's container statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Restarting => "restarting",
            Self::Removing => "removing",
            Self::Exited => "exited",
            Self::Dead => "dead",
        }
    }

    /// Has a live process (running or frozen).
    pub fn is_live(self) -> bool {
        matches!(self, Self::Running | Self::Paused)
    }
}

/// What happens to a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Its process started.
    Start,
    /// Its process ended.
    Exit,
    Pause,
    Unpause,
    /// The restart policy scheduled a new start.
    ScheduleRestart,
    /// A scheduled restart was cancelled (stop, kill, rm).
    CancelRestart,
    /// Removal began.
    Remove,
    /// Removal failed half-way; the record stays, marked dead.
    RemoveFailed,
}

/// An illegal move, with the class Docker reports it as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("container is {} and cannot {}", from.as_str(), verb(*action))]
pub struct TransitionError {
    pub from: Status,
    pub action: Action,
}

fn verb(a: Action) -> &'static str {
    match a {
        Action::Start => "start",
        Action::Exit => "exit",
        Action::Pause => "be paused",
        Action::Unpause => "be unpaused",
        Action::ScheduleRestart => "be restarted",
        Action::CancelRestart => "cancel a restart",
        Action::Remove => "be removed",
        Action::RemoveFailed => "fail removal",
    }
}

impl berth_errdefs::HasKind for TransitionError {
    fn kind(&self) -> ErrorKind {
        match (self.from, self.action) {
            (Status::Running | Status::Restarting, Action::Start) => ErrorKind::NotModified,
            _ => ErrorKind::Conflict,
        }
    }
}

/// The one place a container's status changes.
pub fn transition(from: Status, action: Action) -> Result<Status, TransitionError> {
    use Action as A;
    use Status as S;
    let to = match (from, action) {
        (S::Created | S::Exited | S::Restarting, A::Start) => S::Running,
        (S::Running | S::Paused | S::Restarting, A::Exit) => S::Exited,
        (S::Running, A::Pause) => S::Paused,
        (S::Paused, A::Unpause) => S::Running,
        (S::Exited, A::ScheduleRestart) => S::Restarting,
        (S::Restarting, A::CancelRestart) => S::Exited,
        (S::Created | S::Exited | S::Dead | S::Running | S::Paused | S::Restarting, A::Remove) => {
            S::Removing
        }
        (S::Removing, A::RemoveFailed) => S::Dead,
        _ => return Err(TransitionError { from, action }),
    };
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_errdefs::HasKind;

    const ALL_STATUSES: [Status; 7] = [
        Status::Created,
        Status::Running,
        Status::Paused,
        Status::Restarting,
        Status::Removing,
        Status::Exited,
        Status::Dead,
    ];
    const ALL_ACTIONS: [Action; 8] = [
        Action::Start,
        Action::Exit,
        Action::Pause,
        Action::Unpause,
        Action::ScheduleRestart,
        Action::CancelRestart,
        Action::Remove,
        Action::RemoveFailed,
    ];

    #[test]
    fn every_pair_is_decided() {
        // The full table, written out: (from, action) -> Some(to) or None (refused).
        use Action as A;
        use Status as S;
        let expected = |s: Status, a: Action| -> Option<Status> {
            match (s, a) {
                (S::Created | S::Exited | S::Restarting, A::Start) => Some(S::Running),
                (S::Running | S::Paused | S::Restarting, A::Exit) => Some(S::Exited),
                (S::Running, A::Pause) => Some(S::Paused),
                (S::Paused, A::Unpause) => Some(S::Running),
                (S::Exited, A::ScheduleRestart) => Some(S::Restarting),
                (S::Restarting, A::CancelRestart) => Some(S::Exited),
                (S::Removing, A::Remove) => None,
                (_, A::Remove) => Some(S::Removing),
                (S::Removing, A::RemoveFailed) => Some(S::Dead),
                _ => None,
            }
        };
        for s in ALL_STATUSES {
            for a in ALL_ACTIONS {
                assert_eq!(transition(s, a).ok(), expected(s, a), "{s:?} + {a:?}");
            }
        }
    }

    #[test]
    fn errors_carry_docker_classes() {
        let e = transition(Status::Running, Action::Start).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotModified);
        let e = transition(Status::Paused, Action::Pause).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Conflict);
        assert_eq!(e.to_string(), "container is paused and cannot be paused");
        let e = transition(Status::Removing, Action::Remove).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Conflict);
    }
}
