-- Messages between nodes besides items: agreement events, consents and their
-- revocations, each stored exactly once (a replay of an id has no second effect).
CREATE TABLE message (
    kind      TEXT NOT NULL CHECK (kind IN ('event', 'consent', 'revocation')),
    id        TEXT NOT NULL,
    party     TEXT NOT NULL,
    body      BLOB NOT NULL,
    stored_at TEXT NOT NULL,
    PRIMARY KEY (kind, id)
) STRICT;
-- The outbox carries every kind of message; items stay the default.
ALTER TABLE outbox ADD COLUMN kind TEXT NOT NULL DEFAULT 'transfer'
    CHECK (kind IN ('transfer', 'event', 'consent', 'revocation'));
-- The originator's id of an item, the same at every hop (item-scoped consents name it).
ALTER TABLE item ADD COLUMN origin_item TEXT;
