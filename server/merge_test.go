package server

import (
	"testing"

	"github.com/syncgen/syncgen/runtime"
	"github.com/syncgen/syncgen/wire"
)

func TestShapeMerge(t *testing.T) {
	sh := shapeOf(&runtime.Schema{Columns: []runtime.Column{
		{JSON: "id", Unique: true}, {JSON: "heading", JSONWas: []string{"title"}}, {JSON: "body"}, {JSON: "tags"},
	}})
	stored := `{"id":"a","heading":"h","title":"h","body":"b","tags":["x"],"color":"red"}`
	tests := []struct {
		name, stored, body string
		fields             []string
		want               string
	}{
		{"create keeps every key", "", `{"id":"a","x":1}`, nil, `{"id":"a","x":1}`},
		{"listed keys only", stored, `{"id":"a","heading":"H","body":"stale"}`, []string{"heading"},
			`{"body":"b","color":"red","heading":"H","id":"a","tags":["x"]}`},
		{"a listed key the body lacks is removed", stored, `{"id":"a"}`, []string{"tags"},
			`{"body":"b","color":"red","heading":"h","id":"a"}`},
		{"an earlier key is the key now", stored, `{"id":"a","title":"T"}`, []string{"title"},
			`{"body":"b","color":"red","heading":"T","id":"a","tags":["x"]}`},
		{"without fields: known keys replaced, unknown kept", stored, `{"id":"a","heading":"H"}`, nil,
			`{"color":"red","heading":"H","id":"a"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var st []byte
			if tt.stored != "" {
				st = []byte(tt.stored)
			}
			got, err := sh.merge(st, []byte(tt.body), tt.fields)
			if err != nil {
				t.Fatal(err)
			}
			if c, _ := wire.Canonical(got); string(c) != tt.want {
				t.Errorf("merge = %s, want %s", c, tt.want)
			}
		})
	}
	// What is stored carries the unknown keys and the earlier name of a renamed key.
	kept, err := sh.keep([]byte(`{"id":"a","heading":"H","color":"red"}`), []byte(`{"id":"a","heading":"H","body":"","tags":null}`))
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := wire.Canonical(kept); string(c) != `{"body":"","color":"red","heading":"H","id":"a","tags":null,"title":"H"}` {
		t.Errorf("keep = %s", c)
	}
	if _, err := sh.merge(nil, []byte(`[1]`), nil); err == nil {
		t.Error("a body that is not an object merged")
	}
}
