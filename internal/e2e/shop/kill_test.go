package shop_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/syncgen/syncgen/internal/e2e/shop"
	"github.com/syncgen/syncgen/internal/testmod"
	"github.com/syncgen/syncgen/remote"
	"github.com/syncgen/syncgen/runtime"
)

// The kill test runs this test binary as a child that writes and syncs in a loop, kills it
// at random moments, and checks at the end that every write the child saw succeed is
// there, locally and on the server, and that the database is sound.
const (
	killDBEnv   = "SYNCGEN_KILL_DB"
	killBaseEnv = "SYNCGEN_KILL_BASE"
	killSeedEnv = "SYNCGEN_KILL_SEED"
)

func TestKilledAtRandomMomentsLosesNothing(t *testing.T) {
	if os.Getenv(killDBEnv) != "" {
		t.Skip("in the child")
	}
	kills := 200
	if testing.Short() {
		kills = 20
	}
	base := testmod.JSONServer(t, "pizzas", "notes", "toppings")
	dbPath := filepath.Join(t.TempDir(), "app.db")
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("SYNCGEN_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (SYNCGEN_SEED=%d replays the kill times)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 1))

	price := map[string]int{}     // pizza → the last price a child saw written
	notes := map[string]bool{}    // notes a child saw created
	deleting := map[string]bool{} // notes a child began to delete
	deleted := map[string]bool{}  // notes a child saw deleted
	var lines, withoutOutput int
	for i := range kills {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), killDBEnv+"="+dbPath, killBaseEnv+"="+base,
			killSeedEnv+"="+strconv.FormatUint(seed+uint64(i), 10))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = nil
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		got, ready := make(chan []string), make(chan struct{})
		go func() {
			var ls []string
			s := bufio.NewScanner(out)
			for s.Scan() {
				if s.Text() == "ready" {
					close(ready)
					continue
				}
				ls = append(ls, s.Text())
			}
			got <- ls
		}()
		// One kill in four lands at a moment counted from the start (opening, migrating);
		// the others from when the child begins to write, however long a loaded machine
		// takes to get it there.
		if rng.IntN(4) > 0 {
			select {
			case <-ready:
			case <-time.After(10 * time.Second):
			}
		}
		time.Sleep(time.Duration(rng.IntN(80_000)) * time.Microsecond)
		cmd.Process.Kill()
		ls := <-got
		cmd.Wait()
		if len(ls) == 0 {
			withoutOutput++
		}
		for _, l := range ls {
			f := strings.Fields(l)
			if len(f) < 2 {
				continue // a line cut by the kill
			}
			lines++
			switch f[0] {
			case "put":
				if len(f) == 3 {
					n, err := strconv.Atoi(f[2])
					if err == nil {
						price[f[1]] = n
					}
				}
			case "note":
				notes[f[1]] = true
			case "deleting":
				deleting[f[1]] = true
			case "deleted":
				deleted[f[1]] = true
			case "error":
				t.Fatalf("child: %s", l)
			}
		}
	}
	t.Logf("%d kills, %d acknowledged operations, %d children killed before their first", kills, lines, withoutOutput)
	if lines < kills {
		t.Fatalf("children did too little before being killed (%d operations): the test proves nothing", lines)
	}

	// Restart once more and let it drain.
	ctx := context.Background()
	repo := killRepo(t, dbPath, base)
	for i := 0; ; i++ {
		_, err := repo.Sync(ctx)
		if err == nil && repo.Status().Pending == 0 {
			break
		}
		if i == 5 {
			t.Fatalf("did not drain: %v, %+v", err, repo.Status())
		}
	}
	if dead, _ := repo.DeadLetters(ctx); len(dead) > 0 {
		t.Fatalf("dead letters: %+v", dead)
	}

	local := map[string]string{}
	pizzas, err := repo.Pizzas.Find(ctx, shop.PizzaQuery{}, runtime.LocalOnly)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pizzas {
		local["pizza "+p.ID] = strconv.Itoa(p.Price)
		if p.Price < price[p.ID] {
			t.Errorf("pizza %s: price %d, but a child saw %d written", p.ID, p.Price, price[p.ID])
		}
	}
	for id := range price {
		if _, ok := local["pizza "+id]; !ok {
			t.Errorf("pizza %s, written, is gone", id)
		}
	}
	ns, err := repo.Notes.Find(ctx, shop.NoteQuery{}, runtime.LocalOnly)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		local["note "+n.ID] = n.Text
		if deleted[n.ID] {
			t.Errorf("note %s came back after its delete", n.ID)
		}
	}
	for id := range notes {
		if _, ok := local["note "+id]; !ok && !deleting[id] {
			t.Errorf("note %s, created and never deleted, is gone", id)
		}
	}

	remote := map[string]string{}
	for _, path := range []string{"/pizzas", "/notes"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		var recs []map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&recs); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		for _, r := range recs {
			if path == "/pizzas" {
				remote[fmt.Sprintf("pizza %v", r["id"])] = fmt.Sprint(r["price"])
			} else {
				remote[fmt.Sprintf("note %v", r["id"])] = fmt.Sprint(r["text"])
			}
		}
	}
	if fmt.Sprint(local) != fmt.Sprint(remote) {
		t.Errorf("local and server differ:\nlocal  %v\nserver %v", local, remote)
	}

	raw := rawDB(t, dbPath)
	var check string
	if err := raw.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check: %q, %v", check, err)
	}
	var queued int
	if err := raw.QueryRow("SELECT COUNT(*) FROM syncgen_outbox").Scan(&queued); err != nil || queued != 0 {
		t.Fatalf("outbox: %d entries left, %v", queued, err)
	}
}

func killRepo(t *testing.T, dbPath, base string) *shop.Repository {
	return openRepoAt(t, dbPath, remote.NewREST(base, remote.WithRequestTimeout(5*time.Second)))
}

// TestKillChild is the child of the kill test: it writes and syncs until killed, and
// prints each write after it returned.
func TestKillChild(t *testing.T) {
	dbPath := os.Getenv(killDBEnv)
	if dbPath == "" {
		t.Skip("run by TestKilledAtRandomMomentsLosesNothing")
	}
	ctx := context.Background()
	seed, _ := strconv.ParseUint(os.Getenv(killSeedEnv), 10, 64)
	rng := rand.New(rand.NewPCG(seed, 2))
	repo := killRepo(t, dbPath, os.Getenv(killBaseEnv))
	fmt.Println("ready")
	var mine []string
	deadline := time.Now().Add(10 * time.Second) // never outlive a parent that failed
	for time.Now().Before(deadline) {
		switch rng.IntN(5) {
		case 0, 1:
			id := fmt.Sprintf("p%d", rng.IntN(5))
			p, err := repo.Pizzas.Get(ctx, id, runtime.LocalOnly)
			if err != nil {
				p = shop.Pizza{ID: id, Name: "pizza " + id}
			}
			p.Price++
			if err := repo.Pizzas.Upsert(ctx, &p); err != nil {
				fmt.Println("error", err)
				return
			}
			fmt.Println("put", id, p.Price)
		case 2:
			n := shop.Note{ID: runtime.NewID(), Text: strconv.Itoa(rng.IntN(1000))}
			if err := repo.Notes.Upsert(ctx, &n); err != nil {
				fmt.Println("error", err)
				return
			}
			fmt.Println("note", n.ID)
			mine = append(mine, n.ID)
		case 3:
			if len(mine) == 0 {
				continue
			}
			id := mine[rng.IntN(len(mine))]
			fmt.Println("deleting", id)
			if err := repo.Notes.Delete(ctx, id); err != nil {
				fmt.Println("error", err)
				return
			}
			fmt.Println("deleted", id)
		case 4:
			repo.Sync(ctx) // errors are the parent's doing; the next round retries
		}
	}
}

// rawDB opens a database file with database/sql, to look at what the runtime wrote.
func rawDB(t *testing.T, path string) *sql.DB {
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}
