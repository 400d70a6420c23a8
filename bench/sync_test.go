package bench

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime/metrics"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncgen/syncgen/bench/model"
	"github.com/syncgen/syncgen/remote"
	"github.com/syncgen/syncgen/runtime"
)

const (
	pulled   = 100_000 // records served to PullApply and DeltaSync
	pageSize = 1000
)

// stamped is item(i) as the server holds it: with its updatedAt.
func stamped(i int) *model.Item {
	it := item(i)
	it.UpdatedAt = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Millisecond)
	return it
}

// pageServer serves n records as plain REST pages, GET /items?_page=P&_limit=L, the way
// json-server does. Pages are encoded once up front unless onTheFly, which the memory
// benchmark needs: a million records encoded would be the heap it measures.
func pageServer(b *testing.B, n int, onTheFly bool) *httptest.Server {
	b.Helper()
	encode := func(p int) []byte {
		var items []*model.Item
		for i := (p - 1) * pageSize; i < min(p*pageSize, n); i++ {
			items = append(items, stamped(i))
		}
		if items == nil {
			return []byte("[]")
		}
		data, err := json.Marshal(items)
		if err != nil {
			panic(err)
		}
		return data
	}
	var pages [][]byte
	if !onTheFly {
		for p := 1; (p-1)*pageSize < n; p++ {
			pages = append(pages, encode(p))
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := strconv.Atoi(r.URL.Query().Get("_page"))
		if err != nil || p < 1 || r.URL.Query().Get("_limit") != strconv.Itoa(pageSize) {
			http.Error(w, "want _page and _limit", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch {
		case onTheFly:
			w.Write(encode(p))
		case p <= len(pages):
			w.Write(pages[p-1])
		default:
			w.Write([]byte("[]"))
		}
	}))
	b.Cleanup(srv.Close)
	return srv
}

func pageRemote(url string) *remote.REST {
	return remote.NewREST(url, remote.WithPagePagination("_page", "_limit", pageSize))
}

// fetchPages calls apply with each page's records, decoded, until a short page.
func fetchPages(ctx context.Context, url string, apply func([]model.Item) error) error {
	for p := 1; ; p++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/items?_page=%d&_limit=%d", url, p, pageSize), nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		var items []model.Item
		err = json.NewDecoder(resp.Body).Decode(&items)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if err := apply(items); err != nil {
			return err
		}
		if len(items) < pageSize {
			return nil
		}
	}
}

const rawUpsert = `INSERT INTO "items" (` + rawColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT ("id") DO UPDATE SET "name" = excluded."name", "category" = excluded."category",
	"price" = excluded."price", "weight" = excluded."weight", "stock" = excluded."stock",
	"active" = excluded."active", "updated_at" = excluded."updated_at", "deleted_at" = excluded."deleted_at"`

func rawArgs(it *model.Item) []any {
	var deleted any
	if it.DeletedAt != nil {
		deleted = it.DeletedAt.UTC().Format(runtime.TimeLayout)
	}
	return []any{it.ID, it.Name, it.Category, it.Price, it.Weight, it.Stock, it.Active, it.UpdatedAt.UTC().Format(runtime.TimeLayout), deleted}
}

// BenchmarkPullApply pulls 100,000 records, in pages of 1,000 from an in-process server,
// into an empty database.
func BenchmarkPullApply(b *testing.B) {
	ctx := context.Background()
	srv := pageServer(b, pulled, false)
	// run times pull into a fresh database. One pull takes about a second, so b.Loop
	// may run only one: a first, untimed pull (b.Loop resets the timer) warms up alike.
	run := func(b *testing.B, pull func(db *runtime.DB, repo *model.Repository) (int, error)) {
		once := func() {
			b.StopTimer()
			db, repo := openRepoWith(b, pageRemote(srv.URL))
			b.StartTimer()
			if n, err := pull(db, repo); err != nil || n != pulled {
				b.Fatal(n, err)
			}
		}
		once()
		for b.Loop() {
			once()
		}
		b.ReportMetric(float64(pulled*b.N)/b.Elapsed().Seconds(), "records/s")
	}
	b.Run("syncgen", func(b *testing.B) {
		run(b, func(_ *runtime.DB, repo *model.Repository) (int, error) {
			rep, err := repo.Sync(ctx)
			return rep.Models["Item"].Pulled, err
		})
	})
	// raw: fetch, decode, and one prepared upsert transaction per page.
	b.Run("raw", func(b *testing.B) {
		run(b, func(db *runtime.DB, _ *model.Repository) (int, error) {
			n := 0
			err := fetchPages(ctx, srv.URL, func(items []model.Item) error {
				tx, err := db.Writer().BeginTx(ctx, nil)
				if err != nil {
					return err
				}
				defer tx.Rollback()
				stmt, err := tx.PrepareContext(ctx, rawUpsert)
				if err != nil {
					return err
				}
				for i := range items {
					if _, err := stmt.ExecContext(ctx, rawArgs(&items[i])...); err != nil {
						return err
					}
				}
				n += len(items)
				return tx.Commit()
			})
			return n, err
		})
	})
	// naive: what Brick's hydrate does: per record, read the local row, then upsert it
	// in a transaction of its own.
	b.Run("naive", func(b *testing.B) {
		run(b, func(db *runtime.DB, _ *model.Repository) (int, error) {
			n := 0
			err := fetchPages(ctx, srv.URL, func(items []model.Item) error {
				for i := range items {
					it := &items[i]
					tx, err := db.Writer().BeginTx(ctx, nil)
					if err != nil {
						return err
					}
					_, err = rawScan(tx.QueryRowContext(ctx, `SELECT `+rawColumns+` FROM "items" WHERE "id" = ?`, it.ID))
					if err != nil && err != sql.ErrNoRows {
						tx.Rollback()
						return err
					}
					if _, err := tx.ExecContext(ctx, rawUpsert, rawArgs(it)...); err != nil {
						tx.Rollback()
						return err
					}
					if err := tx.Commit(); err != nil {
						return err
					}
					n++
				}
				return nil
			})
			return n, err
		})
	})
}

// generatedServer starts the generated server over its own SQLite file.
func generatedServer(b *testing.B) *httptest.Server {
	b.Helper()
	db, err := runtime.OpenSQLite(filepath.Join(b.TempDir(), "server.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	s, err := model.NewServer(db)
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(s)
	b.Cleanup(func() { srv.Close(); s.Close() })
	return srv
}

// protocolBatch writes items to a protocol server with _batch, 100 a request.
func protocolBatch(ctx context.Context, url, keyPrefix string, items []*model.Item) error {
	for len(items) > 0 {
		n := min(len(items), 100)
		type op struct {
			Key    string      `json:"key"`
			Model  string      `json:"model"`
			Op     string      `json:"op"`
			ID     string      `json:"id"`
			Record *model.Item `json:"record"`
		}
		var req struct {
			Ops []op `json:"ops"`
		}
		for _, it := range items[:n] {
			req.Ops = append(req.Ops, op{Key: keyPrefix + it.ID, Model: "items", Op: "put", ID: it.ID, Record: it})
		}
		body, _ := json.Marshal(req)
		resp, err := http.Post(url+"/_batch", "application/json", bytes.NewReader(body))
		if err != nil {
			return err
		}
		var answer struct {
			Results []struct {
				Status int `json:"status"`
			} `json:"results"`
		}
		err = json.NewDecoder(resp.Body).Decode(&answer)
		resp.Body.Close()
		if err != nil {
			return err
		}
		for _, r := range answer.Results {
			if r.Status != http.StatusOK && r.Status != http.StatusCreated {
				return fmt.Errorf("batch write: status %d", r.Status)
			}
		}
		items = items[n:]
	}
	return nil
}

// putAll is the hand-written push: a plain REST PUT per record, stamped now, one after
// another, each answer read.
func putAll(ctx context.Context, url string, items []*model.Item) error {
	for _, it := range items {
		it.UpdatedAt = time.Now().UTC()
		body, err := json.Marshal(it)
		if err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, url+"/items/"+it.ID, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		var echo model.Item
		err = json.NewDecoder(resp.Body).Decode(&echo)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode >= 300 {
			return fmt.Errorf("put %s: %s", it.ID, resp.Status)
		}
	}
	return nil
}

// BenchmarkDeltaSync is one Sync of a client that holds 100,000 synced records, after 10
// of them changed on the server (protocol remote, generated server).
func BenchmarkDeltaSync(b *testing.B) {
	ctx := context.Background()
	srv := generatedServer(b)
	all := make([]*model.Item, pulled)
	for i := range all {
		all[i] = stamped(i)
	}
	if err := protocolBatch(ctx, srv.URL, "seed:", all); err != nil {
		b.Fatal(err)
	}
	_, repo := openRepoWith(b, remote.NewProtocol(srv.URL))
	if rep, err := repo.Sync(ctx); err != nil || rep.Models["Item"].Pulled != pulled {
		b.Fatal(rep, err)
	}
	round := 0
	for b.Loop() {
		b.StopTimer()
		round++
		changed := make([]*model.Item, 10)
		for i := range changed {
			changed[i] = stamped(i * (pulled / 10))
			changed[i].Name = fmt.Sprintf("changed %d", round)
		}
		if err := putAll(ctx, srv.URL, changed); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if rep, err := repo.Sync(ctx); err != nil || rep.Models["Item"].Pulled != 10 {
			b.Fatal(rep, err)
		}
	}
}

const pushed = 10_000

// The push benchmarks' remotes read nothing back, so Sync's pull is empty and the push
// alone is measured, as the hand-written loop only pushes.
type (
	pushOnlyREST     struct{ *remote.REST }
	pushOnlyProtocol struct{ *remote.Protocol }
)

func (pushOnlyREST) List(context.Context, *runtime.Endpoint, runtime.ListRequest) (*runtime.Page, error) {
	return &runtime.Page{}, nil
}

func (pushOnlyProtocol) Changes(context.Context, *runtime.Endpoint, string) (*runtime.Changes, error) {
	return &runtime.Changes{}, nil
}

// pushItem is item(i) under an id of its own in each round: every push creates.
func pushItem(round, i int) *model.Item {
	it := item(i)
	it.ID = fmt.Sprintf("r%d-%s", round, it.ID)
	return it
}

// BenchmarkPush sends 10,000 queued writes to the generated server: syncgen's outbox over
// the plain REST remote, a hand-written loop of PUTs, and syncgen over the protocol
// remote, which sends batches.
func BenchmarkPush(b *testing.B) {
	ctx := context.Background()
	srv := generatedServer(b)
	round := 0
	queue := func(b *testing.B, remote runtime.Remote) *model.Repository {
		b.StopTimer()
		defer b.StartTimer()
		round++
		_, repo := openRepoWith(b, remote)
		items := make([]*model.Item, pushed)
		for i := range items {
			items[i] = pushItem(round, i)
		}
		if err := repo.Items.UpsertMany(ctx, items); err != nil {
			b.Fatal(err)
		}
		return repo
	}
	perRecord := func(b *testing.B) {
		b.ReportMetric(float64(pushed*b.N)/b.Elapsed().Seconds(), "records/s")
	}
	push := func(b *testing.B, remote func() runtime.Remote) {
		for b.Loop() {
			repo := queue(b, remote())
			rep, err := repo.Sync(ctx)
			if err != nil || rep.Models["Item"].Pushed != pushed {
				b.Fatal(rep, err)
			}
		}
		perRecord(b)
	}
	b.Run("syncgen", func(b *testing.B) {
		push(b, func() runtime.Remote { return pushOnlyREST{remote.NewREST(srv.URL)} })
	})
	b.Run("raw", func(b *testing.B) {
		items := make([]*model.Item, pushed)
		for b.Loop() {
			b.StopTimer()
			round++
			for i := range items {
				items[i] = pushItem(round, i)
			}
			b.StartTimer()
			if err := putAll(ctx, srv.URL, items); err != nil {
				b.Fatal(err)
			}
		}
		perRecord(b)
	})
	b.Run("syncgen-batch", func(b *testing.B) {
		push(b, func() runtime.Remote { return pushOnlyProtocol{remote.NewProtocol(srv.URL)} })
	})
}

// BenchmarkFirstSyncMemory pulls 1,000,000 records into an empty database and reports the
// peak heap (live and garbage not yet collected, server included) while it runs.
func BenchmarkFirstSyncMemory(b *testing.B) {
	const n = 1_000_000
	ctx := context.Background()
	srv := pageServer(b, n, true)
	var peak atomic.Uint64
	for b.Loop() {
		b.StopTimer()
		_, repo := openRepoWith(b, pageRemote(srv.URL))
		stop := sampleHeap(&peak)
		b.StartTimer()
		rep, err := repo.Sync(ctx)
		stop()
		if err != nil || rep.Models["Item"].Pulled != n {
			b.Fatal(rep, err)
		}
	}
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
}

// sampleHeap records the largest heap size seen every millisecond into peak until stop
// is called.
func sampleHeap(peak *atomic.Uint64) (stop func()) {
	done, finished := make(chan struct{}), make(chan struct{})
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	go func() {
		defer close(finished)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() { close(done); <-finished }
}
