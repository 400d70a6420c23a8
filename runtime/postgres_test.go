package runtime

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/syncgen/syncgen/internal/testmod"
)

func openTestPostgres(t *testing.T) *DB {
	t.Helper()
	db, err := OpenPostgres(testmod.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestPostgresServerMigrations(t *testing.T) {
	db := openTestPostgres(t)
	ctx := context.Background()
	for i := range 2 { // the second finds nothing pending
		if err := migrateServer(ctx, db); err != nil {
			t.Fatalf("migrateServer #%d: %v", i+1, err)
		}
	}
	rows := appliedRows(t, db)
	if len(rows) != 1 || rows[0].Package != runtimePackage+"/server" || rows[0].Version != 1 || rows[0].Name != "0001_server.sql" {
		t.Fatalf("syncgen_migrations = %+v, want version 1 of the server once", rows)
	}

	var seq int64
	if err := db.Reader().Get(&seq, db.Reader().Rebind("SELECT value FROM syncgen_server_counters WHERE name = ?"), "seq"); err != nil {
		t.Fatalf("read seq: %v", err)
	}
	if seq != 0 {
		t.Fatalf("seq = %d, want 0", seq)
	}
	q := db.Writer().Rebind("UPDATE syncgen_server_counters SET value = value + 1 WHERE name = ? RETURNING value")
	if q != "UPDATE syncgen_server_counters SET value = value + 1 WHERE name = $1 RETURNING value" {
		t.Fatalf("Rebind = %q, want $1", q)
	}
	for want := int64(1); want <= 2; want++ {
		if err := db.Writer().Get(&seq, q, "seq"); err != nil {
			t.Fatalf("increment seq: %v", err)
		}
		if seq != want {
			t.Fatalf("seq = %d, want %d", seq, want)
		}
	}

	// Writer and Reader are one pool: Close closes it once, and again is harmless.
	if db.Writer() != db.Reader() {
		t.Error("Writer and Reader are different pools")
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := db.Writer().Ping(); err == nil {
		t.Fatal("the pool still answers after Close")
	}
}

// Two processes starting at once both succeed; one applies, the other waits on the
// advisory lock and then finds nothing pending.
func TestPostgresConcurrentMigrate(t *testing.T) {
	dsn := testmod.Postgres(t)
	var dbs [2]*DB
	for i := range dbs {
		db, err := OpenPostgres(dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs[i] = db
	}
	var wg sync.WaitGroup
	errs := make([]error, len(dbs))
	for i, db := range dbs {
		wg.Go(func() { errs[i] = migrateServer(context.Background(), db) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("migrateServer #%d: %v", i+1, err)
		}
	}
	if rows := appliedRows(t, dbs[0]); len(rows) != 1 {
		t.Fatalf("syncgen_migrations = %+v, want one row", rows)
	}
	var n int
	if err := dbs[1].Reader().Get(&n, "SELECT count(*) FROM syncgen_server_counters"); err != nil || n != 1 {
		t.Fatalf("counters: %d rows, %v; want 1", n, err)
	}
}

// PostgreSQL's DDL is transactional: a migration failing half-way leaves nothing.
func TestPostgresMigrationFailureRollsBack(t *testing.T) {
	db := openTestPostgres(t)
	err := migrateSets(context.Background(), db, []Migrations{menu(map[string]string{
		"0001_t.sql": "CREATE TABLE t (id TEXT PRIMARY KEY);\nINSERT INTO nowhere VALUES (1);",
	})})
	var merr *MigrationError
	if !errors.As(err, &merr) || merr.File != "0001_t.sql" || merr.Line != 3 {
		t.Fatalf("err = %v, want a MigrationError at 0001_t.sql line 3", err)
	}
	var n int
	if err := db.Reader().Get(&n, "SELECT count(*) FROM information_schema.tables WHERE table_name IN ('t', 'syncgen_migrations')"); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d tables left after the failed migration, want 0", n)
	}
}

func TestPostgresRefusesNoTransaction(t *testing.T) {
	db := openTestPostgres(t)
	for name, sql := range map[string]string{
		"NO TRANSACTION": rebuildSQL,
		"COMMIT":         "CREATE TABLE t (id TEXT);\nCOMMIT;",
	} {
		err := migrateSets(context.Background(), db, []Migrations{menu(map[string]string{"0001_t.sql": sql})})
		if !errors.Is(err, ErrInvalidMigration) {
			t.Errorf("%s: err = %v, want ErrInvalidMigration", name, err)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	// Refused before anything ran.
	var n int
	if err := db.Reader().Get(&n, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d tables after refused migrations, want 0", n)
	}
}

func TestOpenPostgresBadDSN(t *testing.T) {
	for _, dsn := range []string{
		"postgres://%zz",
		"host=/nonexistent-syncgen-dir port=1 user=nobody dbname=none sslmode=disable connect_timeout=2",
	} {
		db, err := OpenPostgres(dsn)
		if err == nil {
			db.Close()
			t.Errorf("OpenPostgres(%q) succeeded", dsn)
			continue
		}
		if !strings.HasPrefix(err.Error(), "open postgres: ") {
			t.Errorf("OpenPostgres(%q) = %v, want an error starting with open postgres", dsn, err)
		}
	}

	// A database that does not exist on a server that does.
	u, err := url.Parse(testmod.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/syncgen_no_such_database"
	if db, err := OpenPostgres(u.String()); err == nil {
		db.Close()
		t.Fatal("OpenPostgres of a missing database succeeded")
	} else if !strings.Contains(err.Error(), "syncgen_no_such_database") {
		t.Fatalf("err = %v, want it to name the database", err)
	}
}
