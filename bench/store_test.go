package bench

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/syncgen/syncgen/bench/model"
	"github.com/syncgen/syncgen/remote"
	"github.com/syncgen/syncgen/runtime"
)

const seeded = 10_000

func item(i int) *model.Item {
	return &model.Item{
		ID:       fmt.Sprintf("item-%06d", i),
		Name:     fmt.Sprintf("name %d", i),
		Category: []string{"a", "b", "c", "d"}[i%4],
		Price:    int64(i * 10),
		Weight:   float64(i) / 3,
		Stock:    i % 100,
		Active:   i%2 == 0,
	}
}

// openRepo opens a migrated local-only repository in b's temp dir.
func openRepo(b *testing.B) (*runtime.DB, *model.Repository) {
	b.Helper()
	return openRepoWith(b, nil)
}

// openRepoWith opens a migrated repository with r in b's temp dir.
func openRepoWith(b *testing.B, r runtime.Remote) (*runtime.DB, *model.Repository) {
	b.Helper()
	db, err := runtime.OpenSQLite(filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	repo, err := model.NewRepository(db, r)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { repo.Close() })
	if err := repo.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	return db, repo
}

func seed(b *testing.B, repo *model.Repository, n int) {
	b.Helper()
	items := make([]*model.Item, n)
	for i := range items {
		items[i] = item(i)
	}
	if err := repo.Items.UpsertMany(context.Background(), items); err != nil {
		b.Fatal(err)
	}
}

// rawScan is the hand-written baseline's scan: database/sql with Scan, as a developer
// would write it against the same table.
func rawScan(row interface{ Scan(...any) error }) (model.Item, error) {
	var it model.Item
	var updated string
	var deleted sql.NullString
	err := row.Scan(&it.ID, &it.Name, &it.Category, &it.Price, &it.Weight, &it.Stock, &it.Active, &updated, &deleted)
	if err != nil {
		return it, err
	}
	it.UpdatedAt, err = time.Parse(runtime.TimeLayout, updated)
	if err == nil && deleted.Valid {
		t, perr := time.Parse(runtime.TimeLayout, deleted.String)
		it.DeletedAt, err = &t, perr
	}
	return it, err
}

const rawColumns = `"id", "name", "category", "price", "weight", "stock", "active", "updated_at", "deleted_at"`

func BenchmarkGet(b *testing.B) {
	ctx := context.Background()
	db, repo := openRepo(b)
	seed(b, repo, seeded)
	b.Run("syncgen", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := repo.Items.Get(ctx, item(i%seeded).ID); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw", func(b *testing.B) {
		q := `SELECT ` + rawColumns + ` FROM "items" WHERE "id" = ? AND "deleted_at" IS NULL`
		for i := 0; b.Loop(); i++ {
			if _, err := rawScan(db.Reader().QueryRowContext(ctx, q, item(i%seeded).ID)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkFind(b *testing.B) {
	ctx := context.Background()
	db, repo := openRepo(b)
	seed(b, repo, seeded)
	const page = 100
	b.Run("syncgen", func(b *testing.B) {
		q := model.ItemQuery{}.Where(model.ItemFields.Category.Eq("b")).OrderBy(model.ItemFields.Price.Asc()).Limit(page)
		for b.Loop() {
			items, err := repo.Items.Find(ctx, q)
			if err != nil || len(items) != page {
				b.Fatal(len(items), err)
			}
		}
	})
	b.Run("raw", func(b *testing.B) {
		q := `SELECT ` + rawColumns + ` FROM "items" WHERE "deleted_at" IS NULL AND ("category" = ?) ORDER BY "price" ASC LIMIT 100`
		for b.Loop() {
			rows, err := db.Reader().QueryContext(ctx, q, "b")
			if err != nil {
				b.Fatal(err)
			}
			var items []model.Item
			for rows.Next() {
				it, err := rawScan(rows)
				if err != nil {
					b.Fatal(err)
				}
				items = append(items, it)
			}
			rows.Close()
			if len(items) != page {
				b.Fatal(len(items))
			}
		}
	})
}

func BenchmarkUpsertMany(b *testing.B) {
	const n = 100_000
	ctx := context.Background()
	items := make([]*model.Item, n)
	for i := range items {
		items[i] = item(i)
	}
	b.Run("local", func(b *testing.B) {
		_, repo := openRepo(b)
		for b.Loop() {
			if err := repo.Items.UpsertMany(ctx, items); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
	})
	// With a remote, each write also queues (or, for a record already queued, updates)
	// its outbox entry in the same transaction. Nothing is pushed here.
	b.Run("synced", func(b *testing.B) {
		_, repo := openRepoWith(b, remote.NewREST("http://127.0.0.1:1"))
		for b.Loop() {
			if err := repo.Items.UpsertMany(ctx, items); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
	})
	b.Run("raw", func(b *testing.B) {
		db, _ := openRepo(b)
		q := `INSERT INTO "items" (` + rawColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT ("id") DO UPDATE SET "name" = excluded."name", "category" = excluded."category",
			"price" = excluded."price", "weight" = excluded."weight", "stock" = excluded."stock",
			"active" = excluded."active", "updated_at" = excluded."updated_at", "deleted_at" = excluded."deleted_at"`
		for b.Loop() {
			tx, err := db.Writer().BeginTx(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			stmt, err := tx.PrepareContext(ctx, q)
			if err != nil {
				b.Fatal(err)
			}
			for _, it := range items {
				now := time.Now().UTC().Format(runtime.TimeLayout)
				if _, err := stmt.ExecContext(ctx, it.ID, it.Name, it.Category, it.Price, it.Weight, it.Stock, it.Active, now, nil); err != nil {
					b.Fatal(err)
				}
			}
			stmt.Close()
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
	})
}
