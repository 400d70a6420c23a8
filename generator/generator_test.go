package generator

import (
	"errors"
	"flag"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syncgen/syncgen/internal/testmod"
)

var update = flag.Bool("update", false, "rewrite the expected files under testdata/")

// TestCases runs every case under testdata/: input/ is a package (with its migrations/
// when the case starts from earlier migrations); expected/ holds the files syncgen must
// generate for it, or stderr.txt the diagnostics it must print; an optional flags file
// holds the CLI flags of the run (-allow-destructive, -server).
//
// A case compares every file syncgen writes, unless its optional compare file narrows
// that: one path.Match pattern a line (relative to the package, "#" starts a comment),
// such as migrations/* for a case that tests migrations and leaves the Go files to the
// Go-output cases. Either way expected/ must hold exactly the compared files, each
// pattern must match a file syncgen writes, and a case that compares nothing fails. Every
// file is still written, built, vetted and tested.
func TestCases(t *testing.T) {
	root := filepath.Join(testmod.Root(t), "testdata")
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, e := range entries {
		caseDir := filepath.Join(root, e.Name())
		if _, err := os.Stat(filepath.Join(caseDir, "input")); err != nil {
			continue
		}
		ran++
		t.Run(e.Name(), func(t *testing.T) {
			t.Parallel()
			runCase(t, caseDir)
		})
	}
	if ran == 0 {
		t.Fatal("no cases under testdata/")
	}
}

func runCase(t *testing.T, caseDir string) {
	dir := testmod.New(t, nil)
	testmod.CopyDir(t, filepath.Join(caseDir, "input"), dir)

	cfg := caseConfig(t, caseDir, dir)
	res, err := Generate(cfg)
	stderrFile := filepath.Join(caseDir, "stderr.txt")
	var diags *Diagnostics
	if errors.As(err, &diags) {
		golden(t, stderrFile, []byte(diags.Error()+"\n"))
		for _, name := range []string{"expected", "compare"} {
			if _, err := os.Stat(filepath.Join(caseDir, name)); err == nil {
				t.Errorf("%s: a case with diagnostics generates nothing to compare", name)
			}
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stderrFile); err == nil {
		t.Fatalf("expected diagnostics (%s), got none", stderrFile)
	}

	compared := caseCompare(t, caseDir)
	got := map[string][]byte{}
	for path, data := range res.Files {
		rel, _ := filepath.Rel(dir, path)
		if rel = filepath.ToSlash(rel); compared.match(rel) {
			got[rel] = data
		}
	}
	for _, p := range compared.unmatched(got) {
		t.Errorf("%s: pattern %q matches no file syncgen writes", compared.file, p)
	}
	if len(got) == 0 {
		t.Fatal("the case compares no file")
	}
	expDir := filepath.Join(caseDir, "expected")
	if *update {
		os.RemoveAll(expDir)
	}
	for rel, data := range got {
		golden(t, filepath.Join(expDir, rel), data)
	}
	filepath.WalkDir(expDir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(expDir, path)
			switch rel = filepath.ToSlash(rel); {
			case !compared.match(rel):
				t.Errorf("expected file %s is not compared: no pattern of %s matches it", rel, compared.file)
			case got[rel] == nil:
				t.Errorf("expected file %s was not generated", rel)
			}
		}
		return nil
	})
	if len(res.Remove) > 0 {
		t.Errorf("fresh package: nothing to remove, got %v", res.Remove)
	}

	// Written out, the package (and the hand-written code that uses generated names)
	// builds and vets, and a second run changes no byte.
	changes, err := res.Changes()
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(changes); err != nil {
		t.Fatal(err)
	}
	// The runtime recomputes the tag hash by reflection: it must agree with the generator.
	testmod.Write(t, dir, map[string]string{"tags_syncgen_test.go": "package " + res.Packages[0].Name + `

import "testing"

func TestGeneratedTags(t *testing.T) {
	if err := checkGeneratedTags(); err != nil {
		t.Fatal(err)
	}
}
`})
	testmod.Go(t, dir, "mod", "tidy")
	testmod.Go(t, dir, "vet", "./...")
	testmod.Go(t, dir, "test", "./...")
	again, err := Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if changes, err := again.Changes(); err != nil || len(changes) > 0 {
		t.Fatalf("rerun: want no changes, got %d (%v)\n%s", len(changes), err, Diff(dir, changes))
	}
}

// caseConfig is the run's Config: the case's flags file, if any, read as the CLI would.
func caseConfig(t *testing.T, caseDir, dir string) Config {
	t.Helper()
	cfg := Config{Dir: dir}
	data, err := os.ReadFile(filepath.Join(caseDir, "flags"))
	if errors.Is(err, fs.ErrNotExist) {
		return cfg
	}
	if err != nil {
		t.Fatal(err)
	}
	flags := flag.NewFlagSet("flags", flag.ContinueOnError)
	flags.BoolVar(&cfg.AllowDestructive, "allow-destructive", false, "")
	flags.BoolVar(&cfg.Server, "server", false, "")
	if err := flags.Parse(strings.Fields(string(data))); err != nil || flags.NArg() > 0 {
		t.Fatalf("%s: %v %v", filepath.Join(caseDir, "flags"), err, flags.Args())
	}
	return cfg
}

// comparison is which generated files a case compares: all of them, or those its compare
// file's patterns match.
type comparison struct {
	file     string   // the compare file, for messages
	patterns []string // nil: every file
}

// caseCompare reads the case's compare file, if any.
func caseCompare(t *testing.T, caseDir string) comparison {
	t.Helper()
	c := comparison{file: filepath.Join(caseDir, "compare")}
	data, err := os.ReadFile(c.file)
	if errors.Is(err, fs.ErrNotExist) {
		return c
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		line, _, _ = strings.Cut(line, "#")
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		if _, err := path.Match(line, ""); err != nil {
			t.Fatalf("%s: pattern %q: %v", c.file, line, err)
		}
		c.patterns = append(c.patterns, line)
	}
	if c.patterns == nil {
		t.Fatalf("%s: no pattern: delete the file to compare every generated file", c.file)
	}
	return c
}

// match reports whether the case compares the generated file rel (slash-separated,
// relative to the package).
func (c comparison) match(rel string) bool {
	if c.patterns == nil {
		return true
	}
	for _, p := range c.patterns {
		if ok, _ := path.Match(p, rel); ok {
			return true
		}
	}
	return false
}

// unmatched lists the patterns that match none of the compared files.
func (c comparison) unmatched(compared map[string][]byte) []string {
	var out []string
	for _, p := range c.patterns {
		found := false
		for rel := range compared {
			if ok, _ := path.Match(p, rel); ok {
				found = true
				break
			}
		}
		if !found {
			out = append(out, p)
		}
	}
	return out
}

// golden compares got with the file at path, or rewrites it with -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./generator -update to create it)", err)
	}
	if string(want) != string(got) {
		t.Errorf("%s differs (go test ./generator -update rewrites it):\n%s", path,
			Diff("", []Change{{Path: path, Old: want, New: got}}))
	}
}
