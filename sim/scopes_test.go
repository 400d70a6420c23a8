package sim

import (
	"context"
	"fmt"
	"testing"
)

// TestSimScopes runs the scope simulation on many seeds; SYNCGEN_SIM_SEED replays one.
func TestSimScopes(t *testing.T) {
	for _, seed := range seeds(t, 12) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			cfg := ScopesConfig{Seed: seed, Users: 2 + int(seed%3), Teams: 2 + int(seed%4), Steps: 150, Dir: t.TempDir()}
			if err := RunScopes(context.Background(), cfg); err != nil {
				t.Fatalf("seed %d (%d users, %d teams): %v\nreplay: SYNCGEN_SIM_SEED=%d go test ./sim -run TestSimScopes", seed, cfg.Users, cfg.Teams, err, seed)
			}
		})
	}
}
