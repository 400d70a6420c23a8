// Package generator turns the tagged model structs of Go packages into generated code,
// stage by stage, a package each: load (go/packages, go/types) → model (the IR) → emit (Go,
// with jennifer) and schema (migrations) → write. Generate does everything but the writing
// and returns every file in memory; Changes, Write and Diff are the only places that touch
// the files afterwards.
package generator

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	udiff "github.com/aymanbagabas/go-udiff"

	"github.com/syncgen/syncgen/generator/emit"
	"github.com/syncgen/syncgen/generator/load"
	"github.com/syncgen/syncgen/generator/model"
	"github.com/syncgen/syncgen/generator/schema"
)

// Config is one run of syncgen. The zero Config generates the package in the current
// directory.
type Config struct {
	Dir              string   // working directory; "" is the current one
	Patterns         []string // packages to generate; none means "."
	Tags             []string // the user's build tags ("syncgen" is always added)
	Server           bool     // also emit the server (-server)
	AllowDestructive bool     // allow migrations that drop or rebuild (-allow-destructive)
}

// Diagnostics are the mistakes in the user's models that a run found, all of them: the
// error Generate returns for them, printed one per line as path:line:col: message.
type Diagnostics = load.Diagnostics

// Result is what a run wants on disk: every file syncgen owns in the packages it ran on.
type Result struct {
	Packages []*model.Package  // the IR of each package, as loaded
	Files    map[string][]byte // absolute path → content
	Remove   []string          // absolute paths of generated files that no longer belong
}

// Generate loads the packages and builds every generated file in memory. Mistakes in the
// user's models come back as *Diagnostics, all of them, and nothing is built.
func Generate(cfg Config) (*Result, error) {
	if cfg.Dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, err
		}
		cfg.Dir = wd
	}
	pkgs, err := load.Packages(load.Config{Dir: cfg.Dir, Tags: cfg.Tags}, cfg.Patterns...)
	if err != nil {
		return nil, err
	}
	existing, err := load.Migrations(cfg.Dir, pkgs)
	if err != nil {
		return nil, err
	}
	res := &Result{Packages: pkgs, Files: map[string][]byte{}}
	diags := &Diagnostics{Dir: cfg.Dir}
	for i, p := range pkgs {
		if len(p.Models) == 0 {
			diags.Add(model.Pos{File: p.Dir}, fmt.Sprintf("package %s has no models: tag a string id field of an exported struct with sync:\"unique\"", p.Path))
			continue
		}
		code, err := emit.Files(p, emit.Options{Server: cfg.Server})
		if err != nil {
			return nil, err
		}
		for name, data := range code {
			res.Files[filepath.Join(p.Dir, name)] = data
		}
		migrations, problems, err := schema.Files(p, existing[i], schema.Options{AllowDestructive: cfg.AllowDestructive})
		if err != nil {
			return nil, err
		}
		for _, pr := range problems {
			diags.Add(pr.Pos, pr.Msg)
		}
		for name, data := range migrations {
			res.Files[filepath.Join(existing[i].Dir, name)] = data
		}
		orphans, err := orphans(p.Dir, code)
		if err != nil {
			return nil, err
		}
		res.Remove = append(res.Remove, orphans...)
	}
	if len(diags.List) > 0 {
		return nil, diags
	}
	sort.Strings(res.Remove)
	return res, nil
}

// orphans lists the generated Go files in dir that the run no longer produces: files of a
// removed model, say. Migration files are never orphans: databases may have applied them.
func orphans(dir string, keep map[string][]byte) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") || keep[e.Name()] != nil {
			continue
		}
		path := filepath.Join(dir, e.Name())
		if generated, err := isGenerated(path); err != nil {
			return nil, err
		} else if generated {
			out = append(out, path)
		}
	}
	return out, nil
}

func isGenerated(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	head := make([]byte, len(emit.Header))
	n, _ := f.Read(head)
	return string(head[:n]) == emit.Header, nil
}

// Change is one file that differs from what the run wants.
type Change struct {
	Path     string
	Old, New []byte // Old nil: missing; New nil: to be removed
}

// Changes compares the result with the files on disk.
func (r *Result) Changes() ([]Change, error) {
	var out []Change
	for _, path := range sortedPaths(r.Files) {
		old, err := os.ReadFile(path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		if err == nil && bytes.Equal(old, r.Files[path]) {
			continue
		}
		out = append(out, Change{Path: path, Old: old, New: r.Files[path]})
	}
	for _, path := range r.Remove {
		old, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		out = append(out, Change{Path: path, Old: old})
	}
	return out, nil
}

// Write applies the changes: each file through a temporary file and a rename, so a reader
// never sees half a file.
func Write(changes []Change) error {
	for _, c := range changes {
		if c.New == nil {
			if err := os.Remove(c.Path); err != nil {
				return err
			}
			continue
		}
		if err := writeFile(c.Path, c.New); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Diff renders the changes as a unified diff, paths relative to dir.
func Diff(dir string, changes []Change) string {
	var b strings.Builder
	for _, c := range changes {
		name := c.Path
		if rel, err := filepath.Rel(dir, c.Path); err == nil {
			name = rel
		}
		from, to := "a/"+name, "b/"+name
		switch {
		case c.Old == nil:
			from = "/dev/null"
		case c.New == nil:
			to = "/dev/null"
		}
		b.WriteString(udiff.Unified(from, to, string(c.Old), string(c.New)))
	}
	return b.String()
}

func sortedPaths(m map[string][]byte) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
