//! The incident feed's state in memory: the broadcast channel live
//! subscribers listen on, and the wake-up of the sender of pending
//! messages. [`crate::incidents`] writes to it.

use std::sync::Arc;

use tokio::sync::broadcast;

/// How many incident events a live subscriber may fall behind.
pub const SUBSCRIBER_BACKLOG: usize = 256;

/// The live incident feed of a node and the wake-up of its sender.
#[derive(Debug)]
pub struct Incidents {
    feed: broadcast::Sender<Arc<String>>,
    /// Wakes the sender when a message is written.
    pub wake: tokio::sync::Notify,
}

impl Default for Incidents {
    fn default() -> Self {
        Incidents {
            feed: broadcast::channel(SUBSCRIBER_BACKLOG).0,
            wake: tokio::sync::Notify::new(),
        }
    }
}

impl Incidents {
    /// A new live subscriber.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<String>> {
        self.feed.subscribe()
    }
    /// Shows an incident as it now stands to every live subscriber.
    pub fn show(&self, view: &gsomia_api::IncidentView) {
        if let Ok(json) = serde_json::to_string(view) {
            let _ = self.feed.send(Arc::new(json));
        }
    }
}
