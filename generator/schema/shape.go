package schema

import (
	"fmt"
	"slices"

	"github.com/syncgen/syncgen/generator/model"
)

// Wire-format versioning. schema.json records each model's JSON shape: its keys, the
// column of each, and each key's earlier names. Apps of older versions, records on the
// server and writes queued before an upgrade all still use an old key, so a key that
// disappears is refused like a dropped column, unless it is declared renamed: the field
// that replaces it says sync:"renamed=OLD", OLD being the old key or its old column. A
// declared rename adds the old key to the field's Field.JSONWas, which the emitters pass
// to the runtime and the server: they read the old key as the new one.

// JSONKey is one key of a model's JSON shape in schema.json.
type JSONKey struct {
	Key    string   `json:"key"`
	Column string   `json:"column"`
	Was    []string `json:"was,omitempty"` // earlier names, oldest first
}

// shapes compares each model's JSON keys with the snapshot's, records every field's
// earlier keys in the IR (Field.JSONWas), and returns each table's shape by name. A key
// gone without a declared rename is a problem, unless allowDestructive.
func shapes(old Schema, models []*model.Model, allowDestructive bool) (map[string][]JSONKey, []Problem) {
	out := map[string][]JSONKey{}
	var problems []Problem
	for _, m := range models {
		prev := old.table(m.Table)
		if prev == nil && m.TableRenamed != "" {
			prev = old.table(m.TableRenamed)
		}
		var before []JSONKey
		if prev != nil {
			before = prev.JSON
		}
		var keys []JSONKey
		for _, f := range m.Fields {
			if f.Sent() {
				keys = append(keys, JSONKey{Key: f.JSONKey, Column: f.Column})
			}
		}
		at := func(key string) int { return slices.IndexFunc(keys, func(k JSONKey) bool { return k.Key == key }) }
		field := func(key string) *model.Field {
			for _, f := range m.Fields {
				if f.Sent() && f.JSONKey == key {
					return f
				}
			}
			return nil
		}
		for _, b := range before {
			if i := at(b.Key); i >= 0 {
				keys[i].Was = b.Was
				continue
			}
			// Gone: renamed by a declaration on the field that replaces it?
			renamed := false
			for i, k := range keys {
				f := field(k.Key)
				if f.Renamed != "" && (f.Renamed == b.Key || f.Renamed == b.Column) && !slices.ContainsFunc(before, func(o JSONKey) bool { return o.Key == k.Key }) {
					keys[i].Was = append(slices.Clone(b.Was), b.Key)
					renamed = true
					break
				}
			}
			if renamed || allowDestructive {
				continue
			}
			pos := m.Pos
			if f := slices.IndexFunc(m.Fields, func(f *model.Field) bool { return f.Column == b.Column && !f.Skip }); f >= 0 {
				pos = m.Fields[f].Pos
			}
			problems = append(problems, Problem{Pos: pos, Msg: fmt.Sprintf(
				"%s: JSON key %q is gone: older app versions, records on the server and queued writes still use it, and their values would be lost; declare the rename with sync:\"renamed=%s\" on the field that now holds it, or rerun with -allow-destructive to drop the key",
				m.Name, b.Key, b.Key)})
		}
		for i, k := range keys {
			field(k.Key).JSONWas = keys[i].Was
		}
		out[m.Table] = keys
	}
	return out, problems
}
