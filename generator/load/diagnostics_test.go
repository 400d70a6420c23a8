package load

import (
	"testing"

	"github.com/syncgen/syncgen/generator/model"
)

func TestDiagnosticsRelativePaths(t *testing.T) {
	d := &Diagnostics{Dir: "/a/b"}
	d.Add(posAt("/a/b/z.go", 3, 1), "second file")
	d.Add(posAt("/a/b/m.go", 9, 2), "later")
	d.Add(posAt("/a/b/m.go", 2, 5), "earlier")
	want := "m.go:2:5: earlier\nm.go:9:2: later\nz.go:3:1: second file"
	if got := d.Error(); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func posAt(file string, line, col int) model.Pos { return model.Pos{File: file, Line: line, Col: col} }
