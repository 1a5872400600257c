//! The warning feed's state in memory: flights by id with their signed
//! updates in order, the broadcast channel local subscribers listen on,
//! one ordered queue per partner, and the ledger entries waiting for the
//! next batch. [`crate::warnings`] applies updates to it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use gsomia_core::warning::Flight;
use gsomia_ledger::entry::Entry;
use gsomia_seal::message::WarningUpdate;
use jiff::Timestamp;
use tokio::sync::{broadcast, mpsc};

use crate::locked;

/// How many updates a local subscriber may fall behind before it is cut off.
pub const SUBSCRIBER_BACKLOG: usize = 1024;
/// Closed flights kept in memory (the oldest closed ones are forgotten
/// beyond this; the ledger keeps every update).
pub const CLOSED_KEPT: usize = 256;

/// One applied update, as local subscribers see it.
#[derive(Debug, Clone)]
pub struct Shown {
    /// The update, decoded.
    pub update: WarningUpdate,
    /// The level this party marks it with.
    pub level: String,
    /// When this node applied it.
    pub applied_at: Timestamp,
    /// Its server-sent event (`event: warning`, the API's `WarningUpdate`
    /// as one line of JSON data), made once for every subscriber: each
    /// subscriber's stream shares these bytes.
    pub event: Vec<u8>,
}

impl Shown {
    /// An update as subscribers see it.
    pub fn new(update: WarningUpdate, level: String, applied_at: Timestamp) -> Shown {
        let mut s = Shown {
            update,
            level,
            applied_at,
            event: Vec::new(),
        };
        // Compact JSON has no line breaks, so it is one `data:` line.
        let json = serde_json::to_string(&s.view()).unwrap_or_default();
        s.event = format!("event: warning\ndata: {json}\n\n").into_bytes();
        s
    }

    /// The update in the API's terms.
    pub fn view(&self) -> gsomia_api::WarningUpdate {
        let u = &self.update;
        gsomia_api::WarningUpdate {
            id: u.id.clone(),
            originator: u.originator.clone(),
            seq: u.seq,
            kind: u.kind.clone(),
            lat: u.lat,
            lon: u.lon,
            alt_km: u.alt_km,
            at: gsomia_core::time::from_wire(u.at)
                .map(|t| t.to_string())
                .unwrap_or_default(),
            level: self.level.clone(),
            originator_level: u.level.clone(),
            applied_at: self.applied_at.to_string(),
        }
    }
}

/// A flight known here: its state, its updates as applied (signed bytes
/// and the instant each was applied), and the level this party marks it with.
#[derive(Debug, Clone)]
pub struct Known {
    /// The flight's state.
    pub flight: Flight,
    /// Each update's signed bytes and when it was applied here, in order.
    pub signed: Vec<(Vec<u8>, Timestamp)>,
    /// The level this party marks it with.
    pub level: String,
}

/// A signed update owed to a partner.
#[derive(Debug, Clone)]
pub struct Owed {
    /// The flight.
    pub flight: String,
    /// The update's place in it.
    pub seq: u32,
    /// The signed update.
    pub bytes: Vec<u8>,
}

/// What applying an update leaves to write durably: the update, and the
/// forwards owed to partners.
#[derive(Debug, Clone, Default)]
pub struct Persist {
    /// The update as applied here.
    pub rows: Vec<gsomia_store::WarningRow>,
    /// (party, flight, seq, queued at).
    pub owed: Vec<(String, String, u32, String)>,
}

impl Persist {
    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty() && self.owed.is_empty()
    }
}

/// The warning state of a node.
pub struct Feed {
    /// Flights by id.
    pub flights: Mutex<BTreeMap<String, Known>>,
    /// Local subscribers.
    pub live: broadcast::Sender<Arc<Shown>>,
    /// One ordered queue per partner (partners change while the node runs).
    pub queues: Mutex<BTreeMap<String, mpsc::UnboundedSender<Owed>>>,
    /// Ledger entries waiting for the next batch.
    pub pending: Mutex<Vec<Entry>>,
    /// Updates and forwards applied without a durable write of their own
    /// (the next batch writes them).
    pub staged: Mutex<Persist>,
    /// Updates partners took: (party, flight, seq, when), for the next batch.
    pub taken: Mutex<Vec<(String, String, u32, String)>>,
    /// Ids of closed flights forgotten by [`CLOSED_KEPT`]: their updates are duplicates.
    pub forgotten: Mutex<BTreeSet<String>>,
    /// The partner queues' receiving ends, until the senders take them.
    receivers: Mutex<Vec<(String, mpsc::UnboundedReceiver<Owed>)>>,
    /// The effects of applied updates, released in the order the updates
    /// were applied however their writes finish.
    pub effects: Mutex<InOrder>,
    /// On a store other processes write: the position of the last update
    /// read from it (unset until first read). Held while reading, and by
    /// each follow-up published here (on any store) until it is written.
    pub followed: tokio::sync::Mutex<Option<i64>>,
    /// Held by each batch write of what waits ([`Feed::take_pending`],
    /// [`Feed::take_staged`]) from taking it until it is written or put
    /// back: a write that finds another under way waits for it, so when
    /// one returns, everything that waited when it began is written.
    pub flushing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed").finish_non_exhaustive()
    }
}

impl Feed {
    /// The state, with one queue per partner in `partners`.
    pub fn new<'a>(partners: impl IntoIterator<Item = &'a str>) -> Feed {
        let (live, _) = broadcast::channel(SUBSCRIBER_BACKLOG);
        let mut queues = BTreeMap::new();
        let mut receivers = Vec::new();
        for p in partners {
            let (tx, rx) = mpsc::unbounded_channel();
            queues.insert(p.to_owned(), tx);
            receivers.push((p.to_owned(), rx));
        }
        Feed {
            flights: Mutex::default(),
            live,
            queues: Mutex::new(queues),
            pending: Mutex::default(),
            staged: Mutex::default(),
            taken: Mutex::default(),
            receivers: Mutex::new(receivers),
            followed: tokio::sync::Mutex::new(None),
            flushing: tokio::sync::Mutex::new(()),
            effects: Mutex::default(),
            forgotten: Mutex::default(),
        }
    }

    /// How many updates of flight `id` this node has applied (0 if unknown).
    #[cfg_attr(
        not(feature = "testkit"),
        allow(dead_code, reason = "tests count applied updates")
    )]
    pub fn applied(&self, id: &str) -> usize {
        locked(&self.flights)
            .get(id)
            .map_or(0, |k| k.flight.updates.len())
    }

    /// The queue of a partner added while the node runs: its receiving end
    /// (`None` if it has one already).
    pub fn add_queue(&self, party: &str) -> Option<mpsc::UnboundedReceiver<Owed>> {
        let mut queues = locked(&self.queues);
        if queues.contains_key(party) {
            return None;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        queues.insert(party.to_owned(), tx);
        Some(rx)
    }

    /// Drops the queue of a partner removed while the node runs (its sender
    /// stops once it has sent what it holds; what it owes stays in the store).
    pub fn remove_queue(&self, party: &str) {
        locked(&self.queues).remove(party);
    }

    /// A snapshot of the partner queues.
    pub fn queues(&self) -> BTreeMap<String, mpsc::UnboundedSender<Owed>> {
        locked(&self.queues).clone()
    }

    /// The partner queues' receiving ends (once; empty after).
    pub fn take_receivers(&self) -> Vec<(String, mpsc::UnboundedReceiver<Owed>)> {
        std::mem::take(&mut *locked(&self.receivers))
    }

    /// Forgets the oldest closed flights beyond [`CLOSED_KEPT`] (memory stays bounded).
    pub fn prune(&self) {
        let mut flights = locked(&self.flights);
        let mut closed: Vec<(Timestamp, String)> = flights
            .iter()
            .filter(|(_, k)| k.flight.closed())
            .filter_map(|(id, k)| k.flight.updates.last().map(|u| (u.at(), id.clone())))
            .collect();
        if closed.len() > CLOSED_KEPT {
            closed.sort();
            let mut forgotten = locked(&self.forgotten);
            for (_, id) in closed.iter().take(closed.len() - CLOSED_KEPT) {
                flights.remove(id);
                forgotten.insert(id.clone());
            }
        }
    }

    /// Takes the ledger entries waiting for a batch.
    pub fn take_pending(&self) -> Vec<Entry> {
        std::mem::take(&mut *locked(&self.pending))
    }

    /// Takes what waits to be written with the next batch: staged updates
    /// and forwards, and updates partners took.
    pub fn take_staged(&self) -> (Persist, Vec<(String, String, u32, String)>) {
        (
            std::mem::take(&mut *locked(&self.staged)),
            std::mem::take(&mut *locked(&self.taken)),
        )
    }

    /// Puts back what a batch took and could not write, ahead of whatever
    /// came meanwhile, for the next batch.
    pub fn put_back(
        &self,
        entries: Vec<Entry>,
        staged: Persist,
        taken: Vec<(String, String, u32, String)>,
    ) {
        fn ahead<T>(slot: &mut Vec<T>, mut first: Vec<T>) {
            first.append(slot);
            *slot = first;
        }
        ahead(&mut locked(&self.pending), entries);
        {
            let mut s = locked(&self.staged);
            ahead(&mut s.rows, staged.rows);
            ahead(&mut s.owed, staged.owed);
        }
        ahead(&mut locked(&self.taken), taken);
    }
}

/// What an applied update leads to beyond the flight's state: its forwards
/// queued, its showing to local subscribers, its ledger entry, closed
/// flights pruned. Done once the update is durable (or staged), in the
/// order the updates were applied ([`InOrder`]).
#[derive(Default)]
pub struct Effects {
    /// (partner's queue, the forward).
    pub forwards: Vec<(mpsc::UnboundedSender<Owed>, Owed)>,
    /// For local subscribers.
    pub shown: Option<Arc<Shown>>,
    /// Its ledger entry.
    pub entry: Option<gsomia_ledger::entry::Entry>,
    /// Whether closed flights are pruned after it.
    pub prune: bool,
}

/// Tickets taken in the order updates are applied; the effects of each
/// handed back (or none, if its write failed) are released strictly in
/// ticket order, so a forward or a subscriber never sees a later update
/// of a flight before an earlier one whose write finished later.
#[derive(Default)]
pub struct InOrder {
    next_ticket: u64,
    next_out: u64,
    done: BTreeMap<u64, Option<Effects>>,
}

impl InOrder {
    /// The next ticket (take it while the flights are locked).
    pub fn ticket(&mut self) -> u64 {
        let t = self.next_ticket;
        self.next_ticket += 1;
        t
    }

    /// Hands back `ticket`'s effects; every effect now due, in order.
    pub fn finish(&mut self, ticket: u64, effects: Option<Effects>) -> Vec<Effects> {
        self.done.insert(ticket, effects);
        let mut out = Vec::new();
        while let Some(e) = self.done.remove(&self.next_out) {
            self.next_out += 1;
            out.extend(e);
        }
        out
    }
}
