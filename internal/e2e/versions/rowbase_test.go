package versions_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"

	v1 "github.com/syncgen/syncgen/internal/e2e/versions/v1"
	v2 "github.com/syncgen/syncgen/internal/e2e/versions/v2"
	"github.com/syncgen/syncgen/remote"
	"github.com/syncgen/syncgen/runtime"
	"github.com/syncgen/syncgen/wire"
)

// puts runs the v2 server and records the changed keys of every single PUT it gets.
type puts struct {
	mu     sync.Mutex
	fields []string // each PUT's Syncgen-Fields header, in order
}

func (p *puts) serve(t *testing.T) string {
	t.Helper()
	h, err := v2.NewServer(openDB(t, "server"))
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			p.mu.Lock()
			p.fields = append(p.fields, r.Header.Get(wire.HeaderFields))
			p.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	return hs.URL
}

func (p *puts) since(n int) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.fields[n:]...)
}

func (p *puts) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.fields)
}

// storedBase is a record's base as syncgen_records holds it.
func storedBase(t *testing.T, db *runtime.DB, id string) sql.NullString {
	t.Helper()
	var base sql.NullString
	if err := db.Writer().QueryRow(`SELECT base FROM syncgen_records WHERE record_id = ?`, id).Scan(&base); err != nil {
		t.Fatal(err)
	}
	return base
}

// A pulled record that is exactly what the model encodes keeps no base bytes until it is
// written locally. Then its base is the record as pulled: the edit pushes only the keys
// it changed, and merges with another device's concurrent edit of another field.
func TestPulledBaseIsTheRowUntilAWrite(t *testing.T) {
	ctx := context.Background()
	var p puts
	url := p.serve(t)
	a := clientV2(t, url, "a")
	bdb := openDB(t, "b")
	b, err := v2.NewRepository(bdb, remote.NewProtocol(url), opts()...)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Notes.Upsert(ctx, &v2.Note{ID: "n1", Title: "draft", Color: "white"}); err != nil {
		t.Fatal(err)
	}
	syncs(t, 1, a, b)
	if base := storedBase(t, bdb, "n1"); !base.Valid || base.String != "" {
		t.Fatalf("b's base of n1 is %+v, want it stored as the row ('')", base)
	}

	na, err := a.Notes.Get(ctx, "n1")
	if err != nil {
		t.Fatal(err)
	}
	na.Title = "final"
	if err := a.Notes.Upsert(ctx, &na); err != nil {
		t.Fatal(err)
	}
	syncs(t, 1, a)
	nb, err := b.Notes.Get(ctx, "n1")
	if err != nil {
		t.Fatal(err)
	}
	pulled := nb
	nb.Color = "red" // later than a's edit, which b has not pulled
	if err := b.Notes.Upsert(ctx, &nb); err != nil {
		t.Fatal(err)
	}
	var base v2.Note
	if err := json.Unmarshal([]byte(storedBase(t, bdb, "n1").String), &base); err != nil || !reflect.DeepEqual(base, pulled) {
		t.Fatalf("after b's write, its base of n1 is %+v (%v), want the record as pulled, %+v", base, err, pulled)
	}

	before := p.count()
	syncs(t, 3, b, a)
	if got := p.since(before); len(got) == 0 || got[0] != `["color","updatedAt"]` {
		t.Errorf("b's PUTs carried the changed keys %q, want first [\"color\",\"updatedAt\"]", got)
	}
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

// A record with a key the app's model does not know (a newer app's field) keeps its
// base as JSON, so the key stays in what the app compares and merges against.
func TestUnknownFieldKeepsItsBase(t *testing.T) {
	ctx := context.Background()
	var p puts
	url := p.serve(t)
	young := clientV2(t, url, "young")
	olddb := openDB(t, "old")
	old, err := v1.NewRepository(olddb, remote.NewProtocol(url), opts()...)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if err := old.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := young.Notes.Upsert(ctx, &v2.Note{ID: "n1", Title: "draft", Color: "red"}); err != nil {
		t.Fatal(err)
	}
	syncs(t, 1, young, old)
	var base map[string]any
	if err := json.Unmarshal([]byte(storedBase(t, olddb, "n1").String), &base); err != nil || base["color"] != "red" {
		t.Fatalf("the older app's base of n1 is %v (%v), want the JSON pulled, colour included", base, err)
	}

	o, err := old.Notes.Get(ctx, "n1")
	if err != nil {
		t.Fatal(err)
	}
	o.Title = "final"
	if err := old.Notes.Upsert(ctx, &o); err != nil {
		t.Fatal(err)
	}
	before := p.count()
	syncs(t, 1, old, young)
	if got := p.since(before); len(got) != 1 || got[0] != `["title","updatedAt"]` {
		t.Errorf("the older app's PUTs carried the changed keys %q, want [\"title\",\"updatedAt\"]", got)
	}
	if got, err := young.Notes.Get(ctx, "n1"); err != nil || got.Title != "final" || got.Color != "red" {
		t.Fatalf("the newer app holds %+v, %v; want title final and colour red", got, err)
	}
}
