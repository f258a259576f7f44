-- Up Migration
-- Last writer wins counts a value's latest confirmation (DESIGN 8): when a newer turn sends the
-- active value again, no new version is written (the update is `unchanged`), but that turn is the
-- field's latest update. Its (occurred_at, turn_id) is kept on the active row, so an older update
-- of another value that arrives afterwards is stored superseded instead of becoming active.
ALTER TABLE profile_fields ADD COLUMN confirmed_at text, ADD COLUMN confirmed_by text;

-- Down Migration
ALTER TABLE profile_fields DROP COLUMN confirmed_at, DROP COLUMN confirmed_by;
