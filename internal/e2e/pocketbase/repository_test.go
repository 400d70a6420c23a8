package pocketbase

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncgen/syncgen/internal/e2e/shop"
	"github.com/syncgen/syncgen/internal/testmod"
	"github.com/syncgen/syncgen/remote"
	"github.com/syncgen/syncgen/runtime"
)

// The README's PocketBase section, as written: the collections of a generated package
// (internal/e2e/shop), remote.PocketBase, remote.PocketBaseParams, and a generated
// repository syncing through them.

// shopCollections are the collections of the shop package's models: the UUID id field,
// json fields for the times (only they give back the client's RFC 3339 string, and null
// for no time).
var shopCollections = []string{
	`{"name": "pizzas", "type": "base", "fields": [` + uuidIDField + `,
		{"name": "name", "type": "text"}, {"name": "price", "type": "number"}, {"name": "rating", "type": "number"},
		{"name": "updatedAt", "type": "json"}, {"name": "deletedAt", "type": "json"}]}`,
	`{"name": "notes", "type": "base", "fields": [` + uuidIDField + `, {"name": "text", "type": "text"}]}`,
	`{"name": "toppings", "type": "base", "fields": [` + uuidIDField + `,
		{"name": "pizzaId", "type": "text"}, {"name": "name", "type": "text"}, {"name": "updatedAt", "type": "json"}]}`,
}

// recorder remembers the URLs of the requests a client sends.
type recorder struct {
	mu   sync.Mutex
	urls []string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.urls = append(r.urls, req.Method+" "+req.URL.String())
	r.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.urls
	r.urls = nil
	return out
}

type pbClient struct {
	repo  *shop.Repository
	rec   *recorder
	mu    sync.Mutex
	token string
}

func (c *pbClient) setToken(tok string) {
	c.mu.Lock()
	c.token = tok
	c.mu.Unlock()
}

func newPBClient(t *testing.T, base, token string, clock func() time.Time) *pbClient {
	c := &pbClient{rec: &recorder{}, token: token}
	api := remote.NewREST(base, remote.PocketBase(),
		remote.WithHTTPClient(&http.Client{Transport: c.rec}),
		remote.WithRequestHook(func(r *http.Request) error {
			c.mu.Lock()
			defer c.mu.Unlock()
			r.Header.Set("Authorization", c.token)
			return nil
		}))
	db, err := runtime.OpenSQLite(filepath.Join(t.TempDir(), "app.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	repo, err := shop.NewRepository(db, api, runtime.WithClock(clock),
		shop.WithPizzaREST(runtime.RESTModel[shop.PizzaQuery]{
			Path:   "/api/collections/pizzas/records",
			Params: func(q shop.PizzaQuery) url.Values { return remote.PocketBaseParams(q.Query()) },
		}),
		shop.WithNoteREST(runtime.RESTModel[shop.NoteQuery]{Path: "/api/collections/notes/records"}),
		shop.WithToppingREST(runtime.RESTModel[shop.ToppingQuery]{Path: "/api/collections/toppings/records"}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { repo.Close() })
	if err := repo.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.repo = repo
	return c
}

func syncPizzas(t *testing.T, c *pbClient) runtime.ModelReport {
	t.Helper()
	rep, err := c.repo.Sync(context.Background())
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	return rep.Models["Pizza"]
}

func TestGeneratedRepository(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	base, token := testmod.PocketBase(t)
	admin := &client{t: t, base: base, token: token}
	for _, coll := range shopCollections {
		admin.expect(http.StatusOK, http.MethodPost, "/api/collections", json.RawMessage(coll), nil)
	}
	var mu sync.Mutex
	now := time.Date(2026, 12, 4, 4, 12, 40, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	tick := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	a, b := newPBClient(t, base, token, clock), newPBClient(t, base, token, clock)

	// Create through PATCH (404), then POST; B pulls it.
	p := shop.Pizza{ID: runtime.NewID(), Name: "Margherita", Price: 900}
	if err := a.repo.Pizzas.Upsert(ctx, &p); err != nil {
		t.Fatal(err)
	}
	if rep := syncPizzas(t, a); rep.Pushed != 1 {
		t.Fatalf("A's first sync: %+v", rep)
	}
	if rep := syncPizzas(t, b); rep.Pulled != 1 {
		t.Fatalf("B's first sync: %+v", rep)
	}
	got, err := b.repo.Pizzas.Get(ctx, p.ID, runtime.LocalOnly)
	if err != nil || got.Name != "Margherita" || !got.UpdatedAt.Equal(p.UpdatedAt) {
		t.Fatalf("B holds %+v, %v; want %+v", got, err, p)
	}

	// "since" pulls go through the filter, the order is stable, and AlwaysHydrate sends
	// the query's filter instead of listing the whole collection.
	b.rec.take()
	syncPizzas(t, b)
	if !hasRequest(b.rec.take(), "GET", "/api/collections/pizzas/records", "filter=updatedAt+%3E%3D+%27", "sort=%40rowid") {
		t.Fatal("the second pull did not filter by updatedAt")
	}
	q := shop.PizzaQuery{}.Where(shop.PizzaFields.Price.Lt(1000), shop.PizzaFields.Name.HasPrefix("Mar")).OrderBy(shop.PizzaFields.Price.Desc())
	found, err := b.repo.Pizzas.Find(ctx, q, runtime.AlwaysHydrate)
	if err != nil || len(found) != 1 {
		t.Fatalf("AlwaysHydrate: %v %v", found, err)
	}
	if urls := b.rec.take(); !hasRequest(urls, "GET", "filter=%28price+%3C+1000%29+%26%26+%28name+~+%27Mar%25%27%29", "sort=-price%2C%40rowid") {
		t.Fatalf("AlwaysHydrate sent %v", urls)
	}

	// An older offline edit loses to a later one, through the resolver.
	tick(time.Second)
	pa, _ := a.repo.Pizzas.Get(ctx, p.ID)
	pa.Price = 1000
	a.repo.Pizzas.Upsert(ctx, &pa)
	tick(time.Second)
	pb, _ := b.repo.Pizzas.Get(ctx, p.ID)
	pb.Name = "Marinara"
	pb.Price = 950 // both change the price: the later writer's wins it
	b.repo.Pizzas.Upsert(ctx, &pb)
	syncPizzas(t, b)
	if rep := syncPizzas(t, a); rep.Overruled != 1 || rep.Pushed != 0 {
		t.Fatalf("A's older edit: %+v, want it overruled", rep)
	}
	if got, _ := a.repo.Pizzas.Get(ctx, p.ID, runtime.LocalOnly); got.Name != "Marinara" || got.Price != 950 {
		t.Fatalf("A holds %+v, want B's edit", got)
	}

	// A delete travels as a tombstone.
	tick(time.Second)
	if err := b.repo.Pizzas.Delete(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	syncPizzas(t, b)
	syncPizzas(t, a)
	if _, err := a.repo.Pizzas.Get(ctx, p.ID, runtime.LocalOnly); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("A after B's delete: %v", err)
	}

	// An expired token gets 403: the write waits for a fresh token, it is not a dead letter.
	a.setToken("an-expired-token")
	tick(time.Second)
	q2 := shop.Pizza{ID: runtime.NewID(), Name: "Diavola", Price: 1100}
	a.repo.Pizzas.Upsert(ctx, &q2)
	if _, err := a.repo.Sync(ctx); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("sync with an expired token: %v, want a 403", err)
	}
	if st := a.repo.Status(); st.DeadLetters != 0 || st.Pending != 1 {
		t.Fatalf("status after a 403: %+v, want the write pending", st)
	}
	a.setToken(token)
	if rep := syncPizzas(t, a); rep.Pushed != 1 {
		t.Fatalf("with a fresh token: %+v", rep)
	}
	if err := a.repo.Pizzas.Upsert(ctx, &q2, runtime.RequireRemote); err != nil {
		t.Fatalf("RequireRemote: %v", err)
	}
}

// hasRequest reports whether one of urls has every part.
func hasRequest(urls []string, parts ...string) bool {
	for _, u := range urls {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(u, p)
		}
		if ok {
			return true
		}
	}
	return false
}
