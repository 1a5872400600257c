-- Console sessions, kept by the store so that every process of a node
-- knows them and a restart signs nobody out. The cookie's session id is
-- kept only as its SHA-256 (a copy of the database opens no session); the
-- node's custody tag covers the row (a row the node did not make opens
-- none either).
CREATE TABLE console_session (
    id_hash      BLOB PRIMARY KEY,
    token_hash   BLOB NOT NULL,
    expires_unix INTEGER NOT NULL,
    custody      BLOB NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX console_session_expiry ON console_session (expires_unix);
