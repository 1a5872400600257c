-- Deliveries are claimed oldest first, by (next_attempt_at, pos). With the
-- index on next_attempt_at alone, every due row of the same second had to
-- be read and sorted to take the first few (a claim cost grew with the
-- queue: 6,000 queued, 6,000 read per claim of 128). Ordered by both, a
-- claim reads the rows it takes and the ones it skips.
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox (next_attempt_at, pos) WHERE delivered_at IS NULL AND failed_at IS NULL;
-- A claim sets only the lease (no indexed column): with room left in each
-- page the new row version stays in the page (a HOT update) and no index
-- gains an entry; a full page made every claim write an entry into each
-- of the table's five indexes and leave one more dead entry for claims to
-- step over.
ALTER TABLE outbox SET (fillfactor = 50);

-- A sealed item (about 2.5 KiB for 1 KiB of content) and a transfer's
-- envelope (about 2.7 KiB) are ciphertext: compressing them gains nothing,
-- and rows over 2 KiB were compressed in vain and then moved into TOAST
-- chunks (two more rows and index entries each). Rows up to a page stay
-- in place; longer values go out of line uncompressed.
ALTER TABLE item SET (toast_tuple_target = 8160);
ALTER TABLE item ALTER COLUMN sealed SET STORAGE EXTERNAL;
ALTER TABLE outbox_envelope SET (toast_tuple_target = 8160);
ALTER TABLE outbox_envelope ALTER COLUMN envelope SET STORAGE EXTERNAL;
