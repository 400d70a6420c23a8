-- Idempotency keys belong to the user who sent them (the authentication hook's user, ""
-- without one): the same key from another user is another key, so nobody can take a
-- user's key first and turn that user's write into a 422.

-- +goose Up
CREATE TABLE syncgen_server_keys_by_owner (
    owner TEXT NOT NULL,
    key TEXT NOT NULL,
    hash TEXT NOT NULL,
    status INTEGER NOT NULL,
    answer TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (owner, key)
);
-- Keys stored before this migration belong to no user: without authentication they go on
-- replaying; with it, a late replay is judged afresh, which the protocol makes safe.
INSERT INTO syncgen_server_keys_by_owner (owner, key, hash, status, answer, created_at)
    SELECT '', key, hash, status, answer, created_at FROM syncgen_server_keys;
DROP TABLE syncgen_server_keys;
ALTER TABLE syncgen_server_keys_by_owner RENAME TO syncgen_server_keys;
CREATE INDEX syncgen_server_keys_created_at ON syncgen_server_keys (created_at);

-- +goose Down
CREATE TABLE syncgen_server_keys_global (
    key TEXT PRIMARY KEY,
    hash TEXT NOT NULL,
    status INTEGER NOT NULL,
    answer TEXT NOT NULL,
    created_at TEXT NOT NULL
);
INSERT INTO syncgen_server_keys_global (key, hash, status, answer, created_at)
    SELECT key, MIN(hash), MIN(status), MIN(answer), MIN(created_at) FROM syncgen_server_keys GROUP BY key;
DROP TABLE syncgen_server_keys;
ALTER TABLE syncgen_server_keys_global RENAME TO syncgen_server_keys;
CREATE INDEX syncgen_server_keys_created ON syncgen_server_keys (created_at);
