package shop_test

// The hostile-input suite of the generated server (issue 14): what an attacker sends must
// end in a 4xx with a stable code, bounded memory, and no trace in the data, on SQLite and
// on PostgreSQL. Client-side hostile cases are in hostile_client_test.go.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/syncgen/syncgen/internal/e2e/shop"
	"github.com/syncgen/syncgen/internal/testmod"
	"github.com/syncgen/syncgen/runtime"
	"github.com/syncgen/syncgen/server"
	"github.com/syncgen/syncgen/wire"
)

// errorOf decodes an error answer.
func errorOf(t *testing.T, method, u, body string, h map[string]string) (int, wire.Error) {
	t.Helper()
	var e wire.Error
	st := call(t, method, u, body, h, &e)
	return st, e
}

// Bad ids are refused alike on every path, with the protocol header and without, and
// nothing of them is stored.
func TestHostileIDs(t *testing.T) { onBackends(t, testHostileIDs) }

func testHostileIDs(t *testing.T, open dbOpener) {
	hs, _ := startServer(t, open)
	u := hs.URL + "/pizzas"
	bad := map[string]string{ // id → the code it must get
		"":                           wire.CodeBadRequest,
		"a\x00b":                     wire.CodeBadRequest,
		"a\xffb":                     wire.CodeBadRequest,
		strings.Repeat("x", 256):     wire.CodeBadRequest,
		strings.Repeat("y", 900<<10): wire.CodeBadRequest,
		"_changes2":                  wire.CodeReservedID,
	}
	n := 0
	for id, code := range bad {
		n++
		jid, _ := json.Marshal(id)
		body := fmt.Sprintf(`{"id":%s,"name":"x","price":1,"updatedAt":"2026-01-01T00:00:00Z"}`, jid)
		short := id
		if len(short) > 20 {
			short = short[:20] + "…"
		}
		check := func(what string, st int, e wire.Error) {
			t.Helper()
			if st != 400 || e.Code != code || strings.Contains(e.Message, "SQLSTATE") {
				t.Errorf("%s with id %q: %d %+v, want 400 %s", what, short, st, e, code)
			}
		}
		// JSON cannot carry invalid UTF-8 (decoders read U+FFFD): only a path can.
		if utf8.ValidString(id) {
			// POST {path}: the id is in the body.
			for _, h := range []map[string]string{nil, {"Idempotency-Key": fmt.Sprintf("k%d:post", n)}} {
				st, e := errorOf(t, "POST", u, body, h)
				check("plain POST", st, e)
			}
			// Batch op: the id in the op, and in the record.
			batch := fmt.Sprintf(`{"ops":[{"key":"k%d:b","model":"pizzas","op":"put","id":%s,"record":%s},
				{"key":"k%d:d","model":"pizzas","op":"delete","id":%s,"version":"1"}]}`, n, jid, body, n, jid)
			var ans wire.BatchAnswer
			if st := call(t, "POST", hs.URL+"/_batch", batch, proto("", ""), &ans); st != 200 || len(ans.Results) != 2 {
				t.Errorf("batch with id %q: %d %+v", short, st, ans)
			} else {
				for _, res := range ans.Results {
					var e wire.Error
					json.Unmarshal(res.Error, &e)
					check("batch op", res.Status, e)
				}
			}
		}
		if len(id) > 8<<10 || id == "" {
			continue // not a path segment a server must route
		}
		item := u + "/" + url.PathEscape(id)
		for _, h := range []map[string]string{nil, proto(fmt.Sprintf("k%d:put", n), "")} {
			st, e := errorOf(t, "PUT", item, body, h)
			check("PUT", st, e)
			st, e = errorOf(t, "DELETE", item, "", h)
			check("DELETE", st, e)
			st, e = errorOf(t, "GET", item, "", h)
			check("GET", st, e)
		}
	}
	var f feed
	if st := call(t, "GET", u+"/_changes", "", proto("", ""), &f); st != 200 || len(f.Changes) != 0 {
		t.Fatalf("the feed after bad ids: %d %+v", st, f)
	}
	var list []json.RawMessage
	if st := call(t, "GET", u, "", nil, &list); st != 200 || len(list) != 0 {
		t.Fatalf("the list after bad ids: %d %s", st, list)
	}
}

// Bad idempotency keys, an overflowing _limit: 400, never a 500 with the database's text.
func TestHostileKeysAndLimits(t *testing.T) { onBackends(t, testHostileKeysAndLimits) }

func testHostileKeysAndLimits(t *testing.T, open dbOpener) {
	hs, _ := startServer(t, open)
	u := hs.URL + "/pizzas"
	body := `{"id":"p","name":"x","price":1,"updatedAt":"2026-01-01T00:00:00Z"}`
	for _, key := range []string{"k\xff", strings.Repeat("k", 256), "k ey"} {
		st, e := errorOf(t, "PUT", u+"/p", body, proto(key, ""))
		if st != 400 || e.Code != wire.CodeBadRequest {
			t.Errorf("key %.20q: %d %+v", key, st, e)
		}
	}
	var ans wire.BatchAnswer
	call(t, "POST", hs.URL+"/_batch", `{"ops":[{"key":"k\u0000","model":"pizzas","op":"put","id":"p","record":`+body+`}]}`, proto("", ""), &ans)
	if len(ans.Results) != 1 || ans.Results[0].Status != 400 {
		t.Errorf("a batch key with NUL: %+v", ans)
	}
	for _, q := range []string{"_limit=9223372036854775807&_page=3", "_limit=99999999999999999999", "_limit=5&_page=9223372036854775807"} {
		st, e := errorOf(t, "GET", u+"?"+q, "", nil)
		if st != 400 || e.Code != wire.CodeBadRequest {
			t.Errorf("GET ?%s: %d %+v", q, st, e)
		}
	}
	for _, q := range []string{"limit=9223372036854775808", "cursor=99999999999999999999"} {
		st, e := errorOf(t, "GET", u+"/_changes?"+q, "", proto("", ""))
		if st != 400 || e.Code != wire.CodeBadRequest {
			t.Errorf("GET _changes?%s: %d %+v", q, st, e)
		}
	}
}

// Ten requests with one key at once apply once, and all get the first answer.
func TestHostileConcurrentKey(t *testing.T) { onBackends(t, testHostileConcurrentKey) }

func testHostileConcurrentKey(t *testing.T, open dbOpener) {
	// A slow validation keeps the first request's transaction open while the others
	// arrive: it widens the window, it measures nothing.
	hs, _ := startServer(t, open, server.WithValidation(func(context.Context, string, json.RawMessage) error {
		time.Sleep(100 * time.Millisecond)
		return nil
	}))
	body := `{"id":"p","name":"x","price":1,"updatedAt":"2026-01-01T00:00:00Z"}`
	var wg sync.WaitGroup
	got := make([]entry, 10)
	status := make([]int, 10)
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status[i] = call(t, "PUT", hs.URL+"/pizzas/p", body, proto("same-key", ""), &got[i])
		}()
	}
	wg.Wait()
	for i := range 10 {
		if status[i] != 201 || got[i].Seq != got[0].Seq || got[i].Version != "1" {
			t.Errorf("request %d: %d %+v, want the first answer %+v", i, status[i], got[i], got[0])
		}
	}
}

// One user's idempotency key is not another's: a key sent first by mallory does not
// make ann's write with the same key a 422.
func TestHostileKeysBelongToTheUser(t *testing.T) { onBackends(t, testHostileKeysBelongToTheUser) }

func testHostileKeysBelongToTheUser(t *testing.T, open dbOpener) {
	hs, _ := startServer(t, open, server.WithAuthentication(func(r *http.Request) (string, error) {
		return r.Header.Get("X-User"), nil
	}))
	as := func(user, key string) map[string]string {
		h := proto(key, "")
		h["X-User"] = user
		return h
	}
	st := call(t, "PUT", hs.URL+"/notes/m1", `{"id":"m1","text":"mallory's"}`, as("mallory", "ann-client:1"), nil)
	if st != 201 {
		t.Fatalf("mallory's write: %d", st)
	}
	var e entry
	if st := call(t, "PUT", hs.URL+"/notes/a1", `{"id":"a1","text":"ann's"}`, as("ann", "ann-client:1"), &e); st != 201 || e.ID != "a1" {
		t.Fatalf("ann's write with a key mallory used first: %d %+v", st, e)
	}
	var again entry
	if st := call(t, "PUT", hs.URL+"/notes/a1", `{"id":"a1","text":"ann's"}`, as("ann", "ann-client:1"), &again); st != 201 || again.Seq != e.Seq {
		t.Fatalf("ann's replay: %d %+v, want %+v", st, again, e)
	}
}

// A batch is counted while it is read: the server answers 413 at op 101 without waiting
// for the rest of the body, which here never ends.
func TestHostileBatchCountedWhileRead(t *testing.T) { onBackends(t, testHostileBatchCountedWhileRead) }

func testHostileBatchCountedWhileRead(t *testing.T, open dbOpener) {
	hs, _ := startServer(t, open)
	pr, pw := io.Pipe()
	defer pw.Close()
	go func() {
		io.WriteString(pw, `{"ops":[`+strings.Repeat(`{},`, wire.MaxBatchOps+1))
		// then nothing: the body stays open
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a guard, not a measure
	defer cancel()
	go func() { <-ctx.Done(); pw.CloseWithError(ctx.Err()) }()
	req, _ := http.NewRequestWithContext(ctx, "POST", hs.URL+"/_batch", pr)
	req.Header.Set("Syncgen-Protocol", "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("the server waited for the whole batch before counting its ops: %v", err)
	}
	defer resp.Body.Close()
	var e wire.Error
	json.NewDecoder(resp.Body).Decode(&e)
	if resp.StatusCode != 413 || e.Code != wire.CodeBatchTooLarge {
		t.Fatalf("%d %+v", resp.StatusCode, e)
	}
	// A batch with two "ops" arrays is not a way around the count.
	two := `{"ops":[` + strings.Repeat(`{},`, 60) + `{}],"ops":[` + strings.Repeat(`{},`, 60) + `{}]}`
	if st, e := errorOf(t, "POST", hs.URL+"/_batch", two, proto("", "")); st/100 != 4 {
		t.Fatalf("two ops arrays: %d %+v", st, e)
	}
}

// Lists stream: the server writes the first records before it has read the last (here
// the scope hook holds the last until the client has the first), and feed pages are
// bounded by bytes as well as by count.
func TestHostileListsStream(t *testing.T) { onBackends(t, testHostileListsStream) }

func testHostileListsStream(t *testing.T, open dbOpener) {
	release := make(chan struct{})
	var once sync.Once
	hs, _ := startServer(t, open,
		server.WithMaxPageBytes(150<<10),
		server.WithScope(func(ctx context.Context, user, model string, rec json.RawMessage) bool {
			if model == "Pizza" && strings.Contains(string(rec), `"id":"p9"`) && user == "lister" {
				select {
				case <-release:
				case <-ctx.Done():
				}
			}
			return true
		}),
		server.WithAuthentication(func(r *http.Request) (string, error) { return r.Header.Get("X-User"), nil }))
	big := strings.Repeat("x", 60<<10)
	for i := range 10 {
		body := fmt.Sprintf(`{"id":"p%d","name":%q,"price":1,"updatedAt":"2026-01-01T00:00:00Z"}`, i, big)
		if st := call(t, "PUT", fmt.Sprintf("%s/pizzas/p%d", hs.URL, i), body, nil, nil); st != 201 {
			t.Fatalf("put p%d: %d", i, st)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a guard
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", hs.URL+"/pizzas", nil)
	req.Header.Set("X-User", "lister")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("the list did not start before its last record was read: %v", err)
	}
	br := bufio.NewReader(resp.Body)
	if _, err := br.Peek(1); err != nil {
		t.Fatal(err)
	}
	once.Do(func() { close(release) })
	var list []json.RawMessage
	if err := json.NewDecoder(br).Decode(&list); err != nil || len(list) != 10 {
		t.Fatalf("the streamed list: %d records, %v", len(list), err)
	}
	resp.Body.Close()

	// The feed: 60 KiB records, 150 KiB pages: two records a page, and all of them.
	var seen []string
	cursor := ""
	for pages := 0; ; pages++ {
		var f feed
		if st := call(t, "GET", hs.URL+"/pizzas/_changes?cursor="+cursor, "", proto("", ""), &f); st != 200 {
			t.Fatalf("feed: %d", st)
		}
		if len(f.Changes) > 2 {
			t.Fatalf("a page of %d records of 60 KiB over a 150 KiB bound", len(f.Changes))
		}
		for _, c := range f.Changes {
			seen = append(seen, c.ID)
		}
		cursor = f.Cursor
		if !f.HasMore || pages > 20 {
			break
		}
	}
	if len(seen) != 10 {
		t.Fatalf("the feed in bounded pages gave %v", seen)
	}
}

// A record over WithMaxRecordBytes is refused alone and in a batch.
func TestHostileRecordSize(t *testing.T) { onBackends(t, testHostileRecordSize) }

func testHostileRecordSize(t *testing.T, open dbOpener) {
	hs, _ := startServer(t, open, server.WithMaxRecordBytes(1000))
	body := fmt.Sprintf(`{"id":"p","name":%q,"price":1,"updatedAt":"2026-01-01T00:00:00Z"}`, strings.Repeat("x", 1000))
	if st, e := errorOf(t, "PUT", hs.URL+"/pizzas/p", body, proto("k:1", "")); st != 413 || e.Code != wire.CodeTooLarge {
		t.Fatalf("a record over the limit: %d %+v", st, e)
	}
	var ans wire.BatchAnswer
	call(t, "POST", hs.URL+"/_batch", `{"ops":[{"key":"k:2","model":"pizzas","op":"put","id":"p","record":`+body+`}]}`, proto("", ""), &ans)
	if len(ans.Results) != 1 || ans.Results[0].Status != 413 {
		t.Fatalf("a batch op over the limit: %+v", ans)
	}
}

// Events: the number of streams is bounded (503 beyond), and a user hears only of
// changes in their scope, with the seq of those changes.
func TestHostileEvents(t *testing.T) { onBackends(t, testHostileEvents) }

func testHostileEvents(t *testing.T, open dbOpener) {
	hs, _ := startServer(t, open,
		server.WithMaxEventStreams(2),
		server.WithAuthentication(func(r *http.Request) (string, error) { return r.Header.Get("X-User"), nil }),
		server.WithScope(func(_ context.Context, user, model string, rec json.RawMessage) bool {
			return strings.Contains(string(rec), `"`+user+`:`)
		}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a guard
	defer cancel()
	stream := func(user string) (*http.Response, error) {
		req, _ := http.NewRequestWithContext(ctx, "GET", hs.URL+"/_events", nil)
		req.Header.Set("Syncgen-Protocol", "1")
		req.Header.Set("X-User", user)
		return http.DefaultClient.Do(req)
	}
	bob, err := stream("bob")
	if err != nil || bob.StatusCode != 200 {
		t.Fatalf("bob's stream: %v %v", bob, err)
	}
	defer bob.Body.Close()
	second, err := stream("bob")
	if err != nil || second.StatusCode != 200 {
		t.Fatalf("a second stream: %v %v", second, err)
	}
	third, err := stream("bob")
	if err != nil {
		t.Fatal(err)
	}
	var e wire.Error
	json.NewDecoder(third.Body).Decode(&e)
	third.Body.Close()
	if third.StatusCode != 503 || e.Code != wire.CodeUnavailable {
		t.Fatalf("a stream over the bound: %d %+v", third.StatusCode, e)
	}
	second.Body.Close()

	put := func(user, path, body string) entry {
		var en entry
		h := proto(user+":"+path, "")
		h["X-User"] = user
		if st := call(t, "PUT", hs.URL+path, body, h, &en); st != 201 {
			t.Fatalf("%s put %s: %d", user, path, st)
		}
		return en
	}
	put("ann", "/pizzas/a", `{"id":"a","name":"ann: secret","price":1,"updatedAt":"2026-01-01T00:00:00Z"}`)
	put("ann", "/pizzas/a2", `{"id":"a2","name":"ann: secret","price":1,"updatedAt":"2026-01-01T00:00:00Z"}`)
	mine := put("bob", "/notes/b", `{"id":"b","text":"bob: mine"}`)
	lines := bufio.NewScanner(bob.Body)
	for lines.Scan() {
		data, ok := strings.CutPrefix(lines.Text(), "data: ")
		if !ok {
			continue
		}
		var ev struct {
			Models []string `json:"models"`
			Seq    string   `json:"seq"`
		}
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			t.Fatal(err)
		}
		if len(ev.Models) != 1 || ev.Models[0] != "notes" || ev.Seq != mine.Seq {
			t.Fatalf("bob's event %s shows more than his note at seq %s", data, mine.Seq)
		}
		return
	}
	t.Fatalf("no event for bob: %v", lines.Err())
}

// The smaller points: updatedAt is stamped when a write has none; If-Match: * is a 400;
// 400s name no Go types; unknown routes and methods answer the protocol's JSON error.
func TestHostileSmall(t *testing.T) { onBackends(t, testHostileSmall) }

func testHostileSmall(t *testing.T, open dbOpener) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	hs, _ := startServer(t, open, server.WithClock(func() time.Time { return now }))
	u := hs.URL + "/pizzas"
	var e entry
	if st := call(t, "PUT", u+"/p1", `{"id":"p1","name":"x","price":1}`, proto("k:1", ""), &e); st != 201 || !strings.HasPrefix(e.UpdatedAt, "2026-11-25T12:00:00") {
		t.Fatalf("a protocol write without updatedAt: %d %+v", st, e)
	}
	var rec map[string]any
	if st := call(t, "PUT", u+"/p2", `{"id":"p2","name":"x","price":1}`, nil, &rec); st != 201 || !strings.HasPrefix(fmt.Sprint(rec["updatedAt"]), "2026-11-25T12:00:00") {
		t.Fatalf("a plain write without updatedAt: %d %v", st, rec)
	}
	h := proto("k:2", "")
	h["If-Match"] = "*"
	if st, er := errorOf(t, "PUT", u+"/p1", `{"id":"p1","name":"y","price":1}`, h); st != 400 || er.Code != wire.CodeBadRequest {
		t.Fatalf("If-Match: *: %d %+v", st, er)
	}
	h["If-Match"] = `"1", "2"`
	if st, er := errorOf(t, "PUT", u+"/p1", `{"id":"p1","name":"y","price":1}`, h); st != 400 || er.Code != wire.CodeBadRequest {
		t.Fatalf("If-Match with a list: %d %+v", st, er)
	}
	for _, body := range []string{`{"id":"p3","price":"nine"}`, `{"id":"p3","updatedAt":"yesterday"}`, `[1]`, `{"id":`} {
		st, er := errorOf(t, "PUT", u+"/p3", body, nil)
		if st != 400 || er.Code != wire.CodeBadRequest || strings.Contains(er.Message, "Wire") || strings.Contains(er.Message, "Go ") || strings.Contains(er.Message, "shop.") {
			t.Errorf("body %s: %d %+v", body, st, er)
		}
	}
	if st, er := errorOf(t, "GET", hs.URL+"/nothing/here", "", nil); st != 404 || er.Code != wire.CodeNotFound {
		t.Fatalf("an unknown route: %d %+v", st, er)
	}
	req, _ := http.NewRequest("POST", u+"/p1", strings.NewReader("{}"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var er wire.Error
	if err := json.NewDecoder(resp.Body).Decode(&er); err != nil || resp.StatusCode != 405 || er.Code != wire.CodeMethodNotAllowed || resp.Header.Get("Allow") == "" {
		t.Fatalf("a method the route does not serve: %d %+v %v", resp.StatusCode, er, err)
	}
}

// The PostgreSQL pool is bounded by default, and the bound can be set; requests over it
// wait for a connection instead of failing.
func TestHostilePostgresPool(t *testing.T) {
	dsn := testmod.Postgres(t)
	db, err := server.OpenPostgres(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := db.Writer().Stats().MaxOpenConnections; got != server.DefaultPostgresConns {
		t.Fatalf("default pool: %d connections, want %d", got, server.DefaultPostgresConns)
	}
	hs, _ := startServer(t, func(t *testing.T) *runtime.DB {
		db, err := server.OpenPostgres(dsn, server.WithMaxConns(2))
		if err != nil {
			t.Fatal(err)
		}
		return db
	})
	var wg sync.WaitGroup
	fails := make(chan string, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf(`{"id":"n%d","text":"x"}`, i)
			req, _ := http.NewRequest("PUT", fmt.Sprintf("%s/notes/n%d", hs.URL, i), strings.NewReader(body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				fails <- err.Error()
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 201 {
				fails <- resp.Status
			}
		}()
	}
	wg.Wait()
	close(fails)
	for f := range fails {
		t.Error(f)
	}
}

// An events stream outlives the http.Server's WriteTimeout, which production servers set
// (README): each event has its own write deadline.
func TestHostileEventsOutliveWriteTimeout(t *testing.T) {
	onBackends(t, testHostileEventsOutliveWriteTimeout)
}

func testHostileEventsOutliveWriteTimeout(t *testing.T, open dbOpener) {
	db := open(t)
	t.Cleanup(func() { db.Close() })
	srv, err := shop.NewServer(db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	hs := httptest.NewUnstartedServer(srv)
	hs.Config.WriteTimeout = 200 * time.Millisecond
	hs.Start()
	t.Cleanup(hs.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a guard
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", hs.URL+"/_events", nil)
	req.Header.Set("Syncgen-Protocol", "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	time.Sleep(500 * time.Millisecond) // past the WriteTimeout
	if st := call(t, "PUT", hs.URL+"/notes/n", `{"id":"n","text":"x"}`, nil, nil); st != 201 {
		t.Fatal(st)
	}
	lines := bufio.NewScanner(resp.Body)
	for lines.Scan() {
		if strings.HasPrefix(lines.Text(), "event: changed") {
			return
		}
	}
	t.Fatalf("the stream ended at the WriteTimeout: %v", lines.Err())
}
