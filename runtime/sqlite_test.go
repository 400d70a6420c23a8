package runtime

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
)

func openTestDB(t *testing.T, path string, opts ...SQLiteOption) *DB {
	t.Helper()
	db, err := OpenSQLite(path, opts...)
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

type connPragmas struct {
	journalMode string
	busyTimeout int
	foreignKeys int
	synchronous int
	queryOnly   int
}

// poolPragmas holds n connections of pool at once, so every one of them is
// checked, not the same idle one n times.
func poolPragmas(t *testing.T, pool *sqlx.DB, n int) []connPragmas {
	t.Helper()
	ctx := context.Background()
	var out []connPragmas
	var conns []*sqlx.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := pool.Connx(ctx)
		if err != nil {
			t.Fatalf("Connx: %v", err)
		}
		conns = append(conns, c)
		var p connPragmas
		for _, q := range []struct {
			sql  string
			dest any
		}{
			{"PRAGMA journal_mode", &p.journalMode},
			{"PRAGMA busy_timeout", &p.busyTimeout},
			{"PRAGMA foreign_keys", &p.foreignKeys},
			{"PRAGMA synchronous", &p.synchronous},
			{"PRAGMA query_only", &p.queryOnly},
		} {
			if err := c.GetContext(ctx, q.dest, q.sql); err != nil {
				t.Fatalf("%s: %v", q.sql, err)
			}
		}
		out = append(out, p)
	}
	return out
}

func TestOpenSQLitePragmas(t *testing.T) {
	const readers = 3
	tests := []struct {
		name    string
		opts    []SQLiteOption
		timeout int
		sync    int
	}{
		{"defaults", []SQLiteOption{WithReaders(readers)}, 5000, 2},
		{"options", []SQLiteOption{WithReaders(readers), WithSynchronousNormal(), WithBusyTimeout(1500*time.Millisecond + time.Microsecond)}, 1501, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openTestDB(t, filepath.Join(t.TempDir(), "app.db"), tt.opts...)
			for _, pool := range []struct {
				name      string
				db        *sqlx.DB
				n         int
				queryOnly int
			}{
				{"writer", db.Writer(), 1, 0},
				{"reader", db.Reader(), readers, 1},
			} {
				want := connPragmas{journalMode: "wal", busyTimeout: tt.timeout, foreignKeys: 1, synchronous: tt.sync, queryOnly: pool.queryOnly}
				for i, got := range poolPragmas(t, pool.db, pool.n) {
					if got != want {
						t.Errorf("%s connection %d: pragmas %+v, want %+v", pool.name, i, got, want)
					}
				}
				if got := pool.db.Stats().MaxOpenConnections; got != pool.n {
					t.Errorf("%s: MaxOpenConnections = %d, want %d", pool.name, got, pool.n)
				}
			}
		})
	}
}

// TestOpenSQLiteWriterBeginsImmediate shows the writer's BEGIN takes the
// write lock: a deferred BEGIN would take no lock until the first write.
func TestOpenSQLiteWriterBeginsImmediate(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "app.db")
	a := openTestDB(t, path)
	b := openTestDB(t, path, WithBusyTimeout(0))

	tx, err := a.Writer().BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	_, err = b.Writer().BeginTxx(ctx, nil)
	if err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("second BEGIN while the first holds no write yet: err = %v, want database is locked", err)
	}
	// Readers still read while the writer holds the lock (WAL).
	var n int
	if err := b.Reader().GetContext(ctx, &n, "SELECT count(*) FROM sqlite_master"); err != nil {
		t.Fatalf("read during write transaction: %v", err)
	}
}

func TestOpenSQLiteReaderIsReadOnly(t *testing.T) {
	db := openTestDB(t, filepath.Join(t.TempDir(), "app.db"))
	if _, err := db.Reader().Exec("CREATE TABLE t (a)"); err == nil {
		t.Fatal("CREATE TABLE on the reader pool succeeded")
	}
	if _, err := db.Writer().Exec("CREATE TABLE t (a)"); err != nil {
		t.Fatalf("CREATE TABLE on the writer pool: %v", err)
	}
}

func TestOpenSQLiteMemory(t *testing.T) {
	ctx := context.Background()
	a := openTestDB(t, ":memory:", WithReaders(2))
	b := openTestDB(t, ":memory:")

	if _, err := a.Writer().ExecContext(ctx, "CREATE TABLE t (a TEXT); INSERT INTO t VALUES ('x')"); err != nil {
		t.Fatal(err)
	}
	var got string
	if err := a.Reader().GetContext(ctx, &got, "SELECT a FROM t"); err != nil || got != "x" {
		t.Fatalf("reader of the same in-memory DB: %q, %v; want x", got, err)
	}
	var n int
	if err := b.Writer().GetContext(ctx, &n, "SELECT count(*) FROM sqlite_master WHERE name = 't'"); err != nil || n != 0 {
		t.Fatalf("another in-memory DB sees table t: count %d, err %v", n, err)
	}

	for i, p := range poolPragmas(t, a.Reader(), 2) {
		want := connPragmas{journalMode: "memory", busyTimeout: 5000, foreignKeys: 1, synchronous: 2, queryOnly: 1}
		if p != want {
			t.Errorf("memory reader %d: %+v, want %+v", i, p, want)
		}
	}
	if p := poolPragmas(t, a.Writer(), 1)[0]; p.foreignKeys != 1 || p.queryOnly != 0 || p.synchronous != 2 {
		t.Errorf("memory writer: %+v", p)
	}
}

func TestOpenSQLiteErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("this is not a database\n", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, want string
		opts             []SQLiteOption
	}{
		{"missing directory", filepath.Join(dir, "no", "such", "dir", "app.db"), "unable to open database file", nil},
		{"a directory", dir, "unable to open database file", nil},
		{"not a database", garbage, "file is not a database", nil},
		{"empty path", "", "empty path", nil},
		{"uri", "file:app.db?mode=ro", "a URI is not a path", nil},
		{"no readers", filepath.Join(dir, "a.db"), "0 readers", []SQLiteOption{WithReaders(0)}},
		{"negative timeout", filepath.Join(dir, "a.db"), "negative busy timeout", []SQLiteOption{WithBusyTimeout(-time.Second)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := OpenSQLite(tt.path, tt.opts...)
			if err == nil {
				db.Close()
				t.Fatalf("OpenSQLite(%q) succeeded", tt.path)
			}
			if !strings.HasPrefix(err.Error(), "open sqlite ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("OpenSQLite(%q) = %q, want it to contain %q", tt.path, err, tt.want)
			}
		})
	}
}

func TestOpenSQLiteOddPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a?b#c%d e.db")
	db := openTestDB(t, path)
	if _, err := db.Writer().Exec("CREATE TABLE t (a)"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at its path: %v", err)
	}
}

func TestDBCloseIdempotent(t *testing.T) {
	db, err := OpenSQLite(filepath.Join(t.TempDir(), "app.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := db.Writer().Ping(); err == nil {
		t.Fatal("writer usable after Close")
	}
	if err := db.Reader().Ping(); err == nil {
		t.Fatal("reader usable after Close")
	}
	if err := new(DB).Close(); err != nil {
		t.Fatalf("Close of a zero DB: %v", err)
	}
}
