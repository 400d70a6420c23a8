-- Tables owned by the syncgen runtime. They are versioned here, not in the
-- user's migrations, so upgrading syncgen never writes files into a package.

-- +goose Up
-- Key/value settings of this database, such as the client id, shared by
-- every generated package that uses it.
CREATE TABLE syncgen_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- +goose Down
DROP TABLE syncgen_meta;
