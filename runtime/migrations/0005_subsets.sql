-- Subsets (docs/SCOPES.md): per model, the subsets the app chose to sync (subsets, a JSON
-- array of wire subsets; NULL: every record), the JSON of those whose records this
-- client holds in full up to its cursor (subsets_held, a JSON array; NULL: every record
-- is held), and the choice whose other records were removed from the device (evicted).
-- The column subset (scope values) of 0004 is read as a subset on the scope field until
-- the app chooses again.

-- +goose Up
ALTER TABLE syncgen_scopes ADD COLUMN subsets TEXT;
ALTER TABLE syncgen_scopes ADD COLUMN subsets_held TEXT;
ALTER TABLE syncgen_scopes ADD COLUMN evicted TEXT;

-- +goose Down
ALTER TABLE syncgen_scopes DROP COLUMN evicted;
ALTER TABLE syncgen_scopes DROP COLUMN subsets_held;
ALTER TABLE syncgen_scopes DROP COLUMN subsets;
