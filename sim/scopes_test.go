package sim

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
)

// TestSimScopes runs the scope simulation on many seeds; SYNCGEN_SIM_SEED replays one.
func TestSimScopes(t *testing.T) {
	seeds := []uint64{}
	if s := os.Getenv("SYNCGEN_SIM_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, n)
	} else {
		for i := range 12 {
			seeds = append(seeds, uint64(i+1))
		}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			cfg := ScopesConfig{Seed: seed, Users: 2 + int(seed%3), Teams: 2 + int(seed%4), Steps: 150, Dir: t.TempDir()}
			if err := RunScopes(context.Background(), cfg); err != nil {
				t.Fatalf("seed %d (%d users, %d teams): %v\nreplay: SYNCGEN_SIM_SEED=%d go test ./sim -run TestSimScopes", seed, cfg.Users, cfg.Teams, err, seed)
			}
		})
	}
}
