package server

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"

	"github.com/jmoiron/sqlx"
)

// The change feed's order and its safe head.
//
// On SQLite every write takes the next value of the 'seq' counter first and holds the
// database's one write lock to its commit, so seqs are given in commit order and the
// newest committed seq is the feed's head.
//
// On PostgreSQL one counter row would serialize every writer and every commit's WAL
// flush (docs/DEPLOY.md). A write's seq is made from its transaction's id instead:
// (xid + offset) << seqOpBits | op, op counting the writes of the transaction (a batch
// has several). Writers of one record or one idempotency key take transaction advisory
// locks on them before their xid exists (lockWrites), so a record's later versions get
// larger seqs. The feed serves only rows whose seq is below that of the oldest
// transaction still in flight (pg_snapshot_xmin): every transaction below it has
// committed or rolled back, and every transaction yet to write gets a larger xid, so a
// cursor never passes a write that can still appear. The feed is thereby ordered by
// transaction id, not by commit: a transaction that took its id first and commits last
// holds the head back until it ends, and is then served after the cursor, not skipped.

// seqOpBits is how many of a seq's low bits count the writes of one transaction: at
// most 1024 (a batch holds at most wire.MaxBatchOps). The 53 bits left hold 9·10^15
// transaction ids.
const seqOpBits = 10

// counterXidOffset names the counter added to PostgreSQL's transaction ids to make seqs:
// 0 on a new database; more on one restored into a cluster whose transaction ids
// restarted below the seqs already stored (postgresSeqSetup).
const counterXidOffset = "xid offset"

// counterSeqBeforeXid is the SQLite-style 'seq' counter of a PostgreSQL database once
// its seqs come from transaction ids: renamed, so that a server of an earlier syncgen
// still running on the database fails its writes instead of giving seqs the feed would
// skip.
const counterSeqBeforeXid = "seq before xid"

// postgresSeqLock is the advisory lock postgresSeqSetup holds: "syncseq".
const postgresSeqLock int64 = 0x73796e63736571

// postgres reports whether the server's database is PostgreSQL (or speaks its SQL).
func (s *Server) postgres() bool { return sqlx.BindType(s.db.Writer().DriverName()) == sqlx.DOLLAR }

// seqs gives the seqs of one write transaction.
type seqs struct {
	s    *Server
	tx   *sqlx.Tx
	base int64 // PostgreSQL: (xid + offset) << seqOpBits, once read
	n    int64 // PostgreSQL: seqs given so far
}

// next returns the seq of the transaction's next write. On SQLite it takes the counter
// row's lock, which the database's single writer holds anyway.
func (q *seqs) next(ctx context.Context) (int64, error) {
	if !q.s.postgres() {
		var seq int64
		err := q.tx.QueryRowxContext(ctx, `UPDATE syncgen_server_counters SET value = value + 1 WHERE name = 'seq' RETURNING value`).Scan(&seq)
		return seq, err
	}
	if q.base == 0 {
		return 0, errors.New("seq before the transaction's locks: lockWrites reads the base")
	}
	if q.n >= 1<<seqOpBits {
		return 0, fmt.Errorf("more than %d writes in one transaction", 1<<seqOpBits)
	}
	q.n++
	return q.base | (q.n - 1), nil
}

// feedHead returns, inside the feed's read transaction, the model's horizon (the
// largest purged seq) and the feed's head: the largest seq below which no write can
// still commit.
func (s *Server) feedHead(ctx context.Context, tx *sqlx.Tx, m *Model) (horizon, head int64, err error) {
	if !s.postgres() {
		err = tx.QueryRowxContext(ctx, s.q(`SELECT
			COALESCE(MAX(CASE WHEN name = ? THEN value END), 0), COALESCE(MAX(CASE WHEN name = 'seq' THEN value END), 0)
			FROM syncgen_server_counters`), "horizon:"+m.schema.Table).Scan(&horizon, &head)
		return horizon, head, err
	}
	err = tx.QueryRowxContext(ctx, `SELECT
		COALESCE(MAX(CASE WHEN name = $1 THEN value END), 0),
		((pg_snapshot_xmin(pg_current_snapshot())::text::bigint + COALESCE(MAX(CASE WHEN name = $2 THEN value END), 0)) << $3) - 1
		FROM syncgen_server_counters`, "horizon:"+m.schema.Table, counterXidOffset, seqOpBits).Scan(&horizon, &head)
	return horizon, head, err
}

// lockWrites takes, on PostgreSQL, a transaction advisory lock on every record and
// idempotency key the writes touch, in one order for every transaction (so two batches
// never deadlock), before any seq is given. Writers of one key then run one after the
// other: the second waits and replays the first's stored answer; writers of one record
// read it and write it in turn, and the later gets the larger seq. Unrelated writes run
// concurrently; a collision of two hashes only makes two of them wait for each other.
// It reads the base of the transaction's seqs into seqs.
func (s *Server) lockWrites(ctx context.Context, tx *sqlx.Tx, qs []writeReq, seqs *seqs) error {
	if !s.postgres() {
		return nil
	}
	err := tx.QueryRowxContext(ctx, lockWritesSQL, writeLocks(User(ctx), qs), seqOpBits, counterXidOffset).Scan(&seqs.base)
	if err != nil {
		return fmt.Errorf("lock the records and keys: %w", err)
	}
	return nil
}

// lockWritesSQL takes the advisory locks of writeLocks and returns the base of the
// transaction's seqs. unnest yields the array in order, and the aggregate takes the locks
// in that order. The join needs the aggregate's row, so the xid is assigned after the
// locks.
const lockWritesSQL = `WITH locked AS (SELECT count(pg_advisory_xact_lock(k)) AS n FROM unnest($1::bigint[]) AS k)
		SELECT (pg_current_xact_id()::text::bigint + c.value) << $2 FROM locked, syncgen_server_counters c
		WHERE c.name = $3 AND locked.n >= 0`

// writeLocks returns the advisory lock keys of the records and idempotency keys of qs,
// sorted, without duplicates.
func writeLocks(owner string, qs []writeReq) []int64 {
	keys := make([]int64, 0, 2*len(qs))
	hash := func(parts ...string) int64 {
		h := fnv.New64a()
		for _, p := range parts {
			h.Write([]byte(p))
			h.Write([]byte{0})
		}
		return int64(h.Sum64())
	}
	for _, q := range qs {
		keys = append(keys, hash("syncgen record", q.model.schema.Table, q.id))
		if q.key != "" {
			keys = append(keys, hash("syncgen key", owner, q.key))
		}
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// postgresSeqSetup prepares a PostgreSQL database for seqs from transaction ids, once
// per server start, under an advisory lock: the offset is set (0 on a new database) or
// raised so that new seqs come after every seq stored, which matters when a database
// was restored into a new cluster whose transaction ids restarted; and the 'seq'
// counter of the earlier scheme is renamed, so that servers of an earlier syncgen fail
// their writes rather than give seqs the feed would skip.
func (s *Server) postgresSeqSetup(ctx context.Context) error {
	tx, err := s.db.Writer().BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, postgresSeqLock); err != nil {
		return err
	}
	// The largest seq stored or handed out, from the counters and each model's index.
	var top int64
	if err := tx.QueryRowxContext(ctx, `SELECT COALESCE(MAX(value), 0) FROM syncgen_server_counters WHERE name <> $1`,
		counterXidOffset).Scan(&top); err != nil {
		return err
	}
	for _, m := range s.models {
		var t sql.NullInt64
		if err := tx.QueryRowxContext(ctx, `SELECT MAX(seq) FROM syncgen_server_records WHERE model = $1`, m.schema.Table).Scan(&t); err != nil {
			return err
		}
		top = max(top, t.Int64)
	}
	var offset, xid int64
	err = tx.QueryRowxContext(ctx, `SELECT value FROM syncgen_server_counters WHERE name = $1`, counterXidOffset).Scan(&offset)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if err := tx.QueryRowxContext(ctx, `SELECT pg_current_xact_id()::text::bigint`).Scan(&xid); err != nil {
		return err
	}
	if (xid+offset)<<seqOpBits <= top {
		offset = top>>seqOpBits + 1 - xid
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO syncgen_server_counters (name, value) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, counterXidOffset, offset); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM syncgen_server_counters WHERE name = $1 AND EXISTS
		(SELECT 1 FROM syncgen_server_counters WHERE name = 'seq')`, counterSeqBeforeXid); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE syncgen_server_counters SET name = $1 WHERE name = 'seq'`, counterSeqBeforeXid); err != nil {
		return err
	}
	return tx.Commit()
}
