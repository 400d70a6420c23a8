package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncgen/syncgen/bench/model"
	"github.com/syncgen/syncgen/internal/testmod"
	"github.com/syncgen/syncgen/remote"
	"github.com/syncgen/syncgen/runtime"
	"github.com/syncgen/syncgen/server"
)

// loadRecords is how many records each load client owns (at least one a write of its
// batch): its first writes create them, the later ones update them in turn, each with
// the version the last answer gave.
func loadRecords(perOp int) int { return max(16, perOp) }

// loadBackend opens the server's database for one run.
type loadBackend func(b *testing.B) *runtime.DB

// sqliteLoad is the server on SQLite with OpenSQLite's defaults (WAL, synchronous=FULL)
// plus opts.
func sqliteLoad(opts ...runtime.SQLiteOption) loadBackend {
	return func(b *testing.B) *runtime.DB {
		db, err := runtime.OpenSQLite(filepath.Join(b.TempDir(), "server.db"), opts...)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		return db
	}
}

// postgresLoad is the server on a new database of this process's throwaway PostgreSQL
// cluster with its durable defaults (fsync, synchronous_commit=on), params added to the
// DSN (run-time parameters such as synchronous_commit=off) and pool applied to the pool.
func postgresLoad(params string, pool func(*runtime.DB)) loadBackend {
	return func(b *testing.B) *runtime.DB {
		dsn := testmod.DurablePostgres(b)
		if params != "" {
			dsn += "&" + params // DurablePostgres's DSN is a URL with a query
		}
		db, err := server.OpenPostgres(dsn)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		if pool != nil {
			pool(db)
		}
		return db
	}
}

// loadWrite performs op n of client c: perOp writes, in a batch when more than one.
type loadWrite func(ctx context.Context, c, n int) error

// runLoad runs b.N acknowledged writes, perOp at a time (rounded up to whole ops),
// spread over clients goroutines that each call write for their next op as soon as the
// last one answered, and reports writes/s and the latency percentiles of the writes (a
// write in a batch waits for its batch).
func runLoad(b *testing.B, clients, perOp int, write loadWrite) {
	ctx := context.Background()
	// One op per client first, untimed: connections open, statements get planned.
	var wg sync.WaitGroup
	errs := make([]error, clients)
	for c := range clients {
		wg.Go(func() { errs[c] = write(ctx, c, 0) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}

	var left atomic.Int64
	left.Store(int64((b.N + perOp - 1) / perOp))
	lat := make([][]time.Duration, clients)
	b.ResetTimer()
	for c := range clients {
		wg.Go(func() {
			for n := 1; ; n++ {
				if left.Add(-1) < 0 {
					return
				}
				start := time.Now()
				if errs[c] = write(ctx, c, n); errs[c] != nil {
					left.Store(-1 << 40) // stop the others
					return
				}
				d := time.Since(start)
				for range perOp {
					lat[c] = append(lat[c], d)
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) float64 {
		i := min(len(all)-1, int(float64(len(all))*p))
		return float64(all[i]) / float64(time.Millisecond)
	}
	b.ReportMetric(float64(len(all))/b.Elapsed().Seconds(), "writes/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// syncgenLoad writes through the generated server on db: client c is a protocol remote
// of its own (its own HTTP connections, as separate devices have), writing its own
// records with PutStored, or WriteBatch when perOp > 1, each write with a fresh
// idempotency key and the version the server gave last.
func syncgenLoad(b *testing.B, db *runtime.DB, clients, perOp int) loadWrite {
	s, err := model.NewServer(db)
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(s)
	b.Cleanup(func() { srv.Close(); s.Close() })
	e := &runtime.Endpoint{Path: "/items"}
	remotes := make([]*remote.Protocol, clients)
	versions := make([][]string, clients) // by record, the version last acknowledged
	for c := range remotes {
		transport := http.DefaultTransport.(*http.Transport).Clone()
		b.Cleanup(transport.CloseIdleConnections)
		// Past the default 10 s timeout: a batch of 100 from each of 64 clients waits
		// longer than that on PostgreSQL today, and the benchmark measures how long.
		remotes[c] = remote.NewProtocol(srv.URL, remote.WithHTTPClient(&http.Client{Transport: transport}),
			remote.WithRequestTimeout(5*time.Minute))
		versions[c] = make([]string, loadRecords(perOp))
	}
	return func(ctx context.Context, c, n int) error {
		writes := make([]runtime.BatchWrite, perOp)
		for k := range writes {
			op := n*perOp + k
			it := loadItem(c, op, perOp)
			body, err := json.Marshal(it)
			if err != nil {
				return err
			}
			writes[k] = runtime.BatchWrite{Endpoint: e, Write: runtime.Write{ID: it.ID, Body: body,
				Key: fmt.Sprintf("load-%d:%d", c, op), Version: versions[c][op%loadRecords(perOp)]}}
		}
		if perOp == 1 {
			s, err := remotes[c].PutStored(ctx, e, writes[0].Write)
			if err != nil {
				return err
			}
			versions[c][n%loadRecords(perOp)] = s.Version
			return nil
		}
		res, err := remotes[c].WriteBatch(ctx, writes)
		if err != nil {
			return err
		}
		for k, r := range res {
			if r.Err != nil {
				return r.Err
			}
			versions[c][(n*perOp+k)%loadRecords(perOp)] = r.Stored.Version
		}
		return nil
	}
}

// loadItem is the record client c writes in its write n, perOp writes an op.
func loadItem(c, n, perOp int) *model.Item {
	it := item(n)
	it.ID = fmt.Sprintf("client-%03d-%03d", c, n%loadRecords(perOp))
	it.UpdatedAt = time.Now().UTC()
	return it
}

// rawLoad is the same writes by hand: each is one upsert of the record's row through
// database/sql, committed on its own (autocommit), on the same pool the server would
// use (SQLite: OpenSQLite's one writer connection; PostgreSQL: OpenPostgres's pool).
func rawLoad(b *testing.B, db *runtime.DB, perOp int) loadWrite {
	ctx := context.Background()
	w := db.Writer()
	if _, err := w.ExecContext(ctx, `CREATE TABLE raw_items (id TEXT PRIMARY KEY, name TEXT NOT NULL,
		category TEXT NOT NULL, price BIGINT NOT NULL, weight DOUBLE PRECISION NOT NULL, stock BIGINT NOT NULL,
		active BOOLEAN NOT NULL, updated_at TEXT NOT NULL, deleted_at TEXT)`); err != nil {
		b.Fatal(err)
	}
	upsert := w.Rebind(strings.Replace(rawUpsert, `INTO "items"`, `INTO raw_items`, 1))
	return func(ctx context.Context, c, n int) error {
		if perOp == 1 {
			_, err := w.ExecContext(ctx, upsert, rawArgs(loadItem(c, n, 1))...)
			return err
		}
		tx, err := w.BeginTxx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		for k := range perOp {
			if _, err := tx.ExecContext(ctx, upsert, rawArgs(loadItem(c, n*perOp+k, perOp))...); err != nil {
				return err
			}
		}
		return tx.Commit()
	}
}

// BenchmarkServerLoad is concurrent protocol clients writing to the generated server:
// one op is one write a client got acknowledged, so ns/op is the server's time per
// write at that concurrency; raw is the same upserts by hand through database/sql with
// the same durability and concurrency, the database's own ceiling. p50-ms and p99-ms
// are the writes' latencies. PostgreSQL is a throwaway cluster with its durable
// defaults, started by the benchmark. Run:
//
//	go test -run '^$' -bench 'ServerLoad$' -benchtime=2000x ./bench/
func BenchmarkServerLoad(b *testing.B) {
	backends := []struct {
		name string
		open loadBackend
	}{
		{"sqlite", sqliteLoad()},
		{"postgres", postgresLoad("", nil)},
	}
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			for _, clients := range []int{1, 8, 64} {
				b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
					b.Run("syncgen", func(b *testing.B) {
						runLoad(b, clients, 1, syncgenLoad(b, be.open(b), clients, 1))
					})
					b.Run("raw", func(b *testing.B) {
						runLoad(b, clients, 1, rawLoad(b, be.open(b), 1))
					})
				})
			}
		})
	}
}

// BenchmarkServerLoadSettings is BenchmarkServerLoad's 64 clients under the deployment
// settings docs/DEPLOY.md weighs: PostgreSQL's synchronous_commit, the server's SQLite
// synchronous, the PostgreSQL pool's size, and writes per batch. Each changes one thing
// from BenchmarkServerLoad/{sqlite,postgres}/clients=64, whose figures are the defaults
// (synchronous_commit=on, synchronous=FULL, pool unbounded with two idle, one write a
// request). A fixed count of writes: the default 1 s stops the slow cases after about
// 100, which is one or two writes a client, mostly connecting. Batches need more, so that
// every client sends several. Run:
//
//	go test -run '^$' -bench 'ServerLoadSettings/.*/(synchronous|pool)' -benchtime=2000x ./bench/
//	go test -run '^$' -bench 'ServerLoadSettings/.*/batch' -benchtime=12800x ./bench/
func BenchmarkServerLoadSettings(b *testing.B) {
	const clients = 64
	both := func(b *testing.B, open loadBackend, perOp int) {
		b.Run("syncgen", func(b *testing.B) {
			runLoad(b, clients, perOp, syncgenLoad(b, open(b), clients, perOp))
		})
		b.Run("raw", func(b *testing.B) {
			runLoad(b, clients, perOp, rawLoad(b, open(b), perOp))
		})
	}
	for _, v := range []string{"on", "off"} {
		b.Run("postgres/synchronous_commit="+v, func(b *testing.B) {
			both(b, postgresLoad("synchronous_commit="+v, nil), 1)
		})
	}
	for _, v := range []string{"FULL", "NORMAL"} {
		var opts []runtime.SQLiteOption
		if v == "NORMAL" {
			opts = append(opts, runtime.WithSynchronousNormal())
		}
		b.Run("sqlite/synchronous="+v, func(b *testing.B) { both(b, sqliteLoad(opts...), 1) })
	}
	// OpenPostgres's pool is database/sql's default: no bound on open connections, two
	// kept idle. pool=N bounds it to N and keeps them all.
	for _, n := range []int{4, 16, 64} {
		b.Run(fmt.Sprintf("postgres/pool=%d", n), func(b *testing.B) {
			both(b, postgresLoad("", func(db *runtime.DB) {
				db.Writer().SetMaxOpenConns(n)
				db.Writer().SetMaxIdleConns(n)
			}), 1)
		})
	}
	for _, be := range []struct {
		name string
		open loadBackend
	}{{"sqlite", sqliteLoad()}, {"postgres", postgresLoad("", nil)}} {
		for _, n := range []int{10, 100} {
			b.Run(fmt.Sprintf("%s/batch=%d", be.name, n), func(b *testing.B) { both(b, be.open, n) })
		}
	}
}
