package server

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/syncgen/syncgen/internal/testmod"
	"github.com/syncgen/syncgen/runtime"
)

func openTestPostgres(t *testing.T) *runtime.DB {
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
		if err := migrate(ctx, db); err != nil {
			t.Fatalf("migrate #%d: %v", i+1, err)
		}
	}
	rows := appliedRows(t, db)
	if len(rows) != 3 || rows[0].Package != migrationsPackage || rows[0].Version != 1 || rows[0].Name != "0001_server.sql" ||
		rows[1].Version != 2 || rows[1].Name != "0002_keys_per_user.sql" || rows[2].Version != 3 || rows[2].Name != "0003_scopes.sql" {
		t.Fatalf("syncgen_migrations = %+v, want versions 1 to 3 of the server once", rows)
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
	var dbs [2]*runtime.DB
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
		wg.Go(func() { errs[i] = migrate(context.Background(), db) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("migrate #%d: %v", i+1, err)
		}
	}
	if rows := appliedRows(t, dbs[0]); len(rows) != 3 {
		t.Fatalf("syncgen_migrations = %+v, want one row per migration", rows)
	}
	var n int
	if err := dbs[1].Reader().Get(&n, "SELECT count(*) FROM syncgen_server_counters"); err != nil || n != 1 {
		t.Fatalf("counters: %d rows, %v; want 1", n, err)
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

type appliedRow struct {
	Package string `db:"package"`
	Version int64  `db:"version"`
	Name    string `db:"name"`
}

func appliedRows(t *testing.T, db *runtime.DB) []appliedRow {
	t.Helper()
	var rows []appliedRow
	if err := db.Reader().Select(&rows, "SELECT package, version, name FROM syncgen_migrations ORDER BY package, version"); err != nil {
		t.Fatalf("read syncgen_migrations: %v", err)
	}
	return rows
}
