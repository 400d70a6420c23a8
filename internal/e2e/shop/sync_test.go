package shop_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
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

// faultProxy stands in front of a real server and injects the faults the server cannot
// produce by itself: a network that is down, a status, a lost answer.
type faultProxy struct {
	URL  string
	next http.Handler

	mu    sync.Mutex
	fault func(w http.ResponseWriter, r *http.Request, next http.Handler) bool // true: handled
	log   []string                                                             // "METHOD /path key"
}

func newFaultProxy(t *testing.T, target string) *faultProxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{next: httputil.NewSingleHostReverseProxy(u)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.log = append(p.log, r.Method+" "+r.URL.Path+" "+r.Header.Get("Idempotency-Key"))
		fault := p.fault
		p.mu.Unlock()
		if fault == nil || !fault(w, r, p.next) {
			p.next.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

func (p *faultProxy) set(f func(w http.ResponseWriter, r *http.Request, next http.Handler) bool) {
	p.mu.Lock()
	p.fault = f
	p.mu.Unlock()
}

// offline makes every request fail as a dropped connection does.
func (p *faultProxy) offline() {
	p.set(func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool { return hangUp(w) })
}

func (p *faultProxy) heal() { p.set(nil) }

// requests returns the logged requests that contain s, and clears the log when reset.
func (p *faultProxy) requests(s string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, l := range p.log {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

// pushesFail lets pulls through and drops every write.
func pushesFail(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
	return r.Method != http.MethodGet && hangUp(w)
}

// hangUp closes the connection without an answer.
func hangUp(w http.ResponseWriter) bool {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		conn.Close()
	}
	return true
}

// syncRepo is a repository on base with the json-server settings of the README, quick
// backoff, and a full pull on every Run round.
func syncRepo(t *testing.T, base string, opts ...runtime.Option) *shop.Repository {
	rest := remote.NewREST(base, remote.WithPagePagination("_page", "_limit", 2),
		remote.WithRequestTimeout(5*time.Second))
	opts = append([]runtime.Option{
		shop.WithPizzaREST(runtime.RESTModel[shop.PizzaQuery]{
			Params: func(q shop.PizzaQuery) url.Values { return remote.JSONServerParams(q.Query()) },
		}),
		runtime.WithBackoff(10*time.Millisecond, 50*time.Millisecond),
	}, opts...)
	return openRepo(t, rest, opts...)
}

func mustSync(t *testing.T, repo *shop.Repository) runtime.SyncReport {
	t.Helper()
	rep, err := repo.Sync(context.Background())
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	return rep
}

func TestOfflineWritesDrainWhenTheServerHeals(t *testing.T) {
	ctx := context.Background()
	base := testmod.JSONServer(t, "pizzas", "notes", "toppings")
	proxy := newFaultProxy(t, base)
	repo := syncRepo(t, proxy.URL)

	proxy.offline()
	pizzas := []*shop.Pizza{{ID: "p1", Name: "Margherita", Price: 900}, {ID: "p2", Name: "Diavola", Price: 1100}}
	if err := repo.Pizzas.UpsertMany(ctx, pizzas); err != nil {
		t.Fatalf("an offline write failed: %v", err)
	}
	if err := repo.Notes.Upsert(ctx, &shop.Note{ID: "n1", Text: "stays"}); err != nil {
		t.Fatal(err)
	}
	// Created and deleted before the server heard of it: nothing to send.
	if err := repo.Notes.Upsert(ctx, &shop.Note{ID: "n2", Text: "gone"}); err != nil {
		t.Fatal(err)
	}
	if err := repo.Notes.Delete(ctx, "n2"); err != nil {
		t.Fatal(err)
	}
	if got, err := repo.Pizzas.Get(ctx, "p1"); err != nil || got.Name != "Margherita" {
		t.Fatalf("local read while offline: %+v, %v", got, err)
	}

	if _, err := repo.Sync(ctx); err == nil {
		t.Fatal("Sync reported success while the server was unreachable")
	}
	if st := repo.Status(); st.Pending != 3 || st.LastError == nil {
		t.Fatalf("status offline: %+v", st)
	}
	// p1's create was sent (a create needs no read before it) and its answer lost, so it
	// is frozen: the same request goes again, and this edit queues after it.
	pizzas[0].Price = 950
	if err := repo.Pizzas.Upsert(ctx, pizzas[0]); err != nil {
		t.Fatal(err)
	}
	if st := repo.Status(); st.Pending != 4 {
		t.Fatalf("pending after an edit of a write already sent: %d, want 4", st.Pending)
	}
	if _, err := repo.Sync(ctx); err == nil {
		t.Fatal("second offline Sync reported success")
	}

	proxy.heal()
	rep := mustSync(t, repo)
	if got := rep.Models["Pizza"].Pushed; got != 3 {
		t.Errorf("pushed pizzas: %d, want 3 (p1's create and its edit, p2)", got)
	}
	if got := rep.Models["Note"].Pushed; got != 1 {
		t.Errorf("pushed notes: %d, want 1", got)
	}
	if st := repo.Status(); st.Pending != 0 || st.LastError != nil || st.LastSync.IsZero() {
		t.Fatalf("status after healing: %+v", st)
	}
	if got := serverRecord(t, base+"/pizzas/p1"); got["price"] != 950.0 || got["name"] != "Margherita" {
		t.Errorf("server p1: %v", got)
	}
	if got := serverRecord(t, base+"/pizzas/p2"); got["price"] != 1100.0 {
		t.Errorf("server p2: %v", got)
	}
	if got := serverRecord(t, base+"/notes/n1"); got["text"] != "stays" {
		t.Errorf("server n1: %v", got)
	}
	if reqs := proxy.requests("/notes/n2"); len(reqs) > 0 {
		t.Errorf("a note created and deleted offline reached the server: %v", reqs)
	}
	// p1's create, sent while offline, went again with its key; its edit with another
	// (json-server answers 404 to the PUT of a new record; the POST that follows has a
	// key of its own).
	keys := map[string]int{}
	for _, r := range proxy.requests("PUT /pizzas/p1 ") {
		keys[strings.Fields(r)[2]]++
	}
	if len(keys) != 2 {
		t.Errorf("idempotency keys of p1's PUTs: %v, want 2", keys)
	}
	if rep := mustSync(t, repo); rep.Total().Pushed != 0 {
		t.Errorf("a second Sync pushed again: %+v", rep)
	}
}

func TestRejectedWriteIsDeadLetteredAndHoldsOnlyItsRecord(t *testing.T) {
	ctx := context.Background()
	base := testmod.JSONServer(t, "pizzas", "notes", "toppings")
	proxy := newFaultProxy(t, base)
	// The API validates prices, as a real one would; json-server cannot.
	proxy.set(func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
		if r.Method != http.MethodPut && r.Method != http.MethodPost {
			return false
		}
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var p struct{ Price int }
		if json.Unmarshal(body, &p) == nil && p.Price < 0 {
			w.WriteHeader(http.StatusUnprocessableEntity)
			io.WriteString(w, `{"error":"price must not be negative"}`)
			return true
		}
		return false
	})
	var events []runtime.Event
	var evMu sync.Mutex
	evCtx, stopEvents := context.WithCancel(ctx)
	defer stopEvents()
	repo := syncRepo(t, proxy.URL)
	ch := repo.Events(evCtx)
	go func() {
		for e := range ch {
			evMu.Lock()
			events = append(events, e)
			evMu.Unlock()
		}
	}()

	bad := &shop.Pizza{ID: "bad", Name: "Refund", Price: -5}
	good := &shop.Pizza{ID: "good", Name: "Funghi", Price: 1000}
	if err := repo.Pizzas.UpsertMany(ctx, []*shop.Pizza{bad, good}); err != nil {
		t.Fatal(err)
	}
	rep := mustSync(t, repo) // a dead letter is reported, not an error
	if m := rep.Models["Pizza"]; m.Pushed != 1 || m.DeadLettered != 1 {
		t.Fatalf("report: %+v", rep)
	}
	if got := serverRecord(t, base+"/pizzas/good"); got["name"] != "Funghi" {
		t.Fatalf("the good record did not go through: %v", got)
	}
	dead, err := repo.DeadLetters(ctx)
	if err != nil || len(dead) != 1 {
		t.Fatalf("dead letters: %+v, %v", dead, err)
	}
	d := dead[0]
	if d.Model != "Pizza" || d.ID != "bad" || d.Op != "put" || d.Status != 422 ||
		!strings.Contains(d.Body, "must not be negative") || d.Err == "" || d.At.IsZero() {
		t.Fatalf("dead letter: %+v", d)
	}
	sent := len(proxy.requests("/pizzas/bad"))

	// Never re-sent, and later writes of the record wait behind it; others go on.
	bad.Name = "Still refund"
	if err := repo.Pizzas.Upsert(ctx, bad); err != nil {
		t.Fatal(err)
	}
	good.Price = 1200
	if err := repo.Pizzas.Upsert(ctx, good); err != nil {
		t.Fatal(err)
	}
	mustSync(t, repo)
	mustSync(t, repo)
	if n := len(proxy.requests("/pizzas/bad")); n != sent {
		t.Fatalf("the dead letter's record was sent again: %v", proxy.requests("/pizzas/bad"))
	}
	if got := serverRecord(t, base+"/pizzas/good"); got["price"] != 1200.0 {
		t.Fatalf("a dead letter blocked another record: %v", got)
	}
	if st := repo.Status(); st.DeadLetters != 1 || st.Held != 1 || st.Pending != 0 {
		t.Fatalf("status: %+v", st)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := repo.WaitIdle(wctx); err != nil {
		t.Fatalf("WaitIdle with a write held behind a dead letter: %v", err)
	}
	// The pull does not overwrite the held record either.
	if got, _ := repo.Pizzas.Get(ctx, "bad", runtime.LocalOnly); got.Name != "Still refund" {
		t.Fatalf("local record with a dead letter: %+v", got)
	}

	// Retry after fixing the record: a new write of its current state.
	bad.Price = 5
	if err := repo.Pizzas.Upsert(ctx, bad); err != nil {
		t.Fatal(err)
	}
	if err := repo.Retry(ctx, d.Seq); err != nil {
		t.Fatal(err)
	}
	mustSync(t, repo)
	if got := serverRecord(t, base+"/pizzas/bad"); got["price"] != 5.0 || got["name"] != "Still refund" {
		t.Fatalf("after Retry the server has %v", got)
	}
	if dead, _ := repo.DeadLetters(ctx); len(dead) != 0 {
		t.Fatalf("dead letters after Retry: %+v", dead)
	}

	// Discard reverts to what the server acknowledged, then pulls.
	bad.Price = -1
	if err := repo.Pizzas.Upsert(ctx, bad); err != nil {
		t.Fatal(err)
	}
	mustSync(t, repo)
	if err := repo.Discard(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := repo.Pizzas.Get(ctx, "bad", runtime.LocalOnly); got.Price != 5 {
		t.Fatalf("after Discard the local record is %+v, want the acknowledged price 5", got)
	}
	if st := repo.Status(); st.DeadLetters != 0 || st.Pending != 0 {
		t.Fatalf("status after Discard: %+v", st)
	}
	if err := repo.Retry(ctx, 12345); err == nil {
		t.Fatal("Retry of an unknown seq succeeded")
	}
	stopEvents()
	time.Sleep(10 * time.Millisecond)
	evMu.Lock()
	defer evMu.Unlock()
	var deadEvents int
	for _, e := range events {
		if e.Kind == runtime.EventDeadLettered {
			deadEvents++
		}
	}
	if deadEvents != 2 {
		t.Errorf("dead-lettered events: %d, want 2", deadEvents)
	}
}

func TestPullReconcilesByLastWriterWins(t *testing.T) {
	ctx := context.Background()
	base := testmod.JSONServer(t, "pizzas", "notes", "toppings")
	proxyB := newFaultProxy(t, base)
	a := syncRepo(t, base)
	b := syncRepo(t, proxyB.URL)

	p := &shop.Pizza{ID: "p", Name: "Marinara", Price: 700}
	if err := a.Pizzas.Upsert(ctx, p); err != nil {
		t.Fatal(err)
	}
	mustSync(t, a)
	if rep := mustSync(t, b); rep.Models["Pizza"].Pulled != 1 {
		t.Fatalf("b pulled %+v", rep)
	}

	// A newer server version replaces b's copy, and b's subscribers hear of it.
	sub, cancel := context.WithCancel(ctx)
	defer cancel()
	results := b.Pizzas.Subscribe(sub, shop.PizzaQuery{})
	<-results
	p.Price = 750
	if err := a.Pizzas.Upsert(ctx, p); err != nil {
		t.Fatal(err)
	}
	mustSync(t, a)
	mustSync(t, b)
	if got, _ := b.Pizzas.Get(ctx, "p"); got.Price != 750 {
		t.Fatalf("b did not take the newer version: %+v", got)
	}
	select {
	case got := <-results:
		if len(got) != 1 || got[0].Price != 750 {
			t.Fatalf("subscription after the pull: %+v", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no subscription result after a pull")
	}

	// a edits, then b edits offline: a's version is older than b's pending one, so b's
	// pull keeps b's, and b's reaches the server when it heals.
	if err := a.Pizzas.Upsert(ctx, &shop.Pizza{ID: "p", Name: "Marinara (a)", Price: 760}); err != nil {
		t.Fatal(err)
	}
	proxyB.offline()
	if err := b.Pizzas.Upsert(ctx, &shop.Pizza{ID: "p", Name: "Marinara (b)", Price: 800}); err != nil {
		t.Fatal(err)
	}
	mustSync(t, a)
	proxyB.set(pushesFail)
	rep, _ := b.Sync(ctx)
	if rep.Models["Pizza"].Conflicts != 1 || rep.Models["Pizza"].Overruled != 0 {
		t.Fatalf("b's report: %+v", rep)
	}
	if got, _ := b.Pizzas.Get(ctx, "p"); got.Name != "Marinara (b)" {
		t.Fatalf("an older server version replaced a pending local edit: %+v", got)
	}
	proxyB.heal()
	mustSync(t, b)
	mustSync(t, a)
	for _, r := range []*shop.Repository{a, b} {
		if got, _ := r.Pizzas.Get(ctx, "p"); got.Name != "Marinara (b)" || got.Price != 800 {
			t.Fatalf("not converged: %+v", got)
		}
	}

	// The other way: b's pending edit is older than a's, and loses, reported.
	proxyB.set(pushesFail)
	if err := b.Pizzas.Upsert(ctx, &shop.Pizza{ID: "p", Name: "old", Price: 1}); err != nil {
		t.Fatal(err)
	}
	if err := a.Pizzas.Upsert(ctx, &shop.Pizza{ID: "p", Name: "new", Price: 2}); err != nil {
		t.Fatal(err)
	}
	mustSync(t, a)
	rep, _ = b.Sync(ctx)
	if m := rep.Models["Pizza"]; m.Conflicts != 1 || m.Overruled != 1 {
		t.Fatalf("b's report: %+v", rep)
	}
	if got, _ := b.Pizzas.Get(ctx, "p"); got.Name != "new" {
		t.Fatalf("a later server version did not win: %+v", got)
	}
	if st := b.Status(); st.Pending != 0 {
		t.Fatalf("the overruled write is still queued: %+v", st)
	}
}

func TestConflictResolvers(t *testing.T) {
	ctx := context.Background()
	base := testmod.JSONServer(t, "pizzas", "notes", "toppings")
	var conflicts []runtime.Conflict[shop.Pizza]
	merge := shop.WithPizzaResolver(func(_ context.Context, c runtime.Conflict[shop.Pizza]) (runtime.Resolution[shop.Pizza], error) {
		conflicts = append(conflicts, c)
		m := *c.Remote
		m.Name = c.Remote.Name + " + " + c.Local.Name
		return runtime.Resolution[shop.Pizza]{Action: runtime.WriteMerged, Merged: &m}, nil
	})
	proxyB := newFaultProxy(t, base)
	a := syncRepo(t, base)
	b := syncRepo(t, proxyB.URL, merge)
	if err := a.Pizzas.Upsert(ctx, &shop.Pizza{ID: "p", Name: "base", Price: 1}); err != nil {
		t.Fatal(err)
	}
	mustSync(t, a)
	mustSync(t, b)

	proxyB.set(pushesFail)
	if err := b.Pizzas.Upsert(ctx, &shop.Pizza{ID: "p", Name: "b", Price: 3}); err != nil {
		t.Fatal(err)
	}
	if err := a.Pizzas.Upsert(ctx, &shop.Pizza{ID: "p", Name: "a", Price: 2}); err != nil {
		t.Fatal(err)
	}
	mustSync(t, a)
	b.Sync(ctx)
	if len(conflicts) != 1 {
		t.Fatalf("resolver calls: %d", len(conflicts))
	}
	c := conflicts[0]
	if c.ID != "p" || c.Local.Name != "b" || c.Remote.Name != "a" || c.Base == nil || c.Base.Name != "base" || !c.RemoteLater {
		t.Fatalf("conflict: %+v local %+v remote %+v base %+v", c, c.Local, c.Remote, c.Base)
	}
	proxyB.heal()
	mustSync(t, b)
	mustSync(t, a)
	for _, r := range []*shop.Repository{a, b} {
		if got, _ := r.Pizzas.Get(ctx, "p"); got.Name != "a + b" {
			t.Fatalf("merged record not everywhere: %+v", got)
		}
	}

	// RemoteWins drops the pending write and reports it overruled.
	proxyC := newFaultProxy(t, base)
	cRepo := syncRepo(t, proxyC.URL, shop.WithPizzaResolver(runtime.RemoteWins[shop.Pizza]))
	mustSync(t, cRepo)
	proxyC.set(pushesFail)
	if err := cRepo.Pizzas.Upsert(ctx, &shop.Pizza{ID: "p", Name: "c", Price: 9}); err != nil {
		t.Fatal(err)
	}
	if err := a.Pizzas.Upsert(ctx, &shop.Pizza{ID: "p", Name: "a2", Price: 2}); err != nil {
		t.Fatal(err)
	}
	mustSync(t, a)
	rep, _ := cRepo.Sync(ctx)
	if m := rep.Models["Pizza"]; m.Conflicts != 1 || m.Overruled != 1 {
		t.Fatalf("report: %+v", rep)
	}
	if got, _ := cRepo.Pizzas.Get(ctx, "p"); got.Name != "a2" {
		t.Fatalf("RemoteWins kept %+v", got)
	}
	if st := cRepo.Status(); st.Pending != 0 {
		t.Fatalf("an overruled write is still queued: %+v", st)
	}
}

func TestDeletesTravelBothWays(t *testing.T) {
	ctx := context.Background()
	base := testmod.JSONServer(t, "pizzas", "notes", "toppings")
	a := syncRepo(t, base)
	b := syncRepo(t, base)
	if err := a.Pizzas.Upsert(ctx, &shop.Pizza{ID: "p", Name: "Quattro", Price: 1300}); err != nil {
		t.Fatal(err)
	}
	if err := a.Notes.Upsert(ctx, &shop.Note{ID: "n", Text: "hello"}); err != nil {
		t.Fatal(err)
	}
	mustSync(t, a)
	mustSync(t, b)
	if _, err := b.Pizzas.Get(ctx, "p", runtime.LocalOnly); err != nil {
		t.Fatal(err)
	}

	// A soft delete (deletedAt) travels as the tombstone, and hides the record on b.
	if err := a.Pizzas.Delete(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	mustSync(t, a)
	if got := serverRecord(t, base+"/pizzas/p"); got["deletedAt"] == nil {
		t.Fatalf("the server did not get the tombstone: %v", got)
	}
	mustSync(t, b)
	if _, err := b.Pizzas.Get(ctx, "p", runtime.LocalOnly); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("a remote soft delete did not hide the record: %v", err)
	}
	if n, _ := b.Pizzas.Count(ctx, shop.PizzaQuery{}); n != 0 {
		t.Fatalf("count after a remote delete: %d", n)
	}
	// A later write revives it everywhere.
	if err := b.Pizzas.Upsert(ctx, &shop.Pizza{ID: "p", Name: "Quattro again", Price: 1300}); err != nil {
		t.Fatal(err)
	}
	mustSync(t, b)
	mustSync(t, a)
	if got, err := a.Pizzas.Get(ctx, "p"); err != nil || got.Name != "Quattro again" {
		t.Fatalf("revived record on a: %+v, %v", got, err)
	}

	// A model without deletedAt deletes with DELETE; the other client sees it in a full
	// pull (Hydrate with Replace), and an older copy does not bring it back.
	if err := b.Notes.Delete(ctx, "n"); err != nil {
		t.Fatal(err)
	}
	mustSync(t, b)
	if got := serverRecord(t, base+"/notes/n"); got != nil {
		t.Fatalf("the server still has the deleted note: %v", got)
	}
	if _, err := a.Notes.Hydrate(ctx, shop.NoteQuery{}, runtime.Replace()); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Notes.Get(ctx, "n", runtime.LocalOnly); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("Hydrate with Replace kept a record the server deleted: %v", err)
	}
	if _, err := a.Notes.Hydrate(ctx, shop.NoteQuery{}.Limit(1), runtime.Replace()); err == nil {
		t.Fatal("Replace with Limit was accepted")
	}
}

func TestRefOrderPushesTheTargetFirst(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	var order []string
	base := testmod.JSONServer(t, "pizzas", "notes", "toppings")
	proxy := newFaultProxy(t, base)
	proxy.set(func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
		if r.Method != http.MethodGet {
			mu.Lock()
			order = append(order, r.Method+" "+r.URL.Path)
			mu.Unlock()
		}
		return false
	})
	repo := syncRepo(t, proxy.URL, runtime.WithPushLimit(8))
	// The topping is written first, so it is first in the queue.
	if err := repo.Tx(ctx, func(tx *shop.Tx) error {
		if err := tx.Toppings.Upsert(ctx, &shop.Topping{ID: "t", PizzaID: "p", Name: "basil"}); err != nil {
			return err
		}
		return tx.Pizzas.Upsert(ctx, &shop.Pizza{ID: "p", Name: "Margherita"})
	}); err != nil {
		t.Fatal(err)
	}
	rep := mustSync(t, repo)
	if rep.Total().Pushed != 2 {
		t.Fatalf("report %+v", rep)
	}
	mu.Lock()
	defer mu.Unlock()
	first := -1
	for i, o := range order {
		if strings.Contains(o, "/toppings") {
			first = i
			break
		}
	}
	if first < 0 || !strings.Contains(strings.Join(order[:first], " "), "/pizzas") {
		t.Fatalf("the topping went before its pizza's create: %v", order)
	}
}

func TestServerFaultsLoseNothing(t *testing.T) {
	ctx := context.Background()
	base := testmod.JSONServer(t, "pizzas", "notes", "toppings")
	// Five pizzas on the server: three pages of two.
	seed := syncRepo(t, base)
	for i := range 5 {
		if err := seed.Pizzas.Upsert(ctx, &shop.Pizza{ID: fmt.Sprintf("p%d", i), Name: "v1"}); err != nil {
			t.Fatal(err)
		}
	}
	mustSync(t, seed)

	proxy := newFaultProxy(t, base)
	repo := syncRepo(t, proxy.URL)
	listPage := func(r *http.Request, page string) bool {
		return r.Method == http.MethodGet && r.URL.Path == "/pizzas" && r.URL.Query().Get("_page") == page
	}
	faults := []struct {
		name  string
		fault func(w http.ResponseWriter, r *http.Request) bool
		is    error
	}{
		{"500 mid-listing", func(w http.ResponseWriter, r *http.Request) bool {
			if !listPage(r, "2") {
				return false
			}
			http.Error(w, "boom", http.StatusInternalServerError)
			return true
		}, nil},
		{"malformed JSON", func(w http.ResponseWriter, r *http.Request) bool {
			if !listPage(r, "2") {
				return false
			}
			io.WriteString(w, `[{"id":"p2","name":"x"`)
			return true
		}, runtime.ErrMalformedResponse},
		// A record without an id is skipped, not a failed page: see
		// TestHostileClientSkipsBadRecords.
		{"connection dropped", func(w http.ResponseWriter, r *http.Request) bool {
			return listPage(r, "3") && hangUp(w)
		}, nil},
	}
	for _, f := range faults {
		proxy.set(func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool { return f.fault(w, r) })
		_, err := repo.Sync(ctx)
		if err == nil || (f.is != nil && !errors.Is(err, f.is)) {
			t.Fatalf("%s: Sync error %v", f.name, err)
		}
		n, _ := repo.Pizzas.Count(ctx, shop.PizzaQuery{})
		if n%2 != 0 && f.name != "connection dropped" {
			t.Fatalf("%s: %d pizzas stored: a page was half applied", f.name, n)
		}
		if got, err := repo.Pizzas.Get(ctx, "", runtime.LocalOnly); err == nil {
			t.Fatalf("%s: a record without an id was stored: %+v", f.name, got)
		}
	}
	proxy.heal()
	mustSync(t, repo)
	if n, _ := repo.Pizzas.Count(ctx, shop.PizzaQuery{}); n != 5 {
		t.Fatalf("after the server healed: %d pizzas, want 5", n)
	}

	// The server commits a create and the answer is lost: the retry sends the same write,
	// and nothing is duplicated.
	var lost sync.Once
	proxy.set(func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		handled := false
		if r.Method == http.MethodPost {
			lost.Do(func() {
				next.ServeHTTP(httptest.NewRecorder(), r)
				handled = hangUp(w)
			})
		}
		return handled
	})
	if err := repo.Pizzas.Upsert(ctx, &shop.Pizza{ID: "new", Name: "lost answer"}); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		if _, err := repo.Sync(ctx); err == nil {
			break
		} else if i == 3 {
			t.Fatalf("sync after a lost answer: %v", err)
		}
	}
	if posts := proxy.requests("POST /pizzas"); len(posts) < 2 {
		t.Fatalf("the lost create was not sent again: %v", posts)
	}
	if got := serverRecord(t, base+"/pizzas/new"); got["name"] != "lost answer" {
		t.Fatalf("server: %v", got)
	}
	var all []map[string]any
	resp, err := http.Get(base + "/pizzas")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&all)
	resp.Body.Close()
	if len(all) != 6 {
		t.Fatalf("server has %d pizzas, want 6", len(all))
	}
	if st := repo.Status(); st.Pending != 0 {
		t.Fatalf("status: %+v", st)
	}
}

func TestSinceCursorMovesOnlyWithTheLastPage(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	var sinces []string
	fail := false
	records := []string{
		`{"id":"a","name":"a","price":1,"rating":0,"updatedAt":"2026-11-25T11:00:00Z"}`,
		`{"id":"b","name":"b","price":1,"rating":0,"updatedAt":"2026-11-25T11:30:00Z"}`,
		`{"id":"c","name":"c","price":1,"rating":0,"updatedAt":"2026-11-25T11:59:00Z"}`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path != "/pizzas" {
			io.WriteString(w, "[]")
			return
		}
		if r.URL.Query().Get("_page") == "1" {
			sinces = append(sinces, r.URL.Query().Get("since"))
		}
		switch r.URL.Query().Get("_page") {
		case "1":
			fmt.Fprintf(w, "[%s,%s]", records[0], records[1])
		case "2":
			if fail {
				http.Error(w, "down", http.StatusBadGateway)
				return
			}
			fmt.Fprintf(w, "[%s]", records[2])
		default:
			io.WriteString(w, "[]")
		}
	}))
	defer srv.Close()
	rest := remote.NewREST(srv.URL, remote.WithPagePagination("_page", "_limit", 2),
		remote.WithSince("since", remote.SinceRFC3339))
	repo := openRepo(t, rest, runtime.WithClock(func() time.Time { return now }))
	mu.Lock()
	fail = true
	mu.Unlock()
	if _, err := repo.Sync(ctx); err == nil {
		t.Fatal("want an error")
	}
	mu.Lock()
	fail = false
	mu.Unlock()
	mustSync(t, repo)
	mustSync(t, repo)
	mu.Lock()
	defer mu.Unlock()
	want := []string{"", "", "2026-11-25T11:58:58.000000000Z"}
	if fmt.Sprint(sinces) != fmt.Sprint(want) {
		t.Fatalf("since parameters %q, want %q: the cursor moved past a failed page, or not 2 s behind", sinces, want)
	}
}

func TestRunDrainsAndWaitIdle(t *testing.T) {
	ctx := context.Background()
	base := testmod.JSONServer(t, "pizzas", "notes", "toppings")
	proxy := newFaultProxy(t, base)
	proxy.offline()
	repo := syncRepo(t, proxy.URL, runtime.WithSyncInterval(time.Hour))
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- repo.Run(runCtx) }()
	if err := repo.Pizzas.Upsert(ctx, &shop.Pizza{ID: "r", Name: "Run"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // a few failed tries with backoff
	if st := repo.Status(); st.Pending != 1 {
		t.Fatalf("status offline: %+v", st)
	}
	proxy.heal()
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := repo.WaitIdle(wctx); err != nil {
		t.Fatalf("WaitIdle: %v", err)
	}
	if got := serverRecord(t, base+"/pizzas/r"); got["name"] != "Run" {
		t.Fatalf("server: %v", got)
	}
	if err := repo.Run(ctx); err == nil {
		t.Fatal("a second Run started")
	}
	stop()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
}

// recordingTransport logs each request and fails them while down.
type recordingTransport struct {
	mu   sync.Mutex
	down bool
	log  []string
}

func (rt *recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	rt.mu.Lock()
	rt.log = append(rt.log, fmt.Sprintf("%s %s %s %s", r.Method, r.URL.RequestURI(), r.Header.Get("Idempotency-Key"), body))
	down := rt.down
	rt.mu.Unlock()
	if down {
		return nil, errors.New("network down")
	}
	return http.DefaultTransport.RoundTrip(r)
}

// With the clock, the random source and the HTTP transport injected, and one push at a
// time, a run sends the same requests and leaves the same state every time.
func TestInjectedClockRandAndTransportMakeARunDeterministic(t *testing.T) {
	run := func() (requests []string, outbox string) {
		ctx := context.Background()
		base := testmod.JSONServer(t, "pizzas", "notes", "toppings")
		now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
		clock := func() time.Time { now = now.Add(time.Millisecond); return now }
		rt := &recordingTransport{down: true}
		rest := remote.NewREST(base, remote.WithHTTPClient(&http.Client{Transport: rt}))
		dbPath := filepath.Join(t.TempDir(), "app.db")
		repo := openRepoAt(t, dbPath, rest, runtime.WithClock(clock), runtime.WithRand(rand.New(rand.NewPCG(7, 7))),
			runtime.WithPushLimit(1), runtime.WithClientID("client-1"), runtime.WithLogger(slog.New(slog.DiscardHandler)))
		for i := range 4 {
			if err := repo.Pizzas.Upsert(ctx, &shop.Pizza{ID: fmt.Sprintf("p%d", i), Name: "v1", Price: i}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := repo.Sync(ctx); err == nil {
			t.Fatal("Sync succeeded with the network down")
		}
		var state []string
		rows, err := rawDB(t, dbPath).Query(`SELECT seq, record_id, attempts, body, next_at, last_error FROM syncgen_outbox ORDER BY seq`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var seq, attempts int
			var id, next, last string
			var body sql.NullString // a write never sent has none yet
			if err := rows.Scan(&seq, &id, &attempts, &body, &next, &last); err != nil {
				t.Fatal(err)
			}
			state = append(state, fmt.Sprint(seq, id, attempts, body, next, last))
		}
		rows.Close()
		rt.mu.Lock()
		rt.down = false
		rt.mu.Unlock()
		if err := repo.Notes.Delete(ctx, "absent"); err != nil {
			t.Fatal(err)
		}
		mustSync(t, repo)
		rt.mu.Lock()
		defer rt.mu.Unlock()
		// Each run has its own server; its address is the one thing that differs.
		unport := strings.NewReplacer(base, "BASE", strings.TrimPrefix(base, "http://"), "HOST")
		for i := range rt.log {
			rt.log[i] = unport.Replace(rt.log[i])
		}
		return rt.log, unport.Replace(strings.Join(state, "\n"))
	}
	r1, o1 := run()
	r2, o2 := run()
	if strings.Join(r1, "\n") != strings.Join(r2, "\n") {
		t.Fatalf("requests differ:\n%s\n---\n%s", strings.Join(r1, "\n"), strings.Join(r2, "\n"))
	}
	if o1 != o2 || !strings.Contains(o1, "network down") {
		t.Fatalf("outbox differs:\n%s\n---\n%s", o1, o2)
	}
	if len(r1) < 10 {
		t.Fatalf("too few requests to prove anything: %v", r1)
	}
}

// A model with updatedAt and no deletedAt keeps the time of a local delete: an older copy
// from the remote does not bring the record back; a later write does.
func TestLocalDeleteBlocksOlderCopiesOnly(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	listing := "[]"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/toppings":
			io.WriteString(w, listing)
		case r.Method == http.MethodGet:
			io.WriteString(w, "[]")
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	defer srv.Close()
	serve := func(updatedAt string) {
		mu.Lock()
		listing = `[{"id":"t","pizzaId":"p","name":"basil","updatedAt":"` + updatedAt + `"}]`
		mu.Unlock()
	}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	repo := openRepo(t, remote.NewREST(srv.URL), runtime.WithClock(func() time.Time { return now }))
	serve("2026-11-25T11:00:00Z")
	mustSync(t, repo)
	if _, err := repo.Toppings.Get(ctx, "t", runtime.LocalOnly); err != nil {
		t.Fatal(err)
	}
	if err := repo.Toppings.Delete(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	mustSync(t, repo) // the DELETE goes, and the server, lagging, still lists the old copy
	if _, err := repo.Toppings.Get(ctx, "t", runtime.LocalOnly); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("an older copy brought a deleted record back: %v", err)
	}
	serve("2026-11-25T12:30:00Z") // written by another client after the delete
	mustSync(t, repo)
	if got, err := repo.Toppings.Get(ctx, "t", runtime.LocalOnly); err != nil || got.Name != "basil" {
		t.Fatalf("a later write did not revive the record: %+v, %v", got, err)
	}
}

// Run's full pulls remove what the server deleted, for a model without deletedAt.
func TestRunFullPullRemovesWhatTheServerDeleted(t *testing.T) {
	ctx := context.Background()
	base := testmod.JSONServer(t, "pizzas", "notes", "toppings")
	a := syncRepo(t, base, runtime.WithSyncInterval(20*time.Millisecond), runtime.WithFullPullEvery(3))
	b := syncRepo(t, base)
	if err := b.Notes.Upsert(ctx, &shop.Note{ID: "n", Text: "short-lived"}); err != nil {
		t.Fatal(err)
	}
	mustSync(t, b)
	mustSync(t, a)
	if err := b.Notes.Delete(ctx, "n"); err != nil {
		t.Fatal(err)
	}
	mustSync(t, b)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go a.Run(runCtx)
	results := a.Notes.Subscribe(runCtx, shop.NoteQuery{})
	timeout := time.After(10 * time.Second)
	for {
		select {
		case got := <-results:
			if len(got) == 0 {
				return
			}
		case <-timeout:
			t.Fatal("Run's full pull did not remove a note the server deleted")
		}
	}
}

// A 409 sends the write to the resolver with the server's record; a 429's Retry-After
// holds the write even for an explicit Sync.
func TestConflictAnswerAndRetryAfter(t *testing.T) {
	ctx := context.Background()
	base := testmod.JSONServer(t, "pizzas", "notes", "toppings")
	proxy := newFaultProxy(t, base)
	a := syncRepo(t, base)
	if err := a.Pizzas.Upsert(ctx, &shop.Pizza{ID: "p", Name: "server", Price: 1}); err != nil {
		t.Fatal(err)
	}
	mustSync(t, a)

	answer := func(status int, header string) {
		var once sync.Once
		proxy.set(func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
			handled := false
			if r.Method == http.MethodPut {
				once.Do(func() {
					if header != "" {
						w.Header().Set("Retry-After", header)
					}
					w.WriteHeader(status)
					handled = true
				})
			}
			return handled
		})
	}

	// Last writer wins: the local edit is later, so after the 409 it is written again
	// and sent with a new key.
	b := syncRepo(t, proxy.URL)
	mustSync(t, b)
	if err := b.Pizzas.Upsert(ctx, &shop.Pizza{ID: "p", Name: "b", Price: 2}); err != nil {
		t.Fatal(err)
	}
	answer(http.StatusConflict, "")
	rep := mustSync(t, b)
	if m := rep.Models["Pizza"]; m.Conflicts != 1 || m.Overruled != 0 {
		t.Fatalf("report after a 409: %+v", rep)
	}
	mustSync(t, b)
	if got := serverRecord(t, base+"/pizzas/p"); got["name"] != "b" {
		t.Fatalf("the local write that won did not reach the server after the 409: %v", got)
	}
	if keys := proxy.requests("PUT /pizzas/p "); len(keys) != 2 || keys[0] == keys[1] {
		t.Fatalf("PUTs around the 409: %v, want two with different keys", keys)
	}

	// RemoteWins: the rejected write is overruled.
	c := syncRepo(t, proxy.URL, shop.WithPizzaResolver(runtime.RemoteWins[shop.Pizza]))
	mustSync(t, c)
	if err := c.Pizzas.Upsert(ctx, &shop.Pizza{ID: "p", Name: "c", Price: 3}); err != nil {
		t.Fatal(err)
	}
	answer(http.StatusConflict, "")
	rep = mustSync(t, c)
	if m := rep.Models["Pizza"]; m.Conflicts != 1 || m.Overruled != 1 {
		t.Fatalf("report: %+v", rep)
	}
	if got, _ := c.Pizzas.Get(ctx, "p"); got.Name != "b" {
		t.Fatalf("RemoteWins after a 409 kept %+v", got)
	}

	// 429 with Retry-After: an hour. Sync skips backoff, never Retry-After. (b's resolver,
	// last writer wins, keeps the pending write through the pulls meanwhile.)
	if err := b.Pizzas.Upsert(ctx, &shop.Pizza{ID: "p", Name: "later", Price: 4}); err != nil {
		t.Fatal(err)
	}
	answer(http.StatusTooManyRequests, "3600")
	if _, err := b.Sync(ctx); err == nil {
		t.Fatal("a 429 was not reported")
	}
	before := len(proxy.requests("PUT /pizzas/p "))
	mustSync(t, b)
	if after := len(proxy.requests("PUT /pizzas/p ")); after != before {
		t.Fatal("Sync sent a write the server asked to hold for an hour")
	}
	if st := b.Status(); st.Pending != 1 || st.DeadLetters != 0 {
		t.Fatalf("status: %+v", st)
	}
}

// Regressions found in review: a server that answers 409 to everything is asked once per
// push, then the write is a dead letter; a refused create whose record the server does
// not have is a dead letter, not a delete; a transient push failure does not make a pull
// overrule an edit; RequireRemote refuses a record with queued writes.
func TestConflictAndFailureEdges(t *testing.T) {
	ctx := context.Background()
	base := testmod.JSONServer(t, "pizzas", "notes", "toppings")
	proxy := newFaultProxy(t, base)
	a := syncRepo(t, base)
	if err := a.Pizzas.Upsert(ctx, &shop.Pizza{ID: "p", Name: "server", Price: 1}); err != nil {
		t.Fatal(err)
	}
	if err := a.Notes.Upsert(ctx, &shop.Note{ID: "n", Text: "server"}); err != nil {
		t.Fatal(err)
	}
	mustSync(t, a)
	b := syncRepo(t, proxy.URL)
	mustSync(t, b)

	// Always 409.
	var puts int
	var mu sync.Mutex
	proxy.set(func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
		if r.Method == http.MethodPut || r.Method == http.MethodPost {
			mu.Lock()
			puts++
			mu.Unlock()
			w.WriteHeader(http.StatusConflict)
			io.WriteString(w, `{"error":"name already taken"}`)
			return true
		}
		return false
	})
	if err := b.Pizzas.Upsert(ctx, &shop.Pizza{ID: "p", Name: "b", Price: 2}); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		mustSync(t, b)
		mu.Lock()
		n := puts
		mu.Unlock()
		if n != min(i+1, 5) {
			t.Fatalf("after %d syncs, %d PUTs: want one per Sync, then none after the fifth 409", i+1, n)
		}
	}
	if dead, _ := b.DeadLetters(ctx); len(dead) != 1 || dead[0].Status != 409 {
		t.Fatalf("after five 409s in a row: dead letters %+v", dead)
	}
	if got, _ := b.Pizzas.Get(ctx, "p", runtime.LocalOnly); got.Name != "b" {
		t.Fatalf("local record: %+v", got)
	}

	// A create refused with 409, and no such record on the server.
	if err := b.Pizzas.Upsert(ctx, &shop.Pizza{ID: "q", Name: "taken", Price: 2}); err != nil {
		t.Fatal(err)
	}
	mustSync(t, b)
	if got, err := b.Pizzas.Get(ctx, "q", runtime.LocalOnly); err != nil || got.Name != "taken" {
		t.Fatalf("a refused create lost the local record: %+v, %v", got, err)
	}
	if dead, _ := b.DeadLetters(ctx); len(dead) != 2 || dead[1].ID != "q" || !strings.Contains(dead[1].Body, "taken") {
		t.Fatalf("dead letters: %+v", dead)
	}

	// A model without updatedAt (RemoteWins): the push fails, the pull sees the server's
	// unchanged record, and the edit stands.
	proxy.set(pushesFail)
	if err := b.Notes.Upsert(ctx, &shop.Note{ID: "n", Text: "offline edit"}); err != nil {
		t.Fatal(err)
	}
	rep, _ := b.Sync(ctx)
	if m := rep.Models["Note"]; m.Conflicts != 0 || m.Overruled != 0 {
		t.Fatalf("an unchanged server record counted as a conflict: %+v", rep)
	}
	if got, _ := b.Notes.Get(ctx, "n", runtime.LocalOnly); got.Text != "offline edit" {
		t.Fatalf("the pending edit was dropped: %+v", got)
	}
	if err := b.Notes.Delete(ctx, "n", runtime.RequireRemote); !errors.Is(err, runtime.ErrQueuedWrites) {
		t.Fatalf("RequireRemote on a record with queued writes: %v", err)
	}
	proxy.heal()
	mustSync(t, b)
	if got := serverRecord(t, base+"/notes/n"); got["text"] != "offline edit" {
		t.Fatalf("server note: %v", got)
	}
}

// The clock's mark survives a restart: an edit of a record pulled with a stamp ahead of
// the local clock (within the skew) is stamped after it, in the next process too.
func TestClockMarkSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	ahead := now.Add(4 * time.Minute)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/pizzas" {
			fmt.Fprintf(w, `[{"id":"p","name":"fast clock","price":1,"rating":0,"updatedAt":%q}]`, ahead.Format(time.RFC3339Nano))
			return
		}
		io.WriteString(w, "[]")
	}))
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "app.db")
	clock := runtime.WithClock(func() time.Time { return now })
	first := openRepoAt(t, path, remote.NewREST(srv.URL), clock)
	mustSync(t, first)
	first.Close()

	second := openRepoAt(t, path, nil, clock)
	p, err := second.Pizzas.Get(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	if err := second.Pizzas.Upsert(ctx, &p); err != nil {
		t.Fatal(err)
	}
	if !p.UpdatedAt.After(ahead) {
		t.Fatalf("after a restart the edit was stamped %v, behind the pulled %v", p.UpdatedAt, ahead)
	}
}
