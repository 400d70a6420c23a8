package shop_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncgen/syncgen/internal/e2e/shop"
	"github.com/syncgen/syncgen/internal/testmod"
	"github.com/syncgen/syncgen/remote"
	"github.com/syncgen/syncgen/runtime"
)

// Plain REST servers that overwrite blindly (json-server): clients order writes by
// last-writer-wins themselves, reading a record before they write it, and repairing what
// a blind write set back.

// manualClock is a clock a test moves by hand.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// syncPizzas syncs and reports what happened to pizzas.
func syncPizzas(t *testing.T, repo *shop.Repository) runtime.ModelReport {
	t.Helper()
	return mustSync(t, repo).Models["Pizza"]
}

// twoClients are two repositories on one json-server, on one hand-moved clock.
func twoClients(t *testing.T) (a, b *shop.Repository, clock *manualClock, base string) {
	base = testmod.JSONServer(t, "pizzas", "notes", "toppings")
	clock = &manualClock{t: time.Date(2026, 12, 4, 4, 12, 40, 0, time.UTC)}
	open := func() *shop.Repository {
		return openRepo(t, remote.NewREST(base), runtime.WithClock(clock.now))
	}
	return open(), open(), clock, base
}

func TestBlindServerPushDoesNotOverwriteNewer(t *testing.T) {
	ctx := context.Background()
	a, b, clock, base := twoClients(t)
	p := shop.Pizza{ID: "p1", Name: "Margherita", Price: 900}
	if err := a.Pizzas.Upsert(ctx, &p); err != nil {
		t.Fatal(err)
	}
	syncPizzas(t, a)
	syncPizzas(t, b)

	clock.add(2 * time.Second) // A edits first, offline
	pa, _ := a.Pizzas.Get(ctx, "p1")
	pa.Price = 1000
	if err := a.Pizzas.Upsert(ctx, &pa); err != nil {
		t.Fatal(err)
	}
	clock.add(2 * time.Second) // B edits later, and syncs first
	pb, _ := b.Pizzas.Get(ctx, "p1")
	pb.Name = "Marinara"
	pb.Price = 950 // both change the price: the later writer's wins it
	if err := b.Pizzas.Upsert(ctx, &pb); err != nil {
		t.Fatal(err)
	}
	syncPizzas(t, b)

	// A pushes before it pulls: before the fix its PUT replaced B's later edit, with
	// Conflicts: 0.
	rep := syncPizzas(t, a)
	if rep.Pushed != 0 || rep.Conflicts != 1 || rep.Overruled != 1 {
		t.Fatalf("A's sync: %+v, want the resolver to overrule A's older edit", rep)
	}
	if got := serverRecord(t, base+"/pizzas/p1"); got["name"] != "Marinara" || got["price"] != 950.0 {
		t.Fatalf("server: %v, want B's edit", got)
	}
	if got, _ := a.Pizzas.Get(ctx, "p1", runtime.LocalOnly); got.Name != "Marinara" || got.Price != 950 {
		t.Fatalf("A: %+v, want B's edit", got)
	}

	// The other way round, A's edit is the later one: it is written over B's, and B's
	// change to another field stays (MergeFields, the default resolver).
	clock.add(time.Second)
	pb, _ = b.Pizzas.Get(ctx, "p1")
	pb.Price = 1100
	b.Pizzas.Upsert(ctx, &pb)
	clock.add(time.Second)
	pa, _ = a.Pizzas.Get(ctx, "p1")
	pa.Name = "Diavola"
	a.Pizzas.Upsert(ctx, &pa)
	syncPizzas(t, b)
	if rep := syncPizzas(t, a); rep.Pushed != 1 || rep.Overruled != 0 {
		t.Fatalf("A's sync: %+v, want its later edit pushed", rep)
	}
	syncPizzas(t, b)
	for name, r := range map[string]*shop.Repository{"A": a, "B": b} {
		if got, _ := r.Pizzas.Get(ctx, "p1", runtime.LocalOnly); got.Name != "Diavola" || got.Price != 1100 {
			t.Fatalf("%s: %+v, want A's later edit merged with B's", name, got)
		}
	}
}

func TestBlindServerEditVersusDelete(t *testing.T) {
	ctx := context.Background()
	for _, deleteLater := range []bool{true, false} {
		t.Run(fmt.Sprintf("delete later %v", deleteLater), func(t *testing.T) {
			a, b, clock, base := twoClients(t)
			p := shop.Pizza{ID: "p1", Name: "Margherita", Price: 900}
			a.Pizzas.Upsert(ctx, &p)
			syncPizzas(t, a)
			syncPizzas(t, b)

			edit := func() {
				pa, _ := a.Pizzas.Get(ctx, "p1")
				pa.Price = 1000
				if err := a.Pizzas.Upsert(ctx, &pa); err != nil {
					t.Fatal(err)
				}
			}
			del := func() {
				if err := b.Pizzas.Delete(ctx, "p1"); err != nil {
					t.Fatal(err)
				}
			}
			clock.add(time.Second)
			if deleteLater {
				edit()
				clock.add(time.Second)
				del()
			} else {
				del()
				clock.add(time.Second)
				edit()
			}
			syncPizzas(t, b) // B's delete reaches the server first
			syncPizzas(t, a)
			syncPizzas(t, b)
			syncPizzas(t, a)

			server := serverRecord(t, base+"/pizzas/p1")
			serverDeleted := server["deletedAt"] != nil
			if serverDeleted != deleteLater {
				t.Fatalf("server: %v, want deleted %v", server, deleteLater)
			}
			for name, r := range map[string]*shop.Repository{"A": a, "B": b} {
				_, err := r.Pizzas.Get(ctx, "p1", runtime.LocalOnly)
				if deleted := err != nil; deleted != deleteLater {
					t.Fatalf("%s: deleted %v (%v), want %v", name, deleted, err, deleteLater)
				}
			}
			// Nothing moves any more.
			for _, r := range []*shop.Repository{a, b} {
				if rep := syncPizzas(t, r); rep.Pushed+rep.Pulled+rep.Conflicts != 0 {
					t.Fatalf("a further sync moved: %+v", rep)
				}
			}
		})
	}
}

func TestBlindServerReadRepair(t *testing.T) {
	ctx := context.Background()
	a, _, clock, base := twoClients(t)
	p := shop.Pizza{ID: "p1", Name: "Margherita", Price: 900}
	a.Pizzas.Upsert(ctx, &p)
	syncPizzas(t, a)
	clock.add(time.Second)
	p.Price = 1000
	a.Pizzas.Upsert(ctx, &p)
	syncPizzas(t, a)

	// A late write of an older version, as a client that read before A wrote sends it in
	// the window between its read and its write.
	older := `{"id":"p1","name":"Margherita","price":900,"rating":0,"updatedAt":"2026-12-04T04:12:40Z"}`
	req, _ := http.NewRequest(http.MethodPut, base+"/pizzas/p1", strings.NewReader(older))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	syncPizzas(t, a) // sees the server hold an older record than it acknowledged: queues its own
	if rep := syncPizzas(t, a); rep.Pushed != 1 {
		t.Fatalf("repair: %+v, want A's record sent again", rep)
	}
	if got := serverRecord(t, base+"/pizzas/p1"); got["price"] != 1000.0 {
		t.Fatalf("server: %v, want A's acknowledged write back", got)
	}
}

// TestBlindServerConcurrentRuns: two clients with Run, writing and deleting the same
// records; after they stop and sync, the server and both hold the same.
func TestBlindServerConcurrentRuns(t *testing.T) {
	ctx := context.Background()
	base := testmod.JSONServer(t, "pizzas", "notes", "toppings")
	open := func() *shop.Repository {
		return openRepo(t, remote.NewREST(base), runtime.WithSyncInterval(10*time.Millisecond),
			runtime.WithBackoff(time.Millisecond, 10*time.Millisecond))
	}
	a, b := open(), open()
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, r := range []*shop.Repository{a, b} {
		wg.Go(func() { r.Run(runCtx) })
	}
	for i := range 100 {
		for k, r := range []*shop.Repository{a, b} {
			id := fmt.Sprintf("p%d", (i*7+k)%20)
			if (i+k)%5 == 0 {
				r.Pizzas.Delete(ctx, id)
				continue
			}
			p, _ := r.Pizzas.Get(ctx, id, runtime.LocalOnly)
			p.ID, p.Price = id, i*10+k
			if err := r.Pizzas.Upsert(ctx, &p); err != nil {
				t.Fatal(err)
			}
		}
	}
	stop()
	wg.Wait()
	settle(t, a, b)

	server := map[string]string{}
	var list []shop.Pizza
	getJSON(t, base+"/pizzas", &list)
	for _, p := range list {
		if p.DeletedAt == nil {
			server[p.ID] = fmt.Sprint(p.Price, p.UpdatedAt.UTC())
		}
	}
	for name, r := range map[string]*shop.Repository{"A": a, "B": b} {
		local := map[string]string{}
		ps, err := r.Pizzas.Find(ctx, shop.PizzaQuery{}, runtime.LocalOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			local[p.ID] = fmt.Sprint(p.Price, p.UpdatedAt.UTC())
		}
		if fmt.Sprint(local) != fmt.Sprint(server) {
			t.Fatalf("%s holds %d live records %v,\nthe server %d %v", name, len(local), local, len(server), server)
		}
	}
}

// settle syncs the clients in turn until a whole pass moves nothing.
func settle(t *testing.T, repos ...*shop.Repository) {
	t.Helper()
	for pass := 0; pass < 20; pass++ {
		moved := false
		for _, r := range repos {
			rep, err := r.Sync(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if tot := rep.Total(); tot.Pushed+tot.Pulled+tot.Conflicts > 0 {
				moved = true
			}
		}
		if !moved {
			return
		}
	}
	t.Fatal("no quiescence after 20 passes")
}

func getJSON(t *testing.T, url string, out any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}

// writeAfterRead is a transport that, once, right after a GET of item has been answered,
// writes body to item itself: another client's write landing between a client's read and
// its write, which no real server can be made to time.
type writeAfterRead struct {
	item, body string
	once       sync.Once
}

func (w *writeAfterRead) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err == nil && req.Method == http.MethodGet && req.URL.String() == w.item {
		w.once.Do(func() {
			r, _ := http.NewRequest(http.MethodPut, w.item, strings.NewReader(w.body))
			r.Header.Set("Content-Type", "application/json")
			if resp, err := http.DefaultTransport.RoundTrip(r); err == nil {
				resp.Body.Close()
			}
		})
	}
	return resp, err
}

// TestGeneratedServerPlainLostWriteIsOverruled: the generated server orders plain writes
// by last-writer-wins and answers a losing one with the later record it keeps. Before, the
// client reported that as Pushed: 1, Overruled: 0.
func TestGeneratedServerPlainLostWriteIsOverruled(t *testing.T) {
	ctx := context.Background()
	srv, _ := startServer(t, sqliteDB)
	clock := &manualClock{t: time.Date(2026, 12, 4, 4, 12, 40, 0, time.UTC)}
	tr := &writeAfterRead{item: srv.URL + "/pizzas/p1"}
	a := openRepo(t, remote.NewREST(srv.URL, remote.WithHTTPClient(&http.Client{Transport: tr})), runtime.WithClock(clock.now))
	p := shop.Pizza{ID: "p1", Name: "Margherita", Price: 900}
	if err := a.Pizzas.Upsert(ctx, &p); err != nil {
		t.Fatal(err)
	}
	syncPizzas(t, a) // a create: no read before it
	clock.add(time.Second)
	p.Price = 950
	if err := a.Pizzas.Upsert(ctx, &p); err != nil {
		t.Fatal(err)
	}
	tr.body = `{"id":"p1","name":"Marinara","price":800,"updatedAt":"2026-12-04T04:12:44Z"}` // later than A's edit
	rep := syncPizzas(t, a)
	if rep.Pushed != 0 || rep.Conflicts != 1 || rep.Overruled != 1 {
		t.Fatalf("A's sync: %+v, want its write reported overruled", rep)
	}
	if got, _ := a.Pizzas.Get(ctx, "p1", runtime.LocalOnly); got.Name != "Marinara" {
		t.Fatalf("A holds %+v, want the server's later record", got)
	}
	if rep := syncPizzas(t, a); rep.Pushed+rep.Pulled+rep.Conflicts != 0 {
		t.Fatalf("a further sync moved: %+v", rep)
	}
}

// TestBlindServerDeleteOfARecordNeverHeld: a device deletes an id it has not pulled yet.
// The delete travels as a tombstone: a bare DELETE would remove the record from the plain
// server, and the clients that hold it would never hear of the delete.
func TestBlindServerDeleteOfARecordNeverHeld(t *testing.T) {
	ctx := context.Background()
	a, b, clock, base := twoClients(t)
	if err := a.Pizzas.Upsert(ctx, &shop.Pizza{ID: "p1", Name: "Margherita", Price: 900}); err != nil {
		t.Fatal(err)
	}
	syncPizzas(t, a)
	clock.add(time.Second)
	if err := b.Pizzas.Delete(ctx, "p1"); err != nil { // B never pulled p1
		t.Fatal(err)
	}
	syncPizzas(t, b)
	if got := serverRecord(t, base+"/pizzas/p1"); got == nil || got["deletedAt"] == nil {
		t.Fatalf("server: %v, want p1 as a tombstone", got)
	}
	syncPizzas(t, a)
	for name, r := range map[string]*shop.Repository{"A": a, "B": b} {
		if _, err := r.Pizzas.Get(ctx, "p1", runtime.LocalOnly); !errors.Is(err, runtime.ErrNotFound) {
			t.Fatalf("%s: %v, want p1 deleted", name, err)
		}
	}
}
