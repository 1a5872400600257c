-- Two more kinds of signed message between nodes: an originator's notice
-- that an item is classified anew (rule 8), and visits (Art 8). SQLite
-- cannot change a CHECK constraint in place, so the two tables that name
-- the kinds are rebuilt, every row and its rowid (the position list
-- cursors use) kept.
CREATE TABLE message_next (
    kind      TEXT NOT NULL CHECK (kind IN ('event', 'consent', 'revocation', 'reclassification', 'visit')),
    id        TEXT NOT NULL,
    party     TEXT NOT NULL,
    body      BLOB NOT NULL,
    stored_at TEXT NOT NULL,
    PRIMARY KEY (kind, id)
) STRICT;
INSERT INTO message_next (rowid, kind, id, party, body, stored_at)
    SELECT rowid, kind, id, party, body, stored_at FROM message;
DROP TABLE message;
ALTER TABLE message_next RENAME TO message;

CREATE TABLE outbox_next (
    transfer        TEXT PRIMARY KEY,
    item            TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    delivered_at    TEXT,
    failed_at       TEXT,
    failure         TEXT,
    kind            TEXT NOT NULL DEFAULT 'transfer'
        CHECK (kind IN ('transfer', 'event', 'consent', 'revocation', 'reclassification', 'visit')),
    queued_at       INTEGER,
    custody         BLOB,
    released_by     TEXT,
    last_error      TEXT,
    receipt         TEXT
) STRICT;
INSERT INTO outbox_next (rowid, transfer, item, recipient, attempts, next_attempt_at, delivered_at,
                         failed_at, failure, kind, queued_at, custody, released_by, last_error, receipt)
    SELECT rowid, transfer, item, recipient, attempts, next_attempt_at, delivered_at,
           failed_at, failure, kind, queued_at, custody, released_by, last_error, receipt FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_next RENAME TO outbox;
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX outbox_by_releaser ON outbox (released_by);
-- Where an item went: the distribution record a notice follows.
CREATE INDEX outbox_by_item ON outbox (item);
-- Every row of one originator's item here (the item, its copies, the same
-- item received by two routes), for a notice to reach them all.
CREATE INDEX item_by_origin ON item (COALESCE(origin_item, id));
