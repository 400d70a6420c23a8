-- Scopes (docs/SCOPES.md): each record's scope value, the string of its model's
-- sync:"scope" field ('' for a model without one), filtered in SQL by an index that also
-- orders a scope's records by seq, so a reader's feed costs what its own scopes' changes
-- cost, however many records other scopes hold.

-- +goose Up
ALTER TABLE syncgen_server_records ADD COLUMN scope TEXT NOT NULL DEFAULT '';
CREATE INDEX syncgen_server_records_scope_seq ON syncgen_server_records (model, scope, seq);

-- Leaves: a record that moved out of a scope, with the seq of the move, so that readers
-- of the old scope hear that it left. One row per record and scope it left; a record
-- that comes back to the scope loses its row there.
CREATE TABLE syncgen_server_leaves (
    model TEXT NOT NULL,
    id TEXT NOT NULL,
    scope TEXT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (model, id, scope)
);
CREATE INDEX syncgen_server_leaves_scope_seq ON syncgen_server_leaves (model, scope, seq);

-- +goose Down
DROP TABLE syncgen_server_leaves;
DROP INDEX syncgen_server_records_scope_seq;
ALTER TABLE syncgen_server_records DROP COLUMN scope;
