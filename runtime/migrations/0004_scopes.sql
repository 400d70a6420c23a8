-- Scopes (docs/SCOPES.md): per model with a scope field, the scope values whose records
-- this client holds in full up to its cursor (held, a JSON array; NULL: not known), and
-- the values the app chose to sync (subset, a JSON array; NULL: every value the user may
-- see).

-- +goose Up
CREATE TABLE syncgen_scopes (
    model TEXT PRIMARY KEY,
    held TEXT,
    subset TEXT
) WITHOUT ROWID;

-- +goose Down
DROP TABLE syncgen_scopes;
