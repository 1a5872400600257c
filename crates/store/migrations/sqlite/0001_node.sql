-- The node's state: people, items, the ledger, transfers.
CREATE TABLE person (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('officer', 'security-officer', 'auditor')),
    clearance       TEXT NOT NULL,
    clearance_until TEXT NOT NULL,
    need_to_know    TEXT NOT NULL,
    token_hash      BLOB NOT NULL UNIQUE,
    created_at      TEXT NOT NULL
) STRICT;

CREATE TABLE item (
    id               TEXT PRIMARY KEY,
    originator       TEXT NOT NULL,
    sealed           BLOB NOT NULL,
    label            BLOB NOT NULL,
    equivalent_label BLOB,
    received_from    TEXT,
    created_at       TEXT NOT NULL
) STRICT;

CREATE TABLE ledger_record (
    idx        INTEGER PRIMARY KEY,
    leaf_hash  BLOB NOT NULL,
    record     BLOB NOT NULL
) STRICT;

CREATE TABLE checkpoint (
    size  INTEGER PRIMARY KEY,
    root  BLOB NOT NULL,
    note  TEXT NOT NULL
) STRICT;

-- Exactly-once effect: a transfer id is accepted once.
CREATE TABLE received_transfer (
    transfer   TEXT PRIMARY KEY,
    sender     TEXT NOT NULL,
    item       TEXT NOT NULL,
    received_at TEXT NOT NULL
) STRICT;

CREATE TABLE outbox (
    transfer        TEXT PRIMARY KEY,
    item            TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    envelope        BLOB NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    delivered_at    TEXT
) STRICT;
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE delivered_at IS NULL;
