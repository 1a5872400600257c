-- When each outbox row was queued (Unix seconds), so an operator sees how
-- long the oldest undelivered transfer has waited. Rows queued before this
-- migration have none; their first attempt's time stands in for it.
ALTER TABLE outbox ADD COLUMN queued_at INTEGER;
