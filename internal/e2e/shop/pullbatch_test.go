package shop_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syncgen/syncgen/internal/e2e/shop"
	"github.com/syncgen/syncgen/remote"
	"github.com/syncgen/syncgen/runtime"
)

// A page larger than the pull writes in one statement, with a record that has a queued
// write, one that keeps a local column, and an id sent twice, in the middle of it: each
// reconciles as a page applied record by record would.
func TestPullBatchKeepsEachRecordsRules(t *testing.T) {
	ctx := context.Background()
	at := func(i int) string { return time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC).Format(time.RFC3339) }
	record := func(i int, name string, sec int) string {
		return fmt.Sprintf(`{"id":"p%03d","name":%q,"price":%d,"rating":2.5,"updatedAt":%q}`, i, name, i, at(sec))
	}
	var page []string
	for i := range 150 {
		page = append(page, record(i, fmt.Sprintf("pizza %d", i), i))
		if i == 100 {
			page = append(page, record(100, "pizza 100 again", 200)) // sent twice: the later wins
		}
	}
	body := "[" + strings.Join(page, ",") + "]"
	f := &flaky{}
	f.set(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) })
	srv := httptest.NewServer(f)
	defer srv.Close()
	db, err := runtime.OpenSQLite(filepath.Join(t.TempDir(), "app.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	repo, err := shop.NewRepository(db, remote.NewREST(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	if err := repo.Migrate(ctx); err != nil {
		t.Fatal(err)
	}

	// p010 holds a local column; p070 a local write made after the remote's.
	if _, err := repo.Pizzas.Hydrate(ctx, shop.PizzaQuery{}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Writer().ExecContext(ctx, `UPDATE pizzas SET draft = 'kept', name = 'old' WHERE id = 'p010'`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Writer().ExecContext(ctx, `UPDATE pizzas SET updated_at = '2025-01-01T00:00:00.000000000Z' WHERE id = 'p010'`); err != nil {
		t.Fatal(err)
	}
	p70 := shop.Pizza{ID: "p070", Name: "mine", Price: 7}
	if err := repo.Pizzas.Upsert(ctx, &p70); err != nil {
		t.Fatal(err)
	}

	all, err := repo.Pizzas.Hydrate(ctx, shop.PizzaQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 150 {
		t.Fatalf("%d records, want 150", len(all))
	}
	byID := map[string]shop.Pizza{}
	for _, p := range all {
		byID[p.ID] = p
	}
	if p := byID["p100"]; p.Name != "pizza 100 again" {
		t.Errorf("p100: %q, want the later copy", p.Name)
	}
	if p := byID["p070"]; p.Name != "mine" {
		t.Errorf("p070: %q, want the local write, which is later", p.Name)
	}
	if p := byID["p010"]; p.Draft != "kept" || p.Name != "pizza 10" {
		t.Errorf("p010: %+v, want the remote's fields and the local draft", p)
	}
	if p := byID["p149"]; p.Name != "pizza 149" || p.Rating != 2.5 || p.Price != 149 {
		t.Errorf("p149: %+v", p)
	}
	// p070's write, and p100's read repair: the page's first copy is older than the one
	// this client holds from the last pull, so it sends that back.
	rows, err := db.Writer().QueryContext(ctx, `SELECT record_id FROM syncgen_outbox ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	var queued []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		queued = append(queued, id)
	}
	rows.Close()
	if fmt.Sprint(queued) != "[p070 p100]" {
		t.Errorf("queued %v, want [p070 p100]", queued)
	}
}
