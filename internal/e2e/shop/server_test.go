package shop_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncgen/syncgen/internal/e2e/shop"
	"github.com/syncgen/syncgen/internal/testmod"
	"github.com/syncgen/syncgen/remote"
	"github.com/syncgen/syncgen/runtime"
	"github.com/syncgen/syncgen/server"
)

// dbOpener opens the server's database on one backend.
type dbOpener func(t *testing.T) *runtime.DB

// sqliteDB opens a server database on a SQLite file.
func sqliteDB(t *testing.T) *runtime.DB {
	db, err := runtime.OpenSQLite(filepath.Join(t.TempDir(), "server.db"))
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// onBackends runs a server test on SQLite and on PostgreSQL.
func onBackends(t *testing.T, test func(*testing.T, dbOpener)) {
	t.Run("sqlite", func(t *testing.T) { test(t, sqliteDB) })
	t.Run("postgres", func(t *testing.T) {
		test(t, func(t *testing.T) *runtime.DB {
			db, err := server.OpenPostgres(testmod.Postgres(t))
			if err != nil {
				t.Fatal(err)
			}
			return db
		})
	})
}

// startServer runs the generated server behind httptest.
func startServer(t *testing.T, open dbOpener, opts ...server.Option) (*httptest.Server, *runtime.DB) {
	t.Helper()
	db := open(t)
	t.Cleanup(func() { db.Close() })
	srv, err := shop.NewServer(db, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return hs, db
}

// call sends one request and decodes a JSON answer into out (when not nil).
func call(t *testing.T, method, url string, body string, header map[string]string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, url, resp.StatusCode, data, err)
		}
	}
	return resp.StatusCode
}

type entry struct {
	ID        string          `json:"id"`
	Version   string          `json:"version"`
	Seq       string          `json:"seq"`
	UpdatedAt string          `json:"updatedAt"`
	Deleted   bool            `json:"deleted"`
	Record    json.RawMessage `json:"record"`
	Error     string          `json:"error"`
	Code      string          `json:"code"`
	Entry     *entry          `json:"entry"`
}

// seqNum reads a seq or a cursor, which the generated server writes in decimal.
func seqNum(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("seq %q: %v", s, err)
	}
	return n
}

type feed struct {
	Changes []entry `json:"changes"`
	Cursor  string  `json:"cursor"`
	HasMore bool    `json:"hasMore"`
}

func proto(key, ifMatch string) map[string]string {
	h := map[string]string{"Syncgen-Protocol": "1", "Content-Type": "application/json"}
	if key != "" {
		h["Idempotency-Key"] = key
	}
	if ifMatch != "" {
		h["If-Match"] = `"` + ifMatch + `"`
	}
	return h
}

func TestGeneratedServerProtocol(t *testing.T) { onBackends(t, testGeneratedServerProtocol) }

func testGeneratedServerProtocol(t *testing.T, open dbOpener) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	hs, _ := startServer(t, open, server.WithClock(clock), server.WithTombstoneRetention(time.Hour),
		server.WithValidation(func(_ context.Context, model string, rec json.RawMessage) error {
			var p struct{ Price int }
			if model == "Pizza" && json.Unmarshal(rec, &p) == nil && p.Price < 0 {
				return errors.New("price must not be negative")
			}
			return nil
		}))
	u := hs.URL + "/pizzas"
	body := func(name string, price int, updated time.Time) string {
		return fmt.Sprintf(`{"id":"p","name":%q,"price":%d,"rating":0,"updatedAt":%q}`, name, price, updated.Format(time.RFC3339Nano))
	}

	// Create: no If-Match.
	var e entry
	if st := call(t, "PUT", u+"/p", body("Margherita", 900, now), proto("c1:1", ""), &e); st != 201 || e.Version != "1" || e.Deleted || e.Seq == "" {
		t.Fatalf("create: %d %+v", st, e)
	}
	firstSeq := e.Seq
	// The same key and request again: the first answer, nothing changed.
	var again entry
	if st := call(t, "PUT", u+"/p", body("Margherita", 900, now), proto("c1:1", ""), &again); st != 201 || again.Seq != firstSeq {
		t.Fatalf("replay: %d %+v", st, again)
	}
	// The same key with another body: 422.
	if st := call(t, "PUT", u+"/p", body("Funghi", 900, now), proto("c1:1", ""), &again); st != 422 || again.Code != "key_reused" {
		t.Fatalf("reused key: %d %+v", st, again)
	}
	// A stale version: 409 with the current entry.
	if st := call(t, "PUT", u+"/p", body("Funghi", 900, now), proto("c2:1", "7"), &again); st != 409 || again.Code != "conflict" || again.Entry == nil || again.Entry.Version != "1" {
		t.Fatalf("stale If-Match: %d %+v", st, again)
	}
	// The current version: stored as version 2; a far-future updatedAt is clamped.
	if st := call(t, "PUT", u+"/p", body("Funghi", 950, now.Add(24*time.Hour)), proto("c2:2", "1"), &e); st != 200 || e.Version != "2" {
		t.Fatalf("update: %d %+v", st, e)
	}
	if want := now.Add(5 * time.Minute).Format("2006-01-02T15:04:05.000000Z"); e.UpdatedAt != want {
		t.Fatalf("updatedAt %s, want it clamped to %s", e.UpdatedAt, want)
	}
	// Validation: 422 with the message.
	if st := call(t, "PUT", u+"/p", body("Refund", -1, now), proto("c2:3", "2"), &again); st != 422 || again.Code != "validation" || !strings.Contains(again.Error, "negative") {
		t.Fatalf("validation: %d %+v", st, again)
	}
	// Reserved ids, bodies that are not the path's record, missing keys.
	if st := call(t, "PUT", u+"/_x", `{"id":"_x"}`, proto("c2:4", ""), &again); st != 400 || again.Code != "reserved_id" {
		t.Fatalf("reserved id: %d %+v", st, again)
	}
	if st := call(t, "PUT", u+"/q", body("x", 1, now), proto("c2:5", ""), &again); st != 400 || again.Code != "id_mismatch" {
		t.Fatalf("id mismatch: %d %+v", st, again)
	}
	if st := call(t, "PUT", u+"/p", body("x", 1, now), proto("", "2"), &again); st != 400 || again.Code != "missing_key" {
		t.Fatalf("missing key: %d %+v", st, again)
	}

	// Delete: the tombstone is in the feed, with deletedAt set.
	if st := call(t, "DELETE", u+"/p", "", proto("c2:6", "2"), &e); st != 200 || !e.Deleted || e.Version != "3" {
		t.Fatalf("delete: %d %+v", st, e)
	}
	var f feed
	// The cursor is at least the last change's seq: on PostgreSQL, the feed's head (seq.go).
	if st := call(t, "GET", u+"/_changes", "", proto("", ""), &f); st != 200 || len(f.Changes) != 1 || !f.Changes[0].Deleted ||
		!strings.Contains(string(f.Changes[0].Record), `"deletedAt"`) || seqNum(t, f.Cursor) < seqNum(t, f.Changes[0].Seq) {
		t.Fatalf("feed: %d %+v", st, f)
	}
	cursor := f.Cursor
	var tomb map[string]any
	if st := call(t, "GET", u+"/p", "", nil, &tomb); st != 200 || tomb["deletedAt"] == nil {
		t.Fatalf("plain GET of a soft-deleted record: %d %v", st, tomb)
	}
	// Paging through the feed in seq order.
	for i := range 5 {
		call(t, "PUT", fmt.Sprintf("%s/r%d", u, i), strings.Replace(body("r", i, now), `"id":"p"`, fmt.Sprintf(`"id":"r%d"`, i), 1), proto(fmt.Sprintf("c3:%d", i), ""), nil)
	}
	var seen []string
	c := cursor
	for {
		var page feed
		call(t, "GET", u+"/_changes?limit=2&cursor="+c, "", proto("", ""), &page)
		for _, ch := range page.Changes {
			seen = append(seen, ch.ID)
		}
		c = page.Cursor
		if !page.HasMore {
			break
		}
	}
	if fmt.Sprint(seen) != "[r0 r1 r2 r3 r4]" {
		t.Fatalf("feed pages: %v", seen)
	}
	// After the retention, an old cursor gets 410; a fresh one does not.
	advance(2 * time.Hour)
	if st := call(t, "GET", u+"/_changes?cursor=0", "", proto("", ""), &again); st != 410 || again.Code != "cursor_expired" {
		t.Fatalf("expired cursor: %d %+v", st, again)
	}
	if st := call(t, "GET", u+"/_changes?cursor="+c, "", proto("", ""), &f); st != 200 {
		t.Fatalf("current cursor after the purge: %d", st)
	}
	if st := call(t, "PUT", u+"/p", body("x", 1, now), map[string]string{"Syncgen-Protocol": "2"}, &again); st != 400 || again.Code != "unsupported_protocol" {
		t.Fatalf("protocol 2: %d %+v", st, again)
	}
}

// Plain REST clients (the README's json-server settings) converge through the generated
// server: writes are ordered by last-writer-wins there, so an older write does not clobber
// a newer one.
func TestPlainClientsConvergeOnTheGeneratedServer(t *testing.T) {
	onBackends(t, testPlainClientsConvergeOnTheGeneratedServer)
}

func testPlainClientsConvergeOnTheGeneratedServer(t *testing.T, open dbOpener) {
	ctx := context.Background()
	hs, _ := startServer(t, open)
	a := syncRepo(t, hs.URL)
	b := syncRepo(t, hs.URL)
	if err := a.Pizzas.Upsert(ctx, &shop.Pizza{ID: "p", Name: "a", Price: 1}); err != nil {
		t.Fatal(err)
	}
	if err := b.Notes.Upsert(ctx, &shop.Note{ID: "n", Text: "b"}); err != nil {
		t.Fatal(err)
	}
	mustSync(t, a)
	mustSync(t, b)
	mustSync(t, a)
	// b edits later than a, but a's older edit reaches the server last.
	older := shop.Pizza{ID: "p", Name: "a, older", Price: 2}
	if err := a.Pizzas.Upsert(ctx, &older); err != nil {
		t.Fatal(err)
	}
	if err := b.Pizzas.Upsert(ctx, &shop.Pizza{ID: "p", Name: "b, newer", Price: 3}); err != nil {
		t.Fatal(err)
	}
	mustSync(t, b)
	mustSync(t, a)
	mustSync(t, b)
	for _, r := range []*shop.Repository{a, b} {
		if got, _ := r.Pizzas.Get(ctx, "p"); got.Name != "b, newer" {
			t.Fatalf("not converged on the later write: %+v", got)
		}
		if got, _ := r.Notes.Get(ctx, "n"); got.Text != "b" {
			t.Fatalf("note: %+v", got)
		}
	}
	// A delete travels as the tombstone.
	if err := a.Pizzas.Delete(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	mustSync(t, a)
	mustSync(t, b)
	if _, err := b.Pizzas.Get(ctx, "p", runtime.LocalOnly); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("delete did not reach b: %v", err)
	}
}

// protocolRepo is a repository on the generated server through the syncgen protocol.
func protocolRepo(t *testing.T, url string, opts ...runtime.Option) *shop.Repository {
	opts = append([]runtime.Option{runtime.WithBackoff(10*time.Millisecond, 50*time.Millisecond)}, opts...)
	return openRepo(t, remote.NewProtocol(url), opts...)
}

// Three clients on the generated server through the protocol: edits of different and of
// the same records, a client writing offline and syncing late, deletes of both kinds.
// After quiescence every client holds what the server holds.
func TestThreeProtocolClientsConverge(t *testing.T) { onBackends(t, testThreeProtocolClientsConverge) }

func testThreeProtocolClientsConverge(t *testing.T, open dbOpener) {
	ctx := context.Background()
	hs, _ := startServer(t, open, server.WithValidation(func(_ context.Context, model string, rec json.RawMessage) error {
		var p struct{ Price int }
		if model == "Pizza" && json.Unmarshal(rec, &p) == nil && p.Price < 0 {
			return errors.New("price must not be negative")
		}
		return nil
	}))
	proxy := newFaultProxy(t, hs.URL)
	a := protocolRepo(t, hs.URL)
	b := protocolRepo(t, hs.URL)
	c := protocolRepo(t, proxy.URL) // goes offline

	for i, r := range []*shop.Repository{a, b, c} {
		if err := r.Pizzas.Upsert(ctx, &shop.Pizza{ID: fmt.Sprintf("p%d", i), Name: "v1", Price: 10 * i}); err != nil {
			t.Fatal(err)
		}
		if err := r.Notes.Upsert(ctx, &shop.Note{ID: fmt.Sprintf("n%d", i), Text: "v1"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []*shop.Repository{a, b, c, a, b} {
		mustSync(t, r)
	}

	proxy.offline()
	if err := c.Pizzas.Upsert(ctx, &shop.Pizza{ID: "p0", Name: "c offline", Price: 1}); err != nil {
		t.Fatal(err)
	}
	if err := c.Notes.Delete(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if err := a.Pizzas.Upsert(ctx, &shop.Pizza{ID: "p1", Name: "a", Price: 2}); err != nil {
		t.Fatal(err)
	}
	if err := b.Pizzas.Upsert(ctx, &shop.Pizza{ID: "p1", Name: "b later", Price: 3}); err != nil {
		t.Fatal(err)
	}
	if err := b.Pizzas.Delete(ctx, "p2"); err != nil {
		t.Fatal(err)
	}
	if err := a.Pizzas.Upsert(ctx, &shop.Pizza{ID: "bad", Name: "refund", Price: -1}); err != nil {
		t.Fatal(err)
	}
	mustSync(t, a)
	mustSync(t, b)
	if _, err := c.Sync(ctx); err == nil {
		t.Fatal("c synced while offline")
	}
	proxy.heal()
	for range 2 {
		for _, r := range []*shop.Repository{c, a, b} {
			mustSync(t, r)
		}
	}

	dead, _ := a.DeadLetters(ctx)
	if len(dead) != 1 || dead[0].ID != "bad" || dead[0].Status != 422 || !strings.Contains(dead[0].Body, "negative") {
		t.Fatalf("a's dead letters: %+v", dead)
	}
	if err := a.Discard(ctx); err != nil {
		t.Fatal(err)
	}
	var server feed
	call(t, "GET", hs.URL+"/pizzas/_changes", "", proto("", ""), &server)
	var notes feed
	call(t, "GET", hs.URL+"/notes/_changes", "", proto("", ""), &notes)
	want := map[string]string{}
	for _, e := range server.Changes {
		var p shop.Pizza
		json.Unmarshal(e.Record, &p)
		if !e.Deleted {
			want["pizza "+e.ID] = fmt.Sprintf("%s %d", p.Name, p.Price)
		}
	}
	tombstone := false
	for _, e := range notes.Changes {
		if e.Deleted {
			tombstone = tombstone || e.ID == "n1"
			continue
		}
		var n shop.Note
		json.Unmarshal(e.Record, &n)
		want["note "+e.ID] = n.Text
	}
	if !tombstone {
		t.Fatalf("the late delete of n1 is not in the change feed: %+v", notes)
	}
	if want["pizza p0"] != "c offline 1" || want["pizza p1"] != "b later 3" || want["pizza p2"] != "" {
		t.Fatalf("server: %v", want)
	}
	for i, r := range []*shop.Repository{a, b, c} {
		got := map[string]string{}
		ps, _ := r.Pizzas.Find(ctx, shop.PizzaQuery{}, runtime.LocalOnly)
		for _, p := range ps {
			got["pizza "+p.ID] = fmt.Sprintf("%s %d", p.Name, p.Price)
		}
		ns, _ := r.Notes.Find(ctx, shop.NoteQuery{}, runtime.LocalOnly)
		for _, n := range ns {
			got["note "+n.ID] = n.Text
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("client %d differs from the server:\nclient %v\nserver %v", i, got, want)
		}
	}
}

// A cursor older than the purged tombstones gets 410; the client resyncs by mark and
// sweep, keeps its queued writes, and drops what the server deleted meanwhile.
func TestProtocolResyncAfterExpiredCursor(t *testing.T) {
	onBackends(t, testProtocolResyncAfterExpiredCursor)
}

func testProtocolResyncAfterExpiredCursor(t *testing.T, open dbOpener) {
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	hs, _ := startServer(t, open, server.WithClock(clock), server.WithTombstoneRetention(time.Hour))
	a := protocolRepo(t, hs.URL)
	b := protocolRepo(t, hs.URL)
	for _, id := range []string{"n1", "n2"} {
		if err := a.Notes.Upsert(ctx, &shop.Note{ID: id, Text: id}); err != nil {
			t.Fatal(err)
		}
	}
	mustSync(t, a)
	mustSync(t, b)
	if err := a.Notes.Delete(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	mustSync(t, a)
	mu.Lock()
	now = now.Add(2 * time.Hour) // the tombstone of n1 is purged at the next feed read
	mu.Unlock()
	if err := b.Notes.Upsert(ctx, &shop.Note{ID: "n3", Text: "queued"}); err != nil {
		t.Fatal(err)
	}
	mustSync(t, a) // reads the feed: purges
	mustSync(t, b) // 410, resync
	if _, err := b.Notes.Get(ctx, "n1", runtime.LocalOnly); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("after the resync b still has the note deleted while its cursor expired: %v", err)
	}
	mustSync(t, a)
	if got, err := a.Notes.Get(ctx, "n3", runtime.LocalOnly); err != nil || got.Text != "queued" {
		t.Fatalf("b's queued write did not survive the resync: %+v, %v", got, err)
	}
}

func TestServerBatch(t *testing.T) { onBackends(t, testServerBatch) }

func testServerBatch(t *testing.T, open dbOpener) {
	hs, _ := startServer(t, open)
	batch := `{"ops":[
		{"key":"c:1","model":"pizzas","op":"put","id":"a","record":{"id":"a","name":"A","price":1,"rating":0,"updatedAt":"2026-11-25T10:00:00Z"}},
		{"key":"c:2","model":"pizzas","op":"put","id":"b","version":"9","record":{"id":"b","name":"B","price":1,"rating":0,"updatedAt":"2026-11-25T10:00:00Z"}},
		{"key":"c:3","model":"nope","op":"put","id":"x","record":{}}
	]}`
	type result struct {
		Key    string `json:"key"`
		Status int    `json:"status"`
		Entry  *entry `json:"entry"`
		Error  *entry `json:"error"`
	}
	var first, again struct{ Results []result }
	if st := call(t, "POST", hs.URL+"/_batch", batch, proto("", ""), &first); st != 200 || len(first.Results) != 3 {
		t.Fatalf("batch: %d %+v", st, first)
	}
	r := first.Results
	if r[0].Status != 201 || r[0].Entry == nil || r[0].Entry.Version != "1" ||
		r[1].Status != 409 || r[1].Error == nil || r[1].Error.Code != "conflict" ||
		r[2].Status != 404 || r[2].Key != "c:3" {
		t.Fatalf("results: %+v", r)
	}
	// The same batch again changes nothing: the stored answers come back.
	call(t, "POST", hs.URL+"/_batch", batch, proto("", ""), &again)
	if again.Results[0].Status != 201 || again.Results[0].Entry.Seq != r[0].Entry.Seq {
		t.Fatalf("replayed batch: %+v", again.Results)
	}
	var f feed
	call(t, "GET", hs.URL+"/pizzas/_changes", "", proto("", ""), &f)
	if len(f.Changes) != 1 || f.Changes[0].ID != "a" {
		t.Fatalf("feed after a batch and its replay: %+v", f)
	}
}

// A batch commits once, but an op the server fails on leaves no trace, and the ops around
// it stand.
func TestServerBatchOpFailure(t *testing.T) { onBackends(t, testServerBatchOpFailure) }

func testServerBatchOpFailure(t *testing.T, open dbOpener) {
	// A hook that breaks the record (its id changes) is the server's failure: 500.
	hs, _ := startServer(t, open, server.WithBeforeWrite(func(_ context.Context, _, _ string, rec json.RawMessage) (json.RawMessage, error) {
		return bytes.Replace(rec, []byte(`"id":"broken"`), []byte(`"id":"other"`), 1), nil
	}))
	batch := `{"ops":[
		{"key":"f:1","model":"pizzas","op":"put","id":"a","record":{"id":"a","name":"A","price":1,"rating":0,"updatedAt":"2026-11-25T10:00:00Z"}},
		{"key":"f:2","model":"pizzas","op":"put","id":"broken","record":{"id":"broken","name":"B","price":1,"rating":0,"updatedAt":"2026-11-25T10:00:00Z"}},
		{"key":"f:3","model":"pizzas","op":"put","id":"c","record":{"id":"c","name":"C","price":1,"rating":0,"updatedAt":"2026-11-25T10:00:00Z"}}
	]}`
	var res struct {
		Results []struct {
			Status int `json:"status"`
		}
	}
	if st := call(t, "POST", hs.URL+"/_batch", batch, proto("", ""), &res); st != 200 || len(res.Results) != 3 {
		t.Fatalf("batch: %d %+v", st, res)
	}
	if r := res.Results; r[0].Status != 201 || r[1].Status != 500 || r[2].Status != 201 {
		t.Fatalf("results: %+v", r)
	}
	var f feed
	call(t, "GET", hs.URL+"/pizzas/_changes", "", proto("", ""), &f)
	if len(f.Changes) != 2 || f.Changes[0].ID != "a" || f.Changes[1].ID != "c" {
		t.Fatalf("feed: %+v", f)
	}
	// The failed op had taken the next seq before the hook broke it; its savepoint's
	// rollback gave it back.
	if a, c := seqNum(t, f.Changes[0].Seq), seqNum(t, f.Changes[1].Seq); c != a+1 {
		t.Fatalf("seqs %d and %d: the failed op left a trace", a, c)
	}
	// The failed op's key kept nothing: sent again, it is judged again.
	if st := call(t, "GET", hs.URL+"/pizzas/broken", "", proto("", ""), nil); st != 404 {
		t.Fatalf("the failed op's record: %d", st)
	}
	// A single write the server fails on (on PostgreSQL, after its pipeline read the key
	// and the record) keeps nothing either, sent twice, and the writes after it stand.
	broken := `{"id":"broken","name":"B","price":1,"rating":0,"updatedAt":"2026-11-25T10:00:00Z"}`
	for range 2 {
		if st := call(t, "PUT", hs.URL+"/pizzas/broken", broken, proto("f:4", ""), nil); st != 500 {
			t.Fatalf("a single failed write: %d", st)
		}
	}
	for i, id := range []string{"d", "e"} {
		body := `{"id":"` + id + `","name":"D","price":1,"rating":0,"updatedAt":"2026-11-25T10:00:00Z"}`
		if st := call(t, "PUT", hs.URL+"/pizzas/"+id, body, proto("f:"+strconv.Itoa(5+i), ""), nil); st != 201 {
			t.Fatalf("a write after the failed one: %d", st)
		}
	}
	if st := call(t, "GET", hs.URL+"/pizzas/broken", "", proto("", ""), nil); st != 404 {
		t.Fatalf("the failed write's record: %d", st)
	}
}

// Run pulls as soon as the server announces a change on its events stream, long before
// its interval; the server's Close ends the stream.
func TestRunFollowsServerEvents(t *testing.T) { onBackends(t, testRunFollowsServerEvents) }

func testRunFollowsServerEvents(t *testing.T, open dbOpener) {
	ctx := context.Background()
	db := open(t)
	t.Cleanup(func() { db.Close() })
	srv, err := shop.NewServer(db)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	a := protocolRepo(t, hs.URL)
	b := protocolRepo(t, hs.URL, runtime.WithSyncInterval(time.Hour))
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	ran := make(chan error, 1)
	go func() { ran <- b.Run(runCtx) }()
	results := b.Pizzas.Subscribe(runCtx, shop.PizzaQuery{})
	<-results
	time.Sleep(200 * time.Millisecond) // b's first round and its stream are up
	if err := a.Pizzas.Upsert(ctx, &shop.Pizza{ID: "p", Name: "announced"}); err != nil {
		t.Fatal(err)
	}
	mustSync(t, a)
	select {
	case got := <-results:
		if len(got) != 1 || got[0].Name != "announced" {
			t.Fatalf("b got %+v", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("b did not pull after the server announced a change")
	}
	closed := make(chan error, 1)
	go func() { closed <- srv.Close() }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the server's Close did not end the events stream")
	}
	stop()
	if err := <-ran; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
}

// Authentication, per-user scoping and a before-write hook that sets a readonly field.
func TestServerHooks(t *testing.T) { onBackends(t, testServerHooks) }

func testServerHooks(t *testing.T, open dbOpener) {
	ctx := context.Background()
	hs, _ := startServer(t, open,
		server.WithAuthentication(func(r *http.Request) (string, error) {
			if u := r.Header.Get("X-User"); u != "" {
				return u, nil
			}
			return "", errors.New("who are you?")
		}),
		server.WithScope(func(_ context.Context, user, model string, rec json.RawMessage) bool {
			var n struct{ Text string }
			return model != "Note" || json.Unmarshal(rec, &n) == nil && strings.HasPrefix(n.Text, user+":")
		}),
		server.WithBeforeWrite(func(_ context.Context, user, model string, rec json.RawMessage) (json.RawMessage, error) {
			if model != "Pizza" {
				return rec, nil
			}
			var m map[string]any
			json.Unmarshal(rec, &m)
			m["rating"] = 4.5 // readonly: the server's
			return json.Marshal(m)
		}))
	as := func(user string) *shop.Repository {
		return openRepo(t, remote.NewProtocol(hs.URL, remote.WithRequestHook(func(r *http.Request) error {
			r.Header.Set("X-User", user)
			return nil
		})), runtime.WithBackoff(10*time.Millisecond, 50*time.Millisecond))
	}
	ann, bob := as("ann"), as("bob")
	if err := ann.Notes.Upsert(ctx, &shop.Note{ID: "a1", Text: "ann: mine"}); err != nil {
		t.Fatal(err)
	}
	if err := ann.Notes.Upsert(ctx, &shop.Note{ID: "a2", Text: "bob: planted"}); err != nil {
		t.Fatal(err)
	}
	if err := ann.Pizzas.Upsert(ctx, &shop.Pizza{ID: "p", Name: "rated", Rating: 1}); err != nil {
		t.Fatal(err)
	}
	mustSync(t, ann)
	mustSync(t, bob)
	if dead, _ := ann.DeadLetters(ctx); len(dead) != 1 || dead[0].ID != "a2" || dead[0].Status != 403 {
		t.Fatalf("ann's dead letters: %+v", dead)
	}
	if _, err := bob.Notes.Get(ctx, "a1", runtime.LocalOnly); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("bob sees ann's note: %v", err)
	}
	if got, _ := bob.Pizzas.Get(ctx, "p", runtime.LocalOnly); got.Rating != 4.5 {
		t.Fatalf("the before-write hook's rating did not reach bob: %+v", got)
	}
	if got, _ := ann.Pizzas.Get(ctx, "p", runtime.LocalOnly); got.Rating != 4.5 {
		t.Fatalf("the writer did not take the server's rating: %+v", got)
	}
	if st := call(t, "GET", hs.URL+"/notes", "", nil, nil); st != 401 {
		t.Fatalf("without a user: %d", st)
	}
}

// The server commits an update and the answer is lost; a pull then sees the new version.
// The retry must be the same request (same key, body and If-Match), which the server
// answers from its key: not a 422 for a reused key, not a dead letter.
func TestProtocolLostAnswerRetriesTheSameRequest(t *testing.T) {
	ctx := context.Background()
	hs, _ := startServer(t, sqliteDB)
	proxy := newFaultProxy(t, hs.URL)
	c := protocolRepo(t, proxy.URL)
	if err := c.Pizzas.Upsert(ctx, &shop.Pizza{ID: "p", Name: "v1"}); err != nil {
		t.Fatal(err)
	}
	mustSync(t, c)
	var mu sync.Mutex
	lost := 0
	proxy.set(func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		mu.Lock()
		defer mu.Unlock()
		if r.Method != http.MethodPut || lost == 2 { // net/http retries a lost idempotent request once
			return false
		}
		lost++
		next.ServeHTTP(httptest.NewRecorder(), r)
		return hangUp(w)
	})
	if err := c.Pizzas.Upsert(ctx, &shop.Pizza{ID: "p", Name: "v2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sync(ctx); err == nil {
		t.Fatal("the lost answers went unnoticed")
	}
	for i := 0; ; i++ {
		if _, err := c.Sync(ctx); err == nil && c.Status().Pending == 0 {
			break
		} else if i == 3 {
			t.Fatalf("sync: %v %+v", err, c.Status())
		}
	}
	if dead, _ := c.DeadLetters(ctx); len(dead) > 0 {
		t.Fatalf("the retry of a lost answer became a dead letter: %+v", dead)
	}
	var e entry
	call(t, "GET", hs.URL+"/pizzas/p", "", proto("", ""), &e)
	if e.Version != "2" {
		t.Fatalf("server entry: %+v (the write applied more than once?)", e)
	}
}

// Queued writes of several records go in one batch; when the server refuses the batch
// itself, they go one by one, and nothing is dead-lettered for it.
func TestProtocolPushUsesBatches(t *testing.T) {
	ctx := context.Background()
	hs, _ := startServer(t, sqliteDB)
	proxy := newFaultProxy(t, hs.URL)
	c := protocolRepo(t, proxy.URL)
	write := func(from, to int) {
		for i := from; i < to; i++ {
			if err := c.Notes.Upsert(ctx, &shop.Note{ID: fmt.Sprintf("n%03d", i), Text: "x"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(0, 150)
	rep := mustSync(t, c)
	if rep.Models["Note"].Pushed != 150 {
		t.Fatalf("report: %+v", rep)
	}
	if b, p := len(proxy.requests("POST /_batch")), len(proxy.requests("PUT /notes/")); b != 2 || p != 0 {
		t.Fatalf("150 writes took %d batches and %d PUTs, want 2 and 0", b, p)
	}
	proxy.set(func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
		if r.URL.Path == "/_batch" {
			http.Error(w, `{"error":"too big","code":"too_large"}`, http.StatusRequestEntityTooLarge)
			return true
		}
		return false
	})
	write(150, 153)
	mustSync(t, c)
	if st := c.Status(); st.Pending != 0 || st.DeadLetters != 0 {
		t.Fatalf("after a refused batch: %+v", st)
	}
	if p := len(proxy.requests("PUT /notes/")); p != 3 {
		t.Fatalf("%d PUTs after the refused batch, want 3", p)
	}
}

// A plain DELETE is ordered by its time: a record stamped later than it stays.
func TestPlainDeleteLosesToALaterRecord(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	hs, _ := startServer(t, sqliteDB, server.WithClock(func() time.Time { return now }))
	later := now.Add(time.Minute).Format(time.RFC3339)
	if st := call(t, "PUT", hs.URL+"/toppings/t", `{"id":"t","pizzaId":"p","name":"basil","updatedAt":"`+later+`"}`, nil, nil); st != 201 {
		t.Fatalf("put: %d", st)
	}
	var got map[string]any
	if st := call(t, "DELETE", hs.URL+"/toppings/t", "", nil, &got); st != 200 || got["name"] != "basil" {
		t.Fatalf("an earlier delete removed a later record: %d %v", st, got)
	}
	if st := call(t, "GET", hs.URL+"/toppings/t", "", nil, nil); st != 200 {
		t.Fatalf("get: %d", st)
	}
}

// A push group records its outcomes in one commit; an outcome that cannot be recorded (the
// app's resolver fails on a 409) is set aside and the others still count as pushed.
func TestPushGroupOutcomeFailureHoldsNothingBack(t *testing.T) {
	ctx := context.Background()
	hs, _ := startServer(t, sqliteDB)
	var failing atomic.Bool
	resolver := shop.WithPizzaResolver(func(ctx context.Context, c runtime.Conflict[shop.Pizza]) (runtime.Resolution[shop.Pizza], error) {
		if failing.Load() {
			return runtime.Resolution[shop.Pizza]{}, errors.New("the app's resolver failed")
		}
		return runtime.LastWriterWins(ctx, c)
	})
	a, b := protocolRepo(t, hs.URL, resolver), protocolRepo(t, hs.URL)
	if err := a.Pizzas.Upsert(ctx, &shop.Pizza{ID: "contested", Name: "A", Price: 1}); err != nil {
		t.Fatal(err)
	}
	mustSync(t, a)
	mustSync(t, b)
	// b changes the record on the server; a, not knowing, edits it and four others.
	if err := b.Pizzas.Upsert(ctx, &shop.Pizza{ID: "contested", Name: "B", Price: 2}); err != nil {
		t.Fatal(err)
	}
	mustSync(t, b)
	failing.Store(true)
	if err := a.Pizzas.Upsert(ctx, &shop.Pizza{ID: "contested", Name: "A2", Price: 3}); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if err := a.Pizzas.Upsert(ctx, &shop.Pizza{ID: fmt.Sprintf("free%d", i), Name: "F", Price: 1}); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := a.Sync(ctx)
	if err == nil || !strings.Contains(err.Error(), "the app's resolver failed") {
		t.Fatalf("sync with a failing resolver: %v", err)
	}
	if rep.Models["Pizza"].Pushed != 4 || a.Status().Pending != 1 {
		t.Fatalf("the four free writes must be pushed and only the contested one wait: %+v, %+v", rep, a.Status())
	}
	// Then the 409 reaches the resolver, and the write it keeps goes with the next Sync.
	failing.Store(false)
	mustSync(t, a)
	mustSync(t, a)
	mustSync(t, b)
	got, err := b.Pizzas.Get(ctx, "contested", runtime.LocalOnly)
	if err != nil || got.Name != "A2" || a.Status().Pending != 0 {
		t.Fatalf("after the resolver recovered: %+v %v %+v", got, err, a.Status())
	}
}
