package server

import (
	"context"
	"path/filepath"
	"testing"

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
