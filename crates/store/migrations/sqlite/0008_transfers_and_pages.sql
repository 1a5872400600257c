-- What a sender shows of each transfer: who released it, why its last
-- attempt failed, and the receipt checkpoint its partner signed.
ALTER TABLE outbox ADD COLUMN released_by TEXT;
ALTER TABLE outbox ADD COLUMN last_error TEXT;
ALTER TABLE outbox ADD COLUMN receipt TEXT;
CREATE INDEX outbox_by_releaser ON outbox (released_by);
-- A release retried with the same idempotency key answers what the first
-- one did (the first answer is committed with the release itself).
CREATE TABLE idempotency (
    person   TEXT NOT NULL,
    key      TEXT NOT NULL,
    request  BLOB NOT NULL,
    response TEXT NOT NULL,
    at       TEXT NOT NULL,
    PRIMARY KEY (person, key)
) STRICT;
-- Indexes for paged, filtered item lists. Decisions never read them: they
-- read the tagged label (the binding column is covered by the item's tag
-- and must match the sealed bytes when they are read). Pages go in rowid
-- order; the level and topic filters are checked row by row on that walk
-- (an index on the level would make SQLite sort every matching row), the
-- originator's index is itself in rowid order, and the time's index only
-- finds where a `since` walk starts (items are stored in time order).
ALTER TABLE item ADD COLUMN binding BLOB;
ALTER TABLE item ADD COLUMN access_level TEXT;
ALTER TABLE item ADD COLUMN created_unix INTEGER;
CREATE INDEX item_by_originator ON item (originator);
CREATE INDEX item_by_created ON item (created_unix);
CREATE TABLE item_topic (
    item  TEXT NOT NULL,
    topic TEXT NOT NULL,
    PRIMARY KEY (topic, item)
) STRICT;
CREATE INDEX item_topic_by_item ON item_topic (item);
-- Warnings that never vanish: every update applied here, and every
-- forward owed to a partner until it takes it (kept across restarts).
CREATE TABLE warning_update (
    flight     TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    bytes      BLOB NOT NULL,
    applied_at TEXT NOT NULL,
    applied_unix INTEGER NOT NULL,
    level      TEXT NOT NULL,
    PRIMARY KEY (flight, seq)
) STRICT;
CREATE INDEX warning_update_by_time ON warning_update (applied_unix);
CREATE TABLE warning_out (
    party        TEXT NOT NULL,
    flight       TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    queued_at    TEXT NOT NULL,
    delivered_at TEXT,
    PRIMARY KEY (party, flight, seq)
) STRICT;
CREATE INDEX warning_out_pending ON warning_out (party) WHERE delivered_at IS NULL;
