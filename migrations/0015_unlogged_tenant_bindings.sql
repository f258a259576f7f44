-- Up Migration
-- A tenant binding lives as long as its backend, so it needs no WAL: after a crash every backend
-- is gone and an unlogged table comes back empty, which is exactly right. Unlogged, moving a pooled
-- tenant connection to another tenant costs no WAL flush (issue 14's read latency with many tenants).
ALTER TABLE tenant_bindings SET UNLOGGED;

-- Down Migration
ALTER TABLE tenant_bindings SET LOGGED;
