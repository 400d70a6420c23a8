package wire

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestCanonicalJSON(t *testing.T) {
	got, err := Canonical([]byte(`{ "b": 1.50, "a": ["<x>", {"d": null, "c": true}] }`))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"a":["<x>",{"c":true,"d":null}],"b":1.50}`; string(got) != want {
		t.Fatalf("canonical %s, want %s", got, want)
	}
}

func TestCheckID(t *testing.T) {
	for _, c := range []struct {
		id   string
		code string // "" when valid
	}{
		{"0193a5c2-7d1e-7f3a-9c4b-2e5f6a7b8c9d", ""},
		{"a/b ü", ""},
		{string(make([]byte, MaxIDBytes)), CodeBadRequest}, // NULs
		{"", CodeBadRequest},
		{"a\x00b", CodeBadRequest},
		{"a\xffb", CodeBadRequest},
		{strings.Repeat("x", MaxIDBytes), ""},
		{strings.Repeat("x", MaxIDBytes+1), CodeBadRequest},
		{"_changes", CodeReservedID},
	} {
		err := CheckID(c.id)
		switch {
		case c.code == "" && err != nil:
			t.Errorf("CheckID(%.20q): %v", c.id, err)
		case c.code != "" && (err == nil || IDCode(err) != c.code):
			t.Errorf("CheckID(%.20q): %v, want code %s", c.id, err, c.code)
		}
	}
	for _, k := range []string{"", "a b", "a\x00", strings.Repeat("k", MaxKeyBytes+1), "ü"} {
		if CheckKey(k) == nil {
			t.Errorf("CheckKey(%.20q) accepted", k)
		}
	}
	if err := CheckKey("0193a4f0-12ab-7cde-8f01-23456789abcd:42:create"); err != nil {
		t.Error(err)
	}
}

func TestRenames(t *testing.T) {
	rn := Renames{"colour": "color", "hue": "color"}
	rec := map[string]json.RawMessage{"colour": json.RawMessage(`"red"`), "title": json.RawMessage(`"a"`)}
	if !rn.Record(rec) || string(rec["color"]) != `"red"` || rec["colour"] != nil || len(rec) != 2 {
		t.Fatalf("renamed record: %s", rec)
	}
	both := map[string]json.RawMessage{"hue": json.RawMessage(`"old"`), "color": json.RawMessage(`"now"`)}
	if !rn.Record(both) || string(both["color"]) != `"now"` || len(both) != 1 {
		t.Fatalf("a key now must win over its earlier name: %s", both)
	}
	if rn.Record(map[string]json.RawMessage{"title": nil}) {
		t.Fatal("a record without earlier keys reported changed")
	}
	if got := rn.Keys([]string{"colour", "title", "color", "hue"}); !slices.Equal(got, []string{"color", "title"}) {
		t.Fatalf("keys: %v", got)
	}
	if rn.Keys(nil) != nil {
		t.Fatal("nil keys (the whole record) must stay nil")
	}
}
