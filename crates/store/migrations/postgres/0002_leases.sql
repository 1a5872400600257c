-- Work one process of a node does at a time (publishing checkpoints): a
-- lease per role, held by one process until it lapses, taken over after.
CREATE TABLE lease (
    role       TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    until_unix BIGINT NOT NULL
);
