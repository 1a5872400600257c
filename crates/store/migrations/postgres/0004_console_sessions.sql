-- Console sessions, shared by every process of a node and kept across
-- restarts. The cookie's session id is kept only as its SHA-256; the
-- node's custody tag covers the row.
CREATE TABLE console_session (
    id_hash      BYTEA PRIMARY KEY,
    token_hash   BYTEA NOT NULL,
    expires_unix BIGINT NOT NULL,
    custody      BYTEA NOT NULL
);
CREATE INDEX console_session_expiry ON console_session (expires_unix);
