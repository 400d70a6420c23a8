package runtime

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/jmoiron/sqlx"
)

// SQLiteSetupError is AdoptSQLite's answer to pools that do not give what
// syncgen relies on. Problems says each thing that is wrong and how to fix it.
type SQLiteSetupError struct {
	Problems []string
}

func (e *SQLiteSetupError) Error() string {
	return "the pools do not give syncgen's guarantees: " + strings.Join(e.Problems, "; ")
}

// AdoptSQLite lets syncgen use an app's own SQLite pools, opened with any
// database/sql SQLite driver, after checking that they give the guarantees
// OpenSQLite gives its own:
//
//   - writer holds at most one connection (SetMaxOpenConns(1)): writes queue
//     in Go instead of failing with SQLITE_BUSY, the app's and syncgen's alike;
//   - writer's transactions begin IMMEDIATE (the driver's _txlock=immediate),
//     which AdoptSQLite tests by taking the lock;
//   - the database is in WAL mode, and its file is the same for both pools;
//   - writer's connections have foreign_keys=ON, synchronous=FULL (or NORMAL
//     with WithSynchronousNormal) and a busy timeout;
//   - reader's connections are query_only and have a busy timeout;
//   - both pools use the same driver: two copies of SQLite in one process
//     lose each other's file locks.
//
// It checks one connection of each pool, so the settings must come from the
// driver's data source name, which every new connection gets (docs/SQLITE.md
// lists them for the common drivers). Anything that does not hold is a
// *SQLiteSetupError naming all of it, and nothing is changed. Close of the
// returned DB closes nothing: the pools stay the app's.
//
// Of the options only WithSynchronousNormal applies; the others are an error.
// To adopt an app's database file rather than its pools, OpenSQLite opens it
// as it is: it switches it to WAL, and Migrate adds syncgen's tables next to
// the app's.
func AdoptSQLite(ctx context.Context, writer, reader *sql.DB, opts ...SQLiteOption) (*DB, error) {
	db, err := adoptSQLite(ctx, writer, reader, newSQLiteConfig(opts))
	if err != nil {
		return nil, fmt.Errorf("adopt sqlite: %w", err)
	}
	return db, nil
}

func adoptSQLite(ctx context.Context, writer, reader *sql.DB, cfg sqliteConfig) (*DB, error) {
	switch {
	case writer == nil || reader == nil:
		return nil, errors.New("nil pool: pass a writer and a reader")
	case writer == reader:
		return nil, errors.New("writer and reader are one pool: open a second *sql.DB with query_only for reads")
	case cfg.key != nil:
		return nil, errors.New("WithKey does not apply: open the app's pools with the key")
	case cfg.readersSet:
		return nil, errors.New("WithReaders does not apply: size the reader pool with SetMaxOpenConns")
	case cfg.busyTimeoutSet:
		return nil, errors.New("WithBusyTimeout does not apply: set busy_timeout in the pools' data source names")
	}
	var problems []string
	report := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	if wt, rt := reflect.TypeOf(writer.Driver()), reflect.TypeOf(reader.Driver()); wt != rt {
		report("writer uses driver %v and reader %v: use one SQLite driver, as two copies of SQLite in one process lose each other's file locks", wt, rt)
	}
	if n := writer.Stats().MaxOpenConnections; n != 1 {
		report("writer allows %s connections, want 1: call SetMaxOpenConns(1), so that writes queue in Go instead of failing with SQLITE_BUSY", connLimit(n))
	}
	w, err := poolSettings(ctx, writer)
	if err != nil {
		return nil, fmt.Errorf("writer: %w", err)
	}
	r, err := poolSettings(ctx, reader)
	if err != nil {
		return nil, fmt.Errorf("reader: %w", err)
	}

	switch {
	case w.file == "" || r.file == "":
		report("the database is in memory or temporary: adopt a database file (OpenSQLite(\":memory:\") gives an in-memory one)")
	case w.file != r.file:
		report("writer is on %s but reader on %s: open both on one file", w.file, r.file)
	}
	if !strings.EqualFold(w.journalMode, "wal") && w.file != "" {
		report("journal_mode is %s, want WAL: set it once with PRAGMA journal_mode=WAL (it stays with the file), so that readers read while the writer writes", w.journalMode)
	}
	if w.foreignKeys != 1 {
		report("writer has foreign_keys=OFF, want ON in its data source name (foreign keys are off by default and per connection)")
	}
	minSync, want := 2, "FULL"
	if cfg.synchronous == "NORMAL" {
		minSync, want = 1, "NORMAL or FULL"
	}
	if w.synchronous < minSync {
		report("writer has synchronous=%s, want %s: a commit must survive power loss (or pass WithSynchronousNormal)", synchronousName(w.synchronous), want)
	}
	if w.queryOnly != 0 {
		report("writer is query_only: it cannot write")
	}
	if w.busyTimeout <= 0 {
		report("writer has no busy timeout: set busy_timeout in its data source name, or another process's lock fails writes at once")
	}
	if r.busyTimeout <= 0 {
		report("reader has no busy timeout: set busy_timeout in its data source name, or a checkpoint fails reads at once")
	}
	if r.queryOnly != 1 {
		report("reader is not query_only: set query_only in its data source name, so that a write by mistake on the reader fails instead of bypassing the writer's queue")
	}
	if len(problems) == 0 {
		// Only worth testing once the pools are otherwise right: it needs a
		// reader connection on the same WAL database.
		immediate, err := beginsImmediate(ctx, writer, reader)
		if err != nil {
			return nil, fmt.Errorf("test the writer's BEGIN: %w", err)
		}
		if !immediate {
			report("writer's transactions begin DEFERRED, want IMMEDIATE (_txlock=immediate in its data source name), so that a transaction that reads and then writes never fails half-way on another's lock")
		}
	}
	if len(problems) > 0 {
		return nil, &SQLiteSetupError{Problems: problems}
	}
	return &DB{
		writer:   sqlx.NewDb(writer, "sqlite3"),
		reader:   sqlx.NewDb(reader, "sqlite3"),
		dialect:  sqliteDialect{},
		borrowed: true,
	}, nil
}

type adoptedPool struct {
	file        string
	journalMode string
	foreignKeys int
	synchronous int
	queryOnly   int
	busyTimeout int
}

// poolSettings reads the settings of one connection of pool.
func poolSettings(ctx context.Context, pool *sql.DB) (adoptedPool, error) {
	var p adoptedPool
	conn, err := pool.Conn(ctx)
	if err != nil {
		return p, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	var version string
	if err := conn.QueryRowContext(ctx, "SELECT sqlite_version()").Scan(&version); err != nil {
		return p, fmt.Errorf("not SQLite: %w", err)
	}
	rows, err := conn.QueryContext(ctx, "PRAGMA database_list")
	if err != nil {
		return p, fmt.Errorf("database_list: %w", err)
	}
	for rows.Next() {
		var (
			seq        int
			name, file string
		)
		if err := rows.Scan(&seq, &name, &file); err != nil {
			rows.Close()
			return p, fmt.Errorf("database_list: %w", err)
		}
		if name == "main" {
			p.file = file
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return p, fmt.Errorf("database_list: %w", err)
	}
	for _, q := range []struct {
		pragma string
		dest   any
	}{
		{"journal_mode", &p.journalMode},
		{"foreign_keys", &p.foreignKeys},
		{"synchronous", &p.synchronous},
		{"query_only", &p.queryOnly},
		{"busy_timeout", &p.busyTimeout},
	} {
		if err := conn.QueryRowContext(ctx, "PRAGMA "+q.pragma).Scan(q.dest); err != nil {
			return p, fmt.Errorf("%s: %w", q.pragma, err)
		}
	}
	return p, nil
}

// beginsImmediate reports whether writer's BEGIN takes the write lock: while
// a transaction that has done nothing yet is open on writer, a reader
// connection tries BEGIN IMMEDIATE without waiting, which fails only if the
// lock is taken. The reader connection is query_only, which refuses BEGIN
// IMMEDIATE, and has a busy timeout: both are lifted for the test and put
// back, or the connection is discarded.
func beginsImmediate(ctx context.Context, writer, reader *sql.DB) (_ bool, err error) {
	conn, err := reader.Conn(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	var timeout int
	if err := conn.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&timeout); err != nil {
		return false, err
	}
	defer func() {
		restore := fmt.Sprintf("PRAGMA busy_timeout = %d; PRAGMA query_only = ON", timeout)
		if _, rerr := conn.ExecContext(context.WithoutCancel(ctx), restore); rerr != nil {
			// A reader that could write must not serve anyone.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
			err = errors.Join(err, fmt.Errorf("restore the reader: %w", rerr))
		}
	}()
	if _, err := conn.ExecContext(ctx, "PRAGMA busy_timeout = 0; PRAGMA query_only = OFF"); err != nil {
		return false, err
	}

	tx, err := writer.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	_, err = conn.ExecContext(ctx, "BEGIN IMMEDIATE")
	if err == nil {
		_, err = conn.ExecContext(ctx, "ROLLBACK")
		return false, err
	}
	if sqliteErrorCode(err) == sqliteBusy || strings.Contains(err.Error(), "database is locked") {
		return true, nil
	}
	return false, err
}

func connLimit(n int) string {
	if n <= 0 {
		return "unlimited"
	}
	return fmt.Sprint(n)
}

func synchronousName(n int) string {
	switch n {
	case 0:
		return "OFF"
	case 1:
		return "NORMAL"
	case 2:
		return "FULL"
	case 3:
		return "EXTRA"
	}
	return fmt.Sprint(n)
}
