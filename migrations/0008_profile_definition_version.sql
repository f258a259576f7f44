-- Up Migration
-- Each profile row records the version of the field definition that validated it (issue 13): a
-- definition changed later (a tighter rule, another type) does not make an old value look as if
-- today's rule had passed it. NULL for rows written before the column existed, or by writers that
-- validate nothing (imports).
ALTER TABLE profile_fields ADD COLUMN definition_version integer;

-- Down Migration
ALTER TABLE profile_fields DROP COLUMN definition_version;
