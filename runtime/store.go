package runtime

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"reflect"
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
	// SetDeletedAt sets the deletedAt field; a no-op for a model without one.
	SetDeletedAt(*T, *time.Time)
	// Stamps returns the updatedAt and deletedAt fields: the zero time and nil for a
	// model without them.
	Stamps(*T) (updatedAt time.Time, deletedAt *time.Time)
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
	columns string // "id", "name", …
	live    string // condition that leaves tombstones out, or ""
	// The three upserts differ in what an update keeps: upsert (a local write) keeps the
	// server-owned readonly columns, apply (a record from the remote) keeps the local
	// columns, replace (the remote's answer to this client's write) keeps nothing.
	upsert, apply, replace string
	applyRows              *multiRow // apply for many rows in one statement (pullbatch.go)
	deleteSQL              string
	idCol                  string
	updated                *Column
	deleted                *Column
	readonly               bool       // the model has readonly columns
	shape                  *jsonShape // the model's JSON keys, for field changes (fields.go)
	rowBase                bool       // records' bases may be stored as their rows (rowbase.go)
}

// NewStore is used by generated code.
func NewStore[T any](r *Repo, a Adapter[T]) *Store[T] {
	s := a.Schema()
	t := &tableSQL{idCol: idColumn(s), live: liveSQL(s, "")}
	names := make([]string, len(s.Columns))
	for i := range s.Columns {
		c := &s.Columns[i]
		names[i] = quoteIdent(c.Name)
		if c.UpdatedAt {
			t.updated = c
		}
		if c.DeletedAt {
			t.deleted = c
		}
		t.readonly = t.readonly || c.ReadOnly
	}
	t.columns = strings.Join(names, ", ")
	t.shape = shapeOfSchema(s)
	t.rowBase = canStoreRowBase(s.Columns)
	table := quoteIdent(s.Table)
	insert := "INSERT INTO " + table + " (" + t.columns + ") VALUES (" +
		strings.TrimSuffix(strings.Repeat("?, ", len(names)), ", ") + ") ON CONFLICT (" + t.idCol + ") DO "
	upsert := func(keep func(*Column) bool) string {
		var set []string
		for i := range s.Columns {
			if c := &s.Columns[i]; !c.Unique && !keep(c) {
				set = append(set, names[i]+" = excluded."+names[i])
			}
		}
		if len(set) == 0 {
			return insert + "NOTHING"
		}
		return insert + "UPDATE SET " + strings.Join(set, ", ")
	}
	t.upsert = upsert(func(c *Column) bool { return c.ReadOnly })
	t.apply = upsert(func(c *Column) bool { return c.Local })
	head := "INSERT INTO " + table + " (" + t.columns + ") VALUES "
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(names)), ", ") + ")"
	t.applyRows = &multiRow{head: head, tail: strings.TrimPrefix(t.apply, head+row), row: func(int) string { return row }}
	t.replace = upsert(func(*Column) bool { return false })
	t.deleteSQL = "DELETE FROM " + table + " WHERE " + t.idCol + " = ?"
	st := &Store[T]{repo: r, a: a, s: s, sql: t}
	r.register(st)
	return st
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

// getLocal reads the record with id from SQLite.
func (s *Store[T]) getLocal(ctx context.Context, id string) (T, error) {
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

// findLocal answers q from SQLite.
func (s *Store[T]) findLocal(ctx context.Context, q Query) ([]T, error) {
	db, err := s.reader()
	if err != nil {
		return nil, err
	}
	return s.findOn(ctx, db, q)
}

// findOn answers q on db.
func (s *Store[T]) findOn(ctx context.Context, db queryer, q Query) ([]T, error) {
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
	var v, zero T
	dest := s.a.Pointers(&v) // one set of destinations for every row: v is copied out
	for rows.Next() {
		v = zero // a JSON map or slice would otherwise keep the last row's entries
		if err := rows.Scan(dest...); err != nil {
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

// upsertLocal writes records in one transaction, stamping each updatedAt in place, and
// queues them for the remote when queue is set.
func (s *Store[T]) upsertLocal(ctx context.Context, vs []*T, queue bool) error {
	return s.write(ctx, func(tx *Tx) error { return s.writeTx(ctx, tx, vs, queue) })
}

// exec runs one of the table's upserts for each record.
func (s *Store[T]) exec(ctx context.Context, tx *Tx, query string, vs []*T) error {
	for i, v := range vs {
		if v == nil {
			return fmt.Errorf("upsert %s: record %d is nil", s.s.Model, i)
		}
		args, err := s.bind(v)
		if err != nil {
			return fmt.Errorf("upsert %w", err)
		}
		if _, err := tx.q.ExecContext(ctx, query, args...); err != nil {
			return fmt.Errorf("upsert %s %q: %w", s.s.Model, s.a.ID(v), err)
		}
	}
	return nil
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
	_, err = tx.q.ExecContext(ctx, "UPDATE "+quoteIdent(s.s.Table)+" SET "+set+" WHERE "+s.sql.idCol+" = ? AND "+s.sql.live, args...)
	return err
}

// bind converts a record to driver values, so a value that does not fit fails here with
// the model, id and field named, before anything is written.
func (s *Store[T]) bind(v *T) ([]any, error) { return s.bindValues(v, s.a.Values(v)) }

// bindValues is bind given v's values (Adapter.Values), which it converts in place.
func (s *Store[T]) bindValues(v *T, vals []any) ([]any, error) {
	id := s.a.ID(v)
	switch {
	case id == "":
		return nil, fmt.Errorf("%s: empty id: set it, e.g. to runtime.NewID()", s.s.Model)
	case !utf8.ValidString(id):
		return nil, fmt.Errorf("%s %q: id is not valid UTF-8", s.s.Model, id)
	}
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

// Subscribe sends q's result now and after every committed write that touches the model
// and changes the result; a reader that falls behind gets only the latest result. The
// channel closes when ctx ends or the repository closes.
func (s *Store[T]) Subscribe(ctx context.Context, q Query) <-chan []T {
	return subscribe(s.repo, ctx, []string{s.s.Table}, func() ([]T, error) { return s.findLocal(ctx, q) })
}

// subscribe sends find's answer now and after each commit that touches one of tables,
// unless it equals the last one sent; a reader that falls behind gets only the latest.
func subscribe[R any](r *Repo, ctx context.Context, tables []string, find func() (R, error)) <-chan R {
	out := make(chan R, 1)
	wake, stop := r.watchTables(tables)
	if !r.background() {
		stop()
		close(out)
		return out
	}
	go func() {
		defer r.bg.Done()
		defer close(out)
		defer stop()
		var last R
		sent := false
		for {
			res, err := find()
			if err == nil && !(sent && reflect.DeepEqual(res, last)) {
				select { // replace a result the reader has not taken yet
				case <-out:
				default:
				}
				out <- res
				last, sent = res, true
			}
			select {
			case <-ctx.Done():
				return
			case <-r.ctx.Done():
				return
			case <-wake:
			}
		}
	}()
	return out
}
