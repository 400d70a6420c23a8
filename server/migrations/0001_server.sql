-- The generated server's tables, the same on SQLite and PostgreSQL. Records are stored as
-- JSON with their sync metadata, so a model change needs no server DDL.

-- +goose Up
-- One row per record of every model. version counts the record's writes (1 for the
-- create); seq is the server's commit-ordered sequence, taken from syncgen_server_counter
-- inside the write's transaction; updated_at is the record's updatedAt in the fixed-width
-- form ('' for a model without one); a deleted record keeps its row, its last JSON and
-- deleted_at (the server's clock at the delete) until the tombstone retention passes.
CREATE TABLE syncgen_server_records (
    model TEXT NOT NULL,
    id TEXT NOT NULL,
    version BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    deleted_at TEXT NOT NULL DEFAULT '',
    data TEXT NOT NULL,
    PRIMARY KEY (model, id)
);
CREATE INDEX syncgen_server_records_seq ON syncgen_server_records (model, seq);

-- Counters: 'seq', the last sequence number given; 'horizon:<model>', the largest seq of a
-- tombstone purged from that model, below which cursors get 410.
CREATE TABLE syncgen_server_counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO syncgen_server_counters (name, value) VALUES ('seq', 0);

-- Idempotency keys: the first answer to each key, stored in the write's transaction.
-- hash covers the method, the model, the id, If-Match and the body, so the same key with
-- another request is told apart.
CREATE TABLE syncgen_server_keys (
    key TEXT PRIMARY KEY,
    hash TEXT NOT NULL,
    status INTEGER NOT NULL,
    answer TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX syncgen_server_keys_created ON syncgen_server_keys (created_at);

-- +goose Down
DROP TABLE syncgen_server_keys;
DROP TABLE syncgen_server_counters;
DROP TABLE syncgen_server_records;
