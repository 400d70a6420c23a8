package versions_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/syncgen/syncgen/internal/e2e/versions/v1"
	v2 "github.com/syncgen/syncgen/internal/e2e/versions/v2"
	"github.com/syncgen/syncgen/remote"
	"github.com/syncgen/syncgen/runtime"
)

// openDB opens a SQLite file in the test's directory.
func openDB(t *testing.T, name string) *runtime.DB {
	t.Helper()
	db, err := runtime.OpenSQLite(filepath.Join(t.TempDir(), name+".db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// serve runs a generated server of one version behind httptest.
func serve(t *testing.T, newServer func(*runtime.DB) (http.Handler, error)) string {
	t.Helper()
	h, err := newServer(openDB(t, "server"))
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return hs.URL
}

func serverV1(db *runtime.DB) (http.Handler, error) { return v1.NewServer(db) }
func serverV2(db *runtime.DB) (http.Handler, error) { return v2.NewServer(db) }

var servers = []struct {
	name string
	new  func(*runtime.DB) (http.Handler, error)
}{{"server v1", serverV1}, {"server v2", serverV2}}

func opts() []runtime.Option {
	return []runtime.Option{runtime.WithBackoff(time.Millisecond, 10*time.Millisecond)}
}

func clientV1(t *testing.T, url, name string) *v1.Repository {
	t.Helper()
	repo, err := v1.NewRepository(openDB(t, name), remote.NewProtocol(url), opts()...)
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { repo.Close() })
	return repo
}

func clientV2(t *testing.T, url, name string) *v2.Repository {
	t.Helper()
	repo, err := v2.NewRepository(openDB(t, name), remote.NewProtocol(url), opts()...)
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { repo.Close() })
	return repo
}

// syncs runs Sync on each repository in turn, rounds times.
func syncs(t *testing.T, rounds int, repos ...interface {
	Sync(context.Context) (runtime.SyncReport, error)
}) {
	t.Helper()
	for range rounds {
		for _, r := range repos {
			if _, err := r.Sync(context.Background()); err != nil {
				t.Fatalf("sync: %v", err)
			}
		}
	}
}

// An older app's edit of the title keeps the colour a newer app set, whichever version
// the server runs.
func TestOlderAppKeepsNewerField(t *testing.T) {
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			ctx := context.Background()
			url := serve(t, srv.new)
			old, young := clientV1(t, url, "old"), clientV2(t, url, "young")
			if err := young.Notes.Upsert(ctx, &v2.Note{ID: "n1", Title: "draft"}); err != nil {
				t.Fatal(err)
			}
			syncs(t, 1, young, old)
			n, err := young.Notes.Get(ctx, "n1")
			if err != nil {
				t.Fatal(err)
			}
			n.Color = "red"
			if err := young.Notes.Upsert(ctx, &n); err != nil {
				t.Fatal(err)
			}
			syncs(t, 1, young, old)
			o, err := old.Notes.Get(ctx, "n1")
			if err != nil {
				t.Fatal(err)
			}
			o.Title = "final"
			if err := old.Notes.Upsert(ctx, &o); err != nil {
				t.Fatal(err)
			}
			syncs(t, 2, old, young)
			got, err := young.Notes.Get(ctx, "n1")
			if err != nil {
				t.Fatal(err)
			}
			if got.Title != "final" || got.Color != "red" {
				t.Fatalf("the newer app holds %+v; want title final and colour red", got)
			}
			// A newer app that starts afresh reads both from the server.
			fresh := clientV2(t, url, "fresh")
			syncs(t, 1, fresh)
			if got, err := fresh.Notes.Get(ctx, "n1"); err != nil || got.Title != "final" || got.Color != "red" {
				t.Fatalf("a fresh newer app reads %+v, %v; want title final and colour red", got, err)
			}
		})
	}
}

// Two devices edit different fields of one record at once: both edits survive.
func TestConcurrentEditsOfDifferentFields(t *testing.T) {
	ctx := context.Background()
	url := serve(t, serverV2)
	a, b := clientV2(t, url, "a"), clientV2(t, url, "b")
	if err := a.Notes.Upsert(ctx, &v2.Note{ID: "n1", Title: "draft", Color: "white"}); err != nil {
		t.Fatal(err)
	}
	syncs(t, 1, a, b)
	na, err := a.Notes.Get(ctx, "n1")
	if err != nil {
		t.Fatal(err)
	}
	nb, err := b.Notes.Get(ctx, "n1")
	if err != nil {
		t.Fatal(err)
	}
	na.Title = "final"
	if err := a.Notes.Upsert(ctx, &na); err != nil {
		t.Fatal(err)
	}
	nb.Color = "red" // later than a's edit
	if err := b.Notes.Upsert(ctx, &nb); err != nil {
		t.Fatal(err)
	}
	syncs(t, 3, a, b)
	for name, r := range map[string]*v2.Repository{"a": a, "b": b} {
		got, err := r.Notes.Get(ctx, "n1")
		if err != nil {
			t.Fatal(err)
		}
		if got.Title != "final" || got.Color != "red" {
			t.Errorf("device %s holds %+v; want title final and colour red", name, got)
		}
	}
}
