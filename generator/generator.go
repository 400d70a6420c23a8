// Package generator turns the tagged model structs of Go packages into generated code. It
// runs the stages, each a package of its own: load (go/packages and go/types) → model (the
// IR) → emit (the Go files, with jennifer) and schema (the migrations). Generate does all
// but the writing and returns every file in memory; Changes, Write and Diff (write.go) are
// the only code that touches the files afterwards.
package generator

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

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
	// Packages without models are skipped, so that ./... works in a module with other
	// packages; only a run in which no package has models is a mistake.
	if !slices.ContainsFunc(pkgs, func(p *model.Package) bool { return len(p.Models) > 0 }) {
		for _, p := range pkgs {
			diags.Add(model.Pos{File: p.Dir}, fmt.Sprintf("package %s has no models: tag a string id field of an exported struct with sync:\"unique\"", p.Path))
		}
	}
	for i, p := range pkgs {
		if len(p.Models) == 0 {
			// Files generated while it had models no longer belong.
			stale, err := orphans(p.Dir, nil)
			if err != nil {
				return nil, err
			}
			res.Remove = append(res.Remove, stale...)
			continue
		}
		// The migrations first: they record each field's earlier JSON keys in the IR,
		// which the emitted code declares.
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
		code, err := emit.Files(p, emit.Options{Server: cfg.Server})
		if err != nil {
			return nil, err
		}
		for name, data := range code {
			res.Files[filepath.Join(p.Dir, name)] = data
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
