//! What an operator scrapes at `/metrics` (Prometheus text format): the
//! outbox per partner (depth, age of the oldest undelivered transfer),
//! transfers by outcome, refusals by the rule they cite, the warning
//! feed's latency, the ledger's size and the age of its last checkpoint,
//! and requests refused for want of credentials. Counters are kept here;
//! gauges of stored state are read from the store at each scrape.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// A partner.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartnerLabel {
    /// Its party code.
    pub partner: String,
}

/// A transfer's outcome at a partner.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// The partner (recipient or sender).
    pub partner: String,
    /// `sent`, `delivered`, `refused`, `retried` (sender); `received`,
    /// `duplicate`, `refused` (receiver).
    pub outcome: String,
}

/// A refusal, by the rule it cites.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusalLabels {
    /// What was refused: `release`, `read`, `transfer`, `warning`, `event`.
    pub decision: String,
    /// The provision cited (`rule 10`, `jp-kr-2016 art 21(3)`, `deny by default`).
    pub rule: String,
}

/// An integrity check that failed.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CheckLabel {
    /// `custody_tag`, `untagged`, `label_index`, `sealed_bytes`.
    pub check: String,
}

/// Where a warning update was applied.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HopLabel {
    /// `published` (here) or `received` (from a partner).
    pub hop: String,
}

/// The node's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Transfers by partner and outcome.
    pub transfers: Family<OutcomeLabels, Counter>,
    /// Refusals by decision and rule cited.
    pub refusals: Family<RefusalLabels, Counter>,
    /// Seconds from an update's instant to its application here.
    pub warning_latency: Family<HopLabel, Histogram>,
    /// Undelivered transfers per partner (set at each scrape).
    pub outbox_depth: Family<PartnerLabel, Gauge>,
    /// Age in seconds of the oldest undelivered transfer per partner (set at each scrape).
    pub outbox_oldest: Family<PartnerLabel, Gauge<f64, AtomicU64>>,
    /// Ledger records (set at each scrape).
    pub ledger_size: Gauge,
    /// Seconds since this process last stored a checkpoint (-1: not yet).
    pub checkpoint_age: Gauge<f64, AtomicU64>,
    /// Size of the last checkpoint this process stored.
    pub checkpoint_size: Gauge,
    /// Requests without valid credentials (counted, not each ledgered).
    pub unauthenticated: Counter,
    /// Integrity alarms by the check that failed.
    pub integrity_alarms: Family<CheckLabel, Counter>,
}

fn latency_histogram() -> Histogram {
    // 100 µs to ~13 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 18))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric, registered under the `gsomia` prefix.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("gsomia");
        let m = Metrics {
            transfers: Family::default(),
            refusals: Family::default(),
            warning_latency: Family::new_with_constructor(latency_histogram),
            outbox_depth: Family::default(),
            outbox_oldest: Family::default(),
            ledger_size: Gauge::default(),
            checkpoint_age: Gauge::default(),
            checkpoint_size: Gauge::default(),
            unauthenticated: Counter::default(),
            integrity_alarms: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "transfers",
            "Transfers by partner and outcome",
            m.transfers.clone(),
        );
        registry.register(
            "refusals",
            "Refusals by decision and the rule they cite",
            m.refusals.clone(),
        );
        registry.register(
            "warning_latency_seconds",
            "Seconds from a warning update's instant to its application at this node",
            m.warning_latency.clone(),
        );
        registry.register(
            "outbox_depth",
            "Transfers and messages not yet delivered, per partner",
            m.outbox_depth.clone(),
        );
        registry.register(
            "outbox_oldest_age_seconds",
            "Age of the oldest undelivered transfer or message, per partner",
            m.outbox_oldest.clone(),
        );
        registry.register(
            "ledger_size",
            "Records in the ledger",
            m.ledger_size.clone(),
        );
        registry.register(
            "checkpoint_age_seconds",
            "Seconds since this process last stored a checkpoint (-1 before the first)",
            m.checkpoint_age.clone(),
        );
        registry.register(
            "checkpoint_size",
            "Size of the last checkpoint this process stored",
            m.checkpoint_size.clone(),
        );
        registry.register(
            "unauthenticated_requests",
            "Requests refused for want of valid credentials",
            m.unauthenticated.clone(),
        );
        registry.register(
            "integrity_alarms",
            "Rows refused because they failed their integrity check, by check",
            m.integrity_alarms.clone(),
        );
        // The latency series exist from the start, so a dashboard sees them at zero.
        for hop in ["published", "received"] {
            let _ = m.warning_latency.get_or_create(&HopLabel {
                hop: hop.to_owned(),
            });
        }
        Metrics { registry, ..m }
    }

    /// Counts a refusal citing each of `rules` (once with `deny by default` when none).
    pub fn refused<'a>(&self, decision: &str, rules: impl IntoIterator<Item = &'a str>) {
        let mut any = false;
        for rule in rules {
            any = true;
            self.refusals
                .get_or_create(&RefusalLabels {
                    decision: decision.to_owned(),
                    rule: rule.to_owned(),
                })
                .inc();
        }
        if !any {
            self.refusals
                .get_or_create(&RefusalLabels {
                    decision: decision.to_owned(),
                    rule: "deny by default".to_owned(),
                })
                .inc();
        }
    }

    /// Counts an integrity alarm.
    pub fn integrity_alarm(&self, check: &str) {
        self.integrity_alarms
            .get_or_create(&CheckLabel {
                check: check.to_owned(),
            })
            .inc();
    }

    /// Counts a transfer outcome with `partner`.
    pub fn transfer(&self, partner: &str, outcome: &str, n: u64) {
        self.transfers
            .get_or_create(&OutcomeLabels {
                partner: partner.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc_by(n);
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
