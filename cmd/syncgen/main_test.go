package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syncgen/syncgen/internal/testmod"
)

const models = `package menu

import "time"

//go:generate go tool syncgen

type Pizza struct {
	ID        string    ` + "`json:\"id\" sync:\"unique\"`" + `
	Name      string    ` + "`json:\"name\" sync:\"index\"`" + `
	UpdatedAt time.Time ` + "`json:\"updatedAt\" sync:\"updatedAt\"`" + `
}
`

// syncgen runs the command in dir, as go generate would.
func syncgen(t *testing.T, dir string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// snapshot reads every file below dir.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			data, _ := os.ReadFile(path)
			files[path] = string(data)
		}
		return nil
	})
	return files
}

func sameFiles(t *testing.T, before, after map[string]string) {
	t.Helper()
	if len(before) != len(after) {
		t.Fatalf("files changed: %d before, %d after", len(before), len(after))
	}
	for path, data := range before {
		if after[path] != data {
			t.Fatalf("%s changed", path)
		}
	}
}

func TestCheckThenStale(t *testing.T) {
	dir := testmod.New(t, map[string]string{"menu/pizza.go": models})
	pkg := filepath.Join(dir, "menu")

	if code, _, stderr := syncgen(t, pkg, "-v"); code != 0 {
		t.Fatalf("generate: exit %d\n%s", code, stderr)
	}
	for _, name := range []string{"pizza_syncgen.go", "repository_syncgen.go"} {
		if _, err := os.Stat(filepath.Join(pkg, name)); err != nil {
			t.Fatalf("not generated: %v", err)
		}
	}
	testmod.Go(t, dir, "mod", "tidy")
	testmod.Go(t, dir, "vet", "./...")

	if code, stdout, stderr := syncgen(t, pkg, "-check"); code != 0 {
		t.Fatalf("-check on fresh output: exit %d\n%s%s", code, stdout, stderr)
	}
	before := snapshot(t, dir)
	if code, _, _ := syncgen(t, pkg); code != 0 {
		t.Fatal("rerun failed")
	}
	sameFiles(t, before, snapshot(t, dir))

	// Add a field: -check fails with a diff naming the file, and writes nothing.
	changed := strings.Replace(models, "\tUpdatedAt", "\tPrice     int       `json:\"price\"`\n\tUpdatedAt", 1)
	testmod.Write(t, dir, map[string]string{"menu/pizza.go": changed})
	before = snapshot(t, dir)
	code, stdout, stderr := syncgen(t, pkg, "-check")
	if code != 1 {
		t.Fatalf("-check after adding a field: exit %d, want 1\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "--- a/pizza_syncgen.go") || !strings.Contains(stdout, `+		{Field: "Price"`) {
		t.Fatalf("-check diff does not show the new column:\n%s", stdout)
	}
	sameFiles(t, before, snapshot(t, dir))

	// The stale generated code does not compile, and says what to do.
	out, err := testmod.GoErr(dir, "build", "./...")
	if err == nil || !strings.Contains(out, "pizzaFieldsChanged_RerunGoGenerate") {
		t.Fatalf("stale code should fail to build naming the guard; err=%v\n%s", err, out)
	}
	if code, _, stderr := syncgen(t, pkg); code != 0 {
		t.Fatalf("regenerate: exit %d\n%s", code, stderr)
	}
	testmod.Go(t, dir, "build", "./...")

	// A changed tag alone still compiles, but NewRepository refuses the stale code.
	testmod.Write(t, dir, map[string]string{
		"menu/pizza.go": strings.Replace(changed, `json:"name"`, `json:"title"`, 1),
		"menu/stale_test.go": `package menu

import (
	"errors"
	"testing"

	"github.com/syncgen/syncgen/runtime"
)

func TestStale(t *testing.T) {
	db, err := runtime.OpenSQLite(":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := NewRepository(db, nil); !errors.Is(err, runtime.ErrStaleGeneratedCode) {
		t.Fatalf("NewRepository with changed tags: %v", err)
	}
}
`})
	testmod.Go(t, dir, "test", "./menu")
}

func TestDiagnosticsWriteNothing(t *testing.T) {
	bad := `package menu

type Pizza struct {
	ID    int    ` + "`sync:\"unique\"`" + `
	Name  string ` + "`sync:\"indx\"`" + `
}

type Topping struct {
	ID    string ` + "`sync:\"unique,local\"`" + `
}
`
	dir := testmod.New(t, map[string]string{"menu/pizza.go": bad})
	pkg := filepath.Join(dir, "menu")
	before := snapshot(t, dir)
	code, _, stderr := syncgen(t, pkg)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, stderr)
	}
	want := []string{
		`pizza.go:4:15: Pizza.ID: sync:"unique" needs a string field, found int`,
		`pizza.go:5:15: Pizza.Name: unknown sync option "indx"`,
		`pizza.go:9:15: Topping.ID: sync:"unique" cannot be combined with "local"`,
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) != len(want) {
		t.Fatalf("want %d diagnostics, got:\n%s", len(want), stderr)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d: got %q, want prefix %q", i, lines[i], w)
		}
	}
	sameFiles(t, before, snapshot(t, dir))
}

func TestOrphanRemoved(t *testing.T) {
	two := models + "\ntype Topping struct {\n\tID string `sync:\"unique\"`\n}\n"
	dir := testmod.New(t, map[string]string{"menu/pizza.go": two})
	pkg := filepath.Join(dir, "menu")
	if code, _, stderr := syncgen(t, pkg); code != 0 {
		t.Fatal(stderr)
	}
	orphan := filepath.Join(pkg, "topping_syncgen.go")
	if _, err := os.Stat(orphan); err != nil {
		t.Fatal(err)
	}
	testmod.Write(t, dir, map[string]string{"menu/pizza.go": models})
	// Dropping a model drops its table: destructive, so the flag is needed.
	code, stdout, _ := syncgen(t, pkg, "-check", "-allow-destructive")
	if code != 1 || !strings.Contains(stdout, "+++ /dev/null") {
		t.Fatalf("-check should report the orphan: exit %d\n%s", code, stdout)
	}
	if _, err := os.Stat(orphan); err != nil {
		t.Fatal("-check removed a file")
	}
	if code, _, stderr := syncgen(t, pkg, "-v", "-allow-destructive"); code != 0 || !strings.Contains(stderr, "removed") {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Fatal("orphan not removed")
	}
}

func TestUsage(t *testing.T) {
	if code, _, _ := syncgen(t, t.TempDir(), "-nope"); code != 2 {
		t.Fatalf("unknown flag: exit %d, want 2", code)
	}
}

// ./... covers every package of a module, most of which have no models: they are skipped,
// and only a run where no package has models is a mistake.
func TestPackagesWithoutModelsAreSkipped(t *testing.T) {
	dir := testmod.New(t, map[string]string{
		"menu/pizza.go":   models,
		"cmd/app/main.go": "package main\n\nfunc main() {}\n",
	})
	if code, _, stderr := syncgen(t, dir, "./..."); code != 0 {
		t.Fatalf("syncgen ./...: exit %d: %s", code, stderr)
	}
	if code, stdout, stderr := syncgen(t, dir, "-check", "./..."); code != 0 {
		t.Fatalf("syncgen -check ./...: exit %d: %s%s", code, stdout, stderr)
	}
	code, _, stderr := syncgen(t, dir, "./cmd/...")
	if code != 1 || !strings.Contains(stderr, "package example.com/app/cmd/app has no models") {
		t.Fatalf("syncgen ./cmd/...: exit %d: %s", code, stderr)
	}
}
