package scoped_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/syncgen/syncgen/internal/testmod"
	"github.com/syncgen/syncgen/server"
	"github.com/syncgen/syncgen/sim/scoped"
	"github.com/syncgen/syncgen/wire"
)

func putTask(t *testing.T, r *scoped.Repository, task scoped.Task) {
	t.Helper()
	if err := r.Tasks.Upsert(context.Background(), &task); err != nil {
		t.Fatal(err)
	}
}

func syncOnly(t *testing.T, r *scoped.Repository, qs ...scoped.TaskQuery) {
	t.Helper()
	if err := r.Tasks.SyncOnly(context.Background(), qs...); err != nil {
		t.Fatal(err)
	}
}

// A device syncs only the tasks its queries select, among those its user may see: a
// query added brings its tasks, one removed takes them away, and an edit that takes a
// task out of every query takes it off the device, one that brings it back brings it.
func TestSubsetsByQuery(t *testing.T) { subsetsStory(t, newFixture(t)) }

func TestSubsetsByQueryPostgres(t *testing.T) {
	db, err := server.OpenPostgres(testmod.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	subsetsStory(t, newFixtureOn(t, db))
}

func subsetsStory(t *testing.T, f *fixture) {
	ctx := context.Background()
	f.g.set("alice", "a", "b")
	f.g.set("admin", "a", "b", "c")
	admin, alice := f.client("admin"), f.client("alice")
	putTask(t, admin, scoped.Task{ID: "a1", Team: "a", Title: "x-ray", Priority: 1})
	putTask(t, admin, scoped.Task{ID: "a3", Team: "a", Title: "plain", Priority: 3})
	putTask(t, admin, scoped.Task{ID: "b2", Team: "b", Title: "plain", Priority: 2})
	putTask(t, admin, scoped.Task{ID: "b0", Team: "b", Title: "x-files", Priority: 0})
	putTask(t, admin, scoped.Task{ID: "c5", Team: "c", Title: "x-men", Priority: 5})
	sync1(t, admin)

	urgent := scoped.TaskQuery{}.Where(scoped.TaskFields.Priority.Ge(2))
	syncOnly(t, alice, urgent)
	sync1(t, alice)
	want(t, "alice (urgent)", alice, "a3", "b2") // not c5: alice may not see team c

	// An edit that takes a task out of the query takes it off the device.
	putTask(t, admin, scoped.Task{ID: "a3", Team: "a", Title: "plain", Priority: 1})
	sync1(t, admin)
	sync1(t, alice)
	want(t, "alice after a3 calmed down", alice, "b2")
	// One that brings it back brings it.
	putTask(t, admin, scoped.Task{ID: "a3", Team: "a", Title: "plain", Priority: 4})
	sync1(t, admin)
	sync1(t, alice)
	want(t, "alice after a3 flared up", alice, "a3", "b2")

	// A second query adds its tasks, read from the start once.
	xs := scoped.TaskQuery{}.Where(scoped.TaskFields.Title.HasPrefix("x-"))
	syncOnly(t, alice, urgent, xs)
	sync1(t, alice)
	want(t, "alice (urgent or x-)", alice, "a1", "a3", "b0", "b2")
	// Dropping the first takes its tasks away.
	syncOnly(t, alice, xs)
	sync1(t, alice)
	want(t, "alice (x-)", alice, "a1", "b0")

	// A write of the device's own outside its queries stays until it is pushed; the
	// server's copy of it then comes back from the feed as outside, and it goes.
	putTask(t, alice, scoped.Task{ID: "a9", Team: "a", Title: "mine", Priority: 9})
	want(t, "alice, with her own write queued", alice, "a1", "a9", "b0")
	sync1(t, alice) // pushes a9, then pulls
	sync1(t, alice)
	want(t, "alice after her write was pushed", alice, "a1", "b0")
	if got, err := admin.Tasks.Get(ctx, "a9"); err != nil || got.Title != "mine" {
		sync1(t, admin)
		if got, err = admin.Tasks.Get(ctx, "a9"); err != nil || got.Title != "mine" {
			t.Fatalf("alice's write outside her queries did not reach the server: %+v, %v", got, err)
		}
	}

	// A query on a time: the tasks changed since a moment.
	cut := time.Now()
	time.Sleep(2 * time.Millisecond)
	putTask(t, admin, scoped.Task{ID: "b2", Team: "b", Title: "plain", Priority: 2})
	sync1(t, admin)
	syncOnly(t, alice, scoped.TaskQuery{}.Where(scoped.TaskFields.UpdatedAt.Gt(cut)))
	sync1(t, alice)
	want(t, "alice (changed since the cut)", alice, "b2")

	// Or, and several conditions, in one query.
	syncOnly(t, alice, scoped.TaskQuery{}.Where(
		scoped.TaskFields.Team.Eq("a"),
		scoped.TaskOr(scoped.TaskFields.Priority.Eq(1), scoped.TaskFields.Title.Eq("plain"))))
	sync1(t, alice)
	want(t, "alice (team a, priority 1 or plain)", alice, "a1", "a3")

	// No queries: nothing. The zero query: all she may see.
	syncOnly(t, alice)
	sync1(t, alice)
	want(t, "alice (nothing)", alice)
	syncOnly(t, alice, scoped.TaskQuery{})
	sync1(t, alice)
	want(t, "alice (all)", alice, "a1", "a3", "a9", "b0", "b2")

	// Losing a team still takes its tasks, whatever the queries.
	syncOnly(t, alice, xs)
	sync1(t, alice)
	f.g.set("alice", "a")
	sync1(t, alice)
	want(t, "alice (x-, team a only)", alice, "a1")

	// A task that moves to a team she sees but does not sync leaves her device as outside
	// her queries: she did not lose it, so her queued writes are no dead letters.
	f.g.set("alice", "a", "b")
	syncOnly(t, alice, scoped.TaskQuery{}.Where(scoped.TaskFields.Team.Eq("a")))
	sync1(t, alice)
	putTask(t, admin, scoped.Task{ID: "a1", Team: "b", Title: "moved"})
	sync1(t, admin)
	sync1(t, alice)
	want(t, "alice after a1 moved to b", alice, "a3", "a9")
	if dead, err := alice.DeadLetters(ctx); err != nil || len(dead) > 0 {
		t.Fatalf("dead letters %v, %v; want none", dead, err)
	}
	putTask(t, admin, scoped.Task{ID: "a1", Team: "a", Title: "back"})
	sync1(t, admin)
	sync1(t, alice)
	want(t, "alice after a1 came back", alice, "a1", "a3", "a9")
}

// A device that chose scope values before subsets took queries (syncgen_scopes.subset)
// keeps its choice until it chooses again.
func TestSubsetOfScopeValuesFromBefore(t *testing.T) {
	f := newFixture(t)
	f.g.set("alice", "a", "b")
	f.g.set("admin", "a", "b")
	admin := f.client("admin")
	alice, db := f.clientDB("alice")
	putTask(t, admin, scoped.Task{ID: "a1", Team: "a"})
	putTask(t, admin, scoped.Task{ID: "b1", Team: "b"})
	sync1(t, admin)
	if _, err := db.Writer().Exec(`INSERT INTO syncgen_scopes (model, subset) VALUES ('tasks', '["a"]')`); err != nil {
		t.Fatal(err)
	}
	sync1(t, alice)
	want(t, "alice (team a, chosen before)", alice, "a1")
	putTask(t, admin, scoped.Task{ID: "b2", Team: "b"})
	sync1(t, admin)
	sync1(t, alice)
	want(t, "alice (team a, chosen before)", alice, "a1")
	syncOnly(t, alice, scoped.TaskQuery{}.Where(scoped.TaskFields.Team.In("a", "b")))
	sync1(t, alice)
	want(t, "alice (teams a and b)", alice, "a1", "b1", "b2")
}

// The feed refuses subsets it cannot apply with a 400 that says why.
func TestSubsetsRefusedByTheServer(t *testing.T) {
	f := newFixture(t)
	f.g.set("alice", "a")
	for _, tc := range []struct{ where, want string }{
		{`{`, "not one JSON array of subsets"},
		{`[[{"key":"title","op":"eq","value":"x","extra":1}]]`, "not one JSON array of subsets"},
		{`[[{"key":"owner","op":"eq","value":"x"}]]`, `Task has no field with the key "owner"`},
		{`[[{"key":"priority","op":"eq","value":"high"}]]`, `priority eq: "high" is not a value of the field`},
		{`[[{"key":"title","op":"like","value":"x%"}]]`, `"like": not an operator a subset takes on title`},
		{`[[{"key":"title","op":"in","values":[` + strings.Repeat(`"x",`, wire.MaxSubsetTerms) + `"x"]}]]`, "more than 1000 conditions and values"},
	} {
		u := f.srv.URL + "/tasks/_changes?" + url.Values{wire.QueryWhere: {tc.where}}.Encode()
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		req.Header.Set("X-User", "alice")
		req.Header.Set(wire.HeaderProtocol, wire.Version)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		var e wire.Error
		json.Unmarshal(body, &e)
		if res.StatusCode != http.StatusBadRequest || e.Code != wire.CodeBadRequest || !strings.Contains(e.Message, tc.want) {
			t.Errorf("where=%.80s: %d %s, want 400 with %q", tc.where, res.StatusCode, body, tc.want)
		}
	}
	// And the client refuses what it cannot send, before anything is stored.
	alice := f.client("alice")
	putTask(t, alice, scoped.Task{ID: "a1", Team: "a", Title: "plain"})
	for _, q := range []scoped.TaskQuery{
		scoped.TaskQuery{}.Where(scoped.TaskFields.Title.Like("x%")),
		scoped.TaskQuery{}.Limit(3),
		scoped.TaskQuery{}.OrderBy(scoped.TaskFields.Title.Asc()),
	} {
		if err := alice.Tasks.SyncOnly(context.Background(), q); err == nil {
			t.Errorf("SyncOnly(%v) took a query it cannot send", q)
		}
	}
	sync1(t, alice)
	sync1(t, alice)
	want(t, "alice after refused choices", alice, "a1") // the choice stays every task: a1 stays
}

// Under Run, a new choice is pulled at once, not at the next interval.
func TestSubsetsRunPullsANewChoice(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := newFixture(t)
	f.g.set("alice", "a")
	f.g.set("admin", "a")
	admin, alice := f.client("admin"), f.client("alice")
	putTask(t, admin, scoped.Task{ID: "a1", Team: "a", Priority: 1})
	putTask(t, admin, scoped.Task{ID: "a2", Team: "a", Priority: 2})
	sync1(t, admin)
	syncOnly(t, alice, scoped.TaskQuery{}.Where(scoped.TaskFields.Priority.Eq(1)))
	sync1(t, alice)
	done := make(chan error, 1)
	go func() { done <- alice.Run(ctx) }() // its interval is 30 s: only the choice can pull
	// Run's first round, and the pull its event stream asks for when it connects.
	for alice.Status().LastSync.IsZero() || time.Since(alice.Status().LastSync) < 200*time.Millisecond {
		time.Sleep(10 * time.Millisecond)
	}
	syncOnly(t, alice, scoped.TaskQuery{}.Where(scoped.TaskFields.Priority.Eq(2)))
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if got := ids(t, alice); slices.Equal(got, []string{"a2"}) {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("Run did not pull the new choice: alice holds %v", got)
		}
	}
	cancel()
	<-done
}
