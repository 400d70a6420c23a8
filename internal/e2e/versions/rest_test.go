package versions_test

import (
	"context"
	"testing"

	v1 "github.com/syncgen/syncgen/internal/e2e/versions/v1"
	v2 "github.com/syncgen/syncgen/internal/e2e/versions/v2"
	"github.com/syncgen/syncgen/internal/testmod"
	"github.com/syncgen/syncgen/remote"
	"github.com/syncgen/syncgen/runtime"
)

// Over plain REST with PATCH (json-server), a write sends only the fields it changed: an
// older app's title edit keeps the newer app's colour, and two devices' edits of
// different fields both stay.
func TestPlainRESTPatchSendsChangedFields(t *testing.T) {
	ctx := context.Background()
	base := testmod.JSONServer(t, "notes")
	rest := func() runtime.Remote { return remote.NewREST(base, remote.WithWriteMethod("PATCH")) }
	old, err := v1.NewRepository(openDB(t, "old"), rest(), opts()...)
	if err != nil {
		t.Fatal(err)
	}
	a, err := v2.NewRepository(openDB(t, "a"), rest(), opts()...)
	if err != nil {
		t.Fatal(err)
	}
	b, err := v2.NewRepository(openDB(t, "b"), rest(), opts()...)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []interface{ Migrate(context.Context) error }{old, a, b} {
		if err := m.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { old.Close(); a.Close(); b.Close() })

	if err := a.Notes.Upsert(ctx, &v2.Note{ID: "n1", Title: "draft", Color: "white"}); err != nil {
		t.Fatal(err)
	}
	syncs(t, 1, a, b, old)
	na, _ := a.Notes.Get(ctx, "n1")
	nb, _ := b.Notes.Get(ctx, "n1")
	no, err := old.Notes.Get(ctx, "n1")
	if err != nil {
		t.Fatal(err)
	}
	na.Title = "final"
	nb.Color = "red"
	no.Title = "final" // the older app makes the same edit as a
	for _, err := range []error{a.Notes.Upsert(ctx, &na), b.Notes.Upsert(ctx, &nb), old.Notes.Upsert(ctx, &no)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	syncs(t, 2, old, a, b)
	for name, r := range map[string]*v2.Repository{"a": a, "b": b} {
		got, err := r.Notes.Get(ctx, "n1", runtime.AwaitRemote)
		if err != nil {
			t.Fatal(err)
		}
		if got.Title != "final" || got.Color != "red" {
			t.Errorf("device %s holds %+v; want title final and colour red", name, got)
		}
	}
}
