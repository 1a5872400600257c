-- The node's state on PostgreSQL: the same tables as SQLite's migrations
-- 0001 to 0013 arrive at, with what several processes of one party need.
--
-- Order is never left to a sequence: sequences leave gaps and become
-- visible out of commit order. The ledger's next index and last leaf hash,
-- and the next list position, live in one head row that each commit locks
-- (SELECT ... FOR UPDATE) for its transaction, so indexes and positions
-- are assigned inside the commit, gap-free and in commit order, as the
-- SQLite writer assigns them. Positions stand in for SQLite's rowid as the
-- cursor of every paged list.

CREATE TABLE ledger_head (
    id         SMALLINT PRIMARY KEY CHECK (id = 1),
    next_index BIGINT NOT NULL CHECK (next_index >= 0),
    last_leaf  BYTEA NOT NULL CHECK (octet_length(last_leaf) = 32),
    next_pos   BIGINT NOT NULL CHECK (next_pos >= 1)
);
INSERT INTO ledger_head (id, next_index, last_leaf, next_pos)
    VALUES (1, 0, '\x0000000000000000000000000000000000000000000000000000000000000000', 1);

CREATE TABLE person (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('officer', 'security-officer', 'auditor')),
    clearance       TEXT NOT NULL,
    clearance_until TEXT NOT NULL,
    need_to_know    TEXT NOT NULL,
    token_hash      BYTEA NOT NULL UNIQUE,
    created_at      TEXT NOT NULL,
    custody         BYTEA,
    revoked_at      TEXT,
    facility        TEXT,
    visit           TEXT,
    pos             BIGINT NOT NULL UNIQUE
);

CREATE TABLE item (
    id               TEXT PRIMARY KEY,
    originator       TEXT NOT NULL,
    sealed           BYTEA NOT NULL,
    label            BYTEA NOT NULL,
    equivalent_label BYTEA,
    received_from    TEXT,
    created_at       TEXT NOT NULL,
    origin_item      TEXT,
    custody          BYTEA,
    binding          BYTEA,
    access_level     TEXT,
    created_unix     BIGINT,
    lineage          BYTEA,
    disposal         BYTEA,
    source           TEXT,
    disposed_unix    BIGINT,
    dispose_by       BIGINT,
    pos              BIGINT NOT NULL UNIQUE
);
CREATE INDEX item_by_originator ON item (originator, pos);
CREATE INDEX item_by_created ON item (created_unix);
CREATE INDEX item_by_source ON item (source) WHERE source IS NOT NULL;
CREATE INDEX item_due ON item (dispose_by) WHERE dispose_by IS NOT NULL;
CREATE INDEX item_by_origin ON item (COALESCE(origin_item, id));

CREATE TABLE item_topic (
    item  TEXT NOT NULL,
    topic TEXT NOT NULL,
    PRIMARY KEY (topic, item)
);
CREATE INDEX item_topic_by_item ON item_topic (item);

CREATE TABLE ledger_record (
    idx       BIGINT PRIMARY KEY CHECK (idx >= 0),
    leaf_hash BYTEA NOT NULL,
    record    BYTEA NOT NULL,
    subject   TEXT
);
CREATE INDEX ledger_by_subject ON ledger_record (subject, idx) WHERE subject IS NOT NULL;

-- A checkpoint is written by compare-and-swap on its size: a second,
-- different root for a size is refused by the primary key.
CREATE TABLE checkpoint (
    size BIGINT PRIMARY KEY,
    root BYTEA NOT NULL,
    note TEXT NOT NULL
);

-- Exactly-once effect across processes: a transfer id is accepted once
-- (INSERT ... ON CONFLICT DO NOTHING decides which process took it).
CREATE TABLE received_transfer (
    transfer    TEXT PRIMARY KEY,
    sender      TEXT NOT NULL,
    item        TEXT NOT NULL,
    received_at TEXT NOT NULL,
    pos         BIGINT NOT NULL UNIQUE
);

CREATE TABLE message (
    kind      TEXT NOT NULL CHECK (kind IN ('event', 'consent', 'revocation', 'reclassification', 'visit')),
    id        TEXT NOT NULL,
    party     TEXT NOT NULL,
    body      BYTEA NOT NULL,
    stored_at TEXT NOT NULL,
    pos       BIGINT NOT NULL UNIQUE,
    PRIMARY KEY (kind, id)
);

-- Deliveries are claimed by one process at a time: FOR UPDATE SKIP LOCKED
-- plus a lease (owner, expiry); a process killed mid-delivery loses its
-- claim when the lease expires and another takes the row over. A receipt
-- is recorded only by the lease's owner.
CREATE TABLE outbox (
    transfer        TEXT PRIMARY KEY,
    item            TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    delivered_at    TEXT,
    failed_at       TEXT,
    failure         TEXT,
    kind            TEXT NOT NULL DEFAULT 'transfer'
        CHECK (kind IN ('transfer', 'event', 'consent', 'revocation', 'reclassification', 'visit')),
    queued_at       BIGINT,
    custody         BYTEA,
    released_by     TEXT,
    last_error      TEXT,
    receipt         TEXT,
    lease_owner     TEXT,
    lease_until     BIGINT,
    pos             BIGINT NOT NULL UNIQUE
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX outbox_by_releaser ON outbox (released_by);
CREATE INDEX outbox_by_item ON outbox (item);

CREATE TABLE outbox_envelope (
    transfer TEXT PRIMARY KEY,
    envelope BYTEA NOT NULL
);

CREATE TABLE witnessed (
    party TEXT PRIMARY KEY,
    size  BIGINT NOT NULL,
    root  BYTEA NOT NULL,
    note  TEXT NOT NULL,
    at    TEXT NOT NULL
);

CREATE TABLE cosigned (
    size     BIGINT NOT NULL,
    cosigner TEXT NOT NULL,
    note     TEXT NOT NULL,
    at       TEXT NOT NULL,
    PRIMARY KEY (size, cosigner)
);

CREATE TABLE probe (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at TEXT NOT NULL
);

CREATE TABLE idempotency (
    person   TEXT NOT NULL,
    key      TEXT NOT NULL,
    request  BYTEA NOT NULL,
    response TEXT NOT NULL,
    at       TEXT NOT NULL,
    PRIMARY KEY (person, key)
);

CREATE TABLE warning_update (
    flight       TEXT NOT NULL,
    seq          BIGINT NOT NULL,
    bytes        BYTEA NOT NULL,
    applied_at   TEXT NOT NULL,
    applied_unix BIGINT NOT NULL,
    level        TEXT NOT NULL,
    pos          BIGINT NOT NULL UNIQUE,
    PRIMARY KEY (flight, seq)
);
CREATE INDEX warning_update_by_time ON warning_update (applied_unix);

CREATE TABLE warning_out (
    party        TEXT NOT NULL,
    flight       TEXT NOT NULL,
    seq          BIGINT NOT NULL,
    queued_at    TEXT NOT NULL,
    delivered_at TEXT,
    pos          BIGINT NOT NULL UNIQUE,
    PRIMARY KEY (party, flight, seq)
);
CREATE INDEX warning_out_pending ON warning_out (party) WHERE delivered_at IS NULL;

CREATE TABLE item_return (
    transfer     TEXT PRIMARY KEY,
    item         TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    done_at      TEXT,
    pos          BIGINT NOT NULL UNIQUE
);
CREATE INDEX item_return_open ON item_return (transfer) WHERE done_at IS NULL;
CREATE UNIQUE INDEX item_return_one_open ON item_return (item) WHERE done_at IS NULL;

CREATE TABLE incident_message (
    incident  TEXT NOT NULL,
    seq       BIGINT NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('sent', 'received')),
    party     TEXT NOT NULL,
    item      TEXT NOT NULL,
    bytes     BYTEA NOT NULL,
    at        TEXT NOT NULL,
    acked_at  TEXT,
    ack       BYTEA,
    failed_at TEXT,
    failure   TEXT,
    pos       BIGINT NOT NULL UNIQUE,
    PRIMARY KEY (incident, seq, direction)
);
CREATE INDEX incident_unacked ON incident_message (party)
    WHERE direction = 'sent' AND acked_at IS NULL AND failed_at IS NULL;
CREATE INDEX incident_reports ON incident_message (seq, incident) WHERE seq = 0;

CREATE TABLE facility_record (
    facility TEXT NOT NULL,
    seq      BIGINT NOT NULL,
    body     BYTEA NOT NULL,
    at       TEXT NOT NULL,
    custody  BYTEA NOT NULL,
    PRIMARY KEY (facility, seq)
);
