-- Up Migration
-- The session ledger's own hash chain (issue 16): entry_hash covers an entry's contents (event,
-- turn, statuses, actor, reason, time, the previous state's hash) and the previous entry's
-- entry_hash. Until now only the state hashes were chained, and an edit of an entry's reason,
-- actor, status or turn went unseen. Entries written before stay NULL: they cannot be checked, and
-- the first entry after them chains from NULL.
ALTER TABLE session_history ADD COLUMN entry_hash text;

-- Down Migration
ALTER TABLE session_history DROP COLUMN entry_hash;
