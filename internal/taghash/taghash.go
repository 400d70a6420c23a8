// Package taghash computes the summary of a model's struct tags that generated code
// records and the runtime recomputes by reflection, so both sides agree byte for byte.
// It has no dependencies, so the generator can use it without pulling in cgo.
package taghash

import (
	"crypto/sha256"
	"encoding/hex"
	"reflect"
)

// Line is one field of a struct, reached through embedded fields: Path is the dotted Go
// field path ("Base.ID"), Tag the field's raw struct tag.
type Line struct {
	Path string
	Tag  string
}

// Sum hashes the sync, db and json tags of each line, in order. Other tags (validation,
// yaml, …) do not affect generated code, so changing them does not make it stale.
func Sum(lines []Line) string {
	h := sha256.New()
	for _, l := range lines {
		t := reflect.StructTag(l.Tag)
		h.Write([]byte(l.Path + "\x00" + t.Get("sync") + "\x00" + t.Get("db") + "\x00" + t.Get("json") + "\n"))
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Join builds a dotted field path.
func Join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// Of walks t's fields as both sides must: declaration order, descending into every
// embedded struct (or pointer to struct) once per path.
func Of(t reflect.Type) []Line {
	var lines []Line
	var walk func(t reflect.Type, prefix string, seen []reflect.Type)
	walk = func(t reflect.Type, prefix string, seen []reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			path := Join(prefix, f.Name)
			lines = append(lines, Line{Path: path, Tag: string(f.Tag)})
			if !f.Anonymous {
				continue
			}
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() != reflect.Struct || contains(seen, ft) {
				continue
			}
			walk(ft, path, append(seen, ft))
		}
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	walk(t, "", []reflect.Type{t})
	return lines
}

func contains(ts []reflect.Type, t reflect.Type) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}
