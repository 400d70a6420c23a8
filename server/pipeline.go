package server

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/jmoiron/sqlx"
	"github.com/syncgen/syncgen/wire"
)

// A write's transaction, as writeIn and apply see it: the reads of its idempotency key
// and its record, and the statements that store them.
//
// On SQLite, and for a batch on PostgreSQL, it is a database/sql transaction (sqlTx): each
// statement one round trip. A single write on PostgreSQL runs in two round trips through
// pgx's pipeline (pgPipeline): BEGIN, the advisory locks with the seq base, the key
// lookup and the record read go together, and the upsert, the key insert and COMMIT go
// together. Each statement of a pipeline is run after the one before it has finished,
// with its own snapshot (READ COMMITTED), so the reads see what the previous holder of
// the locks committed, as they do when sent one by one; the guarantees of lockWrites and
// seq.go are unchanged. Round trips, not PostgreSQL's work, were what a write waited on
// (docs/DEPLOY.md): seven a write before, against raw's one.

// storedKey is an idempotency key's stored answer.
type storedKey struct {
	Hash   string `db:"hash"`
	Status int    `db:"status"`
	Answer string `db:"answer"`
}

// writeTx is the transaction writeIn and apply run in.
type writeTx interface {
	// storedKey returns the key's stored answer, or sql.ErrNoRows.
	storedKey(ctx context.Context, owner, key string) (storedKey, error)
	// current returns the stored record, or nil.
	current(ctx context.Context, m *Model, id string) (*storedRow, error)
	// ExecContext runs a write statement; a pipeline sends it with COMMIT, and its
	// Result tells nothing.
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// sqlTx is a write's database/sql transaction.
type sqlTx struct {
	*sqlx.Tx
	s *Server
}

const storedKeySQL = `SELECT hash, status, answer FROM syncgen_server_keys WHERE owner = ? AND key = ?`

func (t sqlTx) storedKey(ctx context.Context, owner, key string) (storedKey, error) {
	var k storedKey
	err := t.QueryRowxContext(ctx, t.s.q(storedKeySQL), owner, key).StructScan(&k)
	return k, err
}

func (t sqlTx) current(ctx context.Context, m *Model, id string) (*storedRow, error) {
	return t.s.row(ctx, t.Tx, m, id)
}

// storedKeyPG and currentPG are the reads of a single write on PostgreSQL.
var (
	storedKeyPG = sqlx.Rebind(sqlx.DOLLAR, storedKeySQL)
	currentPG   = `SELECT ` + rowColumns + ` FROM syncgen_server_records WHERE model = $1 AND id = $2`
)

// pgPipeline is a single PostgreSQL write's transaction on a pgx connection: the key and
// the record were read with the locks; the writes wait for COMMIT.
type pgPipeline struct {
	owner, key string
	table, id  string
	stored     *storedKey // nil: no answer stored under the key
	cur        *storedRow
	writes     pgx.Batch
}

func (p *pgPipeline) storedKey(_ context.Context, owner, key string) (storedKey, error) {
	if owner != p.owner || key != p.key {
		return storedKey{}, fmt.Errorf("pipeline: key %q of %q was not read", key, owner)
	}
	if p.stored == nil {
		return storedKey{}, sql.ErrNoRows
	}
	return *p.stored, nil
}

func (p *pgPipeline) current(_ context.Context, m *Model, id string) (*storedRow, error) {
	if m.schema.Table != p.table || id != p.id {
		return nil, fmt.Errorf("pipeline: record %s/%s was not read", m.schema.Table, id)
	}
	if p.cur == nil {
		return nil, nil
	}
	row := *p.cur
	return &row, nil
}

func (p *pgPipeline) ExecContext(_ context.Context, query string, args ...any) (sql.Result, error) {
	p.writes.Queue(query, args...)
	return driver.RowsAffected(0), nil
}

// pipelined reports whether q runs as a pipeline: on PostgreSQL through pgx, and only a
// write whose id and key may reach the database (writeIn answers the others 400 before
// they do).
func (s *Server) pipelined(q writeReq) bool {
	if !s.postgres() || wire.CheckID(q.id) != nil || q.key != "" && wire.CheckKey(q.key) != nil {
		return false
	}
	_, ok := s.db.Writer().Driver().(*stdlib.Driver)
	return ok
}

// Single writes on PostgreSQL in groups. A write waits for one of maxGroups slots; the
// first of the waiting writes that gets one takes the others that are waiting (up to
// maxGroup, none of them sharing a record or an idempotency key with another) and runs
// them in one transaction on a connection of the pool, as a batch is run: their locks in one statement, their reads
// in the first round trip, each decided on its own, their statements and one COMMIT in
// the second. Under load a write then costs a fraction of the round trips, statements
// and WAL flushes; a write that finds a slot free runs alone, as before. The
// guarantees are a batch's: the locks of all writes are taken before any seq is given,
// each write's reads come after its locks, and no two writes of a group touch one record
// or key, so none reads what another of its group wrote. A write that fails in Go is
// answered alone and its statements left out; when the database fails the group's
// transaction, each write runs again alone, which its idempotency key makes safe if the
// COMMIT's outcome was unknown (only writes with a key are grouped).

// maxGroup is the most single writes one transaction takes.
const maxGroup = 64

// maxGroups is the most groups running at once. Fewer than the pool's connections: a
// write that finds every slot taken waits and joins a group, which costs less than a
// transaction of its own (docs/DEPLOY.md); and the pool keeps connections for reads and
// batches.
const maxGroups = 4

// pgWrite is a single write on PostgreSQL waiting for a slot, or in a group.
type pgWrite struct {
	ctx   context.Context
	q     writeReq
	locks []int64
	taken bool // a group took it: done is closed once out and err are set
	done  chan struct{}
	out   []written
	err   error
}

// pgWaiting is the single writes waiting to run, and the groups running.
type pgWaiting struct {
	mu     sync.Mutex
	writes []*pgWrite
	groups chan struct{} // a slot for each group running, at most maxGroups
}

// writePipelined is writeAll for one write on PostgreSQL: in a group, which this write
// runs if it gets a slot before another group took it. A write without an idempotency
// key runs alone.
func (s *Server) writePipelined(ctx context.Context, q writeReq) ([]written, error) {
	if q.key == "" {
		return s.writeGroup(ctx, []*pgWrite{{ctx: ctx, q: q}})
	}
	w := &pgWrite{ctx: ctx, q: q, locks: writeLocks(User(ctx), []writeReq{q}), done: make(chan struct{})}
	s.waiting.mu.Lock()
	s.waiting.writes = append(s.waiting.writes, w)
	s.waiting.mu.Unlock()
	var err error
	slot := false
	select {
	case s.waiting.groups <- struct{}{}:
		slot = true
	case <-w.done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	s.waiting.mu.Lock()
	if w.taken {
		s.waiting.mu.Unlock()
		if slot { // taken by another group meanwhile
			<-s.waiting.groups
		}
		<-w.done
		if errors.Is(w.err, errGroupFailed) {
			return s.writeGroup(ctx, []*pgWrite{w})
		}
		return w.out, w.err
	}
	if err != nil {
		s.waiting.writes = slices.DeleteFunc(s.waiting.writes, func(o *pgWrite) bool { return o == w })
		s.waiting.mu.Unlock()
		return nil, err
	}
	group := s.takeGroup(w)
	s.waiting.mu.Unlock()
	gctx := ctx
	if len(group) > 1 { // the others' writes do not end when this write's client hangs up
		gctx = context.WithoutCancel(ctx)
	}
	out, err := s.writeGroup(gctx, group)
	<-s.waiting.groups
	for i, o := range group[1:] {
		switch {
		case err != nil:
			o.err = errGroupFailed
		default:
			o.out = out[i+1 : i+2]
		}
		close(o.done)
	}
	switch {
	case err != nil && len(group) > 1:
		return s.writeGroup(ctx, []*pgWrite{w})
	case err != nil:
		return nil, err
	}
	return out[:1], nil
}

// errGroupFailed tells the writes of a group the database failed that they run again
// alone: nothing of it is known to be stored.
var errGroupFailed = errors.New("the group's transaction failed")

// takeGroup takes w and the writes waiting after it that share no lock with the ones taken
// before, up to maxGroup, off the waiting list. s.waiting.mu is held.
func (s *Server) takeGroup(w *pgWrite) []*pgWrite {
	group := []*pgWrite{w}
	locked := map[int64]bool{}
	for _, k := range w.locks {
		locked[k] = true
	}
	rest := s.waiting.writes[:0]
	for _, o := range s.waiting.writes {
		switch {
		case o == w:
			continue
		case len(group) < maxGroup && !slices.ContainsFunc(o.locks, func(k int64) bool { return locked[k] }):
			for _, k := range o.locks {
				locked[k] = true
			}
			o.taken = true
			group = append(group, o)
		default:
			rest = append(rest, o)
		}
	}
	clear(s.waiting.writes[len(rest):])
	s.waiting.writes = rest
	return group
}

// writeGroup runs the writes of group on a connection of its own.
func (s *Server) writeGroup(ctx context.Context, group []*pgWrite) ([]written, error) {
	c, err := s.db.Writer().Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return s.runGroup(ctx, c, group)
}

// runGroup runs the writes of group in one transaction on c, in two round trips, and
// returns their answers in order. An error says none was stored, or, for a failed
// COMMIT, that it is not known whether all were.
func (s *Server) runGroup(ctx context.Context, c *sql.Conn, group []*pgWrite) ([]written, error) {
	var out []written
	var changed []change
	err := c.Raw(func(dc any) (err error) {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("pipeline: a %T is not a pgx connection", dc)
		}
		conn := sc.Conn()
		done := false
		defer func() {
			if done {
				return
			}
			// Ended either way: rolled back, or the connection is closed, which ends it.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), postgresPingTimeout)
			defer cancel()
			if _, rerr := conn.Exec(rctx, "ROLLBACK"); rerr != nil && err == nil {
				err = driver.ErrBadConn
			}
		}()
		out, changed, err = s.pipeline(ctx, conn, group)
		done = err == nil && conn.PgConn().TxStatus() == 'I'
		return err
	})
	if errors.Is(err, driver.ErrBadConn) && out != nil {
		err = nil // answered, and the connection, whose rollback failed, is discarded
	}
	if err != nil {
		return nil, err
	}
	s.announce(changed)
	s.publish(changed)
	return out, nil
}

// pipeline runs the writes of group in conn's transaction and commits those writeIn did
// not fail.
func (s *Server) pipeline(ctx context.Context, conn *pgx.Conn, group []*pgWrite) ([]written, []change, error) {
	qs := make([]writeReq, len(group))
	ps := make([]*pgPipeline, len(group))
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	for i, w := range group {
		qs[i] = w.q
		ps[i] = &pgPipeline{owner: User(w.ctx), key: w.q.key, table: w.q.model.schema.Table, id: w.q.id}
	}
	// The locks of every write before any read: a read must see what the previous holder
	// of its record's lock committed.
	b.Queue(lockWritesSQL, groupLocks(group), seqOpBits, counterXidOffset)
	for _, p := range ps {
		if p.key != "" {
			b.Queue(storedKeyPG, p.owner, p.key)
		}
		b.Queue(currentPG, p.table, p.id)
	}
	seqs := &seqs{s: s}
	br := conn.SendBatch(ctx, b)
	err := func() error {
		if _, err := br.Exec(); err != nil {
			return err
		}
		if err := br.QueryRow().Scan(&seqs.base); err != nil {
			return fmt.Errorf("lock the records and keys: %w", err)
		}
		for _, p := range ps {
			if p.key != "" {
				var k storedKey
				switch err := br.QueryRow().Scan(&k.Hash, &k.Status, &k.Answer); {
				case err == nil:
					p.stored = &k
				case !errors.Is(err, pgx.ErrNoRows):
					return err
				}
			}
			var row storedRow
			var deleted int64
			switch err := br.QueryRow().Scan(&row.ID, &row.Version, &row.Seq, &row.UpdatedAt, &deleted, &row.DeletedAt, &row.Data, &row.Scope); {
			case err == nil:
				row.Deleted = deleted != 0
				p.cur = &row
			case !errors.Is(err, pgx.ErrNoRows):
				return err
			}
		}
		return nil
	}()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, nil, err
	}

	out := make([]written, len(group))
	var changed []change
	writes := &pgx.Batch{}
	for i, p := range ps {
		var ch *change
		given := seqs.n
		status, answer, err := s.writeIn(group[i].ctx, p, seqs, qs[i], &ch)
		if err != nil { // this write's statements stay out, and its seq is given back
			seqs.n = given
			out[i] = written{http.StatusInternalServerError, s.internal(group[i].ctx, "write", err)}
			continue
		}
		out[i] = written{status, answer}
		writes.QueuedQueries = append(writes.QueuedQueries, p.writes.QueuedQueries...)
		if ch != nil {
			changed = append(changed, *ch)
		}
	}
	n := writes.Len()
	writes.Queue("COMMIT")
	br = conn.SendBatch(ctx, writes)
	for range n {
		if _, err := br.Exec(); err != nil {
			br.Close()
			if len(group) > 1 { // which write failed is not known: each runs again alone
				return nil, nil, err
			}
			return []written{{http.StatusInternalServerError, s.internal(group[0].ctx, "write", err)}}, nil, nil
		}
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err == nil && tag.String() != "COMMIT" {
		err = fmt.Errorf("commit: the transaction was rolled back (%s)", tag)
	}
	if err != nil {
		return nil, nil, err
	}
	return out, changed, nil
}

// groupLocks is writeLocks of a group's writes, each with its own user.
func groupLocks(group []*pgWrite) []int64 {
	var keys []int64
	for _, w := range group {
		if w.locks == nil {
			w.locks = writeLocks(User(w.ctx), []writeReq{w.q})
		}
		keys = append(keys, w.locks...)
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}
