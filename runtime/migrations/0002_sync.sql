-- The sync machinery's state: the outbox, what the remote last acknowledged of each
-- record, and each model's pull cursor. Models are keyed by table name, which is unique
-- in a database even when several generated packages share it.

-- +goose Up
-- One row per queued write, in order. seq is the client's operation sequence: with the
-- client id it makes the write's idempotency key. body, if_match (the version the write
-- expects) and attempts are set when the write is first sent; from then on it is frozen. next_at is the backoff, hold_until a
-- server's Retry-After (which even an explicit Sync honours); waited_at is when they were
-- set, so a clock that went back since ends them. conflicts counts the 409s
-- in a row that led to this write, which backs off like a failure. dead marks a dead
-- letter, which holds the record's later writes until Retry or Discard.
CREATE TABLE syncgen_outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    model TEXT NOT NULL,
    record_id TEXT NOT NULL,
    op TEXT NOT NULL CHECK (op IN ('put', 'delete')),
    body TEXT,
    if_match TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0,
    conflicts INTEGER NOT NULL DEFAULT 0,
    next_at TEXT NOT NULL DEFAULT '',
    hold_until TEXT NOT NULL DEFAULT '',
    waited_at TEXT NOT NULL DEFAULT '',
    last_error TEXT NOT NULL DEFAULT '',
    dead INTEGER NOT NULL DEFAULT 0,
    status INTEGER NOT NULL DEFAULT 0,
    answer TEXT NOT NULL DEFAULT '',
    dead_at TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
CREATE INDEX syncgen_outbox_record ON syncgen_outbox (model, record_id, seq);

-- What the remote last acknowledged or sent of each record (its JSON and version; NULL
-- when the remote does not have it) and when, by the clock's mark (which never goes
-- back); and local deletes of
-- models without deletedAt, kept as tombstones with their time so an older copy from the
-- remote does not bring the record back.
CREATE TABLE syncgen_records (
    model TEXT NOT NULL,
    record_id TEXT NOT NULL,
    base TEXT,
    version TEXT NOT NULL DEFAULT '',
    synced_at TEXT NOT NULL DEFAULT '',
    deleted_at TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (model, record_id)
) WITHOUT ROWID;

-- Each model's pull cursor. It moves in the transaction of a listing's last page, so it
-- never passes data that is not written.
CREATE TABLE syncgen_cursors (
    model TEXT PRIMARY KEY,
    cursor TEXT NOT NULL
) WITHOUT ROWID;

-- +goose Down
DROP TABLE syncgen_cursors;
DROP TABLE syncgen_records;
DROP TABLE syncgen_outbox;
