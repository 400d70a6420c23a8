package server

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/http"

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

// writePipelined is writeAll for one write on PostgreSQL, in two round trips.
func (s *Server) writePipelined(ctx context.Context, q writeReq) ([]written, error) {
	c, err := s.db.Writer().Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var out []written
	var changed *change
	err = c.Raw(func(dc any) (err error) {
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
		out, changed, err = s.pipeline(ctx, conn, q)
		done = err == nil && conn.PgConn().TxStatus() == 'I'
		return err
	})
	if errors.Is(err, driver.ErrBadConn) && out != nil {
		err = nil // answered, and the connection, whose rollback failed, is discarded
	}
	if err != nil {
		return nil, err
	}
	if changed != nil {
		s.announce([]change{*changed})
		s.publish([]change{*changed})
	}
	return out, nil
}

// pipeline runs the write in conn's transaction and commits it, unless writeIn failed.
func (s *Server) pipeline(ctx context.Context, conn *pgx.Conn, q writeReq) ([]written, *change, error) {
	owner := User(ctx)
	p := &pgPipeline{owner: owner, key: q.key, table: q.model.schema.Table, id: q.id}
	seqs := &seqs{s: s}
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(lockWritesSQL, writeLocks(owner, []writeReq{q}), seqOpBits, counterXidOffset)
	if q.key != "" {
		b.Queue(s.q(storedKeySQL), owner, q.key)
	}
	b.Queue(s.q(`SELECT `+rowColumns+` FROM syncgen_server_records WHERE model = ? AND id = ?`), p.table, p.id)
	br := conn.SendBatch(ctx, b)
	err := func() error {
		if _, err := br.Exec(); err != nil {
			return err
		}
		if err := br.QueryRow().Scan(&seqs.base); err != nil {
			return fmt.Errorf("lock the records and keys: %w", err)
		}
		if q.key != "" {
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
		return nil
	}()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, nil, err
	}

	var ch *change
	status, answer, err := s.writeIn(ctx, p, seqs, q, &ch)
	if err != nil {
		return []written{{http.StatusInternalServerError, s.internal(ctx, "write", err)}}, nil, nil
	}
	n := p.writes.Len()
	p.writes.Queue("COMMIT")
	br = conn.SendBatch(ctx, &p.writes)
	for range n {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return []written{{http.StatusInternalServerError, s.internal(ctx, "write", err)}}, nil, nil
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
	return []written{{status, answer}}, ch, nil
}
