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
)

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
