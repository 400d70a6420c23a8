package server

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/syncgen/syncgen/runtime"
)

// A burst of changes goes out in several notifications, each under PostgreSQL's 8000
// byte limit, and together they name every change once.
func TestNotifyPayloadsFitTheLimit(t *testing.T) {
	m := &Model{schema: &runtime.Schema{Table: strings.Repeat("t", 63)}} // PostgreSQL's longest name
	var changes []change
	for i := range maxPending {
		changes = append(changes, change{model: m, seq: int64(i) << 40})
	}
	ci := &crossInstance{id: "0123456789abcdef"}
	payloads := ci.payloads(changes)
	if len(payloads) < 2 {
		t.Fatalf("%d changes in %d notification", len(changes), len(payloads))
	}
	seen := map[int64]bool{}
	for _, p := range payloads {
		if len(p) >= 8000 {
			t.Fatalf("a payload of %d bytes", len(p))
		}
		var n notice
		if err := json.Unmarshal([]byte(p), &n); err != nil || n.From != ci.id {
			t.Fatalf("payload %s: %v", p, err)
		}
		for _, c := range n.Changes {
			if seen[c.Seq] || c.Table != m.schema.Table {
				t.Fatalf("change %+v twice or of another table", c)
			}
			seen[c.Seq] = true
		}
	}
	if len(seen) != len(changes) {
		t.Fatalf("%d of %d changes sent", len(seen), len(changes))
	}
}
