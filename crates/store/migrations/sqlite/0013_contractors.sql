-- Contractors (Art 16): the facility a person belongs to, and each
-- facility's file — registration, inspections, briefings — appended record
-- by record, each under the node's custody tag. Visitors (Art 8): the
-- visit a person registered for one is here for.
ALTER TABLE person ADD COLUMN facility TEXT;
ALTER TABLE person ADD COLUMN visit TEXT;
CREATE TABLE facility_record (
    facility TEXT NOT NULL,
    seq      INTEGER NOT NULL,
    body     BLOB NOT NULL,
    at       TEXT NOT NULL,
    custody  BLOB NOT NULL,
    PRIMARY KEY (facility, seq)
) STRICT;
