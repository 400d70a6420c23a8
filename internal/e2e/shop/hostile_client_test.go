package shop_test

// The hostile-input suite of the clients (issue 14): a server that sends bad records,
// endless or backwards cursors, huge pages or redirects must not stop a model's sync for
// good, loop, exhaust memory, or receive credentials meant for another origin.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncgen/syncgen/internal/e2e/shop"
	"github.com/syncgen/syncgen/remote"
	"github.com/syncgen/syncgen/runtime"
)

// errorEvents collects a repository's error events until the test ends.
func errorEvents(t *testing.T, repo *shop.Repository) func() []runtime.Event {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch := repo.Events(ctx)
	var mu sync.Mutex
	var got []runtime.Event
	go func() {
		for e := range ch {
			if e.Kind == runtime.EventError {
				mu.Lock()
				got = append(got, e)
				mu.Unlock()
			}
		}
	}()
	return func() []runtime.Event {
		time.Sleep(50 * time.Millisecond) // events are delivered after the commit
		mu.Lock()
		defer mu.Unlock()
		return append([]runtime.Event(nil), got...)
	}
}

// A record with an empty id, as an older server stored it, is skipped
// with an error event; the rest of the page is pulled and the cursor moves.
func TestHostileClientSkipsBadRecords(t *testing.T) { onBackends(t, testHostileClientSkipsBadRecords) }

func testHostileClientSkipsBadRecords(t *testing.T, open dbOpener) {
	ctx := context.Background()
	hs, db := startServer(t, open)
	if st := call(t, "PUT", hs.URL+"/pizzas/good1", `{"id":"good1","name":"a","price":1,"updatedAt":"2026-01-01T00:00:00Z"}`, nil, nil); st != 201 {
		t.Fatal(st)
	}
	// What an older server let POST /_batch store: a record whose id is "".
	if _, err := db.Writer().ExecContext(ctx, db.Writer().Rebind(`UPDATE syncgen_server_counters SET value = value + 1 WHERE name = 'seq'`)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Writer().ExecContext(ctx, db.Writer().Rebind(`INSERT INTO syncgen_server_records (model, id, version, seq, updated_at, deleted, deleted_at, data)
		VALUES ('pizzas', '', 1, 2, '2026-01-01T00:00:00.000000000Z', 0, '', '{"id":"","name":"bad","price":1,"updatedAt":"2026-01-01T00:00:00Z"}')`)); err != nil {
		t.Fatal(err)
	}
	if st := call(t, "PUT", hs.URL+"/pizzas/good2", `{"id":"good2","name":"b","price":1,"updatedAt":"2026-01-01T00:00:00Z"}`, nil, nil); st != 201 {
		t.Fatal(st)
	}
	repo := protocolRepo(t, hs.URL)
	events := errorEvents(t, repo)
	mustSync(t, repo)
	got, err := repo.Pizzas.Find(ctx, shop.PizzaQuery{}, runtime.LocalOnly)
	if err != nil || len(got) != 2 {
		t.Fatalf("pulled %+v, %v; want good1 and good2", got, err)
	}
	if ev := events(); len(ev) != 1 || ev[0].Model != "Pizza" || !errors.Is(ev[0].Err, runtime.ErrMalformedResponse) {
		t.Fatalf("error events %+v, want one for the bad record", ev)
	}
	// The cursor moved past it: a later pull neither fails nor reports it again.
	if st := call(t, "PUT", hs.URL+"/pizzas/good3", `{"id":"good3","name":"c","price":1,"updatedAt":"2026-01-01T00:00:00Z"}`, nil, nil); st != 201 {
		t.Fatal(st)
	}
	mustSync(t, repo)
	if got, _ := repo.Pizzas.Find(ctx, shop.PizzaQuery{}, runtime.LocalOnly); len(got) != 3 {
		t.Fatalf("the second pull: %+v", got)
	}
	if ev := events(); len(ev) != 1 {
		t.Fatalf("error events after the second pull: %+v", ev)
	}

	// A plain REST page with records that do not decode or have no id.
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/pizzas" {
			fmt.Fprint(w, `[{"id":"p1","name":"ok","price":1},{"id":"p2","price":"nine"},{"name":"no id"},{"id":"p3","name":"ok too","price":2}]`)
			return
		}
		fmt.Fprint(w, `[]`)
	}))
	defer plain.Close()
	prepo := openRepo(t, remote.NewREST(plain.URL))
	pevents := errorEvents(t, prepo)
	mustSync(t, prepo)
	if got, _ := prepo.Pizzas.Find(ctx, shop.PizzaQuery{}, runtime.LocalOnly); len(got) != 2 {
		t.Fatalf("plain pull: %+v", got)
	}
	if ev := pevents(); len(ev) != 2 {
		t.Fatalf("plain pull's error events: %+v", ev)
	}
}

// feedServer is a protocol server whose pizzas feed answers what page says for a cursor;
// the other models' feeds are empty.
func feedServer(t *testing.T, page func(cursor string) string) (*httptest.Server, *atomic.Int64) {
	var calls atomic.Int64
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Syncgen-Protocol", "1")
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/pizzas/_changes" {
			if calls.Add(1) > 1000 {
				http.Error(w, "enough", http.StatusTeapot) // the loop the test looks for
				return
			}
			fmt.Fprint(w, page(r.URL.Query().Get("cursor")))
			return
		}
		if strings.HasSuffix(r.URL.Path, "/_changes") {
			fmt.Fprint(w, `{"changes":[],"cursor":"0","hasMore":false}`)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(hs.Close)
	return hs, &calls
}

func savedCursor(t *testing.T, repo *shop.Repository, db *runtime.DB) string {
	t.Helper()
	var c string
	if err := db.Reader().QueryRow(`SELECT cursor FROM syncgen_cursors WHERE model = 'pizzas'`).Scan(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

// A feed that answers hasMore with the same, an earlier, or an alternating cursor ends
// the pull with ErrListingLoop after a few requests, and the saved cursor never moves
// backwards.
func TestHostileClientCursorLoops(t *testing.T) {
	ctx := context.Background()
	entry := func(id, seq string) string {
		return fmt.Sprintf(`{"id":%q,"version":"1","seq":%q,"updatedAt":"","deleted":false,"record":{"id":%q,"name":"x","price":1,"updatedAt":"2026-01-01T00:00:00Z"}}`, id, seq, id)
	}
	for name, page := range map[string]func(string) string{
		"same": func(c string) string {
			return `{"changes":[` + entry("a", "5") + `],"cursor":"5","hasMore":true}`
		},
		"alternating": func(c string) string {
			next := map[string]string{"": "x", "x": "y", "y": "x"}[c]
			return `{"changes":[` + entry("a", "1") + `],"cursor":"` + next + `","hasMore":true}`
		},
		"backwards": func(c string) string {
			if c == "" {
				return `{"changes":[` + entry("a", "9") + `],"cursor":"9","hasMore":true}`
			}
			return `{"changes":[` + entry("b", "3") + `],"cursor":"3","hasMore":false}`
		},
	} {
		t.Run(name, func(t *testing.T) {
			hs, calls := feedServer(t, page)
			dbPath := t.TempDir() + "/app.db"
			repo := openRepoAt(t, dbPath, remote.NewProtocol(hs.URL))
			ctx, cancel := context.WithTimeout(ctx, 30*time.Second) // a guard
			defer cancel()
			_, err := repo.Sync(ctx)
			if !errors.Is(err, runtime.ErrListingLoop) || calls.Load() > 5 {
				t.Fatalf("sync: %v after %d requests; want ErrListingLoop at once", err, calls.Load())
			}
		})
	}

	// A saved cursor never moves back: a last page whose cursor is below it is refused.
	cursor := "10"
	hs, _ := feedServer(t, func(c string) string {
		return `{"changes":[],"cursor":"` + cursor + `","hasMore":false}`
	})
	path := t.TempDir() + "/app.db"
	db, err := runtime.OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	repo, err := shop.NewRepository(db, remote.NewProtocol(hs.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	if err := repo.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	mustSync(t, repo)
	cursor = "4"
	if _, err := repo.Sync(ctx); !errors.Is(err, runtime.ErrListingLoop) {
		t.Fatalf("a cursor moving back: %v", err)
	}
	if got := savedCursor(t, repo, db); got != "10" {
		t.Fatalf("saved cursor %q, want 10", got)
	}

	// A plain REST API whose next cursors alternate.
	var listCalls atomic.Int64
	rest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/pizzas" {
			fmt.Fprint(w, `{"items":[]}`)
			return
		}
		if listCalls.Add(1) > 1000 {
			http.Error(w, "enough", http.StatusTeapot)
			return
		}
		next := map[string]string{"": "a", "a": "b", "b": "a"}[r.URL.Query().Get("c")]
		fmt.Fprintf(w, `{"items":[{"id":"p%d","name":"x","price":1}],"next":%q}`, listCalls.Load(), next)
	}))
	defer rest.Close()
	rrepo := openRepo(t, remote.NewREST(rest.URL, remote.WithListKey("items"), remote.WithNextCursor("next", "c")))
	if _, err := rrepo.Sync(ctx); !errors.Is(err, runtime.ErrListingLoop) || listCalls.Load() > 5 {
		t.Fatalf("alternating REST cursors: %v after %d requests", err, listCalls.Load())
	}
}

// One page of tiny records beyond the bound fails while it is read, on both remotes.
func TestHostileClientPageRecords(t *testing.T) {
	ctx := context.Background()
	n := remote.DefaultMaxPageRecords + 1
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"id":"%x"}`, i)
	}
	records := "[" + b.String() + "]"
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/pizzas" {
			fmt.Fprint(w, records)
			return
		}
		fmt.Fprint(w, `[]`)
	}))
	defer plain.Close()
	repo := openRepo(t, remote.NewREST(plain.URL))
	if _, err := repo.Sync(ctx); !errors.Is(err, runtime.ErrPageTooLarge) {
		t.Fatalf("a plain page of %d records: %v", n, err)
	}
	small := openRepo(t, remote.NewREST(plain.URL, remote.WithMaxPageRecords(n)))
	mustSync(t, small)

	var c strings.Builder
	for i := range n {
		if i > 0 {
			c.WriteString(",")
		}
		fmt.Fprintf(&c, `{"id":"%x","version":"1","seq":"1","updatedAt":"","deleted":true,"record":null}`, i)
	}
	hs, _ := feedServer(t, func(string) string { return `{"changes":[` + c.String() + `],"cursor":"1","hasMore":false}` })
	prepo := openRepo(t, remote.NewProtocol(hs.URL))
	if _, err := prepo.Sync(ctx); !errors.Is(err, runtime.ErrPageTooLarge) {
		t.Fatalf("a feed page of %d changes: %v", n, err)
	}
}

// Credentials set by the request hook never follow a redirect to another origin (another
// port of the same host included), whoever made the http.Client; same-origin redirects
// are followed.
func TestHostileClientRedirects(t *testing.T) {
	ctx := context.Background()
	var leaked atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" || r.Header.Get("X-Api-Key") != "" {
			leaked.Add(1)
		}
		fmt.Fprint(w, `{"id":"x"}`)
	}))
	defer other.Close()
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/pizzas/away":
			http.Redirect(w, r, other.URL+"/pizzas/x", http.StatusTemporaryRedirect)
		case "/pizzas/moved":
			http.Redirect(w, r, "/pizzas/here", http.StatusTemporaryRedirect)
		default:
			fmt.Fprint(w, `{"id":"here"}`)
		}
	}))
	defer origin.Close()
	hook := remote.WithRequestHook(func(r *http.Request) error {
		r.Header.Set("Authorization", "Bearer secret")
		r.Header.Set("X-Api-Key", "secret")
		return nil
	})
	e := &runtime.Endpoint{Path: "/pizzas"}
	for name, r := range map[string]*remote.REST{
		"default client": remote.NewREST(origin.URL, hook),
		"own client":     remote.NewREST(origin.URL, hook, remote.WithHTTPClient(&http.Client{})),
	} {
		if _, err := r.Get(ctx, e, "away"); !errors.Is(err, remote.ErrCrossOriginRedirect) || runtime.IsRetryable(err) {
			t.Errorf("%s: a redirect to another origin: %v", name, err)
		}
		if rec, err := r.Get(ctx, e, "moved"); err != nil || !strings.Contains(string(rec), "here") {
			t.Errorf("%s: a same-origin redirect: %s %v", name, rec, err)
		}
	}
	if n := leaked.Load(); n > 0 {
		t.Fatalf("credentials reached another origin %d times", n)
	}
}
