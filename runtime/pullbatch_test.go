package runtime

import (
	"strings"
	"testing"
)

func TestChunksCoverEveryRowInFewSizes(t *testing.T) {
	for _, n := range []int{0, 1, 63, 64, 65, 1000, 1001} {
		next, sizes := 0, map[int]bool{}
		err := chunks(n, 64, func(lo, hi int) error {
			if lo != next || hi <= lo || hi-lo > 64 {
				t.Fatalf("n=%d: chunk [%d, %d) after %d", n, lo, hi, next)
			}
			next, sizes[hi-lo] = hi, true
			return nil
		})
		if err != nil || next != n || len(sizes) > 7 {
			t.Fatalf("n=%d: covered %d in sizes %v (%v)", n, next, sizes, err)
		}
	}
}

func TestBaseRowsNumberTheirPlaceholders(t *testing.T) {
	q := baseRows.sql(2)
	if !strings.Contains(q, "VALUES (?1, ?3, ?4, ?5, ?2), (?1, ?6, ?7, ?8, ?2) ON CONFLICT") {
		t.Fatal(q)
	}
}
