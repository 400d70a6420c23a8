package runtime_test

import (
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/pressly/goose/v3"

	"github.com/syncgen/syncgen/internal/testmod"
	"github.com/syncgen/syncgen/runtime"
)

// generatedMigrations gathers the files of a testdata case in the order a package would
// hold them: the case's existing migrations, then the one syncgen wrote.
func generatedMigrations(t *testing.T, testCase string) fstest.MapFS {
	t.Helper()
	files := fstest.MapFS{}
	for _, dir := range []string{"input", "expected"} {
		matches, _ := filepath.Glob(filepath.Join(testmod.Root(t), "testdata", testCase, dir, "migrations", "*.sql"))
		for _, m := range matches {
			data, err := os.ReadFile(m)
			if err != nil {
				t.Fatal(err)
			}
			files[filepath.Base(m)] = &fstest.MapFile{Data: data}
		}
	}
	if len(files) < 2 {
		t.Fatalf("%s: want at least two migrations, found %d", testCase, len(files))
	}
	return files
}

// schemaOf lists a database's tables and indexes as SQLite stores their SQL, leaving out
// each tool's own bookkeeping tables.
func schemaOf(t *testing.T, db *sql.DB) string {
	t.Helper()
	rows, err := db.Query(`SELECT sql FROM sqlite_master WHERE sql IS NOT NULL
		AND name NOT LIKE 'syncgen_%' AND name NOT LIKE 'goose_%' AND name NOT LIKE 'sqlite_%'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	space := regexp.MustCompile(`\s+`)
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, space.ReplaceAllString(s, " "))
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

func migrateWithRuntime(t *testing.T, files fstest.MapFS) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "runtime.db")
	db, err := runtime.OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := runtime.Migrate(context.Background(), db, runtime.Migrations{Package: "example.com/app", FS: files}); err != nil {
		t.Fatal(err)
	}
	return schemaOf(t, db.Reader().DB)
}

// TestGooseAppliesTheSameFiles: the generated files are goose migrations; goose and
// runtime.Migrate are alternatives that must build the same schema, rebuilds included.
func TestGooseAppliesTheSameFiles(t *testing.T) {
	for _, tc := range []string{"migrate-add-field", "migrate-destructive", "migrate-rename-table"} {
		t.Run(tc, func(t *testing.T) {
			files := generatedMigrations(t, tc)
			db, err := sql.Open("sqlite3", filepath.Join(t.TempDir(), "goose.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			provider, err := goose.NewProvider(goose.DialectSQLite3, db, files)
			if err != nil {
				t.Fatal(err)
			}
			results, err := provider.Up(context.Background())
			if err != nil {
				t.Fatalf("goose up: %v", err)
			}
			if len(results) != len(files) {
				t.Fatalf("goose applied %d of %d files", len(results), len(files))
			}
			if got, want := schemaOf(t, db), migrateWithRuntime(t, files); got != want {
				t.Fatalf("goose built\n%s\nruntime.Migrate built\n%s", got, want)
			}
		})
	}
}

// TestSQLiteCLIAppliesUpSections: a user without Go tooling can apply the Up sections with
// the sqlite3 command-line shell.
func TestSQLiteCLIAppliesUpSections(t *testing.T) {
	bin, err := exec.LookPath("sqlite3")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("sqlite3 is not installed: .ci/run installs it")
		}
		t.Skip("sqlite3 CLI not installed (apt-get install sqlite3)")
	}
	files := generatedMigrations(t, "migrate-destructive")
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	path := filepath.Join(t.TempDir(), "cli.db")
	for _, name := range names {
		text := string(files[name].Data)
		up := text[strings.Index(text, "-- +goose Up"):strings.Index(text, "-- +goose Down")]
		cmd := exec.Command(bin, "-bail", path)
		cmd.Stdin = strings.NewReader(up)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sqlite3 %s: %v\n%s", name, err, out)
		}
	}
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got, want := schemaOf(t, db), migrateWithRuntime(t, files); got != want {
		t.Fatalf("sqlite3 built\n%s\nruntime.Migrate built\n%s", got, want)
	}
}
