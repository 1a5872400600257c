//! A ledger in a directory:
//!
//! ```text
//! DIR/ledger.conf                  origin and the log's public key
//! DIR/records.log                  framed records, append-only
//! DIR/checkpoints/<size>.note      one signed checkpoint per size (20 digits)
//! ```
//!
//! Appends are durable before they are reported: records are written and
//! `fdatasync`ed in one batch (group commit). A checkpoint file is created
//! with `O_EXCL` semantics (written to a temporary file, synced, then
//! hard-linked to its final name, which fails if the name exists): signing is
//! a compare-and-swap on the size, so two writers can never publish two
//! different trees of one size.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

use gsomia_ledger::entry::{Entry, GENESIS, Record, frame};
use gsomia_ledger::merkle::{Hash, ProofError, Tree};
use gsomia_ledger::note::{Checkpoint, Note, NoteError, NoteSignature, Signer, Verifier};
use gsomia_ledger::verify::{Problem, Report, verify};
use gsomia_seal::PublicKey;

/// Why a ledger directory operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LedgerDirError {
    /// File system trouble.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Another process has the ledger open for writing.
    #[error("{0} is in use by another writer")]
    Busy(PathBuf),
    /// A read-only handle asked to write.
    #[error("the ledger was opened read-only")]
    ReadOnly,
    /// The directory already holds a ledger.
    #[error("{0} already holds a ledger")]
    Exists(PathBuf),
    /// `ledger.conf` is malformed.
    #[error("{path}: {what}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// The stored ledger does not verify.
    #[error("ledger does not verify: {0}")]
    Invalid(#[from] Problem),
    /// A signer whose key is not the log's.
    #[error("the signing key is not this ledger's key")]
    WrongKey,
    /// Another checkpoint of the same size exists with a different root.
    #[error("a different checkpoint of size {0} already exists (compare-and-swap lost)")]
    Conflict(u64),
    /// A proof request out of range.
    #[error(transparent)]
    Proof(#[from] ProofError),
    /// A note that does not parse or verify.
    #[error(transparent)]
    Note(#[from] NoteError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LedgerDirError + '_ {
    move |source| LedgerDirError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// An open ledger directory.
#[derive(Debug)]
pub struct LedgerDir {
    /// Held for as long as this writer lives: one writer per directory
    /// (`None` for a read-only handle, which cannot append or sign).
    lock: Option<File>,
    dir: PathBuf,
    origin: String,
    key: Verifier,
    tree: Tree,
    last: Hash,
}

const CONF: &str = "ledger.conf";
const RECORDS: &str = "records.log";
const CHECKPOINTS: &str = "checkpoints";
const LOCK: &str = "writer.lock";

fn sync_dir(dir: &Path) -> Result<(), LedgerDirError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

impl LedgerDir {
    /// Creates an empty ledger for `origin` signed by `key`.
    pub fn create(dir: &Path, origin: &str, key: &PublicKey) -> Result<LedgerDir, LedgerDirError> {
        fs::create_dir_all(dir.join(CHECKPOINTS)).map_err(io(dir))?;
        let conf = dir.join(CONF);
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&conf)
            .map_err(|e| {
                if e.kind() == ErrorKind::AlreadyExists {
                    LedgerDirError::Exists(dir.to_path_buf())
                } else {
                    io(&conf)(e)
                }
            })?;
        f.write_all(format!("origin = {origin}\nkey = {}\n", key.to_base64()).as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(io(&conf))?;
        File::create(dir.join(RECORDS))
            .and_then(|f| f.sync_all())
            .map_err(io(dir))?;
        sync_dir(dir)?;
        Self::open(dir)
    }

    /// Opens a ledger for writing (one writer per directory, by an exclusive
    /// lock), verifying everything stored first (records against their hashes
    /// and links, every checkpoint against the recomputed roots).
    pub fn open(dir: &Path) -> Result<LedgerDir, LedgerDirError> {
        let lock_path = dir.join(LOCK);
        require_ledger(dir)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        lock.try_lock().map_err(|e| match e {
            std::fs::TryLockError::WouldBlock => LedgerDirError::Busy(dir.to_path_buf()),
            std::fs::TryLockError::Error(e) => io(&lock_path)(e),
        })?;
        Self::load(dir, Some(lock))
    }

    /// Opens a ledger read-only (no lock; appending and signing are refused),
    /// verifying everything stored first.
    pub fn open_readonly(dir: &Path) -> Result<LedgerDir, LedgerDirError> {
        require_ledger(dir)?;
        Self::load(dir, None)
    }

    fn load(dir: &Path, lock: Option<File>) -> Result<LedgerDir, LedgerDirError> {
        let (origin, key) = read_conf(dir)?;
        let key = Verifier {
            name: origin.clone(),
            key,
        };
        let records = read_file(&dir.join(RECORDS))?;
        let checkpoints = read_checkpoints(dir)?;
        verify(&origin, &key, &records, &checkpoints)?;
        let mut tree = Tree::new();
        let mut last = GENESIS;
        for f in gsomia_ledger::entry::unframe(&records).0 {
            last = f.stored;
            tree.push_hash(f.stored);
        }
        Ok(LedgerDir {
            lock,
            dir: dir.to_path_buf(),
            origin,
            key,
            tree,
            last,
        })
    }

    /// Verifies a ledger directory from its files, without opening it for
    /// writing: the log key and origin come from `ledger.conf` unless given.
    pub fn verify_dir(dir: &Path, key: Option<&Verifier>) -> Result<Report, LedgerDirError> {
        let (origin, conf_key) = read_conf(dir)?;
        let key = key.cloned().unwrap_or(Verifier {
            name: origin.clone(),
            key: conf_key,
        });
        let records = read_file(&dir.join(RECORDS))?;
        Ok(verify(&origin, &key, &records, &read_checkpoints(dir)?)?)
    }

    /// The checkpoint note of one size (file name, text).
    pub fn read_checkpoint(dir: &Path, size: u64) -> Result<(String, String), LedgerDirError> {
        let path = checkpoint_path(dir, size);
        let text = String::from_utf8_lossy(&read_file(&path)?).into_owned();
        Ok((path.display().to_string(), text))
    }

    /// Reads a ledger directory's origin and log key.
    pub fn read_identity(dir: &Path) -> Result<Verifier, LedgerDirError> {
        let (origin, key) = read_conf(dir)?;
        Ok(Verifier { name: origin, key })
    }

    /// The log's origin line.
    pub fn origin(&self) -> &str {
        &self.origin
    }
    /// The log's key.
    pub fn key(&self) -> &Verifier {
        &self.key
    }
    /// Number of records.
    pub fn size(&self) -> u64 {
        self.tree.size()
    }
    /// The in-memory tree of the records.
    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    /// Appends entries durably (one write and one `fdatasync` for the batch)
    /// and returns the index of the first.
    pub fn append(&mut self, entries: Vec<Entry>) -> Result<u64, LedgerDirError> {
        if self.lock.is_none() {
            return Err(LedgerDirError::ReadOnly);
        }
        let first = self.tree.size();
        let mut buf = Vec::new();
        let mut hashes = Vec::with_capacity(entries.len());
        let mut prev = self.last;
        for (i, entry) in entries.into_iter().enumerate() {
            let record = Record {
                index: first + i as u64,
                prev,
                entry,
            };
            let framed = frame(&record);
            prev = record.leaf_hash();
            hashes.push(prev);
            buf.extend_from_slice(&framed);
        }
        let path = self.dir.join(RECORDS);
        let mut f = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        f.write_all(&buf)
            .and_then(|()| f.sync_data())
            .map_err(io(&path))?;
        for h in hashes {
            self.tree.push_hash(h);
        }
        self.last = prev;
        Ok(first)
    }

    /// Signs a checkpoint of the current size, by compare-and-swap: if a
    /// checkpoint of this size exists with the same root it is returned; with
    /// another root, [`LedgerDirError::Conflict`].
    pub fn checkpoint(&self, signer: &Signer) -> Result<Note, LedgerDirError> {
        if self.lock.is_none() {
            return Err(LedgerDirError::ReadOnly);
        }
        if signer.verifier().key != self.key.key || signer.name != self.origin {
            return Err(LedgerDirError::WrongKey);
        }
        let c = Checkpoint {
            origin: self.origin.clone(),
            size: self.tree.size(),
            root: self.tree.root(),
        };
        let note = signer.sign_checkpoint(&c);
        let dir = self.dir.join(CHECKPOINTS);
        let path = checkpoint_path(&self.dir, c.size);
        let tmp = dir.join(format!(".{}.{}.tmp", c.size, std::process::id()));
        let mut f = File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(note.render().as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(io(&tmp))?;
        let linked = fs::hard_link(&tmp, &path);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => {
                sync_dir(&dir)?;
                Ok(note)
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                let existing = Note::parse(&String::from_utf8_lossy(&read_file(&path)?))?;
                let theirs = self.key.verify_checkpoint(&existing)?;
                if theirs == c {
                    Ok(existing)
                } else {
                    Err(LedgerDirError::Conflict(c.size))
                }
            }
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// Every checkpoint note (file name, text), by increasing size.
    pub fn checkpoints(&self) -> Result<Vec<(String, String)>, LedgerDirError> {
        read_checkpoints(&self.dir)
    }

    /// The latest checkpoint note.
    pub fn latest(&self) -> Result<Option<Note>, LedgerDirError> {
        match self.checkpoints()?.last() {
            Some((_, text)) => Ok(Some(Note::parse(text)?)),
            None => Ok(None),
        }
    }

    /// Adds a cosignature line to the checkpoint of `size` (atomic rewrite).
    pub fn add_cosignature(&self, size: u64, sig: NoteSignature) -> Result<Note, LedgerDirError> {
        let path = checkpoint_path(&self.dir, size);
        let mut note = Note::parse(&String::from_utf8_lossy(&read_file(&path)?))?;
        self.key.verify_checkpoint(&note)?;
        note.add(sig);
        write_atomic(&path, note.render().as_bytes())?;
        Ok(note)
    }

    /// Reads record `index`.
    pub fn record(&self, index: u64) -> Result<Option<Record>, LedgerDirError> {
        let bytes = read_file(&self.dir.join(RECORDS))?;
        let frames = gsomia_ledger::entry::unframe(&bytes).0;
        Ok(usize::try_from(index)
            .ok()
            .and_then(|i| frames.get(i))
            .and_then(|f| Record::from_bytes(f.bytes).ok()))
    }
}

fn require_ledger(dir: &Path) -> Result<(), LedgerDirError> {
    if dir.join(CONF).is_file() {
        Ok(())
    } else {
        Err(LedgerDirError::Config {
            path: dir.join(CONF),
            what: "no ledger here (run `gsomia ledger init`)".into(),
        })
    }
}

fn checkpoint_path(dir: &Path, size: u64) -> PathBuf {
    dir.join(CHECKPOINTS).join(format!("{size:020}.note"))
}

/// Writes a file atomically: temporary file, fsync, rename, fsync the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), LedgerDirError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    let mut f = File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))?;
    sync_dir(dir)
}

fn read_file(path: &Path) -> Result<Vec<u8>, LedgerDirError> {
    let mut buf = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut buf))
        .map_err(io(path))?;
    Ok(buf)
}

fn read_conf(dir: &Path) -> Result<(String, PublicKey), LedgerDirError> {
    let path = dir.join(CONF);
    let text = String::from_utf8(read_file(&path)?).map_err(|_| LedgerDirError::Config {
        path: path.clone(),
        what: "not UTF-8".into(),
    })?;
    let mut origin = None;
    let mut key = None;
    for (n, line) in text.lines().enumerate() {
        let bad = |what: &str| LedgerDirError::Config {
            path: path.clone(),
            what: format!("line {}: {what}", n + 1),
        };
        let (k, v) = line
            .split_once(" = ")
            .ok_or_else(|| bad("expected `name = value`"))?;
        match k {
            "origin" => origin = Some(v.to_owned()),
            "key" => key = Some(PublicKey::from_base64(v).map_err(|e| bad(&e.to_string()))?),
            other => return Err(bad(&format!("unknown setting `{other}`"))),
        }
    }
    match (origin, key) {
        (Some(o), Some(k)) => Ok((o, k)),
        _ => Err(LedgerDirError::Config {
            path,
            what: "needs `origin` and `key`".into(),
        }),
    }
}

fn read_checkpoints(dir: &Path) -> Result<Vec<(String, String)>, LedgerDirError> {
    let cdir = dir.join(CHECKPOINTS);
    let mut names: Vec<String> = fs::read_dir(&cdir)
        .map_err(io(&cdir))?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|n| n.ends_with(".note") && !n.starts_with('.'))
        .collect();
    names.sort();
    let mut out = Vec::with_capacity(names.len());
    for n in names {
        let text = String::from_utf8_lossy(&read_file(&cdir.join(&n))?).into_owned();
        out.push((n, text));
    }
    Ok(out)
}

/// A witness's memory: for each log origin it follows, the last checkpoint it
/// cosigned, and evidence of every refused rollback or fork.
///
/// ```text
/// WITNESS/<origin with / as _>/last.note
/// WITNESS/<origin with / as _>/evidence/<n>-{cosigned,offered}.note
/// ```
#[derive(Debug)]
pub struct WitnessDir {
    dir: PathBuf,
}

impl WitnessDir {
    /// Opens (creating if needed) a witness directory.
    pub fn open(dir: &Path) -> Result<WitnessDir, LedgerDirError> {
        fs::create_dir_all(dir).map_err(io(dir))?;
        Ok(WitnessDir {
            dir: dir.to_path_buf(),
        })
    }

    fn log_dir(&self, origin: &str) -> PathBuf {
        let safe: String = origin
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.dir.join(safe)
    }

    /// The last checkpoint cosigned for `origin`, verified against the log key.
    pub fn last(&self, log: &Verifier) -> Result<Option<Checkpoint>, LedgerDirError> {
        let path = self.log_dir(&log.name).join("last.note");
        match fs::read(&path) {
            Ok(bytes) => {
                let note = Note::parse(&String::from_utf8_lossy(&bytes))?;
                Ok(Some(log.verify_checkpoint(&note)?))
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// Records a newly cosigned checkpoint (durably, before the cosignature is handed out).
    pub fn record(&self, origin: &str, note: &Note) -> Result<(), LedgerDirError> {
        let dir = self.log_dir(origin);
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        write_atomic(&dir.join("last.note"), note.render().as_bytes())
    }

    /// Keeps both sides of a refused rollback or fork; returns the evidence directory.
    pub fn keep_evidence(&self, origin: &str, offered: &Note) -> Result<PathBuf, LedgerDirError> {
        let dir = self.log_dir(origin).join("evidence");
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let n = fs::read_dir(&dir).map_err(io(&dir))?.count() / 2 + 1;
        let last = self.log_dir(origin).join("last.note");
        let cosigned = read_file(&last)?;
        write_atomic(&dir.join(format!("{n:04}-cosigned.note")), &cosigned)?;
        write_atomic(
            &dir.join(format!("{n:04}-offered.note")),
            offered.render().as_bytes(),
        )?;
        Ok(dir)
    }
}
