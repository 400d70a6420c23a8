package runtime

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

func TestClockIsIncreasingFollowsTheRemoteAndCapsSkew(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	c := &clock{now: func() time.Time { return now }, skew: 5 * time.Minute}
	a, b := c.stamp(), c.stamp()
	if !b.After(a) || b.Sub(a) != time.Microsecond {
		t.Fatalf("stamps %v then %v: want strictly increasing by 1µs", a, b)
	}
	c.observe(now.Add(time.Minute)) // a remote clock a minute ahead
	if s := c.stamp(); !s.After(now.Add(time.Minute)) {
		t.Fatalf("stamp %v is behind a newer stamp seen from the remote", s)
	}
	c.observe(now.Add(24 * time.Hour)) // a remote clock a day ahead drags only up to the skew
	if s := c.stamp(); s.After(now.Add(5*time.Minute + time.Millisecond)) {
		t.Fatalf("stamp %v: dragged past the local clock plus the skew", s)
	}
}

func testRepo(t *testing.T, opts ...Option) *Repo {
	db, err := OpenSQLite(":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	r, err := NewRepo(db, nil, Package{Path: "example.com/m"}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestBackoffGrowsCapsAndJitters(t *testing.T) {
	r := testRepo(t, WithBackoff(time.Second, time.Minute), WithRand(rand.New(rand.NewPCG(1, 2))))
	for n, max := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 7: time.Minute, 100: time.Minute} {
		seen := map[time.Duration]bool{}
		for range 50 {
			d := r.backoff(n)
			if d < max/2 || d > max {
				t.Fatalf("retry %d: %v, want within [%v, %v]", n, d, max/2, max)
			}
			seen[d] = true
		}
		if len(seen) < 10 {
			t.Fatalf("retry %d: %d distinct delays in 50: no jitter", n, len(seen))
		}
	}
}

func TestEventsDropTheOldestForASlowSubscriber(t *testing.T) {
	r := testRepo(t)
	ctx, cancel := context.WithCancel(context.Background())
	ch := r.Events(ctx)
	var rep SyncReport
	const n = eventBuffer + 44
	for i := range n {
		r.publish(&rep, []Event{{Kind: EventPushed, Model: "Pizza", Seq: int64(i)}})
	}
	if rep.Models["Pizza"].Pushed != n {
		t.Fatalf("report: %+v", rep)
	}
	first := <-ch
	if first.Seq != 44 {
		t.Fatalf("first event kept: seq %d, want 44 (the oldest dropped)", first.Seq)
	}
	cancel()
	var last Event
	for e := range ch { // closed once ctx ends
		last = e
	}
	if last.Seq != n-1 {
		t.Fatalf("last event: seq %d, want %d", last.Seq, n-1)
	}
}

func TestActionAndPolicyPrintTheirNames(t *testing.T) {
	for v, want := range map[fmt.Stringer]string{
		KeepLocal: "KeepLocal", DeleteRecord: "DeleteRecord", Action(9): "Action(9)",
		RequireRemote: "RequireRemote", Policy(-1): "Policy(-1)",
	} {
		if got := fmt.Sprint(v); got != want {
			t.Errorf("%d prints %q, want %q", v, got, want)
		}
	}
}
