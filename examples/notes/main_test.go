package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestExampleTellsTheStory(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), t.TempDir(), &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	// Each step's devices, in order: what each user may see, and nothing else.
	for _, want := range []string{
		"  bob's device: groceries (family), gift ideas (bob)\n",
		"  bob's device: diary, shared (family), groceries (family), gift ideas (bob)\n",
		"Alice moves it back: it leaves Bob's device.\n  alice's device: diary, private again (alice), groceries (family)\n  bob's device: groceries (family), gift ideas (bob)\n",
		"nothing was edited.\n  alice's device: diary, private again (alice), groceries (family)\n  bob's device: gift ideas (bob)\n",
		"come back.\n  alice's device: diary, private again (alice), groceries (family)\n  bob's device: groceries (family), gift ideas (bob)\n",
		"not the server.\n  alice's device: groceries (family)\n",
		"leaves Alice's phone.\n  alice's device: nothing\n  bob's device: shopping list (family), gift ideas (bob)\n",
		"it returns.\n  alice's device: groceries, eggs (family)\n",
		"again.\n  alice's device: diary, private again (alice), groceries, eggs (family)\n",
		"Alice's private notes on Bob's device: 0",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "alice's device: gift ideas") {
		t.Errorf("Bob's private note reached Alice:\n%s", out.String())
	}
}
