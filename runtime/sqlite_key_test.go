package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// secret marks the records of the encryption tests: it must not appear in any file.
const secret = "quattro-formaggi-7f3a"

func keyOf(key []byte) KeyFunc {
	return func(context.Context) ([]byte, error) { return key, nil }
}

func mustKey(t *testing.T) []byte {
	t.Helper()
	key, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func needEncryption(t *testing.T) {
	t.Helper()
	if !sqliteEncrypts {
		t.Skipf("%s does not encrypt: run with -tags syncgen_purego", SQLiteDriver)
	}
}

// writeSecrets creates a table of records that carry secret, in a database opened
// with opts, and migrates it. It returns the DB still open.
func writeSecrets(t *testing.T, path string, opts ...SQLiteOption) *DB {
	t.Helper()
	ctx := context.Background()
	db, err := OpenSQLite(path, opts...)
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	if err := Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Writer().Exec("CREATE TABLE pizzas (id TEXT PRIMARY KEY, name TEXT)"); err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		if _, err := db.Writer().Exec("INSERT INTO pizzas VALUES (?, ?)", fmt.Sprint(i), fmt.Sprintf("%s %d", secret, i)); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// filesShow reports which files of dir contain needle, as strings(1) would find it.
func filesShow(t *testing.T, dir, needle string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte(needle)) {
			found = append(found, e.Name())
		}
	}
	return found
}

func countSecrets(t *testing.T, db *DB) int {
	t.Helper()
	var n int
	if err := db.Reader().Get(&n, "SELECT count(*) FROM pizzas WHERE name LIKE ?", secret+"%"); err != nil {
		t.Fatalf("read the records: %v", err)
	}
	return n
}

// TestEncryptedAtRest: with WithKey no file of the database (the database, its WAL, its
// shared-memory index) holds the records, while open and after Close; the sqlite3 shell
// cannot read it; the same key reads it back. The same writes without a key show the
// records, so the check can see them.
func TestEncryptedAtRest(t *testing.T) {
	needEncryption(t)
	plainDir := t.TempDir()
	plain := writeSecrets(t, filepath.Join(plainDir, "plain.db"))
	plain.Close()
	if got := filesShow(t, plainDir, secret); len(got) == 0 {
		t.Fatal("the records do not show in the plain database: the check sees nothing")
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "app.db")
	key := mustKey(t)
	db := writeSecrets(t, path, WithKey(keyOf(key)))
	if got := filesShow(t, dir, secret); len(got) > 0 {
		t.Errorf("while open, the records show in %v", got)
	}
	if got := filesShow(t, dir, "SQLite format 3"); len(got) > 0 {
		t.Errorf("while open, a SQLite header shows in %v", got)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if got := filesShow(t, dir, secret); len(got) > 0 {
		t.Errorf("after Close, the records show in %v", got)
	}

	if bin, err := exec.LookPath("sqlite3"); err == nil {
		out, err := exec.Command(bin, path, "SELECT name FROM pizzas LIMIT 1").CombinedOutput()
		if err == nil || strings.Contains(string(out), secret) || !strings.Contains(string(out), "not a database") {
			t.Errorf("sqlite3 shell on the encrypted file: %v\n%s", err, out)
		}
	} else if os.Getenv("CI") != "" {
		t.Fatal("sqlite3 is not installed: .ci/run installs it")
	}

	db = openTestDB(t, path, WithKey(keyOf(key)))
	if n := countSecrets(t, db); n != 200 {
		t.Fatalf("records read back with the key: %d, want 200", n)
	}
	for i, p := range poolPragmas(t, db.Reader(), 2) {
		if want := (connPragmas{journalMode: "wal", busyTimeout: 5000, foreignKeys: 1, synchronous: 2, queryOnly: 1}); p != want {
			t.Errorf("encrypted reader %d: %+v, want %+v", i, p, want)
		}
	}
}

func TestWrongKey(t *testing.T) {
	needEncryption(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "app.db")
	writeSecrets(t, path, WithKey(keyOf(mustKey(t)))).Close()
	plainPath := filepath.Join(dir, "plain.db")
	writeSecrets(t, plainPath).Close()

	for _, tt := range []struct {
		name, path string
		opts       []SQLiteOption
		want       string
	}{
		{"another key", path, []SQLiteOption{WithKey(keyOf(mustKey(t)))}, "wrong key: the key does not open this database"},
		{"no key", path, nil, "the file is encrypted, or not a database: open it WithKey"},
		{"key for a plain database", plainPath, []SQLiteOption{WithKey(keyOf(mustKey(t)))}, "the database is not encrypted"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db, err := OpenSQLite(tt.path, tt.opts...)
			if err == nil {
				db.Close()
				t.Fatal("OpenSQLite succeeded")
			}
			if !errors.Is(err, ErrWrongKey) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want ErrWrongKey saying %q", err, tt.want)
			}
		})
	}

	t.Run("bad keys", func(t *testing.T) {
		keychain := errors.New("keychain locked")
		for _, c := range []struct {
			key  KeyFunc
			want string
		}{
			{keyOf(make([]byte, 16)), "key: 16 bytes, want 32"},
			{func(context.Context) ([]byte, error) { return nil, keychain }, "key: keychain locked"},
		} {
			_, err := OpenSQLite(filepath.Join(dir, "new.db"), WithKey(c.key))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want %q", err, c.want)
			}
		}
		_, err := OpenSQLite(filepath.Join(dir, "new.db"), WithKey(func(context.Context) ([]byte, error) { return nil, keychain }))
		if !errors.Is(err, keychain) {
			t.Errorf("err = %v does not wrap the key function's error", err)
		}
		if _, err := OpenSQLite(":memory:", WithKey(keyOf(mustKey(t)))); err == nil || !strings.Contains(err.Error(), "in-memory") {
			t.Errorf("in-memory with a key: err = %v", err)
		}
	})
}

// TestRekeySQLite changes a database's key, decrypts it, encrypts it again, and refuses
// a wrong old key and a database still open, changing nothing.
func TestRekeySQLite(t *testing.T) {
	needEncryption(t)
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "app.db")
	a, b := mustKey(t), mustKey(t)
	writeSecrets(t, path, WithKey(keyOf(a))).Close()

	reads := func(t *testing.T, opts ...SQLiteOption) {
		t.Helper()
		db, err := OpenSQLite(path, opts...)
		if err != nil {
			t.Fatalf("open after rekey: %v", err)
		}
		defer db.Close()
		if n := countSecrets(t, db); n != 200 {
			t.Fatalf("records: %d, want 200", n)
		}
	}

	if err := RekeySQLite(ctx, path, keyOf(a), keyOf(b)); err != nil {
		t.Fatalf("RekeySQLite a→b: %v", err)
	}
	reads(t, WithKey(keyOf(b)))
	if _, err := OpenSQLite(path, WithKey(keyOf(a))); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("the old key after rekey: err = %v, want ErrWrongKey", err)
	}

	if err := RekeySQLite(ctx, path, keyOf(a), keyOf(b)); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("rekey with a wrong old key: err = %v, want ErrWrongKey", err)
	}
	reads(t, WithKey(keyOf(b)))

	open := openTestDB(t, path, WithKey(keyOf(b)))
	err := RekeySQLite(ctx, path, keyOf(b), keyOf(a))
	if err == nil || !strings.Contains(err.Error(), "open elsewhere") {
		t.Fatalf("rekey of an open database: err = %v", err)
	}
	if n := countSecrets(t, open); n != 200 {
		t.Fatalf("the open database after the refused rekey: %d records", n)
	}
	open.Close()

	if err := RekeySQLite(ctx, path, keyOf(b), nil); err != nil {
		t.Fatalf("decrypt: %v", err)
	}
	reads(t)
	if got := filesShow(t, dir, secret); len(got) == 0 {
		t.Fatal("the decrypted database does not show its records")
	}

	if err := RekeySQLite(ctx, path, nil, keyOf(a)); err != nil {
		t.Fatalf("encrypt a plain database: %v", err)
	}
	reads(t, WithKey(keyOf(a)))
	if got := filesShow(t, dir, secret); len(got) > 0 {
		t.Errorf("after encrypting, the records show in %v", got)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".rekey-") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

func TestEncryptionUnsupported(t *testing.T) {
	if sqliteEncrypts {
		t.Skipf("%s encrypts", SQLiteDriver)
	}
	path := filepath.Join(t.TempDir(), "app.db")
	if _, err := OpenSQLite(path, WithKey(keyOf(make([]byte, KeySize)))); !errors.Is(err, ErrEncryptionUnsupported) {
		t.Errorf("OpenSQLite WithKey: err = %v, want ErrEncryptionUnsupported", err)
	}
	if err := RekeySQLite(context.Background(), path, nil, keyOf(make([]byte, KeySize))); !errors.Is(err, ErrEncryptionUnsupported) {
		t.Errorf("RekeySQLite: err = %v, want ErrEncryptionUnsupported", err)
	}
}
