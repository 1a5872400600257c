//! `gsomia`: agreements, labels and decisions from the command line.
//!
//! Exit codes: 0 done (a release, an allow, a query answered); 1 refused (a
//! withhold, a deny, a level with no equivalent, a failed demo check); 2 bad
//! usage or input (unknown names, malformed profiles, times without offsets).
//! Every command takes `--json` and then prints exactly one JSON document on
//! standard output, errors included.

mod agreement;
mod decide;
mod demo;
mod facility;
mod holding;
mod incident;
mod item;
mod keys;
mod ledger;
mod live;
mod load;
mod manage;
mod narrate;
mod node;
mod out;
mod reclassify;
mod serve;
mod visit;
mod warn;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::out::Outcome;

/// Exchange classified information under security-of-information agreements.
#[derive(Parser)]
#[command(name = "gsomia", version, about, long_about = None)]
struct Cli {
    /// Print one JSON document on standard output instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Load profiles from DIR (topics.toml, policies/*.toml, agreements/*.toml)
    /// on top of the shipped ones; files replace shipped profiles with the same id.
    #[arg(long, global = true, value_name = "DIR")]
    profiles: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Agreements: list, status at an instant, timeline, full terms.
    #[command(subcommand)]
    Agreement(AgreementCmd),
    /// National classification policies.
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// The topic taxonomy.
    #[command(subcommand)]
    Topic(TopicCmd),
    /// Labels: equivalent levels between national policies.
    #[command(subcommand)]
    Label(LabelCmd),
    /// Decide a release or an access, with reasons citing the rules.
    #[command(subcommand)]
    Decide(DecideCmd),
    /// Three real nodes (JPN, KOR, USA) on loopback with a simulated clock:
    /// 2017 to the 2019 crisis, a TISA relay, the branch without the suspension.
    Demo {
        /// Replay the 2016–2026 history through the pact engine only (no nodes).
        #[arg(long)]
        engine: bool,
        /// Keep the nodes' directories in DIR (new) instead of a removed temporary directory.
        #[arg(long, value_name = "DIR")]
        keep: Option<PathBuf>,
    },
    /// Party keys.
    #[command(subcommand)]
    Keys(KeysCmd),
    /// Sealed items: seal for a recipient, inspect, open.
    #[command(subcommand)]
    Item(ItemCmd),
    /// The tamper-evident ledger: append, verify, prove, cosign.
    #[command(subcommand)]
    Ledger(ledger::LedgerCmd),
    /// Create a node directory: config, keys, a TLS identity, a database with an empty ledger.
    Init {
        /// The party the node serves.
        #[arg(long)]
        party: String,
        /// The node directory to create.
        #[arg(long)]
        dir: PathBuf,
        /// Where the node keeps its state: a `postgres://` URL (one party's
        /// processes may share it), or an SQLite file in the directory (the default).
        #[arg(long, value_name = "URL")]
        database: Option<String>,
    },
    /// Real-time missile warnings on a running node: publish, track, impact, list, subscribe.
    #[command(subcommand)]
    Warn(warn::WarnCmd),
    /// Originators' consents to onward releases and hub relays, on a running node.
    #[command(subcommand)]
    Consent(ConsentCmd),
    /// The register of cleared personnel.
    #[command(subcommand)]
    Person(PersonCmd),
    /// This node's public identity.
    #[command(subcommand)]
    Identity(IdentityCmd),
    /// The node's database: its schema.
    #[command(subcommand)]
    Store(StoreCmd),
    /// Partners' identities and endpoints.
    #[command(subcommand)]
    Partner(PartnerCmd),
    /// What became of what your node sent: queued, sending, delivered, refused.
    #[command(subcommand)]
    Transfer(serve::TransferCmd),
    /// Every item held or once held on your node, with its state (security officers, auditors).
    Inventory(holding::InventoryArgs),
    /// Loss and compromise reports to an item's originator: report, update, close, list, watch.
    #[command(subcommand)]
    Incident(incident::IncidentCmd),
    /// Contractor facilities (Art 16): add, inspect, brief, list, show.
    #[command(subcommand)]
    Facility(facility::FacilityCmd),
    /// Visits between parties (Art 8): request, approve, refuse, list, show.
    #[command(subcommand)]
    Visit(visit::VisitCmd),
    /// A node's liveness and ledger size.
    Health {
        /// The node's API URL.
        #[arg(long)]
        node: String,
        /// The CA certificate (PEM) that signed the node's certificate.
        #[arg(long)]
        ca: PathBuf,
    },
    /// Run the node: the HTTPS API for the party's users, until SIGTERM or SIGINT.
    Serve {
        /// The node directory.
        #[arg(long)]
        dir: PathBuf,
        /// Log format on standard error (default: `log_format` in node.toml);
        /// the level comes from GSOMIA_LOG (default `info`).
        #[arg(long, value_enum)]
        log: Option<serve::LogFormatArg>,
        /// How often partners are asked to cosign this node's checkpoints (seconds).
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=86_400))]
        witness_every: u64,
        /// Run on a simulated clock that starts at this instant and runs on
        /// in real time (exercises and tests; never for real traffic).
        #[arg(long, value_name = "INSTANT")]
        clock: Option<String>,
        /// Listen for the party's users here instead of node.toml's
        /// `api_listen` (another process of a node on PostgreSQL).
        #[arg(long, value_name = "ADDR")]
        api_listen: Option<std::net::SocketAddr>,
        /// Listen for partners here instead of node.toml's `peer_listen`.
        #[arg(long, value_name = "ADDR")]
        peer_listen: Option<std::net::SocketAddr>,
    },
}

#[derive(Subcommand)]
enum PersonCmd {
    /// Register a person; prints their bearer token once.
    Add(node::PersonArgs),
    /// Everyone registered (never their tokens), each entry checked, a page at a time.
    List {
        /// The node directory.
        #[arg(long)]
        dir: PathBuf,
        /// At most this many.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        limit: u32,
        /// Go on from this cursor (printed after a page that has more).
        #[arg(long)]
        next: Option<String>,
    },
    /// End a person's access now (a running node refuses their token at once).
    Revoke {
        /// The node directory.
        #[arg(long)]
        dir: PathBuf,
        /// The person's id (from `person list`).
        #[arg(long)]
        person: String,
        /// Why (recorded in the ledger).
        #[arg(long)]
        reason: Option<String>,
        /// Who revokes (recorded); default: the operating-system user.
        #[arg(long)]
        by: Option<String>,
    },
    /// Give a person a new token; the old one stops working at once.
    RotateToken {
        /// The node directory.
        #[arg(long)]
        dir: PathBuf,
        /// The person's id (from `person list`).
        #[arg(long)]
        person: String,
        /// Who rotates it (recorded); default: the operating-system user.
        #[arg(long)]
        by: Option<String>,
    },
}

#[derive(Subcommand)]
enum IdentityCmd {
    /// Print the public bundle (keys and certificate) to hand partners.
    Export {
        /// The node directory.
        #[arg(long)]
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum StoreCmd {
    /// Apply the schema migrations the node's database lacks (SQLite or PostgreSQL; each once).
    Migrate {
        /// The node directory.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Copy a stopped node's SQLite database into an empty PostgreSQL one,
    /// both ledgers verified and compared; then set `database` in node.toml.
    Copy {
        /// The SQLite database (`sqlite:PATH` or a path).
        #[arg(long)]
        from: String,
        /// The PostgreSQL database (`postgres://…`).
        #[arg(long)]
        to: String,
    },
}

#[derive(Subcommand)]
enum PartnerCmd {
    /// Pin a partner's bundle (from `gsomia identity export`) and endpoint.
    Add {
        /// The node directory.
        #[arg(long)]
        dir: PathBuf,
        /// The partner's bundle file.
        bundle: PathBuf,
        /// The partner's peer endpoint (https://…).
        #[arg(long)]
        endpoint: String,
    },
    /// The partners pinned here: party, endpoint, certificate fingerprint.
    List {
        /// The node directory.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Unpin a partner (a running node stops accepting it within seconds).
    Remove {
        /// The node directory.
        #[arg(long)]
        dir: PathBuf,
        /// The partner's party code.
        party: String,
    },
}

#[derive(Subcommand)]
enum ItemCmd {
    /// Decide the release, then bind the label to the content and encrypt it for the recipient.
    Seal(item::SealArgs),
    /// Show a sealed item's labels, parties, digest and signature status without decrypting.
    Inspect {
        /// The sealed item.
        file: PathBuf,
        /// The sender's public identity, to check the signing key is the sender's.
        #[arg(long)]
        sender: Option<PathBuf>,
    },
    /// Verify and decrypt a sealed item addressed to you.
    Open(item::OpenArgs),
    /// Submit an item to your node (label + file).
    Submit(serve::SubmitArgs),
    /// The items on your node that you may read, a page at a time.
    List(serve::ListArgs),
    /// Release an item from your node to a partner (decided now; withheld with reasons
    /// otherwise), and wait briefly for the partner's receipt.
    Release(serve::ReleaseArgs),
    /// An item's labels, if you may read it.
    Show {
        #[command(flatten)]
        node: serve::NodeArgs,
        /// The item id.
        id: String,
    },
    /// Copies of an item for an official need, numbered "copy n of N" (rule 12).
    Copy(holding::CopyArgs),
    /// A translation of an item: its level, both labels and the origin note (rule 12).
    Translate(holding::TranslateArgs),
    /// A document written from items held here: the aggregate label, every originator named.
    Derive(holding::DeriveArgs),
    /// Destroy an item under the policy for its level (witnesses, record); its bytes erased (rule 13).
    Destroy(holding::DestroyArgs),
    /// Send a received item back to its originator; erased here once the receipt arrives.
    Return {
        #[command(flatten)]
        node: serve::NodeArgs,
        /// The item id.
        id: String,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Change the classification of one of your party's items (its originator only, rule 8);
    /// every copy here follows and a signed notice reaches every party it went to.
    Reclassify {
        #[command(flatten)]
        node: serve::NodeArgs,
        /// The item id.
        id: String,
        /// The new level, in your party's policy.
        #[arg(long)]
        level: String,
        /// Why (the written notice's reason).
        #[arg(long)]
        reason: String,
    },
    /// An item's reclassification notices: the rows here that follow each, and who acknowledged.
    Reclassifications {
        #[command(flatten)]
        node: serve::NodeArgs,
        /// The item id.
        id: String,
    },
    /// An item's whole record: labels, location, copies and translations, every ledger entry.
    History {
        #[command(flatten)]
        node: serve::NodeArgs,
        /// The item id.
        id: String,
        /// Entries per page (1 to 500).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Continue from a page's `next` cursor.
        #[arg(long)]
        next: Option<String>,
    },
    /// An item's content, if you may read it (every read and refusal is ledgered).
    Read {
        #[command(flatten)]
        node: serve::NodeArgs,
        /// The item id.
        id: String,
        /// Where to write the content (never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum KeysCmd {
    /// Generate a party's signing key (owner-only file) and its public identity.
    Generate {
        /// The party (JPN, KOR, USA, …).
        #[arg(long)]
        party: String,
        /// The directory to write the keys to (never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum AgreementCmd {
    /// Every agreement with its parties, kind and status.
    List {
        /// Status at this instant (RFC 3339 with offset); default: now.
        #[arg(long)]
        at: Option<String>,
    },
    /// Whether an agreement is in force at an instant, and why.
    Status {
        /// A shipped agreement id or a path to an agreement file.
        agreement: String,
        /// The instant (RFC 3339 with offset, e.g. 2019-11-23T00:00:00+09:00); default: now.
        #[arg(long)]
        at: Option<String>,
    },
    /// Every term boundary and event, in order.
    Timeline {
        /// A shipped agreement id or a path to an agreement file.
        agreement: String,
        /// Last instant or date to show (a date means through that day in the
        /// agreement's zone); default: now.
        #[arg(long)]
        until: Option<String>,
    },
    /// The agreement's terms: parties, levels, topics, rules, events.
    Show {
        /// A shipped agreement id or a path to an agreement file.
        agreement: String,
    },
    /// Record an event of the node's party (security officers): signed, ledgered, sent to partners.
    Enter(manage::EnterArgs),
    /// A running node's own view of its agreements now.
    Live {
        #[command(flatten)]
        node: serve::NodeArgs,
        /// One agreement; default: all the node's party is in.
        agreement: Option<String>,
    },
}

#[derive(Subcommand)]
enum ConsentCmd {
    /// Consent, as originator, to a release by a holder to a recipient (security officers).
    Grant(manage::GrantArgs),
    /// Consents this party gave or holds.
    List(serve::NodeArgs),
    /// Revoke a consent this party gave, from now.
    Revoke {
        #[command(flatten)]
        node: serve::NodeArgs,
        /// The consent id.
        id: String,
    },
}

#[derive(Subcommand)]
enum PolicyCmd {
    /// Every national policy.
    List,
    /// One policy's levels.
    Show {
        /// A party code (JPN, KOR, USA) or a path to a policy file.
        policy: String,
    },
}

#[derive(Subcommand)]
enum TopicCmd {
    /// Every topic.
    List,
}

#[derive(Subcommand)]
enum LabelCmd {
    /// The level a party marks an item of another party's level with.
    Map(MapArgs),
    /// A sealed item's label as STANAG 4774-shaped XML.
    Export {
        /// The format (only `stanag4774`).
        #[arg(long, value_parser = ["stanag4774"], default_value = "stanag4774")]
        format: String,
        /// The sealed item.
        file: PathBuf,
    },
    /// Read a STANAG 4774-shaped XML label and resolve it against the profiles.
    Import {
        /// The XML file.
        file: PathBuf,
    },
}

#[derive(Args)]
struct MapArgs {
    /// The policy of the level (party code or policy file).
    #[arg(long)]
    policy: String,
    /// The level, in that policy (native name, romanization or alias).
    #[arg(long)]
    level: String,
    /// The party to map to (party code or policy file).
    #[arg(long)]
    to: String,
    /// The agreement whose table to use (id or file); default: every agreement linking the two.
    #[arg(long)]
    agreement: Option<String>,
    /// Use the agreement version in effect at this instant; default: the latest.
    #[arg(long)]
    at: Option<String>,
}

#[derive(Subcommand)]
enum DecideCmd {
    /// May the holder release this item to a party at this instant?
    Release(decide::ReleaseArgs),
    /// May this person read this item at this instant?
    Access(decide::AccessArgs),
}

fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let json = cli.json;
    let dir = cli.profiles;
    match cli.command {
        Command::Agreement(cmd) => match cmd {
            AgreementCmd::List { at } => agreement::list(dir, at.as_deref()),
            AgreementCmd::Status { agreement, at } => {
                agreement::status(dir, &agreement, at.as_deref())
            }
            AgreementCmd::Timeline { agreement, until } => {
                agreement::timeline(dir, &agreement, until.as_deref())
            }
            AgreementCmd::Show { agreement } => agreement::show(dir, &agreement),
            AgreementCmd::Enter(a) => manage::enter(&a),
            AgreementCmd::Live { node, agreement } => manage::live(&node, agreement.as_deref()),
        },
        Command::Policy(PolicyCmd::List) => agreement::policy_list(dir),
        Command::Policy(PolicyCmd::Show { policy }) => agreement::policy_show(dir, &policy),
        Command::Topic(TopicCmd::List) => agreement::topic_list(dir),
        Command::Label(LabelCmd::Map(a)) => agreement::label_map(
            dir,
            &a.policy,
            &a.level,
            &a.to,
            a.agreement.as_deref(),
            a.at.as_deref(),
        ),
        Command::Label(LabelCmd::Export { format: _, file }) => item::export(&file),
        Command::Label(LabelCmd::Import { file }) => item::import(dir, &file),
        Command::Item(ItemCmd::Seal(a)) => item::seal(dir, &a),
        Command::Item(ItemCmd::Inspect { file, sender }) => item::inspect(&file, sender.as_deref()),
        Command::Item(ItemCmd::Open(a)) => item::open(dir, &a),
        Command::Decide(DecideCmd::Release(a)) => decide::release(dir, &a),
        Command::Decide(DecideCmd::Access(a)) => decide::access(dir, &a),
        Command::Demo { engine: true, .. } => demo::run(dir, json),
        Command::Demo {
            engine: false,
            keep,
        } => live::run(dir, keep.as_deref()),
        Command::Keys(KeysCmd::Generate { party, out }) => keys::generate(&party, &out),
        Command::Ledger(cmd) => ledger::run(cmd),
        Command::Init {
            party,
            dir,
            database,
        } => node::init(&party, &dir, database.as_deref()),
        Command::Serve {
            dir,
            log,
            witness_every,
            clock,
            api_listen,
            peer_listen,
        } => serve::serve(
            &dir,
            log,
            witness_every,
            clock.as_deref(),
            (api_listen, peer_listen),
            json,
        ),
        Command::Health { node, ca } => serve::health(&node, &ca),
        Command::Item(ItemCmd::Submit(a)) => serve::submit(&a),
        Command::Item(ItemCmd::List(a)) => serve::list(&a),
        Command::Item(ItemCmd::Show { node, id }) => serve::show(&node, &id),
        Command::Item(ItemCmd::Release(a)) => serve::release(&a),
        Command::Item(ItemCmd::Copy(a)) => holding::copy(&a),
        Command::Item(ItemCmd::Translate(a)) => holding::translate(&a),
        Command::Item(ItemCmd::Derive(a)) => holding::derive(&a),
        Command::Item(ItemCmd::Destroy(a)) => holding::destroy(&a),
        Command::Item(ItemCmd::Return { node, id, reason }) => {
            holding::give_back(&node, &id, reason.as_deref())
        }
        Command::Item(ItemCmd::Reclassify {
            node,
            id,
            level,
            reason,
        }) => reclassify::reclassify(&node, &id, &level, &reason),
        Command::Item(ItemCmd::Reclassifications { node, id }) => reclassify::list(&node, &id),
        Command::Item(ItemCmd::History {
            node,
            id,
            limit,
            next,
        }) => holding::history(&node, &id, limit, next.as_deref()),
        Command::Inventory(a) => holding::inventory(&a),
        Command::Incident(cmd) => incident::run(cmd),
        Command::Facility(cmd) => facility::run(cmd),
        Command::Visit(cmd) => visit::run(cmd),
        Command::Transfer(cmd) => serve::transfer(cmd),
        Command::Item(ItemCmd::Read { node, id, out }) => serve::read(&node, &id, &out),
        Command::Warn(cmd) => warn::run(cmd, json),
        Command::Consent(ConsentCmd::Grant(a)) => manage::grant(&a),
        Command::Consent(ConsentCmd::List(a)) => manage::list(&a),
        Command::Consent(ConsentCmd::Revoke { node, id }) => manage::revoke(&node, &id),
        Command::Person(PersonCmd::Add(a)) => node::person_add(&a),
        Command::Person(PersonCmd::List { dir, limit, next }) => {
            node::person_list(&dir, limit, next.as_deref())
        }
        Command::Person(PersonCmd::Revoke {
            dir,
            person,
            reason,
            by,
        }) => node::person_revoke(&dir, &person, reason.as_deref(), by.as_deref()),
        Command::Person(PersonCmd::RotateToken { dir, person, by }) => {
            node::person_rotate(&dir, &person, by.as_deref())
        }
        Command::Identity(IdentityCmd::Export { dir }) => node::identity_export(&dir),
        Command::Partner(PartnerCmd::Add {
            dir,
            bundle,
            endpoint,
        }) => node::partner_add(&dir, &bundle, &endpoint),
        Command::Partner(PartnerCmd::List { dir }) => node::partner_list(&dir),
        Command::Store(StoreCmd::Migrate { dir }) => node::store_migrate(&dir),
        Command::Store(StoreCmd::Copy { from, to }) => node::store_copy(&from, &to),
        Command::Partner(PartnerCmd::Remove { dir, party }) => node::partner_remove(&dir, &party),
    }
    .map(|o| o.with_json(json))
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let json = std::env::args_os().any(|a| a == "--json");
            return out::usage(&e, json);
        }
    };
    let json = cli.json;
    match run(cli) {
        Ok(outcome) => outcome.finish(),
        Err(e) => out::fail(&e, json),
    }
}
