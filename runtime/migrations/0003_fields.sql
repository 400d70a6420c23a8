-- Field changes: a sent write's changed JSON keys, fixed with its body when it is first
-- sent (a JSON array; NULL: the whole record, as for a create or a delete).

-- +goose Up
ALTER TABLE syncgen_outbox ADD COLUMN fields TEXT;

-- +goose Down
ALTER TABLE syncgen_outbox DROP COLUMN fields;
