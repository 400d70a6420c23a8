package runtime

import (
	"cmp"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"

	"github.com/syncgen/syncgen/runtime/internal/goosefile"
)

// runtimePackage names the runtime's own migrations in syncgen_migrations.
const runtimePackage = "github.com/syncgen/syncgen/runtime"

// ownMigrations holds the runtime's tables (outbox, sync state, metadata).
// They are versioned here so that upgrading syncgen never writes files into
// a user's package.
//
//go:embed migrations/*.sql
var ownMigrations embed.FS

// Errors Migrate refuses with. They arrive wrapped in a *MigrationError that
// names the package (and the file, when there is one); nothing is applied
// when any of them is found before applying began.
var (
	// ErrDatabaseNewer: the database has a version of a package that is newer
	// than the newest migration file; the code is older than the database.
	// The error is a *DatabaseNewerError.
	ErrDatabaseNewer = errors.New("database is newer than this code")
	// ErrMigrationGap: a version is missing, among the files (1, 2, 4) or
	// among the versions recorded in the database (1, 2, 4 applied, 3 not).
	ErrMigrationGap = errors.New("migration gap")
	// ErrDuplicateMigration: two files have the same version.
	ErrDuplicateMigration = errors.New("duplicate migration version")
	// ErrBadMigrationName: a .sql file is not named NNNN_<summary>.sql.
	ErrBadMigrationName = errors.New("bad migration file name")
	// ErrInvalidMigration: a file cannot be parsed, or uses statements its
	// kind does not allow.
	ErrInvalidMigration = errors.New("invalid migration")
	// ErrMigrationMismatch: the database recorded a version under another
	// file name than the file of that version now: two branches probably both
	// added that version.
	ErrMigrationMismatch = errors.New("applied migration differs from its file")
	// ErrForeignKeyCheck: PRAGMA foreign_key_check found rows after a
	// NO TRANSACTION migration; it was rolled back.
	ErrForeignKeyCheck = errors.New("foreign key check failed")
)

// Migrations is one package's migration files.
type Migrations struct {
	// Package names the set in syncgen_migrations: the import path of the
	// package whose models the files create.
	Package string
	// FS holds the files, named NNNN_<summary>.sql with versions 1, 2, 3, …,
	// in goose's format. Other files (schema.json) are ignored.
	FS fs.FS
	// Dir is the directory of FS holding the files; empty means the root.
	Dir string
}

// MigrationError is the error of Migrate for one package. Err is one of the
// Err* values above, a *DatabaseNewerError, or the database's error.
type MigrationError struct {
	Package string
	// File is the migration file's name; empty when no single file is at fault.
	File string
	// Line and Statement locate the failing statement (its first line); zero
	// and empty when no statement failed.
	Line      int
	Statement string
	Err       error
}

func (e *MigrationError) Error() string {
	var b strings.Builder
	b.WriteString("migrate ")
	b.WriteString(e.Package)
	if e.File != "" {
		b.WriteString(": ")
		b.WriteString(e.File)
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, ": line %d", e.Line)
	}
	if e.Statement != "" {
		b.WriteString(": ")
		b.WriteString(e.Statement)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *MigrationError) Unwrap() error { return e.Err }

// DatabaseNewerError reports a database migrated further than this code knows
// of. errors.Is(err, ErrDatabaseNewer) holds for it.
type DatabaseNewerError struct {
	Package         string
	DatabaseVersion int64
	CodeVersion     int64
}

func (e *DatabaseNewerError) Error() string {
	return fmt.Sprintf("database is at version %d of %s but this code knows only up to %d: upgrade the app",
		e.DatabaseVersion, e.Package, e.CodeVersion)
}

func (e *DatabaseNewerError) Is(target error) bool { return target == ErrDatabaseNewer }

// Migrate applies the pending migrations of the runtime's own tables and then
// of each set, in order, recording each version in syncgen_migrations.
//
// All pending migrations run in one transaction that takes the write lock
// first (BEGIN IMMEDIATE) and decides what is pending only then, so Migrate
// is safe at every start and from several processes at once, and a failure
// leaves the database as it was. A NO TRANSACTION migration is the exception:
// what comes before it commits, it runs in a transaction of its own with
// foreign keys off (see below), and what comes after it runs in a new
// transaction.
//
// In a NO TRANSACTION migration the statements PRAGMA foreign_keys=OFF/ON,
// BEGIN and COMMIT (which goose needs to run the same file) and PRAGMA
// foreign_key_check are not executed; instead Migrate turns foreign keys off
// on its connection, runs the other statements in one transaction, fails and
// rolls back if PRAGMA foreign_key_check reports any row, records the
// version, commits, and turns foreign keys back on. Statements that cannot
// run inside a transaction (VACUUM) are therefore not supported.
//
// Migrate refuses (ErrDatabaseNewer, ErrMigrationGap, …) before applying
// anything when the files or the database are not what it expects. It holds
// the writer connection until it returns.
func Migrate(ctx context.Context, db *DB, sets ...Migrations) error {
	own := Migrations{Package: runtimePackage, FS: ownMigrations, Dir: "migrations"}
	return ApplyMigrations(ctx, db, append([]Migrations{own}, sets...)...)
}

// ApplyMigrations applies the pending migrations of sets, in order, as Migrate does,
// but not the runtime's own: for a database that holds no client tables, as the
// generated server's does.
func ApplyMigrations(ctx context.Context, db *DB, sets ...Migrations) error {
	if db == nil || db.writer == nil {
		return errors.New("migrate: DB not opened with OpenSQLite or server.OpenPostgres")
	}
	var all []migrationSet
	for _, s := range sets {
		if slices.ContainsFunc(all, func(l migrationSet) bool { return l.pkg == s.Package }) {
			return fmt.Errorf("migrate %s: package given twice", s.Package)
		}
		l, err := loadMigrations(s)
		if err != nil {
			return err
		}
		all = append(all, l)
	}
	for _, s := range all {
		for _, m := range s.migrations {
			if err := db.dialect.validate(m); err != nil {
				return err
			}
		}
	}

	conn, err := db.writer.Connx(ctx)
	if err != nil {
		return fmt.Errorf("migrate: connect: %w", err)
	}
	defer conn.Close()
	// Each round applies the transactional migrations up to the next
	// NO TRANSACTION one, which then runs on its own; a round that stops at
	// nothing ends the loop. Every round decides anew, under the lock, what
	// is pending, as another process may have moved on in between.
	for {
		next, err := applyPending(ctx, db.dialect, conn, all)
		if err != nil || next == nil {
			return err
		}
		if err := db.dialect.runNoTransaction(ctx, conn, *next); err != nil {
			return err
		}
	}
}

// applyPending applies, in one transaction, the pending migrations that come
// before the first NO TRANSACTION one, which it returns (nil if none).
func applyPending(ctx context.Context, d migrationDialect, conn *sqlx.Conn, sets []migrationSet) (*migration, error) {
	tx, err := d.begin(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("migrate: begin: %w", err)
	}
	defer tx.Rollback() // no-op after Commit

	if err := d.createTable(ctx, tx); err != nil {
		return nil, fmt.Errorf("migrate: create syncgen_migrations: %w", err)
	}
	applied, err := d.applied(ctx, tx)
	if err != nil {
		return nil, fmt.Errorf("migrate: read syncgen_migrations: %w", err)
	}
	// Every set is checked before anything is applied.
	var pending []migration
	for _, s := range sets {
		p, err := s.pending(applied[s.pkg])
		if err != nil {
			return nil, err
		}
		pending = append(pending, p...)
	}

	var next *migration
	for i, m := range pending {
		if m.file.NoTransaction {
			next = &pending[i]
			break
		}
		for _, st := range m.file.Up {
			if _, err := tx.ExecContext(ctx, st.SQL); err != nil {
				return nil, m.errorAt(st, err)
			}
		}
		if err := d.record(ctx, tx, m, time.Now()); err != nil {
			return nil, m.error(fmt.Errorf("record version: %w", err))
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("migrate: commit: %w", err)
	}
	return next, nil
}

// migrationSet is a Migrations loaded and checked: versions 1..n in order.
type migrationSet struct {
	pkg        string
	migrations []migration
}

type migration struct {
	pkg     string
	version int64
	name    string // the file's name, as recorded in syncgen_migrations
	file    goosefile.File
}

func (m migration) error(err error) error {
	return &MigrationError{Package: m.pkg, File: m.name, Err: err}
}

func (m migration) errorAt(st goosefile.Statement, err error) error {
	return &MigrationError{Package: m.pkg, File: m.name, Line: st.Line, Statement: firstLine(st.SQL), Err: err}
}

// firstLine shortens a statement for an error message.
func firstLine(sql string) string {
	line, _, _ := strings.Cut(sql, "\n")
	line = strings.TrimSpace(line)
	const limit = 80
	if utf8.RuneCountInString(line) > limit {
		line = string([]rune(line)[:limit]) + "…"
	}
	return line
}

var migrationName = regexp.MustCompile(`^([0-9]+)_(.+)\.sql$`)

func loadMigrations(s Migrations) (migrationSet, error) {
	fail := func(file string, err error) (migrationSet, error) {
		return migrationSet{}, &MigrationError{Package: s.Package, File: file, Err: err}
	}
	if s.Package == "" {
		return migrationSet{}, errors.New("migrate: Migrations with an empty Package")
	}
	if s.FS == nil {
		return fail("", errors.New("nil FS"))
	}
	dir := s.Dir
	if dir == "" {
		dir = "."
	}
	entries, err := fs.ReadDir(s.FS, dir)
	if err != nil {
		return fail("", fmt.Errorf("read migrations: %w", err))
	}

	set := migrationSet{pkg: s.Package}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		match := migrationName.FindStringSubmatch(name)
		if match == nil {
			return fail(name, fmt.Errorf("%w: want NNNN_<summary>.sql", ErrBadMigrationName))
		}
		version, err := strconv.ParseInt(match[1], 10, 64)
		if err != nil || version < 1 {
			return fail(name, fmt.Errorf("%w: version must be a number from 1", ErrBadMigrationName))
		}
		set.migrations = append(set.migrations, migration{pkg: s.Package, version: version, name: name})
	}
	slices.SortFunc(set.migrations, func(a, b migration) int { return cmp.Compare(a.version, b.version) })

	for i := range set.migrations {
		m := &set.migrations[i]
		want := int64(i + 1)
		if i > 0 && m.version == set.migrations[i-1].version {
			return fail(m.name, fmt.Errorf("%w: %s has version %d too", ErrDuplicateMigration, set.migrations[i-1].name, m.version))
		}
		if m.version != want {
			if i == 0 {
				return fail(m.name, fmt.Errorf("%w: no file for version 1: the first file is %s", ErrMigrationGap, m.name))
			}
			return fail(m.name, fmt.Errorf("%w: no file for version %d: %s is followed by %s", ErrMigrationGap, want, set.migrations[i-1].name, m.name))
		}
		src, err := fs.ReadFile(s.FS, path.Join(dir, m.name))
		if err != nil {
			return fail(m.name, fmt.Errorf("read: %w", err))
		}
		m.file, err = goosefile.Parse(string(src))
		if err != nil {
			return fail(m.name, fmt.Errorf("%w: %w", ErrInvalidMigration, err))
		}
	}
	return set, nil
}

// pending returns the set's migrations not in applied (version → file name),
// or an error when the database does not fit the files.
func (s migrationSet) pending(applied map[int64]string) ([]migration, error) {
	known := int64(len(s.migrations))
	var newest int64
	for v := range applied {
		newest = max(newest, v)
	}
	if newest > known {
		return nil, &MigrationError{Package: s.pkg, Err: &DatabaseNewerError{Package: s.pkg, DatabaseVersion: newest, CodeVersion: known}}
	}
	var pending []migration
	for _, m := range s.migrations {
		name, ok := applied[m.version]
		switch {
		case ok && name != m.name:
			return nil, m.error(fmt.Errorf("%w: the database applied version %d as %s", ErrMigrationMismatch, m.version, name))
		case !ok && m.version < newest:
			return nil, m.error(fmt.Errorf("%w: version %d was never applied but version %d was", ErrMigrationGap, m.version, newest))
		case !ok:
			pending = append(pending, m)
		}
	}
	return pending, nil
}
