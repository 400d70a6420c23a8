-- Bases stored as rows: a base that is exactly what the model encodes from the record's
-- row (a record pulled and not written since) is stored as '' in syncgen_records.base,
-- which no JSON is. The runtime reads it as the row, encoded, and stores the row's JSON
-- there before a local write changes the row. The schema does not change: this version
-- makes older code, which would read '' as JSON, refuse the database. SQL cannot encode
-- a row as the model does, so Down leaves such bases as they are.

-- +goose Up

-- +goose Down
