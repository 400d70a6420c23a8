package runtime

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// Tx is a transaction across models: every write in it, and the outbox entries they
// make, commit together; subscribers hear of them after the commit.
type Tx struct {
	repo    *Repo
	tx      *sqlx.Tx
	q       *preparedTx // tx, each statement prepared once
	touched map[string]bool
	queued  bool    // the transaction queued writes for the remote
	events  []Event // published after the commit
	done    bool
}

// observe moves the clock to a stamp from the remote.
func (t *Tx) observe(at time.Time) {
	if !at.IsZero() {
		t.repo.clock.observe(at)
	}
}

func (t *Tx) touch(table string) { t.touched[table] = true }

func (t *Tx) event(e Event) {
	e.At = t.repo.clock.wall()
	t.events = append(t.events, e)
}

func (t *Tx) check() error {
	if t.done {
		return errors.New("transaction has ended: use it only inside its function")
	}
	return t.repo.check()
}

// preparedTx runs a transaction's statements, each prepared once: the outbox and the
// pulls run the same few statements for every record. Commit and Rollback close them.
type preparedTx struct {
	tx    *sqlx.Tx
	stmts map[string]*sqlx.Stmt
}

func (p *preparedTx) stmt(ctx context.Context, query string) (*sqlx.Stmt, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if st := p.stmts[query]; st != nil {
		return st, nil
	}
	st, err := p.tx.PreparexContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if p.stmts == nil {
		p.stmts = map[string]*sqlx.Stmt{}
	}
	p.stmts[query] = st
	return st, nil
}

// A statement runs with its context's values but not its cancellation: the transaction
// watches ctx already (database/sql rolls it back when ctx ends, failing what follows),
// and go-sqlite3 would start a goroutine per statement to watch it again. A statement
// asked for after ctx ended fails at once.

func (p *preparedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := p.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(context.WithoutCancel(ctx), args...)
}

func (p *preparedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := p.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(context.WithoutCancel(ctx), args...)
}

func (p *preparedTx) QueryxContext(ctx context.Context, query string, args ...any) (*sqlx.Rows, error) {
	st, err := p.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryxContext(context.WithoutCancel(ctx), args...)
}

func (p *preparedTx) QueryRowxContext(ctx context.Context, query string, args ...any) *sqlx.Row {
	st, err := p.stmt(ctx, query)
	if err != nil {
		return p.tx.QueryRowxContext(ctx, query, args...) // reports the same error
	}
	return st.QueryRowxContext(context.WithoutCancel(ctx), args...)
}

func (p *preparedTx) PreparexContext(ctx context.Context, query string) (*sqlx.Stmt, error) {
	return p.stmt(ctx, query)
}

// Tx runs fn in one transaction on the writer. fn's error rolls everything back. Use only
// the Tx inside fn: the repository's own methods would wait for the writer fn holds.
func (r *Repo) Tx(ctx context.Context, fn func(*Tx) error) error {
	return r.tx(ctx, nil, fn)
}

// tx is Tx adding the transaction's events to rep after the commit.
func (r *Repo) tx(ctx context.Context, rep *SyncReport, fn func(*Tx) error) error {
	if err := r.check(); err != nil {
		return err
	}
	sqltx, err := r.db.writer.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	tx := &Tx{repo: r, tx: sqltx, q: &preparedTx{tx: sqltx}, touched: map[string]bool{}}
	committed := false
	defer func() {
		tx.done = true
		if !committed {
			sqltx.Rollback() // also when fn panics: the writer must not stay taken
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	// The clock's mark (the newest stamp given or seen) commits with the data it stamped,
	// so a restart never stamps behind it, whatever the device's clock says then.
	mark, saved := r.clock.marks()
	if mark.After(saved) {
		if _, err := tx.q.ExecContext(ctx, `INSERT INTO syncgen_meta (key, value) VALUES ('clock', ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value WHERE excluded.value > value`, formatWall(mark)); err != nil {
			return fmt.Errorf("save the clock: %w", err)
		}
	}
	if err := sqltx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	committed = true
	r.clock.setSaved(mark)
	r.changed(tx.touched)
	r.publish(rep, tx.events)
	if tx.queued {
		select {
		case r.kick <- struct{}{}:
		default:
		}
		r.broadcast()
	}
	return nil
}
