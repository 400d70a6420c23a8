package runtime

import (
	"testing"
	"time"
)

func TestParseFixedMatchesTimeParse(t *testing.T) {
	for _, s := range []string{"2024-02-29T23:59:59.123456789Z", "0001-01-01T00:00:00.000000000Z", "9999-12-31T23:59:59.999999999Z",
		"2023-02-29T00:00:00.000000000Z", "2024-13-01T00:00:00.000000000Z", "2024-01-01T24:00:00.000000000Z", "2024-01-01T00:00:00.00000000xZ", "2024-01-01 00:00:00"} {
		want, werr := time.Parse(TimeLayout, s)
		got, err := ParseTime(s)
		if (err != nil) != (werr != nil) || got != want {
			t.Errorf("%s: %v %v, want %v %v", s, got, err, want, werr)
		}
	}
}
