package bench

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncgen/syncgen/internal/testmod"
	"github.com/syncgen/syncgen/remote"
	"github.com/syncgen/syncgen/runtime"
	"github.com/syncgen/syncgen/server"
	"github.com/syncgen/syncgen/sim/scoped"
)

// others is how many records of other users' scopes "among" puts on the server.
const others = 1_000_000

// BenchmarkScopedDelta is one user's Sync after 10 of their records changed: alone, with
// no other records on the server, and among a million records of other users (10 each),
// on SQLite. The goal of scopes filtered in SQL is among within 2x of alone.
func BenchmarkScopedDelta(b *testing.B) {
	b.Run("alone", func(b *testing.B) { scopedDelta(b, sqliteScoped(b, 0)) })
	b.Run("among", func(b *testing.B) { scopedDelta(b, sqliteScoped(b, others)) })
}

// BenchmarkScopedDeltaPostgres is BenchmarkScopedDelta on PostgreSQL.
func BenchmarkScopedDeltaPostgres(b *testing.B) {
	b.Run("alone", func(b *testing.B) { scopedDelta(b, postgresScoped(b, 0)) })
	b.Run("among", func(b *testing.B) { scopedDelta(b, postgresScoped(b, others)) })
}

// filledDir holds the SQLite databases filled once per run; TestMain removes it.
var filledDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if filledDir != "" {
		os.RemoveAll(filledDir)
	}
	os.Exit(code)
}

// sqliteFilled caches, per run, an open server database with n other users' records, so
// that the benchmark's rounds (b.N grows) do not fill it again. Rounds share it: each
// writes the same ten records of its user again.
var sqliteFilled sync.Map // n -> *runtime.DB

func sqliteScoped(b *testing.B, n int) *runtime.DB {
	b.Helper()
	if v, ok := sqliteFilled.Load(n); ok {
		return v.(*runtime.DB)
	}
	if filledDir == "" {
		dir, err := os.MkdirTemp("", "syncgen-bench-scoped-")
		if err != nil {
			b.Fatal(err)
		}
		filledDir = dir
	}
	db, err := runtime.OpenSQLite(filepath.Join(filledDir, fmt.Sprintf("scoped-%d.db", n)))
	if err == nil {
		err = fillScoped(db, n)
	}
	if err != nil {
		b.Fatal(err)
	}
	sqliteFilled.Store(n, db)
	return db
}

// postgresFilled caches the DSN of a database filled with n other users' records.
var postgresFilled sync.Map

func postgresScoped(b *testing.B, n int) *runtime.DB {
	b.Helper()
	if v, ok := postgresFilled.Load(n); ok {
		return v.(*runtime.DB)
	}
	// A database of the process's cluster outlives the benchmark that made it: testmod
	// removes the cluster when the process ends.
	db, err := server.OpenPostgres(testmod.Postgres(b))
	if err == nil {
		err = fillScoped(db, n)
	}
	if err == nil {
		_, err = db.Writer().Exec(`ANALYZE syncgen_server_records`)
	}
	if err != nil {
		b.Fatal(err)
	}
	postgresFilled.Store(n, db)
	return db
}

// fillScoped migrates the server's tables and stores n records of other users' teams,
// ten per team, directly in one transaction: the server's own rows, not HTTP writes.
func fillScoped(db *runtime.DB, n int) error {
	s, err := scoped.NewServer(db, server.WithLogger(slog.New(slog.DiscardHandler))) // only to migrate: no scopes needed
	if err != nil {
		return err
	}
	s.Close()
	tx, err := db.Writer().Beginx()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	const perInsert = 500
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for start := 0; start < n; start += perInsert {
		var q strings.Builder
		q.WriteString(`INSERT INTO syncgen_server_records (model, id, version, seq, updated_at, deleted, deleted_at, data, scope) VALUES `)
		var args []any
		for i := start; i < min(start+perInsert, n); i++ {
			if i > start {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, 1, ?, ?, 0, '', ?, ?)")
			id, team := fmt.Sprintf("other-%d", i), fmt.Sprintf("team-%d", i/10+1)
			stamp := at.Add(time.Duration(i) * time.Millisecond).Format(runtime.TimeLayout)
			data := fmt.Sprintf(`{"id":%q,"team":%q,"title":"someone else's task","updatedAt":%q}`, id, team, at.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano))
			args = append(args, "tasks", id, i+1, stamp, data, team)
		}
		if _, err := tx.Exec(tx.Rebind(q.String()), args...); err != nil {
			return fmt.Errorf("fill: %w", err)
		}
	}
	if _, err := tx.Exec(tx.Rebind(`UPDATE syncgen_server_counters SET value = ? WHERE name = 'seq'`), n); err != nil {
		return err
	}
	return tx.Commit()
}

// scopedDelta measures the reader's Sync after a writer of the same user changed 10 of
// the user's records (team-0), on a server over db. It reports the requests and the
// scopes hook's calls of each Sync too.
func scopedDelta(b *testing.B, db *runtime.DB) {
	ctx := context.Background()
	var hookCalls, requests atomic.Int64
	s, err := scoped.NewServer(db,
		server.WithAuthentication(func(r *http.Request) (string, error) { return "u0", nil }),
		server.WithScopes(func(ctx context.Context, user, model string) ([]string, error) {
			hookCalls.Add(1)
			return []string{"team-0"}, nil
		}))
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		s.ServeHTTP(w, r)
	}))
	b.Cleanup(func() { srv.Close(); s.Close() })
	open := func(name string) *scoped.Repository {
		cdb, err := runtime.OpenSQLite(filepath.Join(b.TempDir(), name+".db"))
		if err != nil {
			b.Fatal(err)
		}
		repo, err := scoped.NewRepository(cdb, remote.NewProtocol(srv.URL))
		if err == nil {
			err = repo.Migrate(ctx)
		}
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { repo.Close(); cdb.Close() })
		return repo
	}
	writer, reader := open("writer"), open("reader")
	for i := range 10 {
		if err := writer.Tasks.Upsert(ctx, &scoped.Task{ID: fmt.Sprintf("mine-%d", i), Team: "team-0", Title: "mine"}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := writer.Sync(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := reader.Sync(ctx); err != nil {
		b.Fatal(err)
	}
	if n, _ := reader.Tasks.Count(ctx, scoped.TaskQuery{}); n != 10 {
		b.Fatalf("the reader holds %d tasks, want its 10", n)
	}
	var calls, reqs int64
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		for k := range 10 {
			if err := writer.Tasks.Upsert(ctx, &scoped.Task{ID: fmt.Sprintf("mine-%d", k), Team: "team-0", Title: fmt.Sprintf("edit %d", i)}); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := writer.Sync(ctx); err != nil {
			b.Fatal(err)
		}
		c0, r0 := hookCalls.Load(), requests.Load()
		b.StartTimer()
		rep, err := reader.Sync(ctx)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		calls += hookCalls.Load() - c0
		reqs += requests.Load() - r0
		if rep.Total().Pulled != 10 && i == 0 {
			b.Fatalf("the reader pulled %d records, want the 10 changed", rep.Total().Pulled)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(reqs)/float64(b.N), "requests/op")
	b.ReportMetric(float64(calls)/float64(b.N), "hookcalls/op")
}
