package runtime

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// The outbox: one row per queued write in syncgen_outbox, per record and in order. These
// functions run inside the transaction of the write that queues, or of the push step that
// changes an entry, so an entry and the data it describes always commit together.

const (
	opPut    = "put"
	opDelete = "delete"
)

// entry is one queued write.
type entry struct {
	Seq       int64          `db:"seq"`
	Table     string         `db:"model"`
	ID        string         `db:"record_id"`
	Op        string         `db:"op"`
	Body      sql.NullString `db:"body"`
	IfMatch   string         `db:"if_match"`
	Attempts  int            `db:"attempts"`
	Conflicts int            `db:"conflicts"`
	NextAt    string         `db:"next_at"`
	HoldUntil string         `db:"hold_until"`
	WaitedAt  string         `db:"waited_at"`
	Fields    sql.NullString `db:"fields"` // the changed keys, a JSON array, fixed with the body
}

// frozen reports whether the entry has been sent: its body and key never change again.
func (e entry) frozen() bool { return e.Attempts > 0 }

const entryColumns = "seq, model, record_id, op, body, if_match, attempts, conflicts, next_at, hold_until, waited_at, fields"

// recordState is what the sync machinery knows of one record besides its row.
type recordState struct {
	base      []byte // what the remote last acknowledged or sent; nil: the remote lacks it
	rowBase   bool   // the base is stored as the row (rowbase.go); statesOf leaves base nil
	version   string
	syncedAt  string
	deletedAt string // a local delete of a model without deletedAt
	pending   int    // queued writes, dead letters not counted
	dead      int    // dead letters
}

func (s recordState) hasWrites() bool { return s.pending+s.dead > 0 }

// stateOf reads a sync state of m's record with q: the writer in a transaction, or a
// reader.
func stateOf(ctx context.Context, q queryer, m syncModel, id string) (recordState, error) {
	var st recordState
	var base sql.NullString
	table := m.schema().Table
	err := q.QueryRowxContext(ctx, `SELECT base, version, synced_at, deleted_at FROM syncgen_records
		WHERE model = ? AND record_id = ?`, table, id).Scan(&base, &st.version, &st.syncedAt, &st.deletedAt)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return st, fmt.Errorf("read sync state: %w", err)
	}
	st.rowBase = base.Valid && base.String == rowBase
	switch {
	case st.rowBase:
		if st.base, err = m.rowBase(ctx, q, id); err != nil {
			return st, err
		}
	case base.Valid:
		st.base = []byte(base.String)
	}
	err = q.QueryRowxContext(ctx, `SELECT COUNT(*) - COALESCE(SUM(dead), 0), COALESCE(SUM(dead), 0)
		FROM syncgen_outbox WHERE model = ? AND record_id = ?`, table, id).Scan(&st.pending, &st.dead)
	if err != nil {
		return st, fmt.Errorf("read outbox: %w", err)
	}
	return st, nil
}

// idList is ids as a JSON array, for a query's `IN (SELECT value FROM json_each(?))`.
func idList(ids []string) string {
	b, _ := json.Marshal(ids) // strings always encode
	return string(b)
}

// statesOf is stateOf for many records (list: their idList), in two queries; a record the
// machinery knows nothing of is absent from the map (its zero state). A base stored as
// the row is left to the caller, who reads the rows: rowBase set, base nil.
func statesOf(ctx context.Context, q queryer, table, list string) (map[string]recordState, error) {
	states := make(map[string]recordState)
	rows, err := q.QueryxContext(ctx, `SELECT record_id, base, version, synced_at, deleted_at FROM syncgen_records
		WHERE model = ? AND record_id IN (SELECT value FROM json_each(?))`, table, list)
	if err != nil {
		return nil, fmt.Errorf("read sync state: %w", err)
	}
	for rows.Next() {
		var id string
		var st recordState
		var base sql.NullString
		if err := rows.Scan(&id, &base, &st.version, &st.syncedAt, &st.deletedAt); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read sync state: %w", err)
		}
		st.rowBase = base.Valid && base.String == rowBase
		if base.Valid && !st.rowBase {
			st.base = []byte(base.String)
		}
		states[id] = st
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("read sync state: %w", err)
	}
	rows, err = q.QueryxContext(ctx, `SELECT record_id, COUNT(*) - SUM(dead), SUM(dead) FROM syncgen_outbox
		WHERE model = ? AND record_id IN (SELECT value FROM json_each(?)) GROUP BY record_id`, table, list)
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var pending, dead int
		if err := rows.Scan(&id, &pending, &dead); err != nil {
			return nil, fmt.Errorf("read outbox: %w", err)
		}
		st := states[id]
		st.pending, st.dead = pending, dead
		states[id] = st
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	return states, nil
}

func (tx *Tx) state(ctx context.Context, table, id string) (recordState, error) {
	return stateOf(ctx, tx.q, tx.repo.byTable[table], id)
}

// setBase records what the remote holds of a record now (nil: nothing).
func (tx *Tx) setBase(ctx context.Context, table, id string, base []byte, version string) error {
	var b any
	if base != nil {
		if string(base) == rowBase {
			return fmt.Errorf("record sync state: an empty base") // the callers' JSON never is
		}
		b = string(base)
	}
	_, err := tx.q.ExecContext(ctx, `INSERT INTO syncgen_records (model, record_id, base, version, synced_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (model, record_id)
		DO UPDATE SET base = excluded.base, version = excluded.version, synced_at = excluded.synced_at`,
		table, id, b, version, tx.repo.clock.markString())
	if err != nil {
		return fmt.Errorf("record sync state: %w", err)
	}
	return nil
}

// setDeleted keeps a local delete's time, for a model without deletedAt.
func (tx *Tx) setDeleted(ctx context.Context, table, id, at string) error {
	_, err := tx.q.ExecContext(ctx, `INSERT INTO syncgen_records (model, record_id, deleted_at)
		VALUES (?, ?, ?) ON CONFLICT (model, record_id) DO UPDATE SET deleted_at = excluded.deleted_at`,
		table, id, at)
	if err != nil {
		return fmt.Errorf("record delete: %w", err)
	}
	return nil
}

// forget removes a record's sync state: the remote no longer has it and nothing is queued.
func (tx *Tx) forget(ctx context.Context, table, id string) error {
	_, err := tx.q.ExecContext(ctx, `DELETE FROM syncgen_records WHERE model = ? AND record_id = ?`, table, id)
	return err
}

// enqueue queues a write of a record. The record's last entry, when it has never been
// sent, absorbs the write instead: a create followed by a delete of a record the remote
// never had leaves nothing to send.
func (tx *Tx) enqueue(ctx context.Context, table, id, op string) error {
	if tx.repo.remote == nil {
		return nil
	}
	tx.queued = true
	var last struct {
		Seq      int64
		Op       string
		Attempts int
		Dead     bool
	}
	err := tx.q.QueryRowxContext(ctx, `SELECT seq, op, attempts, dead FROM syncgen_outbox
		WHERE model = ? AND record_id = ? ORDER BY seq DESC LIMIT 1`, table, id).Scan(&last.Seq, &last.Op, &last.Attempts, &last.Dead)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return fmt.Errorf("queue write: %w", err)
	case last.Attempts == 0 && !last.Dead && last.Op == op:
		return nil // the queued write sends the record's state when it goes
	case last.Attempts == 0 && !last.Dead:
		if op == opDelete {
			st, err := tx.state(ctx, table, id)
			if err != nil {
				return err
			}
			if st.base == nil && st.pending+st.dead == 1 { // created and deleted before the remote heard of it
				_, err = tx.q.ExecContext(ctx, `DELETE FROM syncgen_outbox WHERE seq = ?`, last.Seq)
				return err
			}
		}
		_, err = tx.q.ExecContext(ctx, `UPDATE syncgen_outbox SET op = ? WHERE seq = ?`, op, last.Seq)
		return err
	}
	_, err = tx.q.ExecContext(ctx, `INSERT INTO syncgen_outbox (model, record_id, op, created_at)
		VALUES (?, ?, ?, ?)`, table, id, op, tx.repo.clock.wallString())
	if err != nil {
		return fmt.Errorf("queue write: %w", err)
	}
	return nil
}

// enqueueMany is enqueue for many records, ops[i] for ids[i]: one query reads their last
// entries and one statement queues the new ones. A record named twice takes enqueue's
// path, record by record.
func (tx *Tx) enqueueMany(ctx context.Context, table string, ids, ops []string) error {
	if tx.repo.remote == nil || len(ids) == 0 {
		return nil
	}
	one := func() error {
		for i, id := range ids {
			if err := tx.enqueue(ctx, table, id, ops[i]); err != nil {
				return fmt.Errorf("%q: %w", id, err)
			}
		}
		return nil
	}
	if len(ids) == 1 {
		return one()
	}
	type last struct {
		op       string
		attempts int
		dead     bool
	}
	lasts := make(map[string]*last, len(ids))
	for _, id := range ids {
		if lasts[id] != nil {
			return one()
		}
		lasts[id] = &last{attempts: -1} // none
	}
	tx.queued = true
	// With one max(), SQLite takes the bare columns from the row holding the maximum.
	rows, err := tx.q.QueryxContext(ctx, `SELECT record_id, MAX(seq), op, attempts, dead FROM syncgen_outbox
		WHERE model = ? AND record_id IN (SELECT value FROM json_each(?)) GROUP BY record_id`, table, idList(ids))
	if err != nil {
		return fmt.Errorf("queue write: %w", err)
	}
	for rows.Next() {
		var id string
		var seq int64
		var l last
		if err := rows.Scan(&id, &seq, &l.op, &l.attempts, &l.dead); err != nil {
			rows.Close()
			return fmt.Errorf("queue write: %w", err)
		}
		if p := lasts[id]; p != nil {
			*p = l
		}
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("queue write: %w", err)
	}
	var fresh [][2]string
	for i, id := range ids {
		l := lasts[id]
		switch {
		case l.attempts < 0 || l.attempts > 0 || l.dead:
			fresh = append(fresh, [2]string{id, ops[i]})
		case l.op == ops[i]:
			// the queued write sends the record's state when it goes
		default:
			if err := tx.enqueue(ctx, table, id, ops[i]); err != nil {
				return fmt.Errorf("%q: %w", id, err)
			}
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	rowsJSON, err := json.Marshal(fresh)
	if err != nil {
		return err
	}
	_, err = tx.q.ExecContext(ctx, `INSERT INTO syncgen_outbox (model, record_id, op, created_at)
		SELECT ?, value ->> 0, value ->> 1, ? FROM json_each(?) ORDER BY key`, table, tx.repo.clock.wallString(), string(rowsJSON))
	if err != nil {
		return fmt.Errorf("queue write: %w", err)
	}
	return nil
}

// entry reads one entry; ok is false when it is gone.
func (tx *Tx) entry(ctx context.Context, seq int64) (e entry, ok bool, err error) {
	err = tx.q.QueryRowxContext(ctx, `SELECT `+entryColumns+` FROM syncgen_outbox WHERE seq = ?`, seq).StructScan(&e)
	if errors.Is(err, sql.ErrNoRows) {
		return e, false, nil
	}
	return e, err == nil, err
}

// dropPending removes a record's queued writes, dead letters excepted, and says how many.
func (tx *Tx) dropPending(ctx context.Context, table, id string) (int, error) {
	res, err := tx.q.ExecContext(ctx, `DELETE FROM syncgen_outbox WHERE model = ? AND record_id = ? AND dead = 0`, table, id)
	if err != nil {
		return 0, fmt.Errorf("drop queued writes: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// heads returns the first entry of every record that has queued writes and no dead
// letter in front, in queue order.
func (r *Repo) heads(ctx context.Context) ([]entry, error) {
	var out []entry
	own, args := r.ownTables()
	err := sqlx.SelectContext(ctx, r.db.reader, &out, `SELECT `+entryColumns+` FROM syncgen_outbox o
		WHERE seq = (SELECT MIN(seq) FROM syncgen_outbox WHERE model = o.model AND record_id = o.record_id)
		AND dead = 0 AND `+own+` ORDER BY seq`, args...)
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	return out, nil
}

// clientID returns this database's client id, made on first use and shared by every
// package that uses the database.
func (r *Repo) clientID(ctx context.Context) (string, error) {
	r.mu.Lock()
	id := r.client
	r.mu.Unlock()
	if id != "" {
		return id, nil
	}
	id = r.newClient
	if id == "" {
		id = NewID()
	}
	err := r.Tx(ctx, func(tx *Tx) error {
		if _, err := tx.q.ExecContext(ctx, `INSERT INTO syncgen_meta (key, value) VALUES ('client_id', ?)
			ON CONFLICT (key) DO NOTHING`, id); err != nil {
			return err
		}
		return tx.q.QueryRowxContext(ctx, `SELECT value FROM syncgen_meta WHERE key = 'client_id'`).Scan(&id)
	})
	if err != nil {
		return "", fmt.Errorf("client id: %w", err)
	}
	r.mu.Lock()
	r.client = id
	r.mu.Unlock()
	return id, nil
}

// DeadLetter is a write the remote rejected for good. It holds the record's later writes
// until Retry or Discard.
type DeadLetter struct {
	Seq    int64
	Model  string // the model's Go name
	ID     string
	Op     string // "put" or "delete"
	Status int    // the HTTP status; 0 when the write failed before reaching the server
	Body   string // the server's answer, bounded
	Err    string
	At     time.Time
}

// DeadLetters lists the writes the remote rejected, oldest first.
func (r *Repo) DeadLetters(ctx context.Context) ([]DeadLetter, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	return r.deadLetters(ctx, nil)
}

func (r *Repo) deadLetters(ctx context.Context, seqs []int64) ([]DeadLetter, error) {
	var rows []struct {
		Seq    int64  `db:"seq"`
		Table  string `db:"model"`
		ID     string `db:"record_id"`
		Op     string `db:"op"`
		Status int    `db:"status"`
		Answer string `db:"answer"`
		Err    string `db:"last_error"`
		At     string `db:"dead_at"`
	}
	own, args := r.ownTables()
	query := `SELECT seq, model, record_id, op, status, answer, last_error, dead_at FROM syncgen_outbox WHERE dead = 1 AND ` + own
	if len(seqs) > 0 {
		query += ` AND seq IN (?` + strings.Repeat(", ?", len(seqs)-1) + `)`
		for _, s := range seqs {
			args = append(args, s)
		}
	}
	if err := sqlx.SelectContext(ctx, r.db.reader, &rows, query+` ORDER BY seq`, args...); err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	out := make([]DeadLetter, len(rows))
	for i, row := range rows {
		at, _ := ParseTime(row.At)
		out[i] = DeadLetter{Seq: row.Seq, Model: r.byTable[row.Table].schema().Model, ID: row.ID, Op: row.Op,
			Status: row.Status, Body: row.Answer, Err: row.Err, At: at}
	}
	if len(seqs) > 0 && len(out) < len(seqs) {
		found := map[int64]bool{}
		for _, d := range out {
			found[d.Seq] = true
		}
		var missing []string
		for _, s := range seqs {
			if !found[s] {
				missing = append(missing, strconv.FormatInt(s, 10))
			}
		}
		return nil, fmt.Errorf("dead letters: no dead letter with seq %s", strings.Join(missing, ", "))
	}
	return out, nil
}

// Retry queues dead letters again (every one when no seq is given): each becomes a new
// write, with a new key, of its record's current local state, sent in the next push.
func (r *Repo) Retry(ctx context.Context, seq ...int64) error {
	return r.eachDeadLetter(ctx, "retry", seq, func(d DeadLetter, m syncModel) error {
		return r.Tx(ctx, func(tx *Tx) error {
			if _, err := tx.q.ExecContext(ctx, `DELETE FROM syncgen_outbox WHERE seq = ?`, d.Seq); err != nil {
				return err
			}
			st, err := tx.state(ctx, m.schema().Table, d.ID)
			if err != nil || st.hasWrites() { // writes queued behind it carry the current state
				return err
			}
			op := opDelete
			if live, err := m.live(ctx, tx, d.ID); err != nil {
				return err
			} else if live {
				op = opPut
			}
			return tx.enqueue(ctx, m.schema().Table, d.ID, op)
		})
	})
}

// Discard drops dead letters (every one when no seq is given) with the writes queued
// behind them, reverts each record to the version the remote last acknowledged or sent
// (removing it when the remote never had it), then fetches it from the remote. A failed
// fetch is logged: the next pull brings the record.
func (r *Repo) Discard(ctx context.Context, seq ...int64) error {
	return r.eachDeadLetter(ctx, "discard", seq, func(d DeadLetter, m syncModel) error {
		table := m.schema().Table
		err := r.Tx(ctx, func(tx *Tx) error {
			if _, err := tx.q.ExecContext(ctx, `DELETE FROM syncgen_outbox WHERE model = ? AND record_id = ?`, table, d.ID); err != nil {
				return err
			}
			st, err := tx.state(ctx, table, d.ID)
			if err != nil {
				return err
			}
			return m.revert(ctx, tx, d.ID, st.base)
		})
		if err != nil || r.remote == nil {
			return err
		}
		if err := m.fetch(ctx, d.ID, true); err != nil {
			r.log.Warn("syncgen: discard: fetching the record failed; the next pull brings it", "model", d.Model, "id", d.ID, "err", err)
		}
		return nil
	})
}

// eachDeadLetter runs fn on the dead letters with the given seqs, or on all of them.
func (r *Repo) eachDeadLetter(ctx context.Context, verb string, seqs []int64, fn func(DeadLetter, syncModel) error) error {
	if err := r.check(); err != nil {
		return err
	}
	dead, err := r.deadLetters(ctx, seqs)
	if err != nil {
		return fmt.Errorf("%s: %w", verb, err)
	}
	for _, d := range dead {
		if err := fn(d, r.byModel[d.Model]); err != nil {
			return fmt.Errorf("%s %d: %w", verb, d.Seq, err)
		}
	}
	return nil
}

// marshalFields is a frozen write's changed keys as stored: NULL for the whole record.
func marshalFields(keys []string) any {
	if keys == nil {
		return nil
	}
	b, _ := json.Marshal(keys) // strings always encode
	return string(b)
}

// marshalBody is a frozen body as stored: NULL for a DELETE.
func marshalBody(b json.RawMessage) any {
	if b == nil {
		return nil
	}
	return string(b)
}
