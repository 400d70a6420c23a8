package load

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/syncgen/syncgen/generator/model"
)

// Diagnostic is one mistake in the user's code, at a position.
type Diagnostic struct {
	Pos model.Pos
	Msg string
}

// Diagnostics collects every mistake of a run; as an error it prints them sorted, one per
// line, as path:line:col: message with paths relative to Dir.
type Diagnostics struct {
	List []Diagnostic
	Dir  string // paths print relative to this directory
}

func (d *Diagnostics) Add(pos model.Pos, msg string) {
	d.List = append(d.List, Diagnostic{Pos: pos, Msg: msg})
}

// addRaw records a diagnostic whose position is a "file:line:col" string from go/packages.
func (d *Diagnostics) addRaw(pos, msg string) {
	p, ok := parsePos(pos)
	if !ok {
		p = model.Pos{File: pos}
	}
	d.Add(p, msg)
}

func (d *Diagnostics) sort() {
	sort.SliceStable(d.List, func(i, j int) bool {
		a, b := d.List[i].Pos, d.List[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Col != b.Col {
			return a.Col < b.Col
		}
		return d.List[i].Msg < d.List[j].Msg
	})
}

func (d *Diagnostics) Error() string {
	d.sort()
	var b strings.Builder
	for _, x := range d.List {
		file := x.Pos.File
		if rel, err := filepath.Rel(d.Dir, file); err == nil && d.Dir != "" && !strings.HasPrefix(rel, "..") {
			file = rel
		}
		switch {
		case file == "":
			fmt.Fprintf(&b, "%s\n", x.Msg)
		case x.Pos.Line == 0:
			fmt.Fprintf(&b, "%s: %s\n", file, x.Msg)
		default:
			fmt.Fprintf(&b, "%s:%d:%d: %s\n", file, x.Pos.Line, x.Pos.Col, x.Msg)
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}
