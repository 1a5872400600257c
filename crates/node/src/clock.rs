//! The node's clock: every decision reads time through it, never the
//! system directly, so the demo and the tests can move it.

use std::sync::Mutex;
use std::time::Instant;

use jiff::Timestamp;

/// The system's clock, or a simulated one that runs on from an instant it
/// is set to (the demo; tests of long absences).
#[derive(Debug)]
pub enum Clock {
    /// The operating system's clock.
    System,
    /// A clock set to an instant, advancing with real elapsed time.
    Simulated(Mutex<(Timestamp, Instant)>),
}

/// Why a clock could not be set.
#[derive(Debug, thiserror::Error)]
pub enum ClockError {
    /// Only a simulated clock can be set.
    #[error("the system clock cannot be set")]
    System,
    /// A simulated clock never goes back.
    #[error("the clock reads {now}; it does not go back to {to}")]
    Backwards {
        /// Where it stands.
        now: Timestamp,
        /// Where it was asked to go.
        to: Timestamp,
    },
}

impl Clock {
    /// A simulated clock reading `at` now.
    pub fn simulated(at: Timestamp) -> Clock {
        Clock::Simulated(Mutex::new((at, Instant::now())))
    }

    /// The current instant.
    pub fn now(&self) -> Timestamp {
        match self {
            Clock::System => Timestamp::now(),
            Clock::Simulated(m) => {
                let (at, since) = *crate::locked(m);
                let elapsed = jiff::SignedDuration::try_from(since.elapsed()).unwrap_or_default();
                at.checked_add(elapsed).unwrap_or(at)
            }
        }
    }

    /// Moves a simulated clock to `at` (never backwards).
    pub fn set(&self, at: Timestamp) -> Result<(), ClockError> {
        match self {
            Clock::System => Err(ClockError::System),
            Clock::Simulated(m) => {
                let now = self.now();
                if at < now {
                    return Err(ClockError::Backwards { now, to: at });
                }
                *crate::locked(m) = (at, Instant::now());
                Ok(())
            }
        }
    }
}

/// A signed message's instant (`(seconds, nanoseconds)`) as RFC 3339 text
/// for people; empty when it does not decode.
pub(crate) fn wire_text(i: (i64, u32)) -> String {
    gsomia_core::time::from_wire(i)
        .map(|t| t.to_string())
        .unwrap_or_default()
}
