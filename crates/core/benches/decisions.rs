//! Release and access decisions per second over a realistic set: every
//! shipped agreement, thousands of labels, instants across 2016–2026.
//!
//! Run: `cargo bench -p gsomia-core --bench decisions`. Throughput is printed
//! as items/s; `floor` walks the same requests and only reads each
//! agreement's in-force interval, the least any decision must do, so the
//! ratio of the two is the engine's overhead.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use divan::counter::ItemsCount;
use divan::{Bencher, black_box};
use gsomia_core::{
    Consent, ConsentScope, ItemLabels, Label, Reader, Registry, ReleaseRequest, decide_access,
    decide_release,
};
use jiff::{SignedDuration, Timestamp};

fn main() {
    divan::main();
}

const N: usize = 4096;

/// A small deterministic generator (no randomness in the measured code).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[(self.next() as usize) % xs.len()]
    }
}

struct Set {
    reg: Registry,
    labels: Vec<Label>,
    reqs: Vec<(usize, u16, u16, Timestamp, bool)>,
    consents: Vec<Consent>,
}

fn set(only_release_paths: bool) -> Set {
    let reg = gsomia_core::shipped().unwrap();
    let parties = ["JPN", "KOR", "USA"];
    let topics = [
        "dprk.missile",
        "dprk.nuclear",
        "defence.technology",
        "regional.maritime",
        "dprk",
    ];
    let start = gsomia_core::time::parse_instant("2016-01-01T00:00:00Z").unwrap();
    let mut rng = Lcg(42);
    let mut labels = Vec::new();
    let mut reqs = Vec::new();
    let mut consents = Vec::new();
    for o in parties {
        for h in parties {
            for r in parties {
                if h == o || r == o || h == r {
                    continue;
                }
                consents.push(Consent {
                    originator: reg.party(o).unwrap(),
                    holder: reg.party(h).unwrap(),
                    recipient: reg.party(r).unwrap(),
                    scope: ConsentScope::Topics(reg.need_to_know(["dprk"]).unwrap()),
                    granted_at: start,
                    expires_at: start
                        .checked_add(SignedDuration::from_hours(24 * 3650))
                        .unwrap(),
                    revoked_at: None,
                });
            }
        }
    }
    while reqs.len() < N {
        let o = rng.pick(&parties);
        let policy = reg.policy(reg.party(o).unwrap()).unwrap();
        let level = &policy.levels()[(rng.next() as usize) % policy.levels().len()];
        let topic = rng.pick(&topics);
        let at = start
            .checked_add(SignedDuration::from_secs(
                (rng.next() % (11 * 365 * 86_400)) as i64,
            ))
            .unwrap();
        let label = reg.label(o, &level.native, &[topic], None, at).unwrap();
        let onward = rng.next().is_multiple_of(4);
        let holder = if onward { rng.pick(&parties) } else { o };
        let to = rng.pick(&parties);
        if to == holder {
            continue;
        }
        let with_consent = rng.next().is_multiple_of(2);
        let req = ReleaseRequest {
            label: &label,
            item: None,
            holder: reg.party(holder).unwrap(),
            recipient: reg.party(to).unwrap(),
            at,
            consents: if with_consent { &consents } else { &[] },
        };
        if only_release_paths && !decide_release(&reg, &req).is_release() {
            continue;
        }
        reqs.push((
            labels.len(),
            req.holder.index() as u16,
            req.recipient.index() as u16,
            at,
            with_consent,
        ));
        labels.push(label);
    }
    Set {
        reg,
        labels,
        reqs,
        consents,
    }
}

fn run(bencher: Bencher, only_release: bool) {
    let s = set(only_release);
    let parties: Vec<_> = ["JPN", "KOR", "USA"]
        .iter()
        .map(|p| s.reg.party(p).unwrap())
        .collect();
    let by_index = |i: u16| *parties.iter().find(|p| p.index() == i as usize).unwrap();
    let prepared: Vec<_> = s
        .reqs
        .iter()
        .map(|(l, h, r, at, c)| (*l, by_index(*h), by_index(*r), *at, *c))
        .collect();
    bencher.counter(ItemsCount::new(prepared.len())).bench(|| {
        let mut released = 0usize;
        for (l, holder, recipient, at, c) in &prepared {
            let req = ReleaseRequest {
                label: &s.labels[*l],
                item: None,
                holder: *holder,
                recipient: *recipient,
                at: *at,
                consents: if *c { &s.consents } else { &[] },
            };
            released +=
                usize::from(decide_release(black_box(&s.reg), black_box(&req)).is_release());
        }
        released
    });
}

/// Every request of the mix, releases and withholds (with their reasons).
#[divan::bench]
fn release_mixed(bencher: Bencher) {
    run(bencher, false);
}

/// Only requests that end in a release (the hot path of a busy node).
#[divan::bench]
fn release_only(bencher: Bencher) {
    run(bencher, true);
}

/// The floor: the same walk, reading only the first linking agreement's interval.
#[divan::bench]
fn floor(bencher: Bencher) {
    let s = set(false);
    let parties: Vec<_> = ["JPN", "KOR", "USA"]
        .iter()
        .map(|p| s.reg.party(p).unwrap())
        .collect();
    bencher.counter(ItemsCount::new(s.reqs.len())).bench(|| {
        let mut n = 0usize;
        for (_, h, r, at, _) in &s.reqs {
            let (h, r) = (parties[*h as usize], parties[*r as usize]);
            if let Some(a) = s.reg.bilateral(black_box(h), black_box(r)).first() {
                n += usize::from(s.reg.agreement(*a).unwrap().lifecycle().in_force_at(*at));
            }
        }
        n
    });
}

/// Access decisions: readers of each party against received items.
#[divan::bench]
fn access(bencher: Bencher) {
    let s = set(true);
    let reg = &s.reg;
    let mut items = Vec::new();
    let mut readers = Vec::new();
    let mut rng = Lcg(7);
    let until = gsomia_core::time::parse_instant("2027-01-01T00:00:00Z").unwrap();
    for (l, _, r, at, _) in s.reqs.iter().take(N) {
        let label = &s.labels[*l];
        let party = reg.party(["JPN", "KOR", "USA"][*r as usize % 3]).unwrap();
        let mut labels = ItemLabels::new(label.clone());
        if let Ok(eq) = reg.mark_received(label, party, None, None) {
            labels.add_equivalent(eq);
        }
        let policy = reg.policy(party).unwrap();
        let clearance = &policy.levels()[(rng.next() as usize) % policy.levels().len()];
        readers.push((
            Reader {
                party,
                clearance: reg.level(party, &clearance.native).unwrap(),
                clearance_until: until,
                need_to_know: reg.need_to_know(["dprk"]).unwrap(),
                contractor: None,
            },
            *at,
        ));
        items.push(labels);
    }
    bencher.counter(ItemsCount::new(items.len())).bench(|| {
        let mut allowed = 0usize;
        for (labels, (reader, at)) in items.iter().zip(&readers) {
            allowed += usize::from(
                decide_access(black_box(reg), black_box(reader), labels, *at).is_allow(),
            );
        }
        allowed
    });
}
