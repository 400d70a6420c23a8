package sim

import (
	"context"
	"fmt"
	"testing"
)

// TestSimFields runs the field simulation on many seeds; SYNCGEN_SIM_SEED replays one.
func TestSimFields(t *testing.T) {
	for _, seed := range seeds(t, 12) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			cfg := FieldsConfig{Seed: seed, Clients: 2 + int(seed%4), Steps: 80, Dir: t.TempDir()}
			if err := RunFields(context.Background(), cfg); err != nil {
				t.Fatalf("seed %d (%d clients): %v\nreplay: SYNCGEN_SIM_SEED=%d go test ./sim -run TestSimFields", seed, cfg.Clients, err, seed)
			}
		})
	}
}
