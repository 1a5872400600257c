-- Custody: every item, person and queued transfer the node keeps carries
-- the tag the node made over it (gsomia_seal::custody), checked whenever
-- the row is read back; the other columns are indexes for queries. Rows
-- kept before this migration have none until the node tags them at start.
ALTER TABLE item ADD COLUMN custody BLOB;
ALTER TABLE person ADD COLUMN custody BLOB;
ALTER TABLE outbox ADD COLUMN custody BLOB;
-- A person's access ends at this instant (gsomia person revoke).
ALTER TABLE person ADD COLUMN revoked_at TEXT;
-- One row rewritten by every readiness check, so a database that can no
-- longer be written is noticed before a request fails on it.
CREATE TABLE probe (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at TEXT NOT NULL
) STRICT;
