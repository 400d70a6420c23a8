package runtime

import (
	"math"
	"testing"
	"time"
)

func TestSameMembersIgnoresOrderOnly(t *testing.T) {
	enc := `{"id":"a","name":"n","price":1.5,"tags":["x"],"ship":{"b":1,"a":2},"updatedAt":"2026-01-01T00:00:00Z"}`
	tests := []struct {
		remote string
		want   bool
	}{
		{enc, true},
		{`{"name":"n","id":"a","price":1.5,"ship":{"b":1,"a":2},"tags":["x"],"updatedAt":"2026-01-01T00:00:00Z"}`, true},
		{` { "id" : "a", "name":"n","price":1.5,"tags":[ "x" ],"ship":{"a":2,"b":1},"updatedAt":"2026-01-01T00:00:00Z" } `, true},
		{`{"id":"a","name":"n","price":1.50,"tags":["x"],"ship":{"b":1,"a":2},"updatedAt":"2026-01-01T00:00:00Z"}`, false},
		{`{"id":"a","name":"n","price":1.5,"tags":["x"],"ship":{"b":1,"a":2},"updatedAt":"2026-01-01T00:00:00Z","color":"red"}`, false},
		{`{"id":"a","name":"n","price":1.5,"tags":["x"],"ship":{"b":1,"a":2}}`, false},
		{`{"id":"a","id":"a","price":1.5,"tags":["x"],"ship":{"b":1,"a":2},"updatedAt":"2026-01-01T00:00:00Z"}`, false},
		{`{"\u0069d":"a","name":"n","price":1.5,"tags":["x"],"ship":{"b":1,"a":2},"updatedAt":"2026-01-01T00:00:00Z"}`, false},
		{`{"id":"a","name":"n\"}","price":1.5,"tags":["x"],"ship":{"b":1,"a":2},"updatedAt":"2026-01-01T00:00:00Z"}`, false},
		{`["id","a"]`, false},
	}
	for _, tt := range tests {
		if got := sameMembers([]byte(enc), []byte(tt.remote)); got != tt.want {
			t.Errorf("sameMembers(%s) = %v, want %v", tt.remote, got, tt.want)
		}
	}
	if !sameMembers([]byte(`{}`), []byte(` {} `)) || sameMembers([]byte(`{"a":1}`), []byte(`{"a":1`)) {
		t.Error("empty or cut objects")
	}
}

func TestReadsBackRefusesWhatTheRowChanges(t *testing.T) {
	utc := time.Date(2026, 1, 1, 0, 0, 0, 5, time.UTC)
	zoned := time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", 3600))
	negZero, one := math.Copysign(0, -1), float32(1)
	tests := []struct {
		kind Kind
		v    any
		want bool
	}{
		{KindTime, Time(utc), true},
		{KindTime, Time(zoned), false},
		{KindTime, NullTime{}, true},
		{KindTime, NullTime{T: &zoned}, false},
		{KindFloat, 1.5, true},
		{KindFloat, negZero, false},
		{KindFloat, &one, true},
		{KindFloat, (*float64)(nil), true},
		{KindBytes, []byte(nil), true},
		{KindBytes, []byte{}, false},
		{KindBytes, []byte("x"), true},
		{KindString, "", true},
	}
	for _, tt := range tests {
		if got := readsBack(tt.kind, tt.v); got != tt.want {
			t.Errorf("readsBack(%d, %#v) = %v, want %v", tt.kind, tt.v, got, tt.want)
		}
	}
}
