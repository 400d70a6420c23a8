package scoped_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncgen/syncgen/internal/testmod"
	"github.com/syncgen/syncgen/remote"
	"github.com/syncgen/syncgen/runtime"
	"github.com/syncgen/syncgen/server"
	"github.com/syncgen/syncgen/sim/scoped"
	"github.com/syncgen/syncgen/wire"
)

// grants is the app's table of who may see which teams; the server asks it once per
// request.
type grants struct {
	mu    sync.Mutex
	teams map[string][]string
	calls int
}

func (g *grants) set(user string, teams ...string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.teams[user] = teams
}

func (g *grants) hook(ctx context.Context, user, model string) ([]string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls++
	return slices.Clone(g.teams[user]), nil
}

type fixture struct {
	t   *testing.T
	srv *httptest.Server
	s   *scoped.Server
	g   *grants
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db, err := runtime.OpenSQLite(filepath.Join(t.TempDir(), "server.db"))
	if err != nil {
		t.Fatal(err)
	}
	return newFixtureOn(t, db)
}

func newFixtureOn(t *testing.T, db *runtime.DB) *fixture {
	t.Helper()
	t.Cleanup(func() { db.Close() })
	g := &grants{teams: map[string][]string{}}
	s, err := scoped.NewServer(db,
		server.WithAuthentication(func(r *http.Request) (string, error) {
			if u := r.Header.Get("X-User"); u != "" {
				return u, nil
			}
			return "", errors.New("who are you? send X-User")
		}),
		server.WithScopes(g.hook))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(func() { srv.Close(); s.Close() })
	return &fixture{t: t, srv: srv, s: s, g: g}
}

func (f *fixture) client(user string) *scoped.Repository {
	f.t.Helper()
	repo, _ := f.clientDB(user)
	return repo
}

// clientDB is client with its database.
func (f *fixture) clientDB(user string) (*scoped.Repository, *runtime.DB) {
	f.t.Helper()
	db, err := runtime.OpenSQLite(filepath.Join(f.t.TempDir(), user+".db"))
	if err != nil {
		f.t.Fatal(err)
	}
	rem := remote.NewProtocol(f.srv.URL, remote.WithRequestHook(func(r *http.Request) error {
		r.Header.Set("X-User", user)
		return nil
	}))
	repo, err := scoped.NewRepository(db, rem)
	if err == nil {
		err = repo.Migrate(context.Background())
	}
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { repo.Close(); db.Close() })
	return repo, db
}

func put(t *testing.T, r *scoped.Repository, id, team, title string) {
	t.Helper()
	if err := r.Tasks.Upsert(context.Background(), &scoped.Task{ID: id, Team: team, Title: title}); err != nil {
		t.Fatal(err)
	}
}

func sync1(t *testing.T, r *scoped.Repository) {
	t.Helper()
	if _, err := r.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// ids lists the live tasks a client holds.
func ids(t *testing.T, r *scoped.Repository) []string {
	t.Helper()
	all, err := r.Tasks.Find(context.Background(), scoped.TaskQuery{}, runtime.LocalOnly)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, x := range all {
		out = append(out, x.ID)
	}
	slices.Sort(out)
	return out
}

func want(t *testing.T, who string, r *scoped.Repository, ws ...string) {
	t.Helper()
	if got := ids(t, r); !slices.Equal(got, ws) {
		t.Fatalf("%s holds %v, want %v", who, got, ws)
	}
}

// feed reads one page of a user's feed by hand.
func (f *fixture) feed(user, cursor string) wire.Changes {
	f.t.Helper()
	req, _ := http.NewRequest("GET", f.srv.URL+"/tasks/_changes?cursor="+cursor, nil)
	req.Header.Set("X-User", user)
	req.Header.Set(wire.HeaderProtocol, "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var c wire.Changes
	if err := json.Unmarshal(b, &c); err != nil || c.Cursor == nil {
		f.t.Fatalf("feed: %s: %v", b, err)
	}
	return c
}

func TestScopesFilterGrantRevokeMove(t *testing.T) { scopesStory(t, newFixture(t)) }

// The same on PostgreSQL: the feed's union of records and leaves, and the scope column.
func TestScopesFilterGrantRevokeMovePostgres(t *testing.T) {
	db, err := server.OpenPostgres(testmod.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	scopesStory(t, newFixtureOn(t, db))
}

func scopesStory(t *testing.T, f *fixture) {
	ctx := context.Background()
	f.g.set("alice", "a", "shared")
	f.g.set("bob", "b", "shared")
	alice, bob := f.client("alice"), f.client("bob")

	put(t, alice, "a1", "a", "alice's own")
	put(t, alice, "s1", "shared", "for both")
	put(t, bob, "b1", "b", "bob's own")
	sync1(t, alice)
	sync1(t, bob)
	sync1(t, alice)
	want(t, "alice", alice, "a1", "s1")
	want(t, "bob", bob, "b1", "s1")

	// Nothing of a scope a user cannot see reaches them: not a record, not a cursor
	// past their own changes.
	bobFeed := f.feed("bob", "")
	for range 5 {
		put(t, alice, "a-more", "a", "more of alice's")
		sync1(t, alice)
	}
	if c := f.feed("bob", *bobFeed.Cursor); len(c.Changes) != 0 || *c.Cursor != *bobFeed.Cursor {
		t.Fatalf("bob's feed after alice's private writes: %d changes, cursor %s (was %s)", len(c.Changes), *c.Cursor, *bobFeed.Cursor)
	}
	if got := f.feed("bob", "").Scopes; !slices.Equal(got, []string{"b", "shared"}) {
		t.Fatalf("bob's feed lists scopes %v", got)
	}

	// A grant brings the scope's records, none of them edited.
	f.g.set("bob", "a", "b", "shared")
	sync1(t, bob)
	want(t, "bob", bob, "a-more", "a1", "b1", "s1")

	// A revocation takes them away; a queued write to one of them is a dead letter that
	// says why.
	put(t, bob, "a1", "a", "bob edits, then loses team a")
	f.g.set("bob", "b", "shared")
	if _, err := bob.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	want(t, "bob", bob, "b1", "s1")
	dead, err := bob.DeadLetters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 1 || dead[0].ID != "a1" || dead[0].Status != http.StatusForbidden || !strings.Contains(dead[0].Body, wire.CodeOutOfScope) {
		t.Fatalf("dead letters %+v, want bob's write of a1 refused as out_of_scope", dead)
	}

	// A record moved between scopes leaves the old scope's devices and reaches the new
	// one's.
	put(t, alice, "s1", "a", "now alice's alone")
	sync1(t, alice)
	sync1(t, bob)
	want(t, "bob", bob, "b1")
	want(t, "alice", alice, "a-more", "a1", "s1")
	put(t, alice, "s1", "shared", "shared again")
	sync1(t, alice)
	sync1(t, bob)
	want(t, "bob", bob, "b1", "s1")
}

func TestSyncOnlySubset(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.g.set("alice", "a", "b")
	f.g.set("admin", "a", "b", "c")
	admin, alice := f.client("admin"), f.client("alice")
	put(t, admin, "a1", "a", "")
	put(t, admin, "b1", "b", "")
	put(t, admin, "c1", "c", "")
	sync1(t, admin)

	// Alice chooses team a, and c, which she may not see: the server intersects.
	if err := alice.Tasks.SyncOnly(ctx, scoped.TaskQuery{}.Where(scoped.TaskFields.Team.In("a", "c"))); err != nil {
		t.Fatal(err)
	}
	sync1(t, alice)
	want(t, "alice", alice, "a1")
	// Adding b brings its records; dropping a takes a's away.
	if err := alice.Tasks.SyncOnly(ctx, scoped.TaskQuery{}.Where(scoped.TaskFields.Team.Eq("b"))); err != nil {
		t.Fatal(err)
	}
	sync1(t, alice)
	want(t, "alice", alice, "b1")
	// A hydrate lists everything the user may see; the subset still holds.
	if _, err := alice.Tasks.Hydrate(ctx, scoped.TaskQuery{}); err != nil {
		t.Fatal(err)
	}
	want(t, "alice", alice, "b1")
	// Nothing chosen: nothing held.
	if err := alice.Tasks.SyncOnly(ctx, scoped.TaskQuery{}.Where(scoped.TaskFields.Team.In())); err != nil {
		t.Fatal(err)
	}
	sync1(t, alice)
	want(t, "alice", alice)
	if err := alice.Tasks.SyncOnly(ctx, scoped.TaskQuery{}); err != nil {
		t.Fatal(err)
	}
	sync1(t, alice)
	want(t, "alice", alice, "a1", "b1")

	err := alice.Tasks.SyncOnly(ctx, scoped.TaskQuery{}.Where(scoped.TaskFields.Title.Like("x%")))
	if err == nil || !strings.Contains(err.Error(), "a subset takes Eq, Ne") {
		t.Fatalf("a subset with Like: %v", err)
	}
}

func TestScopesHookOncePerRequest(t *testing.T) {
	f := newFixture(t)
	f.g.set("alice", "a")
	alice := f.client("alice")
	for i := range 50 {
		put(t, alice, "t"+string(rune('A'+i%26))+string(rune('a'+i/26)), "a", "")
	}
	sync1(t, alice)
	f.g.mu.Lock()
	f.g.calls = 0
	f.g.mu.Unlock()
	f.feed("alice", "")
	if f.g.calls != 1 {
		t.Fatalf("the scopes hook ran %d times for one feed request of 50 records, want 1", f.g.calls)
	}
}

// One user's 10 records among 20,000 of others (the case of issue 17, where the
// per-record hook took 42 requests and 20,010 hook calls): the first sync is one feed
// request and one call of the scopes hook, and brings exactly the 10.
func TestScopedSyncCostsTheUsersRecords(t *testing.T) {
	ctx := context.Background()
	db, err := runtime.OpenSQLite(filepath.Join(t.TempDir(), "server.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var calls, requests int
	var mu sync.Mutex
	s, err := scoped.NewServer(db,
		server.WithAuthentication(func(r *http.Request) (string, error) { return "u0", nil }),
		server.WithScopes(func(ctx context.Context, user, model string) ([]string, error) {
			mu.Lock()
			calls++
			mu.Unlock()
			return []string{"mine"}, nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tx := db.Writer().MustBegin()
	for i := range 20_000 {
		team := fmt.Sprintf("other-%d", i/10)
		_, err := tx.Exec(`INSERT INTO syncgen_server_records (model, id, version, seq, updated_at, deleted, deleted_at, data, scope)
			VALUES ('tasks', ?, 1, ?, '', 0, '', ?, ?)`, fmt.Sprint("o", i), i+1, fmt.Sprintf(`{"id":"o%d","team":%q,"title":"","updatedAt":"2026-11-01T00:00:00Z"}`, i, team), team)
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tx.Exec(`UPDATE syncgen_server_counters SET value = 20000 WHERE name = 'seq'`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests++
		mu.Unlock()
		s.ServeHTTP(w, r)
	}))
	defer srv.Close()
	open := func(name string) *scoped.Repository {
		cdb, err := runtime.OpenSQLite(filepath.Join(t.TempDir(), name+".db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cdb.Close() })
		r, err := scoped.NewRepository(cdb, remote.NewProtocol(srv.URL))
		if err == nil {
			err = r.Migrate(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
	writer, reader := open("writer"), open("reader")
	for i := range 10 {
		put(t, writer, fmt.Sprint("m", i), "mine", "")
	}
	sync1(t, writer)
	mu.Lock()
	calls, requests = 0, 0
	mu.Unlock()
	sync1(t, reader)
	if n, _ := reader.Tasks.Count(ctx, scoped.TaskQuery{}); n != 10 || calls != 1 || requests != 1 {
		t.Fatalf("the reader's first sync: %d records, %d hook calls, %d requests; want 10, 1, 1", n, calls, requests)
	}
}

// A user's event stream hears of changes in their scopes, and of records leaving them,
// never of others' writes.
func TestScopedEvents(t *testing.T) {
	f := newFixture(t)
	scopedEvents(t, f, f)
}

// TestScopedEventsAcrossInstances: alice writes through one server instance, bob listens
// on another over the same PostgreSQL database; what he hears is filtered the same way.
func TestScopedEventsAcrossInstances(t *testing.T) {
	dsn := testmod.Postgres(t)
	var fs [2]*fixture
	for i := range fs {
		db, err := server.OpenPostgres(dsn)
		if err != nil {
			t.Fatal(err)
		}
		fs[i] = newFixtureOn(t, db)
	}
	scopedEvents(t, fs[0], fs[1])
}

// scopedEvents: alice's writes go to w, bob's event stream is on l (the same server, or
// another instance over the same database).
func scopedEvents(t *testing.T, w, l *fixture) {
	for _, f := range []*fixture{w, l} {
		f.g.set("alice", "a", "shared")
		f.g.set("bob", "b", "shared")
	}
	alice := w.client("alice")
	put(t, alice, "s1", "shared", "")
	sync1(t, alice)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", l.srv.URL+"/_events", nil)
	req.Header.Set("X-User", "bob")
	req.Header.Set(wire.HeaderProtocol, "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if line, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				events <- line
			}
		}
		close(events)
	}()
	expect := func(what string, want bool) {
		t.Helper()
		select {
		case e := <-events:
			if !want {
				t.Fatalf("%s: bob heard %s", what, e)
			}
		case <-time.After(500 * time.Millisecond):
			if want {
				t.Fatalf("%s: bob heard nothing", what)
			}
		}
	}
	// Another instance hears of s1's first write only now, after the stream opened.
	for quiet := false; !quiet; {
		select {
		case <-events:
		case <-time.After(500 * time.Millisecond):
			quiet = true
		}
	}
	put(t, alice, "a1", "a", "private")
	sync1(t, alice)
	expect("alice's private write", false)
	put(t, alice, "s1", "shared", "edited")
	sync1(t, alice)
	expect("alice's shared write", true)
	put(t, alice, "s1", "a", "moved to a")
	sync1(t, alice)
	expect("a shared record moving out of bob's scopes", true)
	// A grant changes no record: the app says so, and bob's stream tells him to pull.
	l.g.set("bob", "a", "b", "shared")
	l.s.ScopesChanged("alice")
	expect("a change of alice's scopes", false)
	l.s.ScopesChanged("bob")
	expect("a change of bob's scopes", true)
}

// Leaves at or below the horizon go with the purge of tombstones: no cursor needs them.
func TestScopeLeavesPurged(t *testing.T) {
	ctx := context.Background()
	db, err := runtime.OpenSQLite(filepath.Join(t.TempDir(), "server.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	s, err := scoped.NewServer(db,
		server.WithClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now }),
		server.WithTombstoneRetention(time.Hour),
		server.WithScopes(func(ctx context.Context, user, model string) ([]string, error) { return []string{"a", "b"}, nil }))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	srv := httptest.NewServer(s)
	defer srv.Close()
	cdb, err := runtime.OpenSQLite(filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer cdb.Close()
	c, err := scoped.NewRepository(cdb, remote.NewProtocol(srv.URL))
	if err == nil {
		err = c.Migrate(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	put(t, c, "x", "a", "")
	put(t, c, "gone", "a", "")
	sync1(t, c)
	put(t, c, "x", "b", "moved") // a leave of scope a
	sync1(t, c)
	if err := c.Tasks.Delete(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	sync1(t, c)
	leaves := func() (n int) {
		if err := db.Reader().Get(&n, `SELECT COUNT(*) FROM syncgen_server_leaves`); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := leaves(); n != 1 {
		t.Fatalf("%d leaves after a move, want 1", n)
	}
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	sync1(t, c) // the feed purges
	if n := leaves(); n != 0 {
		t.Fatalf("%d leaves after the purge past them, want 0", n)
	}
}

// A purge of one scope's tombstones expires only the cursors of its readers: a reader of
// other scopes goes on from their cursor without a resync.
func TestScopeHorizons(t *testing.T) {
	ctx := context.Background()
	db, err := runtime.OpenSQLite(filepath.Join(t.TempDir(), "server.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	g := &grants{teams: map[string][]string{"alice": {"a"}, "bob": {"b"}}}
	s, err := scoped.NewServer(db,
		server.WithClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now }),
		server.WithTombstoneRetention(time.Hour),
		server.WithAuthentication(func(r *http.Request) (string, error) { return r.Header.Get("X-User"), nil }),
		server.WithScopes(g.hook))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	srv := httptest.NewServer(s)
	defer srv.Close()
	f := &fixture{t: t, srv: srv, s: s, g: g}
	alice, bob := f.client("alice"), f.client("bob")
	put(t, alice, "a1", "a", "")
	put(t, bob, "b1", "b", "")
	put(t, bob, "b2", "b", "")
	sync1(t, alice)
	sync1(t, bob)
	aliceCursor, bobCursor := *f.feed("alice", "").Cursor, *f.feed("bob", "").Cursor
	if err := bob.Tasks.Delete(ctx, "b2"); err != nil {
		t.Fatal(err)
	}
	sync1(t, bob)
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	status := func(user, cursor string) int {
		req, _ := http.NewRequest("GET", srv.URL+"/tasks/_changes?cursor="+cursor, nil)
		req.Header.Set("X-User", user)
		req.Header.Set(wire.HeaderProtocol, "1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	status("bob", "") // purges b2's tombstone
	if got := status("alice", aliceCursor); got != http.StatusOK {
		t.Fatalf("alice's cursor after a purge of team b's tombstones: %d, want 200", got)
	}
	if got := status("bob", bobCursor); got != http.StatusGone {
		t.Fatalf("bob's cursor from before b2's delete, after its purge: %d, want 410", got)
	}
}
