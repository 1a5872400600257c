-- Envelopes apart from their outbox rows. An envelope (a sealed item, a few
-- KiB) filled a page of its own beside its row, so marking a batch of 128
-- transfers delivered rewrote 128 pages; with the rows small it rewrites a
-- few, and the envelopes are written once.
CREATE TABLE outbox_envelope (
    transfer TEXT PRIMARY KEY,
    envelope BLOB NOT NULL
) STRICT;
INSERT INTO outbox_envelope (transfer, envelope) SELECT transfer, envelope FROM outbox;
ALTER TABLE outbox DROP COLUMN envelope;
