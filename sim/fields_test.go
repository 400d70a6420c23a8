package sim

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
)

// TestSimFields runs the field simulation on many seeds; SYNCGEN_SIM_SEED replays one.
func TestSimFields(t *testing.T) {
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
			cfg := FieldsConfig{Seed: seed, Clients: 2 + int(seed%4), Steps: 80, Dir: t.TempDir()}
			if err := RunFields(context.Background(), cfg); err != nil {
				t.Fatalf("seed %d (%d clients): %v\nreplay: SYNCGEN_SIM_SEED=%d go test ./sim -run TestSimFields", seed, cfg.Clients, err, seed)
			}
		})
	}
}
