package runtime

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/syncgen/syncgen/runtime/internal/goosefile"
)

// migrationDialect is the part of Migrate that depends on the database
// engine: the lock, the bookkeeping SQL and NO TRANSACTION migrations.
// SQLite is the only one so far; PostgreSQL will add a second.
type migrationDialect interface {
	// validate refuses, before anything runs, a migration the dialect
	// cannot apply as written.
	validate(m migration) error
	// begin starts a transaction on conn that holds the database's write
	// (migration) lock until it ends.
	begin(ctx context.Context, conn *sqlx.Conn) (*sqlx.Tx, error)
	createTable(ctx context.Context, tx *sqlx.Tx) error
	// applied returns the recorded versions: package → version → file name.
	applied(ctx context.Context, tx *sqlx.Tx) (map[string]map[int64]string, error)
	record(ctx context.Context, tx *sqlx.Tx, m migration, at time.Time) error
	// runNoTransaction applies one NO TRANSACTION migration unless another
	// process applied it in the meantime.
	runNoTransaction(ctx context.Context, conn *sqlx.Conn, m migration) error
}

type sqliteDialect struct{}

// Control statements of a NO TRANSACTION file: goose needs them to run the
// file, Migrate does their work itself (see Migrate).
var (
	sqliteForeignKeysStmt = regexp.MustCompile(`(?is)^PRAGMA\s+foreign_keys\s*=\s*(on|off|true|false|yes|no|0|1)\s*;?$`)
	sqliteBeginStmt       = regexp.MustCompile(`(?is)^BEGIN(\s+(deferred|immediate|exclusive))?(\s+transaction)?\s*;?$`)
	sqliteCommitStmt      = regexp.MustCompile(`(?is)^(COMMIT|END)(\s+transaction)?\s*;?$`)
	sqliteFKCheckStmt     = regexp.MustCompile(`(?is)^PRAGMA\s+foreign_key_check\s*;?$`)
)

// sqliteControl reports whether st is a control statement, and which.
func sqliteControl(st goosefile.Statement) (kind string, ok bool) {
	s := st.SQL
	// A trailing comment ("COMMIT; -- done") does not change the statement.
	if i := strings.Index(s, "--"); i >= 0 && !strings.ContainsAny(s[:i], `'"`) {
		s = s[:i]
	}
	s = strings.TrimSpace(s)
	switch {
	case sqliteForeignKeysStmt.MatchString(s):
		return "PRAGMA foreign_keys", true
	case sqliteBeginStmt.MatchString(s):
		return "BEGIN", true
	case sqliteCommitStmt.MatchString(s):
		return "COMMIT", true
	case sqliteFKCheckStmt.MatchString(s):
		return "PRAGMA foreign_key_check", true
	}
	return "", false
}

func (sqliteDialect) validate(m migration) error {
	if m.file.NoTransaction {
		return nil
	}
	for _, st := range m.file.Up {
		kind, ok := sqliteControl(st)
		// foreign_key_check only reads; the others would end Migrate's
		// transaction or, for foreign_keys, silently do nothing inside it.
		if ok && kind != "PRAGMA foreign_key_check" {
			return m.errorAt(st, fmt.Errorf("%w: %s needs -- +goose NO TRANSACTION: the migration runs inside Migrate's transaction", ErrInvalidMigration, kind))
		}
	}
	return nil
}

// begin relies on the writer connection's _txlock=immediate: BEGIN IMMEDIATE
// takes the write lock at once, waiting out the busy timeout, so two
// processes migrating one file take turns.
func (sqliteDialect) begin(ctx context.Context, conn *sqlx.Conn) (*sqlx.Tx, error) {
	return conn.BeginTxx(ctx, nil)
}

func (sqliteDialect) createTable(ctx context.Context, tx *sqlx.Tx) error {
	_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS syncgen_migrations (
	package TEXT NOT NULL,
	version INTEGER NOT NULL,
	name TEXT NOT NULL,
	applied_at TEXT NOT NULL,
	PRIMARY KEY (package, version)
)`)
	return err
}

func (sqliteDialect) applied(ctx context.Context, tx *sqlx.Tx) (map[string]map[int64]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT package, version, name FROM syncgen_migrations`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	applied := map[string]map[int64]string{}
	for rows.Next() {
		var (
			pkg, name string
			version   int64
		)
		if err := rows.Scan(&pkg, &version, &name); err != nil {
			return nil, err
		}
		if applied[pkg] == nil {
			applied[pkg] = map[int64]string{}
		}
		applied[pkg][version] = name
	}
	return applied, rows.Err()
}

func (sqliteDialect) record(ctx context.Context, tx *sqlx.Tx, m migration, at time.Time) error {
	_, err := tx.ExecContext(ctx,
		`INSERT INTO syncgen_migrations (package, version, name, applied_at) VALUES (?, ?, ?, ?)`,
		m.pkg, m.version, m.name, at.UTC().Format(TimeLayout))
	return err
}

func (d sqliteDialect) runNoTransaction(ctx context.Context, conn *sqlx.Conn, m migration) (err error) {
	// PRAGMA foreign_keys does nothing inside a transaction, so it is set on
	// the pinned connection outside one, and always set back, even when ctx
	// is done: the connection returns to the pool afterwards.
	if err := sqliteSetForeignKeys(ctx, conn, false); err != nil {
		return m.error(fmt.Errorf("foreign keys off: %w", err))
	}
	defer func() {
		if ferr := sqliteSetForeignKeys(context.WithoutCancel(ctx), conn, true); ferr != nil {
			// A connection without foreign keys must not serve anyone else:
			// ErrBadConn makes database/sql close it.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
			err = errors.Join(err, m.error(fmt.Errorf("foreign keys back on: %w", ferr)))
		}
	}()

	tx, err := d.begin(ctx, conn)
	if err != nil {
		return m.error(fmt.Errorf("begin: %w", err))
	}
	defer tx.Rollback() // no-op after Commit

	applied, err := d.applied(ctx, tx)
	if err != nil {
		return m.error(fmt.Errorf("read syncgen_migrations: %w", err))
	}
	if _, done := applied[m.pkg][m.version]; done {
		return nil // another process was faster
	}
	for _, st := range m.file.Up {
		if _, ok := sqliteControl(st); ok {
			continue
		}
		if _, err := tx.ExecContext(ctx, st.SQL); err != nil {
			return m.errorAt(st, err)
		}
	}
	if err := sqliteForeignKeyCheck(ctx, tx); err != nil {
		return m.error(err)
	}
	if err := d.record(ctx, tx, m, time.Now()); err != nil {
		return m.error(fmt.Errorf("record version: %w", err))
	}
	if err := tx.Commit(); err != nil {
		return m.error(fmt.Errorf("commit: %w", err))
	}
	return nil
}

func sqliteSetForeignKeys(ctx context.Context, conn *sqlx.Conn, on bool) error {
	want := 0
	if on {
		want = 1
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA foreign_keys = %d", want)); err != nil {
		return err
	}
	// The pragma is silently ignored inside a transaction; make sure it held.
	var got int
	if err := conn.QueryRowxContext(ctx, "PRAGMA foreign_keys").Scan(&got); err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("PRAGMA foreign_keys is %d, want %d", got, want)
	}
	return nil
}

// sqliteForeignKeyCheck fails with ErrForeignKeyCheck when any row violates
// a foreign key, naming the first one.
func sqliteForeignKeyCheck(ctx context.Context, tx *sqlx.Tx) error {
	rows, err := tx.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		return fmt.Errorf("foreign key check: %w", err)
	}
	defer rows.Close()
	var (
		n             int
		table, parent string
		rowid         sql.NullInt64
		fkid          int64
	)
	for rows.Next() {
		if n == 0 {
			if err := rows.Scan(&table, &rowid, &parent, &fkid); err != nil {
				return fmt.Errorf("foreign key check: %w", err)
			}
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("foreign key check: %w", err)
	}
	if n == 0 {
		return nil
	}
	row := "a row"
	if rowid.Valid {
		row = fmt.Sprintf("rowid %d", rowid.Int64)
	}
	return fmt.Errorf("%w: %d rows violate foreign keys, first %s of %s that references %s", ErrForeignKeyCheck, n, row, table, parent)
}
