package shop_test

import (
	"context"
	"errors"
	"testing"

	"github.com/syncgen/syncgen/internal/e2e/shop"
	"github.com/syncgen/syncgen/internal/testmod"
	"github.com/syncgen/syncgen/remote"
	"github.com/syncgen/syncgen/runtime"
)

// Every read and write policy on every kind of remote: json-server and the generated
// server over plain REST, and the generated server over the protocol.
func TestPoliciesOnEveryRemote(t *testing.T) {
	remotes := map[string]func(t *testing.T) func() runtime.Remote{
		"json-server": func(t *testing.T) func() runtime.Remote {
			base := testmod.JSONServer(t, "pizzas", "notes", "toppings")
			return func() runtime.Remote { return remote.NewREST(base) }
		},
		"generated server, plain": func(t *testing.T) func() runtime.Remote {
			srv, _ := startServer(t, sqliteDB)
			return func() runtime.Remote { return remote.NewREST(srv.URL) }
		},
		"generated server, protocol": func(t *testing.T) func() runtime.Remote {
			srv, _ := startServer(t, sqliteDB)
			return func() runtime.Remote { return remote.NewProtocol(srv.URL) }
		},
	}
	for name, start := range remotes {
		t.Run(name, func(t *testing.T) {
			newRemote := start(t)
			testPolicies(t, func() *shop.Repository { return openRepo(t, newRemote()) })
		})
	}
}

func testPolicies(t *testing.T, newRepo func() *shop.Repository) {
	ctx := context.Background()
	a, b := newRepo(), newRepo()
	got := func(r *shop.Repository, id string) *shop.Pizza {
		t.Helper()
		p, err := r.Pizzas.Get(ctx, id, runtime.LocalOnly)
		if errors.Is(err, runtime.ErrNotFound) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		return &p
	}
	onServer := func(id string) *shop.Pizza { // as another client reads it
		t.Helper()
		p, err := b.Pizzas.Get(ctx, id, runtime.AwaitRemote)
		if errors.Is(err, runtime.ErrNotFound) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		return &p
	}

	// RequireRemote: create, update, delete, each on the server before it is local.
	p := shop.Pizza{ID: "req", Name: "Margherita", Price: 900}
	if err := a.Pizzas.Upsert(ctx, &p, runtime.RequireRemote); err != nil {
		t.Fatalf("RequireRemote create: %v", err)
	}
	p.Price = 1000
	if err := a.Pizzas.Upsert(ctx, &p, runtime.RequireRemote); err != nil {
		t.Fatalf("RequireRemote update: %v", err)
	}
	if s := onServer("req"); s == nil || s.Price != 1000 {
		t.Fatalf("server after RequireRemote: %+v", s)
	}
	if err := a.Pizzas.Delete(ctx, "req", runtime.RequireRemote); err != nil {
		t.Fatalf("RequireRemote delete: %v", err)
	}
	if s := onServer("req"); s != nil && s.DeletedAt == nil {
		t.Fatalf("server after RequireRemote delete: %+v", s)
	}
	if got(a, "req") != nil {
		t.Fatal("the deleted record is still visible locally")
	}
	n := shop.Note{ID: "note", Text: "hello"} // a model without updatedAt or deletedAt
	if err := a.Notes.Upsert(ctx, &n, runtime.RequireRemote); err != nil {
		t.Fatalf("RequireRemote note: %v", err)
	}
	if err := a.Notes.Delete(ctx, "note", runtime.RequireRemote); err != nil {
		t.Fatalf("RequireRemote note delete: %v", err)
	}

	// LocalOnly stays local; OptimisticLocal goes with the next Sync.
	l := shop.Pizza{ID: "local", Name: "Local"}
	if err := a.Pizzas.Upsert(ctx, &l, runtime.LocalOnly); err != nil {
		t.Fatal(err)
	}
	o := shop.Pizza{ID: "opt", Name: "Optimistic"}
	if err := a.Pizzas.Upsert(ctx, &o, runtime.OptimisticLocal); err != nil {
		t.Fatal(err)
	}
	if s := onServer("opt"); s != nil {
		t.Fatalf("OptimisticLocal reached the server before a Sync: %+v", s)
	}
	mustSync(t, a)
	if s := onServer("opt"); s == nil {
		t.Fatal("OptimisticLocal: not on the server after Sync")
	}
	if s := onServer("local"); s != nil {
		t.Fatalf("LocalOnly reached the server: %+v", s)
	}

	// Reads: c is a third record, written by a; b has never seen it.
	c := shop.Pizza{ID: "c", Name: "Capricciosa", Price: 1200}
	if err := a.Pizzas.Upsert(ctx, &c, runtime.RequireRemote); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Pizzas.Get(ctx, "c", runtime.LocalOnly); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("LocalOnly read of a record only the server has: %v", err)
	}
	if p, err := b.Pizzas.Get(ctx, "c"); err != nil || p.Price != 1200 { // AwaitRemoteWhenNoneExist
		t.Fatalf("default read: %+v %v", p, err)
	}
	c.Price = 1300
	if err := a.Pizzas.Upsert(ctx, &c, runtime.RequireRemote); err != nil {
		t.Fatal(err)
	}
	if p, _ := b.Pizzas.Get(ctx, "c"); p.Price != 1200 {
		t.Fatalf("default read with a local copy asked the remote: %+v", p)
	}
	if ps, err := b.Pizzas.Find(ctx, shop.PizzaQuery{}.Where(shop.PizzaFields.ID.Eq("c")), runtime.AlwaysHydrate); err != nil || len(ps) != 1 || ps[0].Price != 1300 {
		t.Fatalf("AlwaysHydrate: %+v %v", ps, err)
	}

	// A write after a Hydrate is based on what it brought: no conflict, one push.
	fresh := newRepo()
	if _, err := fresh.Pizzas.Hydrate(ctx, shop.PizzaQuery{}); err != nil {
		t.Fatal(err)
	}
	h, err := fresh.Pizzas.Get(ctx, "c", runtime.LocalOnly)
	if err != nil {
		t.Fatal(err)
	}
	h.Price = 1400
	if err := fresh.Pizzas.Upsert(ctx, &h); err != nil {
		t.Fatal(err)
	}
	if rep := syncPizzas(t, fresh); rep.Pushed != 1 || rep.Conflicts != 0 {
		t.Fatalf("the first edit after a Hydrate: %+v, want one push and no conflict", rep)
	}
	h.Price = 1500
	if err := fresh.Pizzas.Upsert(ctx, &h, runtime.RequireRemote); err != nil {
		t.Fatalf("RequireRemote after a Hydrate and a Sync: %v", err)
	}
	if s := onServer("c"); s == nil || s.Price != 1500 {
		t.Fatalf("server: %+v", s)
	}
}
