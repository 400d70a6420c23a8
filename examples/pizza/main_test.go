package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestExampleTellsTheStory(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), config{dir: t.TempDir()}, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{
		"counter: offline, added 3 pizzas; sync failed (no network); 3 writes queued",
		"counter: back online, pushed 3",
		"kitchen: pulled 3 pizzas",
		"counter: Margherita costs 9.90",
		"kitchen: Margherita costs 9.90",
		`counter: Get says "record not found"`,
		"rejected the Pizza write with 422",
		"a pizza needs a positive price",
		"converged: yes",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
