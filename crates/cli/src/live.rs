//! `gsomia demo`: three real nodes — JPN, KOR and USA — made with `gsomia
//! init`, pinned to each other as partners, serving on loopback over TLS
//! and mutual TLS in this process, on one simulated clock. The demo drives
//! them through their user APIs as their officers would, from 2017 to the
//! 2019 crisis and a TISA relay, then runs the what-if branch without the
//! suspension on a fresh pair of nodes, and finally has every node witness
//! its partners and verifies every ledger from its database.
//!
//! Every step states the outcome it expects; the demo exits 1 if any step
//! comes out otherwise, so it doubles as an end-to-end check.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use gsomia_api::{
    Client, ClientError, EnterEvent, EventKind, GrantConsent, Impact, ItemSummary, Launch, Point,
    ReleaseOutcome, SubmitItem, Track, WarningEvent,
};
use gsomia_core::time::{format_in, parse_instant};
use gsomia_node::{Clock, Listeners, Options, Running, Settings};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::{Value, json};

use crate::node::PersonArgs;
use crate::out::{Outcome, member, put};

fn doc(v: &impl serde::Serialize) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// How long the demo waits for a message to cross before calling it lost.
const WAIT: Duration = Duration::from_secs(20);

struct Step {
    at: Timestamp,
    branch: &'static str,
    title: String,
    outcome: String,
    expected: &'static str,
    reasons: Vec<String>,
    details: Value,
}

/// The nodes of one world (the history, or a branch) before they start.
struct Prepared {
    dirs: BTreeMap<String, PathBuf>,
    listeners: BTreeMap<String, (std::net::TcpListener, std::net::TcpListener)>,
    /// (party, person name) → bearer token.
    tokens: BTreeMap<(String, String), String>,
}

/// Who works at each node: (party, name, clearance, need-to-know, role).
const PEOPLE: &[(&str, &str, &str, &[&str], &str)] = &[
    (
        "KOR",
        "Kim",
        "군사II급비밀",
        &["dprk", "warning"],
        "officer",
    ),
    ("KOR", "Park", "군사II급비밀", &["dprk"], "security-officer"),
    (
        "JPN",
        "Sato",
        "極秘",
        &["dprk.missile", "warning"],
        "officer",
    ),
    ("JPN", "Tanaka", "極秘", &["regional.maritime"], "officer"),
    ("JPN", "Ito", "極秘", &["regional.maritime"], "officer"),
    ("JPN", "Abe", "極秘", &["dprk"], "security-officer"),
    ("USA", "Smith", "SECRET", &["dprk"], "officer"),
];

/// Where the demo's nodes start their own history: the shipped events
/// before it are taken as given, the rest they record themselves.
const HISTORY_FROM: &str = "2017-01-01T00:00:00+09:00";

/// Makes node directories with `gsomia init`, binds their listeners, pins
/// every pair as partners, and registers the people, at `at`.
fn prepare(root: &Path, parties: &[&str], at: Timestamp) -> Result<Prepared> {
    let mut p = Prepared {
        dirs: BTreeMap::new(),
        listeners: BTreeMap::new(),
        tokens: BTreeMap::new(),
    };
    for party in parties {
        let dir = root.join(party.to_ascii_lowercase());
        crate::node::init(party, &dir, None)?;
        // These nodes live through the history themselves (their stores
        // record it): kept with `--keep`, they serve on the same footing.
        let toml = dir.join("node.toml");
        let mut text = std::fs::read_to_string(&toml)
            .with_context(|| format!("cannot read `{}`", toml.display()))?;
        text.push_str(&format!(
            "# The shipped agreement history is taken only before this instant; this node's store holds the rest.\nshipped_history_before = \"{HISTORY_FROM}\"\n"
        ));
        std::fs::write(&toml, text)
            .with_context(|| format!("cannot write `{}`", toml.display()))?;
        let bind =
            || std::net::TcpListener::bind("127.0.0.1:0").context("cannot listen on loopback");
        p.listeners.insert((*party).to_owned(), (bind()?, bind()?));
        p.dirs.insert((*party).to_owned(), dir);
    }
    for (party, dir) in &p.dirs {
        let bundle = root.join(format!("{party}.bundle"));
        let doc = crate::node::identity_export(dir)?.doc;
        std::fs::write(&bundle, member(&doc, "bundle").as_str().unwrap_or_default())
            .with_context(|| format!("cannot write `{}`", bundle.display()))?;
        for (other, other_dir) in &p.dirs {
            if other == party {
                continue;
            }
            let (_, peer) = p.listeners.get(party).context("listener vanished")?;
            let endpoint = format!("https://{}", peer.local_addr()?);
            crate::node::partner_add(other_dir, &bundle, &endpoint)?;
        }
    }
    for (party, name, clearance, ntk, role) in PEOPLE {
        let Some(dir) = p.dirs.get(*party) else {
            continue;
        };
        let args = PersonArgs::new(dir, name, clearance, "2030-12-31", ntk, role);
        let (_, token) = crate::node::register(&args, at)?;
        p.tokens
            .insert(((*party).to_owned(), (*name).to_owned()), token);
    }
    Ok(p)
}

/// A running world: its nodes, a user-API client per person, the clock.
struct World {
    nodes: BTreeMap<String, Running>,
    /// (party, person name) → that person's client of their node.
    clients: BTreeMap<(String, String), Client>,
    dirs: BTreeMap<String, PathBuf>,
    clock: Arc<Clock>,
}

impl World {
    async fn start(
        p: Prepared,
        registry: &gsomia_core::Registry,
        clock: Arc<Clock>,
    ) -> Result<World> {
        let mut nodes = BTreeMap::new();
        for (party, (api, peer)) in p.listeners {
            let dir = p.dirs.get(&party).context("dir vanished")?;
            api.set_nonblocking(true)?;
            peer.set_nonblocking(true)?;
            let listeners = Listeners {
                api: tokio::net::TcpListener::from_std(api)?,
                peer: tokio::net::TcpListener::from_std(peer)?,
            };
            let options = Options {
                registry: Some(registry.clone()),
                clock: clock.clone(),
                ..Options::default()
            };
            let running = gsomia_node::start(&Settings::load(dir)?, listeners, options).await?;
            nodes.insert(party, running);
        }
        let mut clients = BTreeMap::new();
        for ((party, person), token) in p.tokens {
            let node = nodes.get(&party).context("no such node")?;
            let dir = p.dirs.get(&party).context("dir vanished")?;
            let client = Client::new(&node.api, &dir.join("tls/ca.pem"), Some(&token))?;
            clients.insert((party, person), client);
        }
        Ok(World {
            nodes,
            clients,
            dirs: p.dirs,
            clock,
        })
    }

    /// The client of one of a node's people.
    fn client(&self, party: &str, person: &str) -> Result<&Client> {
        self.clients
            .get(&(party.to_owned(), person.to_owned()))
            .with_context(|| format!("no {person} at {party}"))
    }

    fn set(&self, at: Timestamp) -> Result<()> {
        Ok(self.clock.set(at)?)
    }

    /// Submits an item at `party` as `person`; returns its id.
    async fn submit(
        &self,
        party: &str,
        person: &str,
        level: &str,
        rel_to: &[&str],
        text: &str,
    ) -> Result<String> {
        let req = SubmitItem {
            level: level.to_owned(),
            topics: vec!["dprk.missile".into()],
            rel_to: Some(rel_to.iter().map(|s| (*s).to_owned()).collect()),
            content: B64.encode(text),
            reproduction: None,
            dispose_by: None,
        };
        let s = self
            .client(party, person)?
            .submit(&req)
            .await
            .with_context(|| format!("submit at {party}"))?;
        Ok(s.id)
    }

    /// Waits until `party` holds an item whose originator's id is `origin`.
    async fn wait_item(
        &self,
        party: &str,
        person: &str,
        origin: &str,
    ) -> Result<Option<ItemSummary>> {
        let c = self.client(party, person)?;
        let deadline = tokio::time::Instant::now() + WAIT;
        while tokio::time::Instant::now() < deadline {
            if let Some(it) = c
                .items()
                .await?
                .items
                .into_iter()
                .find(|i| i.origin_item == origin)
            {
                return Ok(Some(it));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(None)
    }

    /// Waits until `party` has recorded `n` events of `agreement`; its status then.
    async fn wait_events(
        &self,
        party: &str,
        person: &str,
        agreement: &str,
        n: u64,
    ) -> Result<gsomia_api::AgreementStatus> {
        let c = self.client(party, person)?;
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let s = c.agreement(agreement).await?;
            if s.events >= n || tokio::time::Instant::now() >= deadline {
                return Ok(s);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until `party` holds consent `id`.
    async fn wait_consent(&self, party: &str, person: &str, id: &str) -> Result<bool> {
        let c = self.client(party, person)?;
        let deadline = tokio::time::Instant::now() + WAIT;
        while tokio::time::Instant::now() < deadline {
            if c.consents().await?.consents.iter().any(|x| x.id == id) {
                return Ok(true);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(false)
    }

    /// Every node witnesses every partner, twice (so the last round sees
    /// ledgers that no longer move).
    async fn witness(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for round in 0..2 {
            for (party, r) in &self.nodes {
                for (other, res) in r.witness_all().await {
                    if let Err(e) = res
                        && round == 1
                    {
                        problems.push(format!("{party} witnessing {other}: {e}"));
                    }
                }
            }
        }
        problems
    }

    async fn stop(self) -> Result<BTreeMap<String, PathBuf>> {
        for (_, r) in self.nodes {
            r.stop().await?;
        }
        Ok(self.dirs)
    }
}

/// The provisions cited by reasons ("… (jp-kr-2016 art 21(3); rule 1)").
fn cited(reasons: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for r in reasons {
        let Some(open) = r.rfind(" (") else { continue };
        let inner = r
            .get(open + 2..r.len().saturating_sub(1))
            .unwrap_or_default();
        for c in inner.split("; ") {
            if !c.is_empty() && !out.iter().any(|x: &String| x == c) {
                out.push(c.to_owned());
            }
        }
    }
    out
}

struct Demo {
    steps: Vec<Step>,
}

impl Demo {
    /// A release from `from` (as `person`) of `item` to `to`; when released,
    /// waits for the recipient to hold it.
    #[expect(
        clippy::too_many_arguments,
        reason = "one call per narrated exchange reads best flat"
    )]
    async fn release(
        &mut self,
        w: &World,
        branch: &'static str,
        from: (&str, &str),
        item: &str,
        origin: &str,
        to: (&str, &str),
        title: &str,
        expected: &'static str,
    ) -> Result<Option<ItemSummary>> {
        let at = w.clock.now();
        let r = w
            .client(from.0, from.1)?
            .release(item, to.0)
            .await
            .with_context(|| format!("release at {}", from.0))?;
        let (mut outcome, reasons, mut details) = match &r {
            ReleaseOutcome::Release(x) => (
                "release".to_owned(),
                x.reasons.clone(),
                json!({ "from": from.0, "to": to.0, "agreement": x.agreement, "route": x.route,
                        "transfer": x.transfer }),
            ),
            ReleaseOutcome::Withhold(x) => (
                "withhold".to_owned(),
                x.reasons.clone(),
                json!({ "from": from.0, "to": to.0, "agreement": null, "route": null,
                        "transfer": null }),
            ),
        };
        let mut held = None;
        if outcome == "release" {
            match w.wait_item(to.0, to.1, origin).await? {
                Some(it) => {
                    put(&mut details, "delivered", json!(true));
                    put(&mut details, "originator_label", doc(&it.label));
                    put(&mut details, "recipient_label", doc(&it.equivalent_label));
                    put(&mut details, "recipient_item", json!(it.id));
                    held = Some(it);
                }
                None => {
                    put(&mut details, "delivered", json!(false));
                    outcome = "release (not delivered)".into();
                }
            }
        }
        self.steps.push(Step {
            at,
            branch,
            title: title.to_owned(),
            outcome,
            expected,
            reasons,
            details,
        });
        Ok(held)
    }

    /// A security officer of `by` enters an event; the outcome is the
    /// partner's view once the event has reached it.
    #[expect(
        clippy::too_many_arguments,
        reason = "one call per narrated event reads best flat"
    )]
    async fn event(
        &mut self,
        w: &World,
        branch: &'static str,
        by: (&str, &str),
        partner: (&str, &str),
        kind: &str,
        events_after: u64,
        title: &str,
        expected: &'static str,
    ) -> Result<()> {
        let at = w.clock.now();
        let kind: EventKind = serde_json::from_value(json!(kind))?;
        let entered = w
            .client(by.0, by.1)?
            .enter_event(
                "jp-kr-2016",
                &EnterEvent {
                    kind,
                    at: None,
                    summary: Some(title.to_owned()),
                    written_diplomatic: None,
                },
            )
            .await;
        let (outcome, reasons, details) = match entered {
            Ok(e) => {
                let theirs = w
                    .wait_events(partner.0, partner.1, "jp-kr-2016", events_after)
                    .await?;
                let ours = &e.status;
                let same = theirs.state == ours.state;
                (
                    if same {
                        theirs.state.clone()
                    } else {
                        format!(
                            "views differ: {} at {}, {} at {}",
                            ours.state, by.0, theirs.state, partner.0
                        )
                    },
                    vec![e.effect.clone()],
                    json!({ "state_at": { by.0: ours.state, partner.0: theirs.state },
                            "in_force": theirs.in_force, "sent_to": e.sent_to }),
                )
            }
            Err(ClientError::Status { body, .. }) => {
                ("refused".to_owned(), vec![body.error], json!({}))
            }
            Err(e) => return Err(e.into()),
        };
        self.steps.push(Step {
            at,
            branch,
            title: title.to_owned(),
            outcome,
            expected,
            reasons,
            details,
        });
        Ok(())
    }

    /// A read at `party` by `person`: allowed or refused (404, the same as
    /// not found), with the reason the node ledgered.
    #[expect(
        clippy::too_many_arguments,
        reason = "one call per narrated read reads best flat"
    )]
    async fn read(
        &mut self,
        w: &World,
        branch: &'static str,
        who: (&str, &str),
        item: &str,
        expect_text: Option<&str>,
        title: &str,
        expected: &'static str,
    ) -> Result<()> {
        let at = w.clock.now();
        let node = w.nodes.get(who.0).context("no such node")?;
        let read = w.client(who.0, who.1)?.content(item).await;
        let ledgered = last_read_entry(node.node()).await?;
        let (status, outcome, reasons) = match read {
            Ok(body) => {
                let ok = expect_text.is_none_or(|t| body == t.as_bytes());
                (
                    200,
                    if ok {
                        "allow"
                    } else {
                        "allow (content differs)"
                    }
                    .to_owned(),
                    vec![format!("ledgered: {ledgered}")],
                )
            }
            Err(e) if e.status() == Some(404) => (
                404,
                "deny".to_owned(),
                vec![format!("ledgered: {ledgered}")],
            ),
            Err(e) => (e.status().unwrap_or(0), format!("answered {e}"), Vec::new()),
        };
        self.steps.push(Step {
            at,
            branch,
            title: title.to_owned(),
            outcome,
            expected,
            reasons,
            details: json!({ "party": who.0, "person": who.1, "item": item, "http_status": status }),
        });
        Ok(())
    }
}

/// The node's last read decision, as ledgered (kind and reasons or rules).
async fn last_read_entry(node: &gsomia_node::Node) -> Result<String> {
    for r in node.ledger_tail(5).await?.iter().rev() {
        let kind = r.entry.kind();
        if matches!(
            kind,
            gsomia_ledger::entry::Kind::ReadAllowed | gsomia_ledger::entry::Kind::ReadDenied
        ) {
            let detail = r
                .entry
                .fields()
                .iter()
                .find(|(k, _)| k == "reasons" || k == "rules")
                .map(|(_, v)| v.as_str())
                .unwrap_or_default();
            return Ok(format!("{} — {detail}", kind.as_str()));
        }
    }
    Ok("no read entry".into())
}

fn t(s: &str) -> Result<Timestamp> {
    Ok(parse_instant(s)?)
}

/// Runs the demo under a fresh temporary directory (removed afterwards
/// unless `keep` names a directory to keep it in).
pub fn run(profiles: Option<PathBuf>, keep: Option<&Path>) -> Result<Outcome> {
    let root = match keep {
        Some(k) => {
            if k.exists() {
                bail!("`{}` exists; --keep wants a new directory", k.display());
            }
            k.to_path_buf()
        }
        None => std::env::temp_dir().join(format!(
            "gsomia-demo-{}-{}",
            std::process::id(),
            Timestamp::now().as_nanosecond()
        )),
    };
    std::fs::create_dir_all(&root)
        .with_context(|| format!("cannot create `{}`", root.display()))?;
    let result = run_in(&root, profiles);
    if keep.is_none() {
        let _ = std::fs::remove_dir_all(&root);
    }
    result
}

fn run_in(root: &Path, profiles: Option<PathBuf>) -> Result<Outcome> {
    // The nodes start with the history as it stood at the end of 2016; the
    // 2019 events are entered live by KOR's security officer.
    let registry = crate::load::registry(profiles)?.history_before(t(HISTORY_FROM)?)?;
    let start = t("2017-03-06T07:30:00+09:00")?;
    let history = prepare(&root.join("history"), &["JPN", "KOR", "USA"], start)?;
    let branch = prepare(&root.join("without-suspension"), &["JPN", "KOR"], start)?;
    // The nodes' item lanes run here, below their warning lanes, as in `serve`.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .on_thread_start(gsomia_node::item_thread)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let started = std::time::Instant::now();
    let (demo, dirs, problems) = rt.block_on(async {
        let mut demo = Demo { steps: Vec::new() };
        let w = World::start(history, &registry, Arc::new(Clock::simulated(start))).await?;
        let mut problems = script(&mut demo, &w).await?;
        let mut dirs: Vec<PathBuf> = w.stop().await?.into_values().collect();
        let b = World::start(branch, &registry, Arc::new(Clock::simulated(start))).await?;
        problems.extend(branch_script(&mut demo, &b).await?);
        dirs.extend(b.stop().await?.into_values());
        anyhow::Ok((demo, dirs, problems))
    })?;
    let elapsed = started.elapsed();
    let mut ledgers = Vec::new();
    for d in &dirs {
        ledgers.push(crate::ledger::node_status(d)?);
    }
    Ok(render(&demo, ledgers, problems, elapsed))
}

impl Demo {
    /// KOR's officer submits a report and releases it to JPN; the id JPN
    /// stored it under (empty when it did not arrive).
    async fn kor_to_jpn(
        &mut self,
        w: &World,
        branch: &'static str,
        rel_to: &[&str],
        text: &str,
        title: &str,
        expected: &'static str,
    ) -> Result<String> {
        let k = w.submit("KOR", "Kim", "군사II급비밀", rel_to, text).await?;
        let held = self
            .release(
                w,
                branch,
                ("KOR", "Kim"),
                &k,
                &k,
                ("JPN", "Sato"),
                title,
                expected,
            )
            .await?;
        Ok(stored_id(held.as_ref()))
    }

    /// KOR's security officer enters an event of jp-kr-2016; JPN's view is the outcome.
    async fn kor_enters(
        &mut self,
        w: &World,
        branch: &'static str,
        kind: &str,
        events_after: u64,
        title: &str,
        expected: &'static str,
    ) -> Result<()> {
        self.event(
            w,
            branch,
            ("KOR", "Park"),
            ("JPN", "Sato"),
            kind,
            events_after,
            title,
            expected,
        )
        .await
    }
}

fn stored_id(held: Option<&ItemSummary>) -> String {
    held.map(|h| h.id.clone()).unwrap_or_default()
}

const REPORT_2017: &str =
    "2017-03-06 07:34 KST: four ballistic missiles from Tongchang-ri; three fell in Japan's EEZ";

/// The opening both worlds share: the 2017 report and Seoul's 2019 notice.
async fn opening(demo: &mut Demo, w: &World, branch: &'static str, notice: &str) -> Result<String> {
    w.set(t("2017-03-06T09:00:00+09:00")?)?;
    let j1 = demo
        .kor_to_jpn(
            w,
            branch,
            &["JPN", "USA"],
            REPORT_2017,
            "KOR releases its launch report to JPN under the GSOMIA",
            "release",
        )
        .await?;
    demo.read(
        w,
        branch,
        ("JPN", "Sato"),
        &j1,
        Some(REPORT_2017),
        "JPN's analyst (極秘, dprk.missile) reads it",
        "allow",
    )
    .await?;
    w.set(t("2019-08-23T15:30:00+09:00")?)?;
    demo.kor_enters(w, branch, "notice", 1, notice, "notice_given")
        .await?;
    Ok(j1)
}

async fn script(demo: &mut Demo, w: &World) -> Result<Vec<String>> {
    const H: &str = "history";
    let j1 = opening(
        demo,
        w,
        H,
        "Seoul gives written notice of termination through the diplomatic channel",
    )
    .await?;
    w.set(t("2019-10-01T10:00:00+09:00")?)?;
    demo.kor_to_jpn(
        w,
        H,
        &["JPN"],
        "2019-10-02: SLBM test off Wonsan",
        "Notice pending: exchanges continue until the agreement ends",
        "release",
    )
    .await?;
    w.set(t("2019-11-22T18:00:00+09:00")?)?;
    demo.kor_enters(
        w,
        H,
        "suspend_notice",
        2,
        "Six hours before expiry, Seoul suspends the effect of its notice",
        "notice_suspended",
    )
    .await?;
    w.set(t("2019-11-23T00:00:00+09:00")?)?;
    let j3 = demo
        .kor_to_jpn(
            w,
            H,
            &["JPN"],
            "2019-11-28: super-large rocket launcher test",
            "Midnight of 23 November: still in force, the release goes through",
            "release",
        )
        .await?;

    // TISA: KOR → USA, then the hub relays to JPN only with KOR's consent.
    w.set(t("2019-11-25T10:00:00+09:00")?)?;
    let relayed_text = "track data relayed through the TISA hub";
    let k4 = w
        .submit("KOR", "Kim", "군사II급비밀", &["USA", "JPN"], relayed_text)
        .await?;
    let at_usa = demo
        .release(
            w,
            H,
            ("KOR", "Kim"),
            &k4,
            &k4,
            ("USA", "Smith"),
            "KOR provides a report to the USA under their bilateral agreement",
            "release",
        )
        .await?;
    let u4 = stored_id(at_usa.as_ref());
    demo.release(
        w,
        H,
        ("USA", "Smith"),
        &u4,
        &k4,
        ("JPN", "Sato"),
        "The USA, as TISA hub, tries to relay it to JPN without Korea's consent",
        "withhold",
    )
    .await?;
    w.set(t("2019-11-25T11:00:00+09:00")?)?;
    let at = w.clock.now();
    let granted = w
        .client("KOR", "Park")?
        .grant(&GrantConsent {
            holder: "USA".into(),
            recipient: "JPN".into(),
            item: None,
            topics: Some(vec!["dprk.missile".into()]),
            expires_at: "2020-11-25T00:00:00+09:00".into(),
        })
        .await;
    let (id, status, details) = match &granted {
        Ok(c) => (c.id.clone(), 201, doc(c)),
        Err(e) => (
            String::new(),
            e.status().unwrap_or(0),
            json!({ "error": e.to_string() }),
        ),
    };
    let reached = granted.is_ok() && w.wait_consent("USA", "Smith", &id).await?;
    demo.steps.push(Step {
        at,
        branch: H,
        title: "KOR's security officer consents in writing: USA may relay dprk.missile items to JPN for a year".into(),
        outcome: if reached { "consented".into() } else { format!("consent not held ({status})") },
        expected: "consented",
        reasons: vec![format!("consent {id}, signed by KOR, held by USA")],
        details,
    });
    let relayed = demo
        .release(
            w,
            H,
            ("USA", "Smith"),
            &u4,
            &k4,
            ("JPN", "Sato"),
            "With the consent, the hub relays it; JPN decides again with the consent it carries",
            "release",
        )
        .await?;
    demo.read(
        w,
        H,
        ("JPN", "Sato"),
        &stored_id(relayed.as_ref()),
        Some(relayed_text),
        "JPN's analyst reads the relayed report",
        "allow",
    )
    .await?;
    demo.read(
        w,
        H,
        ("JPN", "Tanaka"),
        &j1,
        None,
        "A JPN officer cleared 極秘 but without need-to-know for dprk.missile tries to read",
        "deny",
    )
    .await?;
    launch(demo, w).await?;
    holdings(demo, w, &j1).await?;
    incident(demo, w, &j3).await?;
    reclassification(demo, w, &k4).await?;
    contractor(demo, w, &j3).await?;
    Ok(w.witness().await)
}

impl Demo {
    /// A step whose outcome the caller worked out.
    fn note(
        &mut self,
        w: &World,
        title: &str,
        outcome: String,
        expected: &'static str,
        reasons: Vec<String>,
        details: Value,
    ) {
        self.steps.push(Step {
            at: w.clock.now(),
            branch: "history",
            title: title.to_owned(),
            outcome,
            expected,
            reasons,
            details,
        });
    }
}

/// The refusal's reasons in a 409 answer, or the error.
fn refusal(e: &gsomia_api::ClientError) -> (String, Vec<String>) {
    match e {
        gsomia_api::ClientError::Status { status: 409, body } => (
            "refused".into(),
            crate::holding::refusal_reasons(&body.error),
        ),
        e => (format!("failed: {e}"), Vec::new()),
    }
}

fn label_line(l: &gsomia_api::Label) -> String {
    let mut s = format!("label {} ({}) by {}", l.level, l.policy, l.originator);
    for c in &l.informative {
        s.push_str(&format!("; {}: {}", c.tag, c.values.join(", ")));
    }
    s
}

/// An item's life at JPN (rules 11–13): a translation of KOR's 2017
/// report, an assessment drawing on KOR's and the USA's reports that goes
/// to the USA only once KOR consents, a copy destroyed under the policy
/// for its level (refused with one witness), and the report returned home.
async fn holdings(demo: &mut Demo, w: &World, j1: &str) -> Result<()> {
    const H: &str = "history";
    w.set(t("2024-03-04T10:00:00+09:00")?)?;
    let sato = w.client("JPN", "Sato")?;
    let made = sato
        .translate(
            j1,
            &gsomia_api::TranslateItem {
                language: "ja".into(),
                content: B64.encode("2017年3月6日: 東倉里から弾道ミサイル4発"),
                reason: Some("briefing for the minister".into()),
            },
        )
        .await;
    let (outcome, reasons, details) = match &made {
        Ok(m) => ("translated".to_owned(), vec![label_line(&m.label)], doc(m)),
        Err(e) => {
            let (o, r) = refusal(e);
            (o, r, Value::Null)
        }
    };
    demo.note(
        w,
        "JPN translates KOR's 2017 report into Japanese: 極秘, KOR's label beside it, the origin note",
        outcome,
        "translated",
        reasons,
        details,
    );

    let usa_text = "USA assessment: Tongchang-ri launch site activity";
    let u = w
        .submit("USA", "Smith", "SECRET", &["JPN"], usa_text)
        .await?;
    let at_jpn = demo
        .release(
            w,
            H,
            ("USA", "Smith"),
            &u,
            &u,
            ("JPN", "Sato"),
            "The USA provides its own assessment to JPN under the US–Japan agreement",
            "release",
        )
        .await?;
    let derived = sato
        .derive(&gsomia_api::DeriveItem {
            sources: vec![j1.to_owned(), stored_id(at_jpn.as_ref())],
            level: "極秘".into(),
            topics: vec!["dprk.missile".into()],
            rel_to: None,
            content: B64.encode("JPN assessment drawing on KOR's and the USA's reports"),
            reason: Some("joint assessment".into()),
        })
        .await;
    let (outcome, reasons, details, assessment) = match &derived {
        Ok(m) => (
            "derived".to_owned(),
            vec![label_line(&m.label)],
            doc(m),
            m.id.clone(),
        ),
        Err(e) => {
            let (o, r) = refusal(e);
            (o, r, Value::Null, String::new())
        }
    };
    demo.note(
        w,
        "JPN writes an assessment from KOR's and the USA's reports: the aggregate label names both originators",
        outcome,
        "derived",
        reasons,
        details,
    );
    demo.release(
        w,
        H,
        ("JPN", "Sato"),
        &assessment,
        &assessment,
        ("USA", "Smith"),
        "JPN tries to send the assessment to the USA: KOR's part needs KOR's written consent",
        "withhold",
    )
    .await?;
    // KOR consents for its 2017 report, held by JPN, going to the USA.
    let kor_origin = at_origin(w, j1).await?;
    let granted = w
        .client("KOR", "Park")?
        .grant(&GrantConsent {
            holder: "JPN".into(),
            recipient: "USA".into(),
            item: Some(kor_origin.clone()),
            topics: None,
            expires_at: "2025-03-04T00:00:00+09:00".into(),
        })
        .await;
    let id = granted.as_ref().map(|c| c.id.clone()).unwrap_or_default();
    let reached = granted.is_ok() && w.wait_consent("JPN", "Sato", &id).await?;
    demo.note(
        w,
        "KOR's security officer consents in writing: JPN may pass KOR's 2017 report on to the USA",
        if reached {
            "consented".into()
        } else {
            "consent not held".into()
        },
        "consented",
        vec![format!(
            "consent {id} for item {kor_origin}, signed by KOR, held by JPN"
        )],
        Value::Null,
    );
    demo.release(
        w,
        H,
        ("JPN", "Sato"),
        &assessment,
        &assessment,
        ("USA", "Smith"),
        "With KOR's consent (the USA's part goes home), the assessment goes to the USA",
        "release",
    )
    .await?;

    // A copy of the report, destroyed under JPN's policy for 極秘.
    let copied = sato
        .copy(
            j1,
            &gsomia_api::CopyItem {
                count: Some(1),
                reason: "exercise".into(),
            },
        )
        .await?;
    let copy = copied
        .copies
        .first()
        .map(|c| c.id.clone())
        .unwrap_or_default();
    let destroy = |witnesses: &[&str]| gsomia_api::DestroyItem {
        method: "cross-cut shredded".into(),
        witnesses: witnesses.iter().map(|s| (*s).to_owned()).collect(),
        reason: Some("exercise over".into()),
        with_copies: false,
    };
    let ids = person_ids(w, "JPN", &["Ito", "Abe"]).await?;
    let [ito, abe] = ids.as_slice() else {
        anyhow::bail!("JPN's witnesses are not registered");
    };
    let (ito, abe) = (ito.as_str(), abe.as_str());
    let one = sato.destroy(&copy, &destroy(&[ito])).await;
    let (outcome, reasons) = match &one {
        Ok(d) => ("destroyed".to_owned(), vec![format!("{d:?}")]),
        Err(e) => refusal(e),
    };
    demo.note(
        w,
        "JPN destroys copy 1 of the report with one witness",
        outcome,
        "refused",
        reasons,
        json!({ "item": copy }),
    );
    let two = sato.destroy(&copy, &destroy(&[ito, abe])).await;
    let (outcome, reasons) = match &two {
        Ok(d) => (
            "destroyed".to_owned(),
            vec![format!(
                "bytes erased; {} witnesses needed; signed record kept until {} (rule 13)",
                d.witnesses_needed,
                d.keep_until.clone().unwrap_or_else(|| "—".into())
            )],
        ),
        Err(e) => refusal(e),
    };
    demo.note(
        w,
        "… and with two witnesses cleared 極秘, as JPN's policy for 極秘 asks",
        outcome,
        "destroyed",
        reasons,
        json!({ "item": copy }),
    );

    // The report goes back to KOR; JPN's copy is erased on KOR's receipt.
    let r = sato
        .give_back(
            j1,
            &gsomia_api::ReturnItem {
                reason: Some("no longer needed".into()),
            },
        )
        .await?;
    let returned = match &r {
        ReleaseOutcome::Release(_) => wait_state(w, j1, "returned").await?,
        ReleaseOutcome::Withhold(_) => false,
    };
    demo.note(
        w,
        "JPN returns KOR's 2017 report; its copy at JPN is erased once KOR's receipt arrives",
        if returned {
            "returned".into()
        } else {
            "not returned".into()
        },
        "returned",
        vec![
            "a return to the originator is never refused (rule 5); recorded as returned (rule 13)"
                .into(),
        ],
        match &r {
            ReleaseOutcome::Release(x) => {
                json!({ "from": "JPN", "to": "KOR", "agreement": x.agreement,
                "route": x.route, "transfer": x.transfer, "delivered": returned })
            }
            ReleaseOutcome::Withhold(_) => Value::Null,
        },
    );
    Ok(())
}

/// A possible compromise at JPN of a KOR report: reported to KOR's
/// security officer live (the latency shown), investigated, closed with
/// its remedy (rule 14).
async fn incident(demo: &mut Demo, w: &World, item: &str) -> Result<()> {
    use futures_util::StreamExt as _;
    w.set(t("2024-03-05T09:00:00+09:00")?)?;
    let feed = w.client("KOR", "Park")?.incident_stream().await?;
    futures_util::pin_mut!(feed);
    let sato = w.client("JPN", "Sato")?;
    let started = std::time::Instant::now();
    let r = sato
        .report_incident(&gsomia_api::ReportIncident {
            item: item.to_owned(),
            actual: false,
            description: "a briefing copy was found in an unlocked cabinet".into(),
        })
        .await?;
    let seen = tokio::time::timeout(WAIT, async {
        while let Some(e) = feed.next().await {
            if let Ok(v) = e
                && v.id == r.id
                && v.direction == "received"
            {
                return Some(v);
            }
        }
        None
    })
    .await
    .ok()
    .flatten();
    let latency = started.elapsed();
    demo.note(
        w,
        "JPN finds a possible compromise of KOR's 2019 report and reports it to KOR at once",
        if seen.is_some() { "reported".into() } else { "not seen at KOR".into() },
        "reported",
        vec![format!(
            "signed by JPN, seen live by KOR's security officer {:.1} ms after the report was made (rule 14)",
            latency.as_secs_f64() * 1000.0
        )],
        doc(&r),
    );
    sato.follow_up(
        &r.id,
        &gsomia_api::FollowUpIncident {
            text: "the cabinet's room was locked all night; the access log shows no entry".into(),
            close: false,
        },
    )
    .await?;
    sato.follow_up(
        &r.id,
        &gsomia_api::FollowUpIncident {
            text: "cabinets are now checked at every shift change; staff re-briefed".into(),
            close: true,
        },
    )
    .await?;
    let park = w.client("KOR", "Park")?;
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut state = String::new();
    while tokio::time::Instant::now() < deadline {
        state = park.incident(&r.id).await?.state;
        if state == "closed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    demo.note(
        w,
        "JPN investigates and closes the incident with its remedy; KOR holds all three messages",
        state,
        "closed",
        vec!["each message acknowledged by KOR, signed; both ledgers record them".into()],
        Value::Null,
    );
    Ok(())
}

/// KOR downgrades the report that reached JPN through the hub (and now
/// directly too): JPN may not, and every row at JPN follows KOR's notice.
async fn reclassification(demo: &mut Demo, w: &World, k4: &str) -> Result<()> {
    w.set(t("2024-03-06T09:00:00+09:00")?)?;
    let kim = w.client("KOR", "Kim")?;
    kim.release(k4, "JPN").await?;
    let sato = w.client("JPN", "Sato")?;
    let rows = || async {
        let l = sato.items().await?;
        anyhow::Ok(
            l.items
                .into_iter()
                .filter(|i| i.origin_item == k4)
                .collect::<Vec<_>>(),
        )
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut held = rows().await?;
    while held.len() < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        held = rows().await?;
    }
    let first = held.first().map(|i| i.id.clone()).unwrap_or_default();
    let refused = sato
        .reclassify(
            &first,
            &gsomia_api::ReclassifyItem {
                level: "秘".into(),
                reason: "JPN thinks it is less sensitive now".into(),
            },
        )
        .await;
    let (outcome, reasons) = match &refused {
        Ok(_) => ("reclassified".to_owned(), Vec::new()),
        Err(e) => refusal(e),
    };
    demo.note(
        w,
        "JPN, holding KOR's report by two routes, tries to downgrade it",
        outcome,
        "refused",
        reasons,
        Value::Null,
    );
    let started = std::time::Instant::now();
    let notice = kim
        .reclassify(
            k4,
            &gsomia_api::ReclassifyItem {
                level: "군사III급비밀".into(),
                reason: "the track data has since been published".into(),
            },
        )
        .await?;
    let mut followed = false;
    while tokio::time::Instant::now() < deadline {
        let l = kim.reclassifications(k4).await?;
        let acked = l.items.last().is_some_and(|n| {
            n.sent_to.len() == 2
                && n.sent_to
                    .iter()
                    .all(|t| t.state == gsomia_api::TransferState::Delivered)
        });
        let here = rows().await?;
        if acked
            && here.len() == held.len()
            && here
                .iter()
                .all(|i| i.equivalent_label.as_ref().is_some_and(|l| l.level == "秘"))
        {
            followed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    demo.note(
        w,
        "KOR downgrades it to 군사III급비밀: its notice reaches JPN directly and through the USA hub",
        if followed { "applied".into() } else { "not applied everywhere".into() },
        "applied",
        vec![format!(
            "notice {} signed by KOR; the USA and JPN acknowledged it, and JPN's {} rows moved from 極秘 to 秘 within {:.1} ms (rule 8)",
            notice.id,
            held.len(),
            started.elapsed().as_secs_f64() * 1000.0
        )],
        doc(&notice),
    );
    Ok(())
}

/// A contractor at JPN (Art 16): given nothing until the facility is
/// inspected and the person briefed, then reading KOR's report.
async fn contractor(demo: &mut Demo, w: &World, item: &str) -> Result<()> {
    w.set(t("2024-03-07T09:00:00+09:00")?)?;
    let abe = w.client("JPN", "Abe")?;
    let ids = person_ids(w, "JPN", &["Abe"]).await?;
    let responsible = ids.first().cloned().unwrap_or_default();
    let f = abe
        .add_facility(&gsomia_api::AddFacility {
            name: "Nagoya works (missile components)".into(),
            clearance: "極秘".into(),
            cleared_until: "2030-12-31".into(),
            responsible,
        })
        .await?;
    let dir = w.dirs.get("JPN").context("no JPN")?;
    let mut args = PersonArgs::new(
        dir,
        "Ono",
        "極秘",
        "2030-12-31",
        &["dprk.missile"],
        "officer",
    );
    args.facility = Some(f.id.clone());
    let node = w.nodes.get("JPN").context("no JPN")?;
    let r = gsomia_node::register::register_at(
        &Settings::load(dir)?,
        &node.node().registry(),
        &args.new_person()?,
        w.clock.now(),
    )
    .await?;
    let (who, token) = crate::node::registered(&r);
    let ono = Client::new(&node.api, &dir.join("tls/ca.pem"), Some(&token))?;
    let before = ono.item(item).await;
    let failing = abe.facility(&f.id).await?.failing;
    demo.note(
        w,
        "A contractor of a newly registered facility asks for KOR's report",
        if before.is_ok() {
            "allow".into()
        } else {
            "deny".into()
        },
        "deny",
        failing
            .into_iter()
            .chain(std::iter::once(
                "the contractor has not been given a security briefing (rule 15)".to_owned(),
            ))
            .collect(),
        Value::Null,
    );
    abe.inspect_facility(
        &f.id,
        &gsomia_api::InspectFacility {
            passed: true,
            findings: "storage, register and access control as required".into(),
        },
    )
    .await?;
    let ono_id = member(&who, "id").as_str().unwrap_or_default().to_owned();
    abe.brief(&f.id, &gsomia_api::BriefPerson { person: ono_id })
        .await?;
    let after = ono.item(item).await;
    demo.note(
        w,
        "Once the facility is inspected and the contractor briefed, the same request",
        if after.is_ok() {
            "allow".into()
        } else {
            "deny".into()
        },
        "allow",
        vec![
            "every Art 16 condition holds; clearance and need-to-know as for staff (rules 10, 15)"
                .into(),
        ],
        Value::Null,
    );
    Ok(())
}

/// The originator's id of an item held at JPN.
async fn at_origin(w: &World, id: &str) -> Result<String> {
    Ok(w.client("JPN", "Abe")?
        .history(id, &gsomia_api::Page::default())
        .await?
        .origin_item)
}

/// The ids of people of a node, by name.
async fn person_ids(w: &World, party: &str, names: &[&str]) -> Result<Vec<String>> {
    let node = w.nodes.get(party).context("no such node")?;
    let people = node.node().store().people().await?;
    names
        .iter()
        .map(|n| {
            people
                .iter()
                .find(|p| p.name == *n)
                .map(|p| p.id.clone())
                .with_context(|| format!("no {n} at {party}"))
        })
        .collect()
}

/// Waits until JPN's record of `id` is in `state`.
async fn wait_state(w: &World, id: &str, state: &str) -> Result<bool> {
    let c = w.client("JPN", "Abe")?;
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        if c.history(id, &gsomia_api::Page::default()).await?.state == state {
            return Ok(true);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(false)
}

/// A 2024 launch: KOR publishes the warning, the USA hub relays it, a JPN
/// analyst subscribed at JPN sees the track live; latency shown per update.
async fn launch(demo: &mut Demo, w: &World) -> Result<()> {
    const H: &str = "history";
    w.set(t("2024-01-14T14:55:00+09:00")?)?;
    let at = w.clock.now();
    // Sato subscribes at JPN before the launch.
    let feed = w.client("JPN", "Sato")?.subscribe().await?;
    futures_util::pin_mut!(feed);
    let kim = w.client("KOR", "Kim")?;
    let points = [
        ("launch", 39.03, 125.75, 0.0),
        ("track", 39.6, 128.1, 150.0),
        ("track", 39.9, 131.0, 110.0),
        ("impact", 40.1, 133.2, 0.0),
    ];
    let mut id = String::new();
    let mut seen = Vec::new();
    for (kind, lat, lon, alt) in points {
        let sent = std::time::Instant::now();
        let point = Point { lat, lon };
        let published = match kind {
            "launch" => {
                kim.launch(&Launch {
                    launch_point: point,
                    at: None,
                })
                .await
            }
            "track" => {
                kim.track(
                    &id,
                    &Track {
                        point,
                        alt_km: alt,
                        at: None,
                    },
                )
                .await
            }
            _ => {
                kim.impact(
                    &id,
                    &Impact {
                        impact_point: point,
                        at: None,
                    },
                )
                .await
            }
        }
        .with_context(|| format!("warning {kind} at KOR"))?;
        if kind == "launch" {
            id = published.id;
        }
        // Read the feed until this update shows up at JPN.
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut got = None;
        while got.is_none() {
            use futures_util::StreamExt as _;
            match tokio::time::timeout_at(deadline, feed.next()).await {
                Ok(Some(Ok(WarningEvent::Update(u)))) if u.id == id => got = Some(u),
                Ok(Some(Ok(WarningEvent::Update(_)))) => {}
                _ => break,
            }
        }
        match got {
            Some(u) => seen.push(json!({
                "kind": kind, "seq": u.seq, "level_at_jpn": u.level,
                "latency_ms": (sent.elapsed().as_secs_f64() * 1000.0 * 10.0).round() / 10.0,
            })),
            None => seen.push(json!({ "kind": kind, "missing": true })),
        }
    }
    let in_order = seen
        .iter()
        .enumerate()
        .all(|(i, v)| *member(v, "seq") == json!(i));
    let reasons: Vec<String> = seen
        .iter()
        .map(|v| {
            format!(
                "{} #{} at JPN, marked {}, {} ms after KOR published it",
                member(v, "kind").as_str().unwrap_or("?"),
                member(v, "seq"),
                member(v, "level_at_jpn").as_str().unwrap_or("?"),
                member(v, "latency_ms"),
            )
        })
        .collect();
    demo.steps.push(Step {
        at,
        branch: H,
        title: "A launch: KOR publishes the warning, the USA hub relays it, JPN's analyst sees the track live"
            .into(),
        outcome: if in_order && seen.len() == 4 {
            "delivered live".into()
        } else {
            "incomplete".into()
        },
        expected: "delivered live",
        reasons,
        details: json!({ "warning": id, "updates": seen, "route": null }),
    });
    Ok(())
}

async fn branch_script(demo: &mut Demo, w: &World) -> Result<Vec<String>> {
    const B: &str = "without_suspension";
    let j1 = opening(
        demo,
        w,
        B,
        "Seoul gives notice, and this time never suspends it",
    )
    .await?;
    w.set(t("2019-11-23T00:00:00+09:00")?)?;
    demo.kor_to_jpn(
        w,
        B,
        &["JPN"],
        "after the end",
        "Midnight of 23 November: the agreement has ended; the release is withheld",
        "withhold",
    )
    .await?;
    demo.read(
        w,
        B,
        ("JPN", "Sato"),
        &j1,
        Some(REPORT_2017),
        "Items received before the end stay protected and readable",
        "allow",
    )
    .await?;
    Ok(w.witness().await)
}

fn render(demo: &Demo, ledgers: Vec<Value>, problems: Vec<String>, elapsed: Duration) -> Outcome {
    let kst = TimeZone::get("Asia/Seoul").unwrap_or(TimeZone::UTC);
    let mut text = String::from(
        "gsomia demo — JPN, KOR and USA nodes on loopback (TLS, mutual TLS, SQLite), simulated clock\n\n",
    );
    let mut docs = Vec::new();
    let mut all_ok = true;
    let mut branch = "history".to_owned();
    for (i, s) in demo.steps.iter().enumerate() {
        let step = crate::narrate::Step {
            number: i + 1,
            at: format_in(s.at.round(jiff::Unit::Second).unwrap_or(s.at), &kst),
            branch: s.branch,
            title: &s.title,
            outcome: &s.outcome,
            expected: s.expected,
            details: &s.details,
        };
        all_ok &= step.ok();
        step.write(&mut text, &mut branch, " (fresh JPN and KOR nodes)");
        if let Some(route) = member(&s.details, "route").as_str() {
            let _ = writeln!(
                text,
                "       {} → {} under {} ({route}){}",
                member(&s.details, "from").as_str().unwrap_or("?"),
                member(&s.details, "to").as_str().unwrap_or("?"),
                member(&s.details, "agreement").as_str().unwrap_or("?"),
                if *member(&s.details, "delivered") == json!(true) {
                    ", delivered and receipted"
                } else {
                    ""
                }
            );
        }
        if let Some(states) = s.details.get("state_at").and_then(Value::as_object) {
            let v: Vec<String> = states
                .iter()
                .map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or("?")))
                .collect();
            let _ = writeln!(text, "       both nodes compute: {}", v.join(", "));
        }
        for r in s.reasons.iter().take(4) {
            let _ = writeln!(text, "       · {r}");
        }
        docs.push(step.doc(s.reasons.clone(), cited(&s.reasons)));
    }
    let mut ledgers_ok = problems.is_empty();
    let _ = writeln!(
        text,
        "\nledgers (rebuilt from each database and verified; partners' cosignatures checked):"
    );
    for l in &ledgers {
        let cosigned: Vec<String> = member(l, "cosignatures")
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                if *member(c, "verified") == json!(true) {
                    format!(
                        "{} ✓ (size {})",
                        member(c, "party").as_str().unwrap_or("?"),
                        member(c, "size")
                    )
                } else {
                    format!("{} ✗", member(c, "party").as_str().unwrap_or("?"))
                }
            })
            .collect();
        let verified = *member(l, "verified") == json!(true)
            && member(l, "cosignatures").as_array().is_some_and(|cs| {
                !cs.is_empty() && cs.iter().all(|c| *member(c, "verified") == json!(true))
            });
        ledgers_ok &= verified;
        let _ = writeln!(
            text,
            "  {:<4} {} records, {}; cosigned by {}",
            member(l, "party").as_str().unwrap_or("?"),
            member(l, "records"),
            if *member(l, "verified") == json!(true) {
                "verified"
            } else {
                "NOT VERIFIED"
            },
            cosigned.join(", ")
        );
    }
    for p in &problems {
        let _ = writeln!(text, "  problem: {p}");
    }
    let passed = crate::narrate::passed(&docs);
    let _ = writeln!(
        text,
        "\n{passed} of {} steps as expected; ledgers verified and cross-cosigned: {}; {:.1} s.",
        docs.len(),
        if ledgers_ok { "yes" } else { "NO" },
        elapsed.as_secs_f64()
    );
    let ok = all_ok && ledgers_ok;
    Outcome::answer(
        json!({
            "steps": docs, "all_as_expected": all_ok, "ledgers_verified": ledgers_ok,
            "ledgers": ledgers, "problems": problems, "seconds": elapsed.as_secs_f64(),
        }),
        text,
        !ok,
    )
}
