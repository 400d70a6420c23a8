package versions_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	v2 "github.com/syncgen/syncgen/internal/e2e/versions/v2"
	v3 "github.com/syncgen/syncgen/internal/e2e/versions/v3"
	"github.com/syncgen/syncgen/remote"
	"github.com/syncgen/syncgen/runtime"
)

func serverV3(db *runtime.DB) (http.Handler, error) { return v3.NewServer(db) }

// proxy forwards to a real server; with lose set, it drops the answers to writes after
// the server applied them.
type proxy struct {
	*httptest.Server
	lose atomic.Bool
}

func newProxy(t *testing.T, target string) *proxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	p := &proxy{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || !p.lose.Load() {
			rp.ServeHTTP(w, r)
			return
		}
		rp.ServeHTTP(httptest.NewRecorder(), r) // applied; the answer goes nowhere
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
	}))
	t.Cleanup(p.Close)
	return p
}

// A write queued by v2 (key title), sent once and applied but unanswered, is sent again
// after the app upgraded to v3 (key heading, renamed from title): Migrate rewrites it, the
// server takes it as the same request, and every version reads the new title.
func TestQueuedWriteCrossesUpgrade(t *testing.T) {
	ctx := context.Background()
	p := newProxy(t, serve(t, serverV3))
	path := filepath.Join(t.TempDir(), "device.db")

	db, err := runtime.OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	old, err := v2.NewRepository(db, remote.NewProtocol(p.URL), opts()...)
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := old.Notes.Upsert(ctx, &v2.Note{ID: "n1", Title: "draft", Color: "red"}); err != nil {
		t.Fatal(err)
	}
	syncs(t, 1, old)
	n, err := old.Notes.Get(ctx, "n1")
	if err != nil || n.Title != "draft" {
		t.Fatalf("v2 reads %+v, %v from a v3 server; want its title", n, err)
	}
	n.Title = "final"
	if err := old.Notes.Upsert(ctx, &n); err != nil {
		t.Fatal(err)
	}
	p.lose.Store(true)
	if _, err := old.Sync(ctx); err == nil {
		t.Fatal("a sync whose answer was lost reports no error")
	}
	p.lose.Store(false)
	old.Close()
	// The same app, upgraded: its package keeps its migrations' name.
	if _, err := db.Writer().ExecContext(ctx, `UPDATE syncgen_migrations SET package = ? WHERE package = ?`,
		"github.com/syncgen/syncgen/internal/e2e/versions/v3", "github.com/syncgen/syncgen/internal/e2e/versions/v2"); err != nil {
		t.Fatal(err)
	}
	db.Close()

	db, err = runtime.OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	upgraded, err := v3.NewRepository(db, remote.NewProtocol(p.URL), opts()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { upgraded.Close() })
	if err := upgraded.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var body string
	if err := db.Reader().QueryRowContext(ctx, `SELECT body FROM syncgen_outbox`).Scan(&body); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body, `"heading":"final"`) || strings.Contains(body, `"title"`) {
		t.Fatalf("Migrate left the queued body %s; want the key heading", body)
	}
	rep, err := upgraded.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if dead, _ := upgraded.DeadLetters(ctx); len(dead) > 0 {
		t.Fatalf("the retry after the upgrade is a dead letter: %+v", dead)
	}
	if got, err := upgraded.Notes.Get(ctx, "n1"); err != nil || got.Heading != "final" || got.Color != "red" {
		t.Fatalf("after the upgrade the device holds %+v, %v (report %+v); want heading final, colour red", got, err, rep)
	}
	a, b, c := clientV1(t, p.URL, "v1"), clientV2(t, p.URL, "v2"), clientV3(t, p.URL, "v3")
	syncs(t, 1, a, b, c)
	if got, err := a.Notes.Get(ctx, "n1"); err != nil || got.Title != "final" {
		t.Errorf("v1 reads %+v, %v; want title final", got, err)
	}
	if got, err := b.Notes.Get(ctx, "n1"); err != nil || got.Title != "final" || got.Color != "red" {
		t.Errorf("v2 reads %+v, %v; want title final, colour red", got, err)
	}
	if got, err := c.Notes.Get(ctx, "n1"); err != nil || got.Heading != "final" || got.Color != "red" {
		t.Errorf("v3 reads %+v, %v; want heading final, colour red", got, err)
	}
	// An older app's edit reaches the newer ones under the new key.
	o, _ := a.Notes.Get(ctx, "n1")
	o.Title = "v1 again"
	if err := a.Notes.Upsert(ctx, &o); err != nil {
		t.Fatal(err)
	}
	syncs(t, 1, a, c)
	if got, err := c.Notes.Get(ctx, "n1"); err != nil || got.Heading != "v1 again" || got.Color != "red" {
		t.Errorf("v3 reads %+v, %v after v1's edit; want heading \"v1 again\", colour red", got, err)
	}
}

func clientV3(t *testing.T, url, name string) *v3.Repository {
	t.Helper()
	repo, err := v3.NewRepository(openDB(t, name), remote.NewProtocol(url), opts()...)
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { repo.Close() })
	return repo
}

// A server that drops a key the write changed (a plain REST server without the column,
// here the generated server behind a proxy that strips it) gets a typed error, not a
// silent loss.
func TestFieldsNotKeptIsAnError(t *testing.T) {
	ctx := context.Background()
	target, _ := url.Parse(serve(t, serverV2))
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = func(resp *http.Response) error {
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		b = bytes.ReplaceAll(b, []byte(`"color":"red",`), nil)
		resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
		resp.Header.Del("Content-Length")
		return nil
	}
	hs := httptest.NewServer(rp)
	t.Cleanup(hs.Close)
	c := clientV2(t, hs.URL, "c")
	if err := c.Notes.Upsert(ctx, &v2.Note{ID: "n1", Title: "draft"}); err != nil {
		t.Fatal(err)
	}
	syncs(t, 1, c)
	events := c.Events(ctx)
	n, _ := c.Notes.Get(ctx, "n1")
	n.Color = "red"
	if err := c.Notes.Upsert(ctx, &n); err != nil {
		t.Fatal(err)
	}
	syncs(t, 1, c)
	dead, err := c.DeadLetters(ctx)
	if err != nil || len(dead) != 1 || !strings.Contains(dead[0].Err, "color") {
		t.Fatalf("dead letters %+v, %v; want the write whose colour was not kept", dead, err)
	}
	for {
		select {
		case ev := <-events:
			var nk *runtime.FieldsNotKeptError
			if ev.Kind == runtime.EventDeadLettered {
				if !errors.As(ev.Err, &nk) || len(nk.Fields) != 1 || nk.Fields[0] != "color" {
					t.Fatalf("the dead letter's error is %v; want a *runtime.FieldsNotKeptError for color", ev.Err)
				}
				return
			}
		default:
			t.Fatal("no EventDeadLettered event")
		}
	}
}
