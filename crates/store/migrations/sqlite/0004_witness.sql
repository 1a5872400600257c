-- This node as its partners' witness: the last checkpoint it cosigned for each.
CREATE TABLE witnessed (
    party TEXT PRIMARY KEY,
    size  INTEGER NOT NULL,
    root  BLOB NOT NULL,
    note  TEXT NOT NULL,
    at    TEXT NOT NULL
) STRICT;
-- Partners' cosignatures of this node's checkpoints (the cosigned notes).
CREATE TABLE cosigned (
    size     INTEGER NOT NULL,
    cosigner TEXT NOT NULL,
    note     TEXT NOT NULL,
    at       TEXT NOT NULL,
    PRIMARY KEY (size, cosigner)
) STRICT;
