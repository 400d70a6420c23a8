package server

import (
	"context"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/syncgen/syncgen/runtime"
)

func TestServerMigrationsApplyOnSQLite(t *testing.T) {
	ctx := context.Background()
	db, err := runtime.OpenSQLite(filepath.Join(t.TempDir(), "server.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for range 2 { // a second run finds nothing to do
		if err := migrate(ctx, db); err != nil {
			t.Fatal(err)
		}
	}
	var seq int64
	if err := db.Reader().QueryRowContext(ctx, `SELECT value FROM syncgen_server_counters WHERE name = 'seq'`).Scan(&seq); err != nil || seq != 0 {
		t.Fatalf("seq counter: %d, %v", seq, err)
	}
}

// A database from before keys belonged to users keeps its keys, owned by no user: a
// server without authentication replays them as before.
func TestServerMigrationKeepsOldKeys(t *testing.T) {
	ctx := context.Background()
	db, err := runtime.OpenSQLite(filepath.Join(t.TempDir(), "server.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	first, err := migrations.ReadFile("migrations/0001_server.sql")
	if err != nil {
		t.Fatal(err)
	}
	old := fstest.MapFS{"migrations/0001_server.sql": {Data: first}}
	if err := runtime.ApplyMigrations(ctx, db, runtime.Migrations{Package: migrationsPackage, FS: old, Dir: "migrations"}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Writer().ExecContext(ctx, `INSERT INTO syncgen_server_keys (key, hash, status, answer, created_at)
		VALUES ('c:1', 'h', 201, '{}', '2026-01-01T00:00:00.000000000Z')`); err != nil {
		t.Fatal(err)
	}
	if err := migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	var owner, hash string
	if err := db.Reader().QueryRowContext(ctx, `SELECT owner, hash FROM syncgen_server_keys WHERE key = 'c:1'`).Scan(&owner, &hash); err != nil || owner != "" || hash != "h" {
		t.Fatalf("the old key after the migration: owner %q hash %q, %v", owner, hash, err)
	}
}
