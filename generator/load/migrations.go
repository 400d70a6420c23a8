package load

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/syncgen/syncgen/generator/model"
	"github.com/syncgen/syncgen/generator/schema"
)

// migrationsDir is the directory, inside a package, of its migrations and snapshot.
const migrationsDir = "migrations"

// Migrations reads what each package's migrations/ directory holds, in the order of pkgs,
// for the pure comparison in package schema. workDir is the directory the user runs from:
// diagnostics' hints name the directories relative to it.
func Migrations(workDir string, pkgs []*model.Package) ([]schema.Existing, error) {
	out := make([]schema.Existing, len(pkgs))
	for i, p := range pkgs {
		var err error
		if out[i], err = readMigrations(p, workDir); err != nil {
			return nil, fmt.Errorf("%s: %w", p.Path, err)
		}
	}
	return out, nil
}

// readMigrations reads one package's migrations/ directory: the snapshot and every .sql
// file. A missing directory is a package that has none yet. Show is how the user refers to
// the directory from the working directory, for the hints of diagnostics.
func readMigrations(p *model.Package, workDir string) (schema.Existing, error) {
	dir := filepath.Join(p.Dir, migrationsDir)
	ex := schema.Existing{Dir: dir, Show: migrationsDir, SQL: map[string][]byte{}}
	if rel, err := filepath.Rel(workDir, dir); err == nil && !strings.HasPrefix(rel, "..") {
		ex.Show = filepath.ToSlash(rel)
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return ex, nil
	}
	if err != nil {
		return ex, fmt.Errorf("read migrations: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || name != schema.SnapshotFile && !strings.HasSuffix(name, ".sql") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return ex, fmt.Errorf("read migrations: %w", err)
		}
		if name == schema.SnapshotFile {
			if data == nil {
				data = []byte{} // present but empty: not the same as absent
			}
			ex.Snapshot = data
			continue
		}
		ex.SQL[name] = data
	}
	return ex, nil
}
