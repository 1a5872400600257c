-- At most one return of an item under way at a time: the check a request
-- makes before queueing a return is repeated here, inside the commit, so
-- two requests racing each other cannot both send the item home.
CREATE UNIQUE INDEX item_return_one_open ON item_return (item) WHERE done_at IS NULL;
