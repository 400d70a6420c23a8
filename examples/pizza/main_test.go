package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestExampleRuns(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), t.TempDir(), &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{
		"applied the migrations",
		"added 3 pizzas",
		"pizzas under 9.50: Marinara, Margherita",
		"deleted Funghi: Get says get Pizza",
		"record not found",
		"vegan menu: Marinara",
		"2 pizzas on the menu, 1 order(s) stored",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
