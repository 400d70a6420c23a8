package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/syncgen/syncgen/remote"
	"github.com/syncgen/syncgen/runtime"
	"github.com/syncgen/syncgen/server"
	"github.com/syncgen/syncgen/sim/scoped"
	"github.com/syncgen/syncgen/wire"
)

// ScopesConfig is one scope simulation: users, each on two devices, write tasks of the
// teams they are granted, while grants are given and revoked, tasks move between teams,
// and devices choose subsets to sync (typed queries on teams, priorities and titles),
// through the generated server with WithScopes.
type ScopesConfig struct {
	Seed  uint64
	Users int // 2 to 6
	Teams int // 2 to 6
	Steps int
	Dir   string
}

// scopeWorld is the simulation's state: the grants, and the server's answers each user got.
type scopeWorld struct {
	mu      sync.Mutex
	grants  map[string][]string // user -> teams
	subsets map[string]*subsets // device -> its choice; absent: every task
	db      *runtime.DB         // the server's, to check cursors
	leaks   []string            // what reached a user that they may not see
}

// subsets is a device's choice (SyncOnly): its queries, and the same as a Go test.
type subsets struct {
	qs   []scoped.TaskQuery
	keep []func(scoped.Task) bool
	desc []string
}

func (s *subsets) match(t scoped.Task) bool {
	if s == nil {
		return true
	}
	return slices.ContainsFunc(s.keep, func(keep func(scoped.Task) bool) bool { return keep(t) })
}

func (s *subsets) String() string {
	if s == nil {
		return "every task"
	}
	return fmt.Sprintf("%q", s.desc)
}

// randomSubsets chooses a device's subsets: every task now and then, and else one or two
// queries (none, rarely) on teams, priorities and titles.
func randomSubsets(rng *rand.Rand, teams []string) *subsets {
	if rng.IntN(4) == 0 {
		return nil
	}
	s := &subsets{}
	for range rng.IntN(3) + boolInt(rng.IntN(8) > 0) - boolInt(rng.IntN(3) == 0) {
		var (
			q    = scoped.TaskQuery{}
			keep func(scoped.Task) bool
			desc string
		)
		switch rng.IntN(4) {
		case 0:
			a, b := teams[rng.IntN(len(teams))], teams[rng.IntN(len(teams))]
			q = q.Where(scoped.TaskFields.Team.In(a, b))
			keep, desc = func(t scoped.Task) bool { return t.Team == a || t.Team == b }, "team in "+a+", "+b
		case 1:
			p := rng.IntN(4)
			q = q.Where(scoped.TaskFields.Priority.Ge(p))
			keep, desc = func(t scoped.Task) bool { return t.Priority >= p }, fmt.Sprintf("priority >= %d", p)
		case 2:
			prefix := fmt.Sprintf("step %d", 1+rng.IntN(9))
			q = q.Where(scoped.TaskFields.Title.HasPrefix(prefix))
			keep, desc = func(t scoped.Task) bool { return strings.HasPrefix(t.Title, prefix) }, "title has prefix "+prefix
		default:
			team, p := teams[rng.IntN(len(teams))], rng.IntN(4)
			q = q.Where(scoped.TaskFields.Team.Eq(team), scoped.TaskOr(scoped.TaskFields.Priority.Eq(p), scoped.TaskFields.Title.HasPrefix("step 2")))
			keep = func(t scoped.Task) bool {
				return t.Team == team && (t.Priority == p || strings.HasPrefix(t.Title, "step 2"))
			}
			desc = fmt.Sprintf("team %s and (priority %d or title has prefix step 2)", team, p)
		}
		s.qs, s.keep, s.desc = append(s.qs, q), append(s.keep, keep), append(s.desc, desc)
	}
	return s
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (w *scopeWorld) granted(user string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.grants[user])
}

// spy checks every feed answer a user gets: each record in it is of a team the user is
// granted now, a "left" entry is of a record that is in none of those, and the cursor is
// the request's or the seq of a change in the answer (never one of another scope's
// writes).
func (w *scopeWorld) spy(h http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			rw.Header()[k] = v
		}
		rw.WriteHeader(rec.Code)
		body := rec.Body.Bytes()
		rw.Write(body)
		user, device := r.Header.Get("X-User"), r.Header.Get("X-Device")
		if rec.Code != http.StatusOK || r.Method != http.MethodGet || !bytes.Contains([]byte(r.URL.Path), []byte("_changes")) {
			return
		}
		var page wire.Changes
		if err := json.Unmarshal(body, &page); err != nil {
			w.leak("%s: a feed answer that does not parse: %v", user, err)
			return
		}
		teams := w.granted(user)
		asked := r.URL.Query().Get("cursor")
		cursorOK := *page.Cursor == asked || (asked == "" && *page.Cursor == "0") || w.ownSeq(r.Context(), teams, *page.Cursor)
		for _, e := range page.Changes {
			if e.Seq == *page.Cursor {
				cursorOK = true
			}
			if e.Left {
				continue
			}
			if e.Outside || e.Deleted {
				continue
			}
			var t scoped.Task
			if err := json.Unmarshal(e.Record, &t); err != nil || !slices.Contains(teams, t.Team) {
				w.leak("%s (teams %v) was sent task %s of team %q", user, teams, e.ID, t.Team)
			}
			w.mu.Lock()
			sub := w.subsets[device]
			w.mu.Unlock()
			if r.URL.Query().Has(wire.QueryWhere) && !sub.match(t) {
				w.leak("device %s (subsets %v) was sent task %s: %+v", device, sub, e.ID, t)
			}
		}
		if !cursorOK {
			w.leak("%s was sent cursor %s after %q, not the seq of a change they were sent", user, *page.Cursor, asked)
		}
		for _, v := range page.Scopes {
			if !slices.Contains(teams, v) {
				w.leak("%s (teams %v) was told of scope %q", user, teams, v)
			}
		}
	})
}

// ownSeq reports whether seq is that of the latest change of a task in teams, or of its
// move out of one of them: a feed read from the start may end its page at a task it
// leaves out (outside the subsets asked for), whose seq the reader may know. The
// simulation runs one request at a time, so the server holds what the page was read from.
func (w *scopeWorld) ownSeq(ctx context.Context, teams []string, seq string) bool {
	var scopes []string
	err := w.db.Reader().SelectContext(ctx, &scopes, `SELECT scope FROM syncgen_server_records WHERE model = 'tasks' AND seq = ?
		UNION ALL SELECT scope FROM syncgen_server_leaves WHERE model = 'tasks' AND seq = ?`, seq, seq)
	return err == nil && slices.ContainsFunc(scopes, func(s string) bool { return slices.Contains(teams, s) })
}

func (w *scopeWorld) leak(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.leaks = append(w.leaks, fmt.Sprintf(format, args...))
}

// RunScopes runs one scope simulation and checks: nothing of a team a user is not granted
// ever reaches their devices (feed records, scope lists, cursors); and at the end every
// device holds exactly the server's tasks of its user's teams within its subset, with the
// server's values (tasks with dead letters on the device aside: the app was told).
func RunScopes(ctx context.Context, cfg ScopesConfig) error {
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5c09e5))
	teams := make([]string, cfg.Teams)
	for i := range teams {
		teams[i] = "team" + strconv.Itoa(i)
	}
	w := &scopeWorld{grants: map[string][]string{}, subsets: map[string]*subsets{}}
	users := make([]string, cfg.Users)
	for i := range users {
		users[i] = "user" + strconv.Itoa(i)
		w.grants[users[i]] = []string{teams[i%len(teams)]}
	}
	db, err := runtime.OpenSQLite(filepath.Join(cfg.Dir, "server.db"))
	if err != nil {
		return err
	}
	defer db.Close()
	w.db = db
	srv, err := scoped.NewServer(db,
		server.WithAuthentication(func(r *http.Request) (string, error) { return r.Header.Get("X-User"), nil }),
		server.WithScopes(func(ctx context.Context, user, model string) ([]string, error) { return w.granted(user), nil }))
	if err != nil {
		return err
	}
	defer srv.Close()
	hs := httptest.NewServer(w.spy(srv))
	defer hs.Close()

	type device struct {
		user, name string
		repo       *scoped.Repository
		subsets    *subsets // nil: every task
	}
	var devices []*device
	for i, u := range users {
		for d := range 2 {
			cdb, err := runtime.OpenSQLite(filepath.Join(cfg.Dir, fmt.Sprintf("%s-%d.db", u, d)))
			if err != nil {
				return err
			}
			defer cdb.Close()
			name := fmt.Sprintf("%s-%d", u, d)
			rem := remote.NewProtocol(hs.URL, remote.WithRequestHook(func(r *http.Request) error {
				r.Header.Set("X-User", u)
				r.Header.Set("X-Device", name)
				return nil
			}))
			repo, err := scoped.NewRepository(cdb, rem, runtime.WithPushLimit(1),
				runtime.WithClientID(fmt.Sprintf("seed%d-%d-%d", cfg.Seed, i, d)),
				runtime.WithRand(rand.New(rand.NewPCG(cfg.Seed, uint64(2*i+d)))))
			if err == nil {
				err = repo.Migrate(ctx)
			}
			if err != nil {
				return err
			}
			defer repo.Close()
			devices = append(devices, &device{user: u, name: name, repo: repo})
		}
	}
	var log []string
	step := func(format string, args ...any) { log = append(log, fmt.Sprintf(format, args...)) }
	fail := func(err error) error {
		tail := log[max(0, len(log)-300):]
		return fmt.Errorf("%w\nlast steps:\n  %s", err, joinLines(tail))
	}
	next := 0
	for n := range cfg.Steps {
		di := rng.IntN(len(devices))
		d := devices[di]
		switch k := rng.IntN(20); {
		case k < 8: // write: a new task, an edit, or a move, in a team the user has now
			mine := w.granted(d.user)
			if len(mine) == 0 {
				continue
			}
			team := mine[rng.IntN(len(mine))]
			local, err := d.repo.Tasks.Find(ctx, scoped.TaskQuery{})
			if err != nil {
				return fail(err)
			}
			t := scoped.Task{ID: fmt.Sprintf("t%d", next), Team: team}
			if len(local) > 0 && rng.IntN(2) == 0 {
				t = local[rng.IntN(len(local))]
				if rng.IntN(3) == 0 {
					t.Team = team // a move
				}
			} else {
				next++
			}
			t.Title = fmt.Sprintf("step %d", n)
			t.Priority = rng.IntN(4)
			step("%d: %s (device %d) writes %s in %s", n, d.user, di, t.ID, t.Team)
			if err := d.repo.Tasks.Upsert(ctx, &t); err != nil {
				return fail(err)
			}
		case k < 9: // delete
			local, err := d.repo.Tasks.Find(ctx, scoped.TaskQuery{})
			if err != nil || len(local) == 0 {
				continue
			}
			t := local[rng.IntN(len(local))]
			step("%d: %s (device %d) deletes %s", n, d.user, di, t.ID)
			if err := d.repo.Tasks.Delete(ctx, t.ID); err != nil {
				return fail(err)
			}
		case k < 11: // grant
			team := teams[rng.IntN(len(teams))]
			w.mu.Lock()
			if !slices.Contains(w.grants[d.user], team) {
				w.grants[d.user] = append(w.grants[d.user], team)
			}
			w.mu.Unlock()
			step("%d: %s is granted %s", n, d.user, team)
		case k < 13: // revoke
			w.mu.Lock()
			if g := w.grants[d.user]; len(g) > 0 {
				i := rng.IntN(len(g))
				step("%d: %s loses %s", n, d.user, g[i])
				w.grants[d.user] = slices.Delete(slices.Clone(g), i, i+1)
			}
			w.mu.Unlock()
		case k < 14: // subsets, or all again
			d.subsets = randomSubsets(rng, teams)
			qs := []scoped.TaskQuery{{}}
			if d.subsets != nil {
				qs = d.subsets.qs
			}
			step("%d: device %d of %s syncs only %v", n, di, d.user, d.subsets)
			if err := d.repo.Tasks.SyncOnly(ctx, qs...); err != nil {
				return fail(err)
			}
			w.mu.Lock()
			w.subsets[d.name] = d.subsets
			w.mu.Unlock()
		default:
			step("%d: device %d of %s syncs", n, di, d.user)
			if _, err := d.repo.Sync(ctx); err != nil {
				return fail(fmt.Errorf("step %d: sync: %w", n, err))
			}
		}
		if len(w.leaks) > 0 {
			return fail(errors.New(w.leaks[0]))
		}
	}
	// Settle: every device syncs until a whole pass moves nothing (a write pushed by a
	// later device in one pass reaches the earlier ones in the next).
	quiet := false
	for pass := 0; pass < 30 && !quiet; pass++ {
		quiet = true
		for _, d := range devices {
			rep, err := d.repo.Sync(ctx)
			if err != nil {
				return fail(fmt.Errorf("settle: %w", err))
			}
			if t := rep.Total(); t.Pushed+t.Pulled+t.Conflicts > 0 || d.repo.Status().Pending > 0 {
				quiet = false
			}
		}
	}
	if !quiet {
		return fail(errors.New("no quiescence after 30 passes"))
	}
	if len(w.leaks) > 0 {
		return fail(errors.New(w.leaks[0]))
	}
	serverTasks, err := storedTasks(ctx, db)
	if err != nil {
		return err
	}
	for i, d := range devices {
		dead, err := d.repo.DeadLetters(ctx)
		if err != nil {
			return err
		}
		told := map[string]bool{}
		for _, dl := range dead {
			told[dl.ID] = true
		}
		teams := w.granted(d.user)
		want := map[string]scoped.Task{}
		for _, t := range serverTasks {
			if slices.Contains(teams, t.Team) && d.subsets.match(t) && !told[t.ID] {
				want[t.ID] = t
			}
		}
		local, err := d.repo.Tasks.Find(ctx, scoped.TaskQuery{}, runtime.LocalOnly) // what the device holds: no hydrate
		if err != nil {
			return err
		}
		got := map[string]scoped.Task{}
		for _, t := range local {
			if !told[t.ID] {
				got[t.ID] = t
			}
		}
		for id, t := range got {
			s, ok := want[id]
			switch {
			case !ok:
				var server []string
				db.Reader().SelectContext(ctx, &server, `SELECT data || ' deleted=' || deleted || ' seq=' || seq FROM syncgen_server_records WHERE id = ?`, id)
				return fail(fmt.Errorf("device %d of %s (teams %v, subsets %v) holds %+v, which it should not; the server has %v", i, d.user, teams, d.subsets, t, server))
			case s.Title != t.Title || s.Team != t.Team || s.Priority != t.Priority || !s.UpdatedAt.Equal(t.UpdatedAt):
				return fail(fmt.Errorf("device %d of %s holds %+v; the server has %+v", i, d.user, t, s))
			}
		}
		for id, s := range want {
			if _, ok := got[id]; !ok {
				return fail(fmt.Errorf("device %d of %s (teams %v, subsets %v) lacks %+v", i, d.user, teams, d.subsets, s))
			}
		}
	}
	return nil
}

// storedTasks reads the server's live tasks from its database.
func storedTasks(ctx context.Context, db *runtime.DB) ([]scoped.Task, error) {
	var rows []string
	if err := db.Reader().SelectContext(ctx, &rows, `SELECT data FROM syncgen_server_records WHERE model = 'tasks' AND deleted = 0`); err != nil {
		return nil, err
	}
	var out []scoped.Task
	for _, r := range rows {
		var t scoped.Task
		if err := json.Unmarshal([]byte(r), &t); err != nil {
			return nil, err
		}
		if t.DeletedAt == nil {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func joinLines(lines []string) string {
	var b bytes.Buffer
	for i, l := range lines {
		if i > 0 {
			b.WriteString("\n  ")
		}
		b.WriteString(l)
	}
	return b.String()
}
