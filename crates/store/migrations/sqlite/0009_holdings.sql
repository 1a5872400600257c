-- An item's life at the holder (rules 11–13). `lineage` (what an item was
-- made from: a copy, a translation, a derived document) and `disposal`
-- (how it left custody: destroyed or returned) are facts the node recorded,
-- canonical bytes covered by the item's custody tag; `source`,
-- `disposed_unix` and `dispose_by` are indexes for lists, never trusted.
ALTER TABLE item ADD COLUMN lineage BLOB;
ALTER TABLE item ADD COLUMN disposal BLOB;
ALTER TABLE item ADD COLUMN source TEXT;
ALTER TABLE item ADD COLUMN disposed_unix INTEGER;
ALTER TABLE item ADD COLUMN dispose_by INTEGER;
CREATE INDEX item_by_source ON item (source) WHERE source IS NOT NULL;
CREATE INDEX item_due ON item (dispose_by) WHERE dispose_by IS NOT NULL;
-- Returns to originators: the local bytes are erased once the originator's
-- receipt arrives (or the return is closed if the originator refuses it).
CREATE TABLE item_return (
    transfer     TEXT PRIMARY KEY,
    item         TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    done_at      TEXT
) STRICT;
CREATE INDEX item_return_open ON item_return (transfer) WHERE done_at IS NULL;
-- An item's history: ledger records by the item they are about. An index:
-- each record read through it is re-hashed and its subject checked.
ALTER TABLE ledger_record ADD COLUMN subject TEXT;
CREATE INDEX ledger_by_subject ON ledger_record (subject, idx) WHERE subject IS NOT NULL;
