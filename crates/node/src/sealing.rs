//! Sealing and opening items with the party's keys, cheaply: one KEM
//! encapsulation per session to a party rather than per item, the secrets
//! of sessions opened here kept (bounded), and bindings verified here not
//! verified again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gsomia_ledger::note::Signer;
use gsomia_seal::item::{Header, OpenError, RecipientPublic, RecipientSecret, Session, WireLabel};
use jiff::Timestamp;

use crate::ids::{EntropyError, entropy};
use crate::locked;

/// Items sealed in one session before a new one begins.
pub const SESSION_ITEMS: u64 = 10_000;
/// How long a sealing session lasts at most.
pub const SESSION_AGE: Duration = Duration::from_secs(3600);
/// Session secrets kept for opening (forgotten all at once beyond this).
const OPENED_KEPT: usize = 1024;
/// Item bindings remembered as verified (32 bytes each).
const BINDINGS_KEPT: usize = 65_536;
/// Own sealing sessions remembered (32 bytes each; up to [`SESSION_ITEMS`]
/// items each), beyond which they are forgotten at once.
const OWN_SESSIONS_KEPT: usize = 4096;

/// Why an item could not be sealed.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// No randomness for the session or the item.
    #[error(transparent)]
    Entropy(#[from] EntropyError),
    /// The sealing layer refused (a malformed label, a bad key, too large).
    #[error("sealing: {0}")]
    Seal(#[from] OpenError),
}

/// A sealing session in use: the session, items sealed in it, when it began.
type SealingSession = (Arc<Session>, u64, Timestamp);

/// The party's sealing state.
pub struct Sealing {
    party: String,
    signer: Arc<Signer>,
    recipient: RecipientSecret,
    /// Sealing sessions by recipient party (this party's own included).
    sessions: Mutex<BTreeMap<String, SealingSession>>,
    /// Secrets of sessions opened here, by SHA-256 of their encapsulated key.
    opened: Mutex<HashMap<[u8; 32], [u8; 32]>>,
    /// Item bindings verified here (not verified twice).
    bindings: BindingMemo,
    /// Ids of the sealing sessions this process began to this party's own
    /// key (items at rest): their items' bindings need no signature check.
    own_sessions: Mutex<HashSet<[u8; 32]>>,
}

impl std::fmt::Debug for Sealing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealing")
            .field("party", &self.party)
            .finish_non_exhaustive()
    }
}

impl Sealing {
    /// The sealing state of `party`, which signs with `signer` and decrypts
    /// with `recipient`.
    pub fn new(party: &str, signer: Arc<Signer>, recipient: RecipientSecret) -> Sealing {
        Sealing {
            party: party.to_owned(),
            signer,
            recipient,
            sessions: Mutex::default(),
            opened: Mutex::default(),
            bindings: BindingMemo::new(BINDINGS_KEPT),
            own_sessions: Mutex::default(),
        }
    }

    /// The party's own encryption key (items at rest are sealed to it).
    pub fn own_key(&self) -> RecipientPublic {
        self.recipient.public()
    }

    /// Seals `content` under `label` for `party` (whose encryption key is
    /// `key`) at `now`, in the current session to it. A session ends after
    /// [`SESSION_ITEMS`] items or [`SESSION_AGE`].
    pub fn seal_for(
        &self,
        now: Timestamp,
        party: &str,
        key: &RecipientPublic,
        label: &WireLabel,
        content: &[u8],
    ) -> Result<Vec<u8>, SealError> {
        let session = {
            let mut sessions = locked(&self.sessions);
            let fresh = |s: &SealingSession| {
                s.1 < SESSION_ITEMS
                    && now >= s.2
                    && now.duration_since(s.2).as_secs() < SESSION_AGE.as_secs() as i64
            };
            match sessions.get_mut(party) {
                Some(s) if fresh(s) => {
                    s.1 += 1;
                    s.0.clone()
                }
                _ => {
                    let s = Arc::new(Session::new(key, entropy()?)?);
                    if key.fingerprint() == self.recipient.fingerprint() {
                        let mut own = locked(&self.own_sessions);
                        if own.len() >= OWN_SESSIONS_KEPT {
                            own.clear();
                        }
                        own.insert(s.id());
                    }
                    sessions.insert(party.to_owned(), (s.clone(), 1, now));
                    s
                }
            }
        };
        // Opening it again (a release of what was submitted) needs no second
        // check of our own signature: its session is one this process began
        // to its own key. An item sealed for a partner never opens here, so
        // its binding is not remembered either.
        Ok(session.seal(
            label,
            content,
            &self.party,
            &self.signer.key,
            party,
            entropy()?,
        )?)
    }

    /// Opens an item sealed to this party, keeping the secret of each
    /// session it opens so the session's other items need no decapsulation.
    pub fn open(
        &self,
        bytes: &[u8],
        sender: Option<(&str, &gsomia_seal::PublicKey)>,
    ) -> Result<(Header, Vec<u8>), OpenError> {
        use sha2::Digest as _;
        let secrets = &mut |enc: &[u8]| {
            let id: [u8; 32] = sha2::Sha256::digest(enc).into();
            if let Some(s) = locked(&self.opened).get(&id) {
                return Ok(*s);
            }
            let s = gsomia_seal::item::session_secret(enc, &self.recipient)?;
            let mut opened = locked(&self.opened);
            if opened.len() >= OPENED_KEPT {
                opened.clear();
            }
            opened.insert(id, s);
            Ok(s)
        };
        // A binding verified before, or any item of a session this process
        // began to its own key (the AEAD over header and binding, under a
        // secret only this party can derive, stands for the check).
        let known = |id: &[u8; 32], session: Option<&[u8; 32]>| {
            self.bindings.holds(id)
                || session.is_some_and(|s| locked(&self.own_sessions).contains(s))
        };
        let (header, content, id) =
            gsomia_seal::item::open_known(bytes, &self.recipient, sender, secrets, &known)?;
        self.bindings.remember(id);
        Ok((header, content))
    }
}

/// Item bindings this process has verified, by
/// [`gsomia_seal::item::binding_id`]: the same signed bytes with the same
/// signature verify the same way every time, so [`Sealing::open`] does not
/// check them twice (a second read of a received item, its onward release).
/// Bounded: forgotten all at once beyond its capacity, which costs only a
/// verification again.
#[derive(Debug)]
struct BindingMemo {
    ids: Mutex<HashSet<[u8; 32]>>,
    capacity: usize,
}

impl BindingMemo {
    fn new(capacity: usize) -> BindingMemo {
        BindingMemo {
            ids: Mutex::default(),
            capacity,
        }
    }

    fn holds(&self, id: &[u8; 32]) -> bool {
        locked(&self.ids).contains(id)
    }

    fn remember(&self, id: [u8; 32]) {
        let mut ids = locked(&self.ids);
        if ids.len() >= self.capacity {
            ids.clear();
        }
        ids.insert(id);
    }
}
