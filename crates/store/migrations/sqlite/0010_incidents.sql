-- Loss and compromise reports (rule 14; Art 17): every message of every
-- incident this node sent or received, as signed (the holder signs its
-- report and follow-ups, the originator each acknowledgement). What this
-- node sent waits here, in order, until the originator acknowledges it.
CREATE TABLE incident_message (
    incident  TEXT NOT NULL,
    seq       INTEGER NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('sent', 'received')),
    party     TEXT NOT NULL,
    item      TEXT NOT NULL,
    bytes     BLOB NOT NULL,
    at        TEXT NOT NULL,
    acked_at  TEXT,
    ack       BLOB,
    failed_at TEXT,
    failure   TEXT,
    PRIMARY KEY (incident, seq, direction)
) STRICT;
-- What waits to be sent: neither acknowledged nor refused by the
-- originator's decision (a refusal is final, its reasons kept).
CREATE INDEX incident_unacked ON incident_message (party)
    WHERE direction = 'sent' AND acked_at IS NULL AND failed_at IS NULL;
CREATE INDEX incident_reports ON incident_message (seq, incident) WHERE seq = 0;
