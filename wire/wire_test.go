package wire

import "testing"

func TestCanonicalJSON(t *testing.T) {
	got, err := Canonical([]byte(`{ "b": 1.50, "a": ["<x>", {"d": null, "c": true}] }`))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"a":["<x>",{"c":true,"d":null}],"b":1.50}`; string(got) != want {
		t.Fatalf("canonical %s, want %s", got, want)
	}
}
