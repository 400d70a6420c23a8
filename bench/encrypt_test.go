package bench

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/syncgen/syncgen/bench/model"
	"github.com/syncgen/syncgen/runtime"
)

// BenchmarkEncrypted runs Get, Find and UpsertMany on an encrypted database (WithKey)
// and, as the baseline in the same run, on a plain one. Only the pure-Go driver
// encrypts: run it with -tags syncgen_purego (or CGO_ENABLED=0).
func BenchmarkEncrypted(b *testing.B) {
	key, err := runtime.NewKey()
	if err != nil {
		b.Fatal(err)
	}
	for _, kind := range []struct {
		name string
		opts []runtime.SQLiteOption
	}{
		{"plain", nil},
		{"encrypted", []runtime.SQLiteOption{runtime.WithKey(func(context.Context) ([]byte, error) { return key, nil })}},
	} {
		b.Run(kind.name, func(b *testing.B) {
			open := func(b *testing.B) *model.Repository {
				db, err := runtime.OpenSQLite(filepath.Join(b.TempDir(), "bench.db"), kind.opts...)
				if err != nil {
					b.Skip(err) // ErrEncryptionUnsupported on mattn/go-sqlite3
				}
				b.Cleanup(func() { db.Close() })
				repo, err := model.NewRepository(db, nil)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { repo.Close() })
				if err := repo.Migrate(context.Background()); err != nil {
					b.Fatal(err)
				}
				return repo
			}
			ctx := context.Background()
			b.Run("Get", func(b *testing.B) {
				repo := open(b)
				seed(b, repo, seeded)
				for i := 0; b.Loop(); i++ {
					if _, err := repo.Items.Get(ctx, item(i%seeded).ID); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("Find", func(b *testing.B) {
				repo := open(b)
				seed(b, repo, seeded)
				q := model.ItemQuery{}.Where(model.ItemFields.Category.Eq("b")).OrderBy(model.ItemFields.Price.Asc()).Limit(100)
				for b.Loop() {
					if items, err := repo.Items.Find(ctx, q); err != nil || len(items) != 100 {
						b.Fatal(len(items), err)
					}
				}
			})
			b.Run("UpsertMany", func(b *testing.B) {
				const n = 100_000
				items := make([]*model.Item, n)
				for i := range items {
					items[i] = item(i)
				}
				repo := open(b)
				for b.Loop() {
					if err := repo.Items.UpsertMany(ctx, items); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
			})
		})
	}
}
