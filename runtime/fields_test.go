package runtime

import (
	"slices"
	"testing"
)

func TestPushFields(t *testing.T) {
	sh := shapeOfSchema(&Schema{Columns: []Column{
		{JSON: "id", Unique: true}, {JSON: "heading", JSONWas: []string{"title"}}, {JSON: "body"},
		{JSON: "updatedAt", UpdatedAt: true}, {Name: "draft", Local: true},
	}})
	tests := []struct {
		name, body, base string
		want             []string
	}{
		{"no base: the whole record", `{"id":"a"}`, "", nil},
		{"changed values only", `{"id":"a","heading":"h","body":"B","updatedAt":"2"}`, `{"id":"a","heading":"h","body":"b","updatedAt":"1"}`, []string{"body", "updatedAt"}},
		{"unknown keys of the base are not changes", `{"id":"a","heading":"h","body":"b"}`, `{"id":"a","heading":"h","body":"b","color":"red"}`, []string{}},
		{"a base with the earlier key", `{"id":"a","heading":"h","body":"b"}`, `{"id":"a","title":"h","body":"b"}`, []string{}},
		{"a key the body lacks changed", `{"id":"a","heading":"h"}`, `{"id":"a","heading":"h","body":"b"}`, []string{"body"}},
		{"numbers compare by value", `{"id":"a","body":1.50}`, `{"id":"a","body":1.50}`, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var base []byte
			if tt.base != "" {
				base = []byte(tt.base)
			}
			got, err := sh.pushFields([]byte(tt.body), base)
			if err != nil {
				t.Fatal(err)
			}
			if (got == nil) != (tt.want == nil) || !slices.Equal(got, tt.want) {
				t.Errorf("pushFields = %#v, want %#v", got, tt.want)
			}
		})
	}
	if got := sh.upgradeKeys([]string{"title", "heading", "body"}); !slices.Equal(got, []string{"heading", "body"}) {
		t.Errorf("upgradeKeys = %v", got)
	}
}
