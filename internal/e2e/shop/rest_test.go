package shop_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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

func openRepo(t *testing.T, r runtime.Remote, opts ...runtime.Option) *shop.Repository {
	t.Helper()
	return openRepoAt(t, filepath.Join(t.TempDir(), "app.db"), r, opts...)
}

func openRepoAt(t *testing.T, path string, r runtime.Remote, opts ...runtime.Option) *shop.Repository {
	t.Helper()
	db, err := runtime.OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	repo, err := shop.NewRepository(db, r, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { repo.Close() })
	if err := repo.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return repo
}

// jsonServerRepo is a repository on a fresh json-server, with the settings the README
// gives for it.
func jsonServerRepo(t *testing.T) (*shop.Repository, string) {
	base := testmod.JSONServer(t, "pizzas", "notes")
	rest := remote.NewREST(base, remote.WithPagePagination("_page", "_limit", 2))
	repo := openRepo(t, rest, shop.WithPizzaREST(runtime.RESTModel[shop.PizzaQuery]{
		Params: func(q shop.PizzaQuery) url.Values { return remote.JSONServerParams(q.Query()) },
	}))
	return repo, base
}

func serverRecord(t *testing.T, url string) map[string]any {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil
	}
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestJSONServerWriteThrough(t *testing.T) {
	ctx := context.Background()
	repo, base := jsonServerRepo(t)

	// Create: PUT answers 404, then POST.
	p := shop.Pizza{ID: runtime.NewID(), Name: "Margherita", Price: 900, Rating: 5, Draft: "secret"}
	if err := repo.Pizzas.Upsert(ctx, &p, runtime.RequireRemote); err != nil {
		t.Fatal(err)
	}
	got := serverRecord(t, base+"/pizzas/"+p.ID)
	if got["name"] != "Margherita" || got["price"] != 900.0 {
		t.Fatalf("server has %v", got)
	}
	if _, sent := got["Draft"]; sent {
		t.Fatal("a local field reached the server")
	}
	if _, sent := got["rating"]; sent {
		t.Fatal("a readonly field the server never gave was sent")
	}
	if local, err := repo.Pizzas.Get(ctx, p.ID, runtime.LocalOnly); err != nil || local.Draft != "secret" {
		t.Fatalf("stored locally: %+v, %v", local, err)
	}

	// Update: PUT.
	p.Price = 950
	if err := repo.Pizzas.Upsert(ctx, &p, runtime.RequireRemote); err != nil {
		t.Fatal(err)
	}
	if got := serverRecord(t, base+"/pizzas/"+p.ID); got["price"] != 950.0 {
		t.Fatalf("server has %v", got)
	}

	// Delete of a model with deletedAt writes the tombstone.
	if err := repo.Pizzas.Delete(ctx, p.ID, runtime.RequireRemote); err != nil {
		t.Fatal(err)
	}
	if got := serverRecord(t, base+"/pizzas/"+p.ID); got["deletedAt"] == nil {
		t.Fatalf("server kept no tombstone: %v", got)
	}
	if _, err := repo.Pizzas.Get(ctx, p.ID, runtime.LocalOnly); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("local record after delete: %v", err)
	}

	// A model without deletedAt is deleted with DELETE.
	n := shop.Note{ID: "n/1 ?#", Text: "odd id"}
	if err := repo.Notes.Upsert(ctx, &n, runtime.RequireRemote); err != nil {
		t.Fatal(err)
	}
	if got, err := repo.Notes.Get(ctx, n.ID, runtime.AwaitRemote); err != nil || got.Text != "odd id" {
		t.Fatalf("get through the remote: %+v, %v", got, err)
	}
	if err := repo.Notes.Delete(ctx, n.ID, runtime.RequireRemote); err != nil {
		t.Fatal(err)
	}
	if got := serverRecord(t, base+"/notes/"+url.PathEscape(n.ID)); got != nil {
		t.Fatalf("server still has the note: %v", got)
	}
	if err := repo.Notes.Delete(ctx, n.ID, runtime.RequireRemote); err != nil {
		t.Fatalf("deleting what the server no longer has: %v", err)
	}
}

func TestJSONServerHydrate(t *testing.T) {
	ctx := context.Background()
	repo, base := jsonServerRepo(t)
	// Another client's records, written straight to the server.
	for i := range 5 {
		body := fmt.Sprintf(`{"id":"p%d","name":"pizza %d","price":%d,"rating":4.5,"updatedAt":"2024-01-01T00:00:0%dZ"}`, i, i, i*100, i)
		resp, err := http.Post(base+"/pizzas", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}

	// Default policy: nothing local, so the remote is asked, across pages of two.
	q := shop.PizzaQuery{}.Where(shop.PizzaFields.Price.Ge(200)).OrderBy(shop.PizzaFields.Price.Desc())
	got, err := repo.Pizzas.Find(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].ID != "p4" || got[2].ID != "p2" || got[0].Rating != 4.5 {
		t.Fatalf("hydrated %+v", got)
	}
	if n, _ := repo.Pizzas.Count(ctx, shop.PizzaQuery{}); n != 3 {
		t.Fatalf("the query's parameters should have limited the pull to 3 records, stored %d", n)
	}
	all, err := repo.Pizzas.Hydrate(ctx, shop.PizzaQuery{})
	if err != nil || len(all) != 5 {
		t.Fatalf("hydrate all: %d, %v", len(all), err)
	}
	if got[0].UpdatedAt.IsZero() {
		t.Fatal("updatedAt did not come from the server")
	}

	// A readonly value the server gave travels back unchanged, whatever the client set.
	p := all[0]
	p.Rating = 1
	p.Name = "renamed"
	if err := repo.Pizzas.Upsert(ctx, &p, runtime.RequireRemote); err != nil {
		t.Fatal(err)
	}
	if got := serverRecord(t, base+"/pizzas/"+p.ID); got["rating"] != 4.5 || got["name"] != "renamed" {
		t.Fatalf("server has %v", got)
	}
}

// flaky is an httptest server whose handler the test swaps.
type flaky struct {
	mu      sync.Mutex
	handler http.HandlerFunc
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	h := f.handler
	f.mu.Unlock()
	h(w, r)
}

func (f *flaky) set(h http.HandlerFunc) {
	f.mu.Lock()
	f.handler = h
	f.mu.Unlock()
}

func TestReadsNeverHang(t *testing.T) {
	ctx := context.Background()
	release := make(chan struct{})
	f := &flaky{}
	f.set(func(w http.ResponseWriter, r *http.Request) { <-release })
	srv := httptest.NewServer(f)
	defer srv.Close()
	defer close(release)
	repo := openRepo(t, remote.NewREST(srv.URL, remote.WithRequestTimeout(100*time.Millisecond)))
	local := shop.Pizza{ID: "local", Name: "kept"}
	if err := repo.Pizzas.Upsert(ctx, &local, runtime.LocalOnly); err != nil {
		t.Fatal(err)
	}

	// The default policy and AlwaysHydrate answer from local data when the server hangs.
	if _, err := repo.Pizzas.Get(ctx, "absent"); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("get of an absent record on a hanging server: %v", err)
	}
	if got, err := repo.Pizzas.Get(ctx, "local", runtime.AlwaysHydrate); err != nil || got.Name != "kept" {
		t.Fatalf("AlwaysHydrate on a hanging server: %+v, %v", got, err)
	}
	if got, err := repo.Pizzas.Find(ctx, shop.PizzaQuery{}, runtime.AlwaysHydrate); err != nil || len(got) != 1 {
		t.Fatalf("AlwaysHydrate find on a hanging server: %d, %v", len(got), err)
	}
	// AwaitRemote and RequireRemote return the error.
	if _, err := repo.Pizzas.Get(ctx, "local", runtime.AwaitRemote); !errors.Is(err, runtime.ErrRequestTimeout) {
		t.Fatalf("AwaitRemote on a hanging server: %v", err)
	}
	p := shop.Pizza{ID: "new"}
	if err := repo.Pizzas.Upsert(ctx, &p, runtime.RequireRemote); !errors.Is(err, runtime.ErrRequestTimeout) {
		t.Fatalf("RequireRemote on a hanging server: %v", err)
	}
	if _, err := repo.Pizzas.Get(ctx, "new", runtime.LocalOnly); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatal("a write the remote did not take was stored locally")
	}

	// A 500 falls back the same way; AwaitRemote gives the *HTTPError.
	f.set(func(w http.ResponseWriter, r *http.Request) { http.Error(w, `{"error":"down"}`, 500) })
	if got, err := repo.Pizzas.Find(ctx, shop.PizzaQuery{}, runtime.AlwaysHydrate); err != nil || len(got) != 1 {
		t.Fatalf("AlwaysHydrate on a 500: %d, %v", len(got), err)
	}
	var httpErr *runtime.HTTPError
	if _, err := repo.Pizzas.Find(ctx, shop.PizzaQuery{}, runtime.AwaitRemote); !errors.As(err, &httpErr) || httpErr.Status != 500 {
		t.Fatalf("AwaitRemote on a 500: %v", err)
	}
}

func TestBadPagesWriteNothing(t *testing.T) {
	ctx := context.Background()
	f := &flaky{}
	srv := httptest.NewServer(f)
	defer srv.Close()
	repo := openRepo(t, remote.NewREST(srv.URL, remote.WithMaxPageBytes(1024)))
	for name, tc := range map[string]struct {
		body string
		want error
	}{
		"malformed":  {`[{"id":"a","name":"x"},{"id":`, runtime.ErrMalformedResponse},
		"not a list": {`{"id":"a"}`, runtime.ErrMalformedResponse},
		"too large":  {`[{"id":"a","name":"` + strings.Repeat("x", 2048) + `"}]`, runtime.ErrPageTooLarge},
		// A record that does not decode is skipped with an error event, not a failed
		// page: see TestHostileClientSkipsBadRecords.
	} {
		f.set(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, tc.body) })
		if _, err := repo.Pizzas.Hydrate(ctx, shop.PizzaQuery{}); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", name, err, tc.want)
		}
		if n, _ := repo.Pizzas.Count(ctx, shop.PizzaQuery{}); n != 0 {
			t.Fatalf("%s: a bad page wrote %d records", name, n)
		}
	}
}

func TestRejectedWriteStoresNothing(t *testing.T) {
	ctx := context.Background()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnprocessableEntity)
		io.WriteString(w, `{"error":"price must be positive","code":"invalid"}`)
	}))
	defer srv.Close()
	repo := openRepo(t, remote.NewREST(srv.URL))
	p := shop.Pizza{ID: "p", Price: -1}
	err := repo.Pizzas.Upsert(ctx, &p, runtime.RequireRemote)
	var httpErr *runtime.HTTPError
	if !errors.As(err, &httpErr) || httpErr.Status != 422 || !strings.Contains(string(httpErr.Body), "positive") {
		t.Fatalf("got %v", err)
	}
	if _, err := repo.Pizzas.Get(ctx, "p", runtime.LocalOnly); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatal("a rejected write was stored locally")
	}
}

func TestBadBaseURL(t *testing.T) {
	db, err := runtime.OpenSQLite(":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := shop.NewRepository(db, remote.NewREST("ftp://example.com")); err == nil {
		t.Fatal("NewRepository accepted an ftp base URL")
	}
}

// TestDocumentedErrors: each failure a server can cause comes back as the README says.
func TestDocumentedErrors(t *testing.T) {
	ctx := context.Background()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /pizzas/missing", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	mux.HandleFunc("GET /pizzas/broken", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) })
	mux.HandleFunc("GET /pizzas/truncated", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		io.WriteString(w, `{"id":"truncated","name":"cut`)
		w.(http.Flusher).Flush()
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
	})
	mux.HandleFunc("GET /pizzas", func(w http.ResponseWriter, r *http.Request) { // 50 MiB
		io.WriteString(w, `[{"id":"big","name":"`)
		chunk := strings.Repeat("x", 1<<20)
		for range 50 {
			io.WriteString(w, chunk)
		}
		io.WriteString(w, `"}]`)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	repo := openRepo(t, remote.NewREST(srv.URL))

	if _, err := repo.Pizzas.Get(ctx, "missing", runtime.AwaitRemote); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("404: %v", err)
	}
	var httpErr *runtime.HTTPError
	if _, err := repo.Pizzas.Get(ctx, "broken", runtime.AwaitRemote); !errors.As(err, &httpErr) || httpErr.Status != 500 || !runtime.IsRetryable(err) {
		t.Errorf("500: %v", err)
	}
	if _, err := repo.Pizzas.Get(ctx, "truncated", runtime.AwaitRemote); err == nil || !runtime.IsRetryable(err) || errors.As(err, &httpErr) {
		t.Errorf("truncated body: want a retryable transport error, got %v", err)
	}
	if _, err := repo.Pizzas.Hydrate(ctx, shop.PizzaQuery{}); !errors.Is(err, runtime.ErrPageTooLarge) {
		t.Errorf("50 MiB page: %v", err)
	}
	if n, _ := repo.Pizzas.Count(ctx, shop.PizzaQuery{}); n != 0 {
		t.Errorf("failed reads stored %d records", n)
	}
}

func TestUnreachableServer(t *testing.T) {
	ctx := context.Background()
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close() // nothing listens there any more
	repo := openRepo(t, remote.NewREST(addr))
	p := shop.Pizza{ID: "p", Name: "local"}
	if err := repo.Pizzas.Upsert(ctx, &p, runtime.LocalOnly); err != nil {
		t.Fatal(err)
	}
	if got, err := repo.Pizzas.Get(ctx, "p"); err != nil || got.Name != "local" {
		t.Fatalf("default policy, server unreachable: %+v, %v", got, err)
	}
	if got, err := repo.Pizzas.Find(ctx, shop.PizzaQuery{}.Where(shop.PizzaFields.Name.Eq("other"))); err != nil || len(got) != 0 {
		t.Fatalf("default policy find, nothing local, server unreachable: %v, %v", got, err)
	}
	if _, err := repo.Pizzas.Find(ctx, shop.PizzaQuery{}, runtime.AwaitRemote); err == nil || !runtime.IsRetryable(err) {
		t.Fatalf("AwaitRemote, server unreachable: %v", err)
	}
}

func TestDefaultSettingsAndOddIDs(t *testing.T) {
	ctx := context.Background()
	base := testmod.JSONServer(t, "pizzas", "notes")
	repo := openRepo(t, remote.NewREST(base)) // no options at all
	odd := shop.Note{ID: "a/../b?c", Text: "odd"}
	plain := shop.Note{ID: "b", Text: "plain"}
	for _, n := range []*shop.Note{&odd, &plain} {
		if err := repo.Notes.Upsert(ctx, n, runtime.RequireRemote); err != nil {
			t.Fatal(err)
		}
	}
	if got := serverRecord(t, base+"/notes/"+url.PathEscape(odd.ID)); got["text"] != "odd" {
		t.Fatalf("the odd id reached %v", got)
	}
	if got := serverRecord(t, base+"/notes/b"); got["text"] != "plain" {
		t.Fatalf("the odd id overwrote another record: %v", got)
	}
	all, err := repo.Notes.Hydrate(ctx, shop.NoteQuery{}.OrderBy(shop.NoteFields.ID.Asc()))
	if err != nil || len(all) != 2 || all[0].ID != odd.ID {
		t.Fatalf("hydrate: %+v, %v", all, err)
	}
}
