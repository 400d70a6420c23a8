package shop_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncgen/syncgen/internal/e2e/shop"
	"github.com/syncgen/syncgen/internal/testmod"
	"github.com/syncgen/syncgen/runtime"
	"github.com/syncgen/syncgen/server"
)

// send is call for goroutines: it returns what call would fail the test with.
func send(method, url, body string, header map[string]string, out any) (int, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %d %s: %w", method, url, resp.StatusCode, data, err)
		}
	}
	return resp.StatusCode, nil
}

func pizzaBody(id string, price int) string {
	return fmt.Sprintf(`{"id":%q,"name":"n","price":%d,"rating":0,"updatedAt":"2026-11-25T10:00:00Z"}`, id, price)
}

// Writers commit concurrently, out of the order of their seqs (a before-write hook
// sleeps inside their transactions), while a follower reads the feed from its cursor:
// the follower sees every acknowledged write (no cursor passed one still in flight),
// its cursor never goes back, and every page is in seq order after the cursor it was
// asked for.
func TestConcurrentWritersAndAFollower(t *testing.T) {
	onBackends(t, testConcurrentWritersAndAFollower)
	t.Run("postgres-grouped", func(t *testing.T) { testConcurrentWritersAndAFollower(t, smallPostgresPool) })
}

// smallPostgresPool opens a PostgreSQL database with a pool of two connections, so that
// concurrent single writes wait for a connection and run in groups (server/pipeline.go).
func smallPostgresPool(t *testing.T) *runtime.DB {
	db, err := server.OpenPostgres(testmod.Postgres(t), server.WithMaxConns(2))
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func testConcurrentWritersAndAFollower(t *testing.T, open dbOpener) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	var rngMu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, 1))
	hs, _ := startServer(t, open, server.WithBeforeWrite(func(_ context.Context, _, _ string, rec json.RawMessage) (json.RawMessage, error) {
		rngMu.Lock()
		d := time.Duration(rng.IntN(4000)) * time.Microsecond
		rngMu.Unlock()
		time.Sleep(d)
		return rec, nil
	}))
	const writers, writes = 8, 30
	type ack struct {
		id      string
		version int64
	}
	acks := make([][]ack, writers)
	errs := make([]error, writers+1)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			versions := map[string]string{}
			for n := range writes {
				id := fmt.Sprintf("w%d-%d", w, n)
				if n%3 == 2 { // an update of the writer's own record
					id = fmt.Sprintf("w%d-%d", w, n-2)
				}
				var e entry
				st, err := send("PUT", hs.URL+"/pizzas/"+id, pizzaBody(id, n), proto(fmt.Sprintf("w%d:%d", w, n), versions[id]), &e)
				if err == nil && st != 200 && st != 201 {
					err = fmt.Errorf("put %s: %d %+v", id, st, e)
				}
				if err != nil {
					errs[w] = err
					return
				}
				versions[id] = e.Version
				v, _ := strconv.ParseInt(e.Version, 10, 64)
				acks[w] = append(acks[w], ack{id, v})
			}
		})
	}
	seen := map[string]int64{} // id → newest version the follower read
	done := make(chan struct{})
	follow := func(cursor string) (string, bool, error) {
		var f feed
		st, err := send("GET", hs.URL+"/pizzas/_changes?limit=7&cursor="+cursor, "", proto("", ""), &f)
		if err != nil || st != 200 {
			return cursor, false, fmt.Errorf("feed after %q: %d %v", cursor, st, err)
		}
		last, _ := strconv.ParseInt(cmpOr(cursor, "0"), 10, 64)
		for _, c := range f.Changes {
			s, _ := strconv.ParseInt(c.Seq, 10, 64)
			if s <= last {
				return cursor, false, fmt.Errorf("feed after %q: seq %s out of order", cursor, c.Seq)
			}
			last = s
			v, _ := strconv.ParseInt(c.Version, 10, 64)
			seen[c.ID] = max(seen[c.ID], v)
		}
		next, _ := strconv.ParseInt(f.Cursor, 10, 64)
		if next < last {
			return cursor, false, fmt.Errorf("feed after %q: cursor %s behind its last change %d", cursor, f.Cursor, last)
		}
		return f.Cursor, f.HasMore, nil
	}
	var final string
	var follower sync.WaitGroup
	follower.Go(func() {
		cursor := ""
		for {
			select {
			case <-done:
				final = cursor
				return
			default:
			}
			var err error
			if cursor, _, err = follow(cursor); err != nil {
				errs[writers] = err
				final = cursor
				return
			}
		}
	})
	wg.Wait() // the writers end, then the follower
	close(done)
	follower.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Nothing is in flight now: the follower catches up from its own cursor.
	for cursor, more := final, true; more; {
		var err error
		if cursor, more, err = follow(cursor); err != nil {
			t.Fatal(err)
		}
	}
	for _, as := range acks {
		for _, a := range as {
			if seen[a.id] < a.version {
				t.Errorf("%s: version %d acknowledged, the follower read version %d: the feed skipped it", a.id, a.version, seen[a.id])
			}
		}
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Requests racing with one idempotency key apply once, and every one gets that answer;
// writes racing on one record with one If-Match: one wins, the others get 409.
func TestConcurrentKeysAndVersions(t *testing.T) {
	onBackends(t, testConcurrentKeysAndVersions)
	t.Run("postgres-grouped", func(t *testing.T) { testConcurrentKeysAndVersions(t, smallPostgresPool) })
}

func testConcurrentKeysAndVersions(t *testing.T, open dbOpener) {
	hs, _ := startServer(t, open)
	const racers = 12
	type answer struct {
		status int
		e      entry
		err    error
	}
	race := func(req func(i int) (string, string, map[string]string)) []answer {
		out := make([]answer, racers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range out {
			wg.Go(func() {
				<-start
				url, body, h := req(i)
				out[i].status, out[i].err = send("PUT", url, body, h, &out[i].e)
			})
		}
		close(start)
		wg.Wait()
		return out
	}
	for round := range 5 {
		id := fmt.Sprintf("k%d", round)
		as := race(func(int) (string, string, map[string]string) {
			return hs.URL + "/pizzas/" + id, pizzaBody(id, 1), proto("same:"+id, "")
		})
		for i, a := range as {
			if a.err != nil || a.status != 201 || a.e.Version != "1" || a.e.Seq != as[0].e.Seq {
				t.Fatalf("one key, %d requests at once: answer %d is %d %+v (%v); the first %d %+v", racers, i, a.status, a.e, a.err, as[0].status, as[0].e)
			}
		}
		as = race(func(i int) (string, string, map[string]string) {
			return hs.URL + "/pizzas/" + id, pizzaBody(id, 10+i), proto(fmt.Sprintf("upd:%s:%d", id, i), "1")
		})
		won := 0
		for i, a := range as {
			switch {
			case a.err == nil && a.status == 200 && a.e.Version == "2":
				won++
			case a.err == nil && a.status == 409 && a.e.Entry != nil && a.e.Entry.Version == "2":
			default:
				t.Fatalf("%d updates of version 1 at once: answer %d is %d %+v (%v)", racers, i, a.status, a.e, a.err)
			}
		}
		if won != 1 {
			t.Fatalf("%d updates of version 1 at once: %d won, want 1", racers, won)
		}
	}
}

// Single writes that wait for a connection on PostgreSQL run in groups, one transaction
// each: a write the server fails on is answered 500 and keeps nothing, and the others of
// its group stand, each once, in the feed.
func TestGroupedWritesFailAlone(t *testing.T) {
	hs, _ := startServer(t, smallPostgresPool, server.WithBeforeWrite(func(_ context.Context, _, _ string, rec json.RawMessage) (json.RawMessage, error) {
		time.Sleep(time.Millisecond)                     // the others pile up meanwhile
		if strings.Contains(string(rec), `"price":13`) { // an invalid record: the server failed
			return json.RawMessage(`{"id":"another"}`), nil
		}
		return rec, nil
	}))
	const writers, writes = 16, 8
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for n := range writes {
				id := fmt.Sprintf("w%d-%d", w, n)
				price := n
				if (w+n)%5 == 0 {
					price = 13
				}
				st, err := send("PUT", hs.URL+"/pizzas/"+id, pizzaBody(id, price), proto("g:"+id, ""), nil)
				switch {
				case err != nil:
				case price == 13 && st != 500:
					err = fmt.Errorf("put %s, which breaks: %d", id, st)
				case price != 13 && st != 201:
					err = fmt.Errorf("put %s: %d", id, st)
				}
				if err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]int{}
	for cursor, more := "", true; more; {
		var f feed
		if st := call(t, "GET", hs.URL+"/pizzas/_changes?cursor="+cursor, "", proto("", ""), &f); st != 200 {
			t.Fatalf("feed: %d", st)
		}
		for _, c := range f.Changes {
			seen[c.ID]++
		}
		cursor, more = f.Cursor, f.HasMore
	}
	for w := range writers {
		for n := range writes {
			id := fmt.Sprintf("w%d-%d", w, n)
			if want := map[bool]int{true: 0, false: 1}[(w+n)%5 == 0]; seen[id] != want {
				t.Errorf("%s: %d times in the feed, want %d", id, seen[id], want)
			}
		}
	}
}

// openPostgresPair opens two pools on one new PostgreSQL database, as two server
// processes would.
func openPostgresPair(t *testing.T) [2]*runtime.DB {
	dsn := testmod.Postgres(t)
	var dbs [2]*runtime.DB
	for i := range dbs {
		db, err := server.OpenPostgres(dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs[i] = db
	}
	return dbs
}

// events opens an events stream and returns its events' data lines.
func events(t *testing.T, url, user string) <-chan string {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", url+"/_events", nil)
	req.Header.Set("Syncgen-Protocol", "1")
	req.Header.Set("X-User", user)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("events: %v %v", resp, err)
	}
	out := make(chan string, 100)
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				out <- data
			}
		}
	}()
	return out
}

// Two server instances on one PostgreSQL database: a write on one reaches the other's
// event streams (within the scope of each stream's user), a key used on one replays on
// the other, and a tombstone purged by one expires cursors on both.
func TestTwoInstancesOnePostgres(t *testing.T) {
	dbs := openPostgresPair(t)
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	var urls [2]string
	for i, db := range dbs {
		srv, err := shop.NewServer(db, server.WithClock(clock), server.WithTombstoneRetention(time.Hour),
			server.WithAuthentication(func(r *http.Request) (string, error) { return r.Header.Get("X-User"), nil }),
			server.WithScope(func(_ context.Context, user, model string, rec json.RawMessage) bool {
				return user == "" || strings.Contains(string(rec), `"name":"`+user+`"`)
			}))
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(srv)
		t.Cleanup(func() { hs.Close(); srv.Close() })
		urls[i] = hs.URL
	}
	ann, bob := events(t, urls[1], "ann"), events(t, urls[1], "bob")
	body := `{"id":"a1","name":"ann","price":1,"rating":0,"updatedAt":"2026-11-25T10:00:00Z"}`
	var e entry
	if st := call(t, "PUT", urls[0]+"/pizzas/a1", body, proto("ann:1", ""), &e); st != 201 {
		t.Fatalf("put on the first instance: %d %+v", st, e)
	}
	select {
	case data := <-ann:
		if !strings.Contains(data, `"pizzas"`) || !strings.Contains(data, `"seq":"`+e.Seq+`"`) {
			t.Fatalf("ann's event on the second instance: %s, want pizzas at seq %s", data, e.Seq)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the write on the first instance never reached the second's events stream")
	}
	select {
	case data := <-bob:
		t.Fatalf("bob heard of ann's record: %s", data)
	case <-time.After(300 * time.Millisecond):
	}

	// The same key and request on the other instance: the first answer again.
	var again entry
	if st := call(t, "PUT", urls[1]+"/pizzas/a1", body, proto("ann:1", ""), &again); st != 201 || again.Seq != e.Seq || again.Version != "1" {
		t.Fatalf("the key replayed on the second instance: %d %+v, want %+v", st, again, e)
	}

	// A delete on the second; past the retention the first purges it, and cursors from
	// before the tombstone are expired on both.
	if st := call(t, "DELETE", urls[1]+"/pizzas/a1", "", proto("ann:2", "1"), &again); st != 200 || !again.Deleted {
		t.Fatalf("delete on the second instance: %d %+v", st, again)
	}
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	for _, u := range urls {
		var gone entry
		if st := call(t, "GET", u+"/pizzas/_changes?cursor="+e.Seq, "", proto("", ""), &gone); st != 410 || gone.Code != "cursor_expired" {
			t.Fatalf("%s: a cursor before the purged tombstone: %d %+v", u, st, gone)
		}
	}
}

// A group the database fails (here a trigger refuses one of its records) runs again
// write by write: the refused write alone gets its 500, every other write of the group
// is stored once. The before-write hook counts each write's runs, so the test knows a
// group failed and its writes ran again.
func TestGroupsTheDatabaseFailsRunAgainAlone(t *testing.T) {
	var mu sync.Mutex
	runs := map[string]int{}
	hs, db := startServer(t, smallPostgresPool, server.WithBeforeWrite(func(_ context.Context, _, _ string, rec json.RawMessage) (json.RawMessage, error) {
		var p struct{ ID string }
		json.Unmarshal(rec, &p)
		mu.Lock()
		runs[p.ID]++
		mu.Unlock()
		time.Sleep(time.Millisecond) // the others pile up meanwhile
		return rec, nil
	}))
	if _, err := db.Writer().Exec(`CREATE FUNCTION refuse_13() RETURNS trigger AS $$
		BEGIN
			IF NEW.data::text LIKE '%"price":13,%' THEN RAISE EXCEPTION 'no pizza costs 13'; END IF;
			RETURN NEW;
		END $$ LANGUAGE plpgsql;
		CREATE TRIGGER refuse_13 BEFORE INSERT OR UPDATE ON syncgen_server_records
			FOR EACH ROW EXECUTE FUNCTION refuse_13()`); err != nil {
		t.Fatal(err)
	}
	const writers, writes = 16, 8
	for round := 0; ; round++ {
		errs := make([]error, writers)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for n := range writes {
					id := fmt.Sprintf("r%d-w%d-%d", round, w, n)
					price := n
					if (w+n)%5 == 0 {
						price = 13
					}
					st, err := send("PUT", hs.URL+"/pizzas/"+id, pizzaBody(id, price), proto("g:"+id, ""), nil)
					switch {
					case err != nil:
					case price == 13 && st != 500:
						err = fmt.Errorf("put %s, which the database refuses: %d", id, st)
					case price != 13 && st != 201:
						err = fmt.Errorf("put %s: %d", id, st)
					}
					if err != nil {
						errs[w] = err
						return
					}
				}
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		var stored []string
		if err := db.Reader().Select(&stored, `SELECT id FROM syncgen_server_records WHERE id LIKE $1 ORDER BY id`, fmt.Sprintf("r%d-%%", round)); err != nil {
			t.Fatal(err)
		}
		want := 0
		for w := range writers {
			for n := range writes {
				if (w+n)%5 != 0 {
					want++
				}
			}
		}
		if len(stored) != want {
			t.Fatalf("round %d: %d records stored, want %d", round, len(stored), want)
		}
		ranAgain := 0
		mu.Lock()
		for _, id := range stored {
			if runs[id] > 1 {
				ranAgain++
			}
		}
		mu.Unlock()
		if ranAgain > 0 {
			t.Logf("round %d: %d stored writes ran again after their group failed", round, ranAgain)
			return
		}
		if round == 4 {
			t.Fatal("in 5 rounds no group with a refused write formed: the path is not tested")
		}
	}
}
