package runtime

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
)

// ErrNotFound is returned by Get when the record is absent or a tombstone.
var ErrNotFound = errors.New("record not found")

// NewID returns a new record id: a UUIDv7, so ids sort by creation time.
func NewID() string { return uuid.Must(uuid.NewV7()).String() }

// Adapter is the generated glue between a model T and its row. It is the only thing the
// runtime knows about a model.
type Adapter[T any] interface {
	Schema() *Schema
	ID(*T) string
	// Values returns the column values of a record, in Schema().Columns order.
	Values(*T) []any
	// Pointers returns scan destinations into a record, in Schema().Columns order.
	Pointers(*T) []any
	// SetUpdatedAt stamps the updatedAt field; a no-op for a model without one.
	SetUpdatedAt(*T, time.Time)
	// MarshalRemote encodes the fields that travel to the remote.
	MarshalRemote(*T) ([]byte, error)
	// UnmarshalRemote decodes a record from the remote, leaving local fields as they are.
	UnmarshalRemote([]byte, *T) error
}

// queryer is what both the reader pool, the writer pool and a transaction offer.
type queryer interface {
	sqlx.QueryerContext
	sqlx.ExecerContext
	PreparexContext(ctx context.Context, query string) (*sqlx.Stmt, error)
}

// Store runs one model's reads and writes. A generated PizzaRepository wraps one.
type Store[T any] struct {
	repo *Repo
	a    Adapter[T]
	s    *Schema
	sql  *tableSQL
	tx   *Tx // non-nil: every call runs in this transaction
}

// tableSQL is a model's SQL, built once.
type tableSQL struct {
	columns   string // "id", "name", …
	live      string // condition that leaves tombstones out, or ""
	upsert    string
	deleteSQL string
	idCol     string
	updated   *Column
	deleted   *Column
}

// NewStore is used by generated code.
func NewStore[T any](r *Repo, a Adapter[T]) *Store[T] {
	s := a.Schema()
	t := &tableSQL{}
	names := make([]string, len(s.Columns))
	updates := make([]string, 0, len(s.Columns))
	for i := range s.Columns {
		c := &s.Columns[i]
		names[i] = quoteIdent(c.Name)
		switch {
		case c.Unique:
			t.idCol = quoteIdent(c.Name)
		default:
			updates = append(updates, names[i]+" = excluded."+names[i])
		}
		if c.UpdatedAt {
			t.updated = c
		}
		if c.DeletedAt {
			t.deleted = c
			t.live = names[i] + " IS NULL"
		}
	}
	t.columns = strings.Join(names, ", ")
	table := quoteIdent(s.Table)
	t.upsert = "INSERT INTO " + table + " (" + t.columns + ") VALUES (" +
		strings.TrimSuffix(strings.Repeat("?, ", len(names)), ", ") + ")"
	if len(updates) > 0 {
		t.upsert += " ON CONFLICT (" + t.idCol + ") DO UPDATE SET " + strings.Join(updates, ", ")
	} else {
		t.upsert += " ON CONFLICT (" + t.idCol + ") DO NOTHING"
	}
	t.deleteSQL = "DELETE FROM " + table + " WHERE " + t.idCol + " = ?"
	return &Store[T]{repo: r, a: a, s: s, sql: t}
}

// InTx returns a view of the store that runs in tx.
func (s *Store[T]) InTx(tx *Tx) *Store[T] {
	c := *s
	c.tx = tx
	return &c
}

func (s *Store[T]) reader() (queryer, error) {
	if s.tx != nil {
		return s.tx.tx, s.tx.check()
	}
	if err := s.repo.check(); err != nil {
		return nil, err
	}
	return s.repo.db.reader, nil
}

// where renders a query's WHERE clause with the tombstone rule.
func (s *Store[T]) where(q Query) (string, []any) {
	cond, args := q.whereSQL()
	switch {
	case s.sql.live != "" && cond != "":
		return " WHERE " + s.sql.live + " AND (" + cond + ")", args
	case s.sql.live != "":
		return " WHERE " + s.sql.live, nil
	case cond != "":
		return " WHERE " + cond, args
	}
	return "", nil
}

// Get returns the record with id; errors.Is(err, ErrNotFound) when it is absent or a
// tombstone.
func (s *Store[T]) Get(ctx context.Context, id string, _ ...Policy) (T, error) {
	var v T
	db, err := s.reader()
	if err != nil {
		return v, err
	}
	query := "SELECT " + s.sql.columns + " FROM " + quoteIdent(s.s.Table) + " WHERE " + s.sql.idCol + " = ?"
	if s.sql.live != "" {
		query += " AND " + s.sql.live
	}
	rows, err := db.QueryContext(ctx, query, id)
	if err != nil {
		return v, fmt.Errorf("get %s %q: %w", s.s.Model, id, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return v, fmt.Errorf("get %s %q: %w", s.s.Model, id, err)
		}
		return v, fmt.Errorf("get %s %q: %w", s.s.Model, id, ErrNotFound)
	}
	if err := rows.Scan(s.a.Pointers(&v)...); err != nil {
		return v, fmt.Errorf("get %s %q: scan: %w", s.s.Model, id, err)
	}
	return v, rows.Close()
}

// Find returns the records matching q.
func (s *Store[T]) Find(ctx context.Context, q Query, _ ...Policy) ([]T, error) {
	db, err := s.reader()
	if err != nil {
		return nil, err
	}
	where, args := s.where(q)
	query := "SELECT " + s.sql.columns + " FROM " + quoteIdent(s.s.Table) + where
	if len(q.orders) > 0 {
		parts := make([]string, len(q.orders))
		for i, o := range q.orders {
			parts[i] = o.sql
		}
		query += " ORDER BY " + strings.Join(parts, ", ")
	}
	query += limitSQL(q)
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("find %s: %w", s.s.Model, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var v T
		if err := rows.Scan(s.a.Pointers(&v)...); err != nil {
			return nil, fmt.Errorf("find %s: scan: %w", s.s.Model, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find %s: %w", s.s.Model, err)
	}
	return out, nil
}

// Count returns how many records match q.
func (s *Store[T]) Count(ctx context.Context, q Query) (int, error) {
	db, err := s.reader()
	if err != nil {
		return 0, err
	}
	where, args := s.where(q)
	query := "SELECT COUNT(*) FROM " + quoteIdent(s.s.Table) + where
	if q.HasWindow() {
		query = "SELECT COUNT(*) FROM (SELECT 1 FROM " + quoteIdent(s.s.Table) + where + limitSQL(q) + ")"
	}
	var n int
	if err := db.QueryRowxContext(ctx, query, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count %s: %w", s.s.Model, err)
	}
	return n, nil
}

// write runs fn in the store's transaction, or in a new one that commits before
// subscribers hear of it.
func (s *Store[T]) write(ctx context.Context, fn func(tx *Tx) error) error {
	if s.tx != nil {
		if err := s.tx.check(); err != nil {
			return err
		}
		s.tx.touch(s.s.Table)
		return fn(s.tx)
	}
	return s.repo.Tx(ctx, func(tx *Tx) error {
		tx.touch(s.s.Table)
		return fn(tx)
	})
}

// Upsert writes v, stamping its updatedAt field in place.
func (s *Store[T]) Upsert(ctx context.Context, v *T, _ ...Policy) error {
	if v == nil {
		return fmt.Errorf("upsert %s: nil record", s.s.Model)
	}
	return s.write(ctx, func(tx *Tx) error {
		s.a.SetUpdatedAt(v, s.repo.clock.stamp())
		args, err := s.bind(v)
		if err != nil {
			return fmt.Errorf("upsert %w", err)
		}
		if _, err := tx.tx.ExecContext(ctx, s.sql.upsert, args...); err != nil {
			return fmt.Errorf("upsert %s %q: %w", s.s.Model, s.a.ID(v), err)
		}
		return nil
	})
}

// UpsertMany writes every record in one transaction: all or none.
func (s *Store[T]) UpsertMany(ctx context.Context, vs []*T, _ ...Policy) error {
	return s.write(ctx, func(tx *Tx) error {
		stmt, err := tx.tx.PreparexContext(ctx, s.sql.upsert)
		if err != nil {
			return fmt.Errorf("upsert %s: prepare: %w", s.s.Model, err)
		}
		defer stmt.Close()
		for i, v := range vs {
			if v == nil {
				return fmt.Errorf("upsert %s: record %d is nil", s.s.Model, i)
			}
			s.a.SetUpdatedAt(v, s.repo.clock.stamp())
			args, err := s.bind(v)
			if err != nil {
				return fmt.Errorf("upsert %w", err)
			}
			if _, err := stmt.ExecContext(ctx, args...); err != nil {
				return fmt.Errorf("upsert %s %q: %w", s.s.Model, s.a.ID(v), err)
			}
		}
		return nil
	})
}

// Delete removes the record with id: a model with deletedAt keeps it as a tombstone.
// Deleting an absent record is not an error.
func (s *Store[T]) Delete(ctx context.Context, id string, _ ...Policy) error {
	return s.write(ctx, func(tx *Tx) error {
		var err error
		if d := s.sql.deleted; d != nil {
			err = s.tombstone(ctx, tx, id, d)
		} else {
			_, err = tx.tx.ExecContext(ctx, s.sql.deleteSQL, id)
		}
		if err != nil {
			return fmt.Errorf("delete %s %q: %w", s.s.Model, id, err)
		}
		return nil
	})
}

func (s *Store[T]) tombstone(ctx context.Context, tx *Tx, id string, deleted *Column) error {
	now, err := FormatTime(s.repo.clock.stamp())
	if err != nil {
		return err
	}
	set := quoteIdent(deleted.Name) + " = ?"
	args := []any{now}
	if u := s.sql.updated; u != nil {
		set += ", " + quoteIdent(u.Name) + " = ?"
		args = append(args, now)
	}
	args = append(args, id)
	_, err = tx.tx.ExecContext(ctx, "UPDATE "+quoteIdent(s.s.Table)+" SET "+set+" WHERE "+s.sql.idCol+" = ? AND "+s.sql.live, args...)
	return err
}

// bind converts a record to driver values, so a value that does not fit fails here with
// the model, id and field named, before anything is written.
func (s *Store[T]) bind(v *T) ([]any, error) {
	id := s.a.ID(v)
	switch {
	case id == "":
		return nil, fmt.Errorf("%s: empty id: set it, e.g. to runtime.NewID()", s.s.Model)
	case !utf8.ValidString(id):
		return nil, fmt.Errorf("%s %q: id is not valid UTF-8", s.s.Model, id)
	}
	vals := s.a.Values(v)
	for i, x := range vals {
		var err error
		switch x := x.(type) {
		case driver.Valuer:
			vals[i], err = x.Value()
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				err = fmt.Errorf("%v cannot be stored", x)
			}
		case uint64:
			if x > math.MaxInt64 {
				err = fmt.Errorf("%d is above the largest value SQLite stores (%d)", x, int64(math.MaxInt64))
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%s %q: field %s: %w", s.s.Model, id, s.s.Columns[i].Field, err)
		}
	}
	return vals, nil
}

// Tx is a transaction across models: every write in it, and the outbox entries they
// make, commit together; subscribers hear of them after the commit.
type Tx struct {
	repo    *Repo
	tx      *sqlx.Tx
	touched map[string]bool
	done    bool
}

func (t *Tx) touch(table string) { t.touched[table] = true }

func (t *Tx) check() error {
	if t.done {
		return errors.New("transaction has ended: use it only inside its function")
	}
	return t.repo.check()
}

// Tx runs fn in one transaction on the writer. fn's error rolls everything back. Use only
// the Tx inside fn: the repository's own methods would wait for the writer fn holds.
func (r *Repo) Tx(ctx context.Context, fn func(*Tx) error) error {
	if err := r.check(); err != nil {
		return err
	}
	sqltx, err := r.db.writer.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	tx := &Tx{repo: r, tx: sqltx, touched: map[string]bool{}}
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
	if err := sqltx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	committed = true
	r.changed(tx.touched)
	return nil
}

// Subscribe sends q's result now and after every committed write that touches the model;
// a reader that falls behind gets only the latest result. The channel closes when ctx
// ends or the repository closes.
func (s *Store[T]) Subscribe(ctx context.Context, q Query) <-chan []T {
	out := make(chan []T, 1)
	wake, stop := s.repo.watch(s.s.Table)
	go func() {
		defer close(out)
		defer stop()
		for {
			res, err := s.Find(ctx, q)
			if err == nil {
				select { // replace a result the reader has not taken yet
				case <-out:
				default:
				}
				out <- res
			}
			select {
			case <-ctx.Done():
				return
			case <-s.repo.ctx.Done():
				return
			case <-wake:
			}
		}
	}()
	return out
}
