package runtime

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// appPools opens a writer and a reader the way an app with its own SQLite
// code would: database/sql with the driver this build registers as
// "sqlite3", one connection each, set up with PRAGMAs that stay with the
// connection. change edits the PRAGMAs, by pool, before they run.
func appPools(t *testing.T, path, writerTxlock string, change func(writer, reader map[string]string)) (w, r *sql.DB) {
	t.Helper()
	writer := map[string]string{"busy_timeout": "5000", "journal_mode": "WAL", "foreign_keys": "ON", "synchronous": "FULL"}
	reader := map[string]string{"busy_timeout": "5000", "foreign_keys": "ON", "query_only": "ON"}
	if change != nil {
		change(writer, reader)
	}
	open := func(dsn string, pragmas map[string]string) *sql.DB {
		db, err := sql.Open("sqlite3", dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		db.SetMaxOpenConns(1)
		// busy_timeout first, as a driver runs it, then the rest in a fixed order.
		for _, name := range []string{"busy_timeout", "journal_mode", "foreign_keys", "synchronous", "query_only"} {
			if v, ok := pragmas[name]; ok {
				if _, err := db.Exec("PRAGMA " + name + " = " + v); err != nil {
					t.Fatalf("PRAGMA %s: %v", name, err)
				}
			}
		}
		return db
	}
	uri, err := sqliteURI(path)
	if err != nil {
		t.Fatal(err)
	}
	w = open(uri+"?_txlock="+writerTxlock, writer)
	r = open(uri+"?_txlock=deferred", reader)
	return w, r
}

// TestAdoptSQLite: an app's pools set up right are used as they are, by Migrate and
// the repository's SQL alike, and Close leaves them open.
func TestAdoptSQLite(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "app.db")
	w, r := appPools(t, path, "immediate", nil)
	if _, err := w.Exec("CREATE TABLE app_notes (id INTEGER PRIMARY KEY, body TEXT)"); err != nil {
		t.Fatal(err)
	}
	db, err := AdoptSQLite(ctx, w, r)
	if err != nil {
		t.Fatalf("AdoptSQLite: %v", err)
	}
	// The BEGIN IMMEDIATE test lifted the reader's query_only and busy timeout; they are back.
	var queryOnly, timeout int
	if err := r.QueryRow("PRAGMA query_only").Scan(&queryOnly); err != nil || queryOnly != 1 {
		t.Errorf("reader query_only after AdoptSQLite: %d, %v", queryOnly, err)
	}
	if err := r.QueryRow("PRAGMA busy_timeout").Scan(&timeout); err != nil || timeout != 5000 {
		t.Errorf("reader busy_timeout after AdoptSQLite: %d, %v", timeout, err)
	}
	if err := Migrate(ctx, db); err != nil {
		t.Fatalf("Migrate on adopted pools: %v", err)
	}
	var n int
	if err := db.Reader().Get(&n, "SELECT count(*) FROM sqlite_master WHERE name IN ('app_notes', 'syncgen_outbox')"); err != nil || n != 2 {
		t.Fatalf("tables of the app and of syncgen: %d, %v; want 2", n, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Ping(); err != nil {
		t.Errorf("the app's writer after DB.Close: %v", err)
	}
	if err := r.Ping(); err != nil {
		t.Errorf("the app's reader after DB.Close: %v", err)
	}
}

func TestAdoptSQLiteRefuses(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		txlock string
		change func(w, r map[string]string)
		setup  func(w, r *sql.DB)
		opts   []SQLiteOption
		want   []string // each a problem the error must name
	}{
		{name: "deferred writer", txlock: "deferred", want: []string{"begin DEFERRED, want IMMEDIATE"}},
		{name: "rollback journal", change: func(w, r map[string]string) { w["journal_mode"] = "DELETE" }, want: []string{"journal_mode is delete, want WAL"}},
		{name: "no foreign keys", change: func(w, r map[string]string) { w["foreign_keys"] = "OFF" }, want: []string{"writer has foreign_keys=OFF"}},
		{name: "synchronous normal", change: func(w, r map[string]string) { w["synchronous"] = "NORMAL" }, want: []string{"writer has synchronous=NORMAL, want FULL"}},
		{name: "synchronous off with WithSynchronousNormal", change: func(w, r map[string]string) { w["synchronous"] = "OFF" }, opts: []SQLiteOption{WithSynchronousNormal()},
			want: []string{"writer has synchronous=OFF, want NORMAL or FULL"}},
		{name: "reader writes", change: func(w, r map[string]string) { delete(r, "query_only") }, want: []string{"reader is not query_only"}},
		{name: "no busy timeouts", change: func(w, r map[string]string) { w["busy_timeout"], r["busy_timeout"] = "0", "0" },
			want: []string{"writer has no busy timeout", "reader has no busy timeout"}},
		{name: "many writers", setup: func(w, r *sql.DB) { w.SetMaxOpenConns(4) }, want: []string{"writer allows 4 connections, want 1"}},
		{name: "unlimited writers and no foreign keys", change: func(w, r map[string]string) { w["foreign_keys"] = "OFF" }, setup: func(w, r *sql.DB) { w.SetMaxOpenConns(0) },
			want: []string{"writer allows unlimited connections", "foreign_keys=OFF"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			txlock := tt.txlock
			if txlock == "" {
				txlock = "immediate"
			}
			w, r := appPools(t, filepath.Join(t.TempDir(), "app.db"), txlock, tt.change)
			if tt.setup != nil {
				tt.setup(w, r)
			}
			db, err := AdoptSQLite(ctx, w, r, tt.opts...)
			if err == nil {
				db.Close()
				t.Fatal("AdoptSQLite succeeded")
			}
			var se *SQLiteSetupError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a *SQLiteSetupError", err)
			}
			if len(se.Problems) != len(tt.want) {
				t.Errorf("problems %q, want %d", se.Problems, len(tt.want))
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if !strings.HasPrefix(err.Error(), "adopt sqlite: ") {
				t.Errorf("error %q lacks the step", err)
			}
		})
	}

	t.Run("two files", func(t *testing.T) {
		w, _ := appPools(t, filepath.Join(t.TempDir(), "a.db"), "immediate", nil)
		_, r := appPools(t, filepath.Join(t.TempDir(), "b.db"), "immediate", nil)
		_, err := AdoptSQLite(ctx, w, r)
		if err == nil || !strings.Contains(err.Error(), "open both on one file") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("bad calls", func(t *testing.T) {
		w, r := appPools(t, filepath.Join(t.TempDir(), "app.db"), "immediate", nil)
		for _, c := range []struct {
			w, r *sql.DB
			opts []SQLiteOption
			want string
		}{
			{nil, r, nil, "nil pool"},
			{w, w, nil, "one pool"},
			{w, r, []SQLiteOption{WithReaders(2)}, "WithReaders does not apply"},
			{w, r, []SQLiteOption{WithBusyTimeout(0)}, "WithBusyTimeout does not apply"},
			{w, r, []SQLiteOption{WithKey(func(context.Context) ([]byte, error) { return nil, nil })}, "WithKey does not apply"},
		} {
			if _, err := AdoptSQLite(ctx, c.w, c.r, c.opts...); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want %q", err, c.want)
			}
		}
	})
}

// TestOpenSQLiteAdoptsAppFile: OpenSQLite takes over an app's database file as it is,
// in rollback-journal mode with the app's tables and data: it switches the file to WAL,
// Migrate adds syncgen's tables beside the app's, and the app's foreign keys hold.
func TestOpenSQLiteAdoptsAppFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "app.db")
	app, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = app.Exec(`PRAGMA journal_mode = DELETE;
		CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT);
		CREATE TABLE orders (id INTEGER PRIMARY KEY, customer INTEGER REFERENCES customers(id));
		INSERT INTO customers VALUES (1, 'Ada');
		INSERT INTO orders VALUES (1, 1);`)
	if cerr := app.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}

	db := openTestDB(t, path)
	if err := Migrate(ctx, db); err != nil {
		t.Fatalf("Migrate beside the app's tables: %v", err)
	}
	var mode string
	if err := db.Reader().Get(&mode, "PRAGMA journal_mode"); err != nil || mode != "wal" {
		t.Fatalf("journal_mode %q, %v; want wal", mode, err)
	}
	var name string
	if err := db.Reader().Get(&name, "SELECT name FROM customers WHERE id = 1"); err != nil || name != "Ada" {
		t.Fatalf("the app's data: %q, %v", name, err)
	}
	if _, err := db.Writer().Exec("INSERT INTO orders VALUES (2, 42)"); err == nil || !strings.Contains(err.Error(), "FOREIGN KEY") {
		t.Fatalf("an order of no customer: err = %v, want a foreign key failure", err)
	}
}

// TestAdoptSQLiteDocumentedDSNs: the data source names docs/SQLITE.md gives for an app's
// own pools pass AdoptSQLite on the driver of this build.
func TestAdoptSQLiteDocumentedDSNs(t *testing.T) {
	dsns := map[string][2]string{ // writer, reader; the file goes where %s is
		"github.com/mattn/go-sqlite3": {
			"file:%s?_journal_mode=WAL&_foreign_keys=1&_synchronous=FULL&_busy_timeout=5000&_txlock=immediate",
			"file:%s?_journal_mode=WAL&_foreign_keys=1&_busy_timeout=5000&_query_only=1",
		},
		"github.com/ncruces/go-sqlite3": {
			"file:%s?_pragma=busy_timeout(5000)&_pragma=journal_mode(wal)&_pragma=foreign_keys(1)&_pragma=synchronous(full)&_txlock=immediate",
			"file:%s?_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=query_only(1)&_txlock=deferred",
		},
	}
	dsn, ok := dsns[SQLiteDriver]
	if !ok {
		t.Fatalf("no documented DSN for %s", SQLiteDriver)
	}
	path := filepath.Join(t.TempDir(), "app.db")
	open := func(format string) *sql.DB {
		db, err := sql.Open("sqlite3", fmt.Sprintf(format, path))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	w, r := open(dsn[0]), open(dsn[1])
	w.SetMaxOpenConns(1)
	if err := w.Ping(); err != nil { // the writer makes the file WAL before the reader looks
		t.Fatal(err)
	}
	db, err := AdoptSQLite(context.Background(), w, r)
	if err != nil {
		t.Fatalf("AdoptSQLite with the documented DSNs: %v", err)
	}
	if err := Migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
}
