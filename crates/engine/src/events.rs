//! The event stream (`docker events`): a broadcast channel for live subscribers plus a bounded
//! history for `--since` queries.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// Events kept for `--since` queries.
const HISTORY: usize = 1024;

/// One event, shaped like Docker's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// `container`, `image`, `network`, `volume`, `daemon`.
    pub kind: String,
    /// `create`, `start`, `die`, `destroy`, `pull`, `tag`, ...
    pub action: String,
    pub actor_id: String,
    pub attributes: HashMap<String, String>,
    /// Unix time in nanoseconds.
    pub time_ns: i64,
}

/// Publishes events.
#[derive(Debug)]
pub struct EventBus {
    tx: broadcast::Sender<Event>,
    history: Mutex<VecDeque<Event>>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(1024).0,
            history: Mutex::new(VecDeque::with_capacity(HISTORY)),
        }
    }
}

impl EventBus {
    pub fn publish(
        &self,
        kind: &str,
        action: &str,
        actor_id: &str,
        attributes: HashMap<String, String>,
    ) {
        let ev = Event {
            kind: kind.to_owned(),
            action: action.to_owned(),
            actor_id: actor_id.to_owned(),
            attributes,
            time_ns: crate::monitor::now_ns(),
        };
        if let Ok(mut h) = self.history.lock() {
            if h.len() == HISTORY {
                h.pop_front();
            }
            h.push_back(ev.clone());
        }
        let _ = self.tx.send(ev);
    }

    /// Past events in `[since, until)`, then live ones: subscribe first so nothing falls in
    /// between.
    pub fn subscribe(&self, since_ns: Option<i64>) -> (Vec<Event>, broadcast::Receiver<Event>) {
        let rx = self.tx.subscribe();
        let past = match (since_ns, self.history.lock()) {
            (Some(since), Ok(h)) => h.iter().filter(|e| e.time_ns >= since).cloned().collect(),
            _ => Vec::new(),
        };
        (past, rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn history_and_live() {
        let bus = EventBus::default();
        bus.publish("container", "create", "abc", HashMap::new());
        let (past, mut rx) = bus.subscribe(Some(0));
        assert_eq!(past.len(), 1);
        bus.publish("container", "start", "abc", HashMap::new());
        assert_eq!(rx.recv().await.unwrap().action, "start");
        let (past, _) = bus.subscribe(None);
        assert!(past.is_empty());
    }
}
