package bench

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/syncgen/syncgen/bench/assoc"
	"github.com/syncgen/syncgen/runtime"
)

const (
	eagerBooks   = 1_000
	eagerAuthors = 100
)

// openAssoc opens a migrated local-only repository of the assoc model holding 1,000 books
// by 100 authors, and a few books and authors beyond them, deleted.
func openAssoc(b *testing.B) (*runtime.DB, *assoc.Repository) {
	b.Helper()
	ctx := context.Background()
	db, err := runtime.OpenSQLite(filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	repo, err := assoc.NewRepository(db, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { repo.Close() })
	if err := repo.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	authors := make([]*assoc.Author, eagerAuthors)
	for i := range authors {
		authors[i] = &assoc.Author{ID: fmt.Sprintf("author-%04d", i), Name: fmt.Sprintf("author %d", i)}
	}
	books := make([]*assoc.Book, eagerBooks)
	for i := range books {
		books[i] = &assoc.Book{ID: fmt.Sprintf("book-%06d", i), Title: fmt.Sprintf("title %d", i),
			AuthorID: authors[i%eagerAuthors].ID, Pages: 100 + i}
	}
	if err := repo.Authors.UpsertMany(ctx, authors); err != nil {
		b.Fatal(err)
	}
	if err := repo.Books.UpsertMany(ctx, books); err != nil {
		b.Fatal(err)
	}
	return db, repo
}

// BenchmarkEagerLoad reads 1,000 books with their authors and reads each book's author's
// name: syncgen's FindWith (one query for the books, one for the authors); twoquery, the
// same two queries written by hand with sqlx; nplus1, the books and then one Get per
// book, as a loop over records would.
func BenchmarkEagerLoad(b *testing.B) {
	ctx := context.Background()
	check := func(b *testing.B, books, names int) {
		if books != eagerBooks || names != eagerBooks {
			b.Fatalf("%d books, %d authors' names, want %d", books, names, eagerBooks)
		}
	}
	b.Run("syncgen", func(b *testing.B) {
		_, repo := openAssoc(b)
		b.ReportAllocs()
		for b.Loop() {
			res, err := repo.Books.FindWith(ctx, assoc.BookQuery{}, assoc.BookRel.Author)
			if err != nil {
				b.Fatal(err)
			}
			names := 0
			for _, book := range res.Records {
				if a, ok := assoc.BookRel.Author.Of(res, book); ok && a.Name != "" {
					names++
				}
			}
			check(b, len(res.Records), names)
		}
		b.ReportMetric(float64(eagerBooks)*float64(b.N)/b.Elapsed().Seconds(), "books/s")
	})
	b.Run("twoquery", func(b *testing.B) {
		db, _ := openAssoc(b)
		r := db.Reader()
		b.ReportAllocs()
		for b.Loop() {
			books, byID, err := twoQueries(ctx, r)
			if err != nil {
				b.Fatal(err)
			}
			names := 0
			for _, book := range books {
				if a, ok := byID[book.AuthorID]; ok && a.Name != "" {
					names++
				}
			}
			check(b, len(books), names)
		}
		b.ReportMetric(float64(eagerBooks)*float64(b.N)/b.Elapsed().Seconds(), "books/s")
	})
	b.Run("nplus1", func(b *testing.B) {
		_, repo := openAssoc(b)
		b.ReportAllocs()
		for b.Loop() {
			books, err := repo.Books.Find(ctx, assoc.BookQuery{}, runtime.LocalOnly)
			if err != nil {
				b.Fatal(err)
			}
			names := 0
			for _, book := range books {
				a, err := repo.Authors.Get(ctx, book.AuthorID, runtime.LocalOnly)
				if err != nil {
					b.Fatal(err)
				}
				if a.Name != "" {
					names++
				}
			}
			check(b, len(books), names)
		}
		b.ReportMetric(float64(eagerBooks)*float64(b.N)/b.Elapsed().Seconds(), "books/s")
	})
}

// twoQueries is the hand-written baseline: the live books, then their authors in one IN
// query (sqlx.In), scanned with Scan.
func twoQueries(ctx context.Context, db *sqlx.DB) ([]assoc.Book, map[string]assoc.Author, error) {
	rows, err := db.QueryContext(ctx, `SELECT id, title, author_id, pages, updated_at, deleted_at FROM books WHERE deleted_at IS NULL`)
	if err != nil {
		return nil, nil, err
	}
	var books []assoc.Book
	seen := map[string]bool{}
	var ids []string
	for rows.Next() {
		var bk assoc.Book
		var updated string
		var deleted sql.NullString
		if err := rows.Scan(&bk.ID, &bk.Title, &bk.AuthorID, &bk.Pages, &updated, &deleted); err != nil {
			rows.Close()
			return nil, nil, err
		}
		if bk.UpdatedAt, err = time.Parse(runtime.TimeLayout, updated); err != nil {
			rows.Close()
			return nil, nil, err
		}
		books = append(books, bk)
		if !seen[bk.AuthorID] {
			seen[bk.AuthorID] = true
			ids = append(ids, bk.AuthorID)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	query, args, err := sqlx.In(`SELECT id, name, updated_at, deleted_at FROM authors WHERE deleted_at IS NULL AND id IN (?)`, ids)
	if err != nil {
		return nil, nil, err
	}
	arows, err := db.QueryContext(ctx, db.Rebind(query), args...)
	if err != nil {
		return nil, nil, err
	}
	defer arows.Close()
	byID := make(map[string]assoc.Author, len(ids))
	for arows.Next() {
		var a assoc.Author
		var updated string
		var deleted sql.NullString
		if err := arows.Scan(&a.ID, &a.Name, &updated, &deleted); err != nil {
			return nil, nil, err
		}
		if a.UpdatedAt, err = time.Parse(runtime.TimeLayout, updated); err != nil {
			return nil, nil, err
		}
		byID[a.ID] = a
	}
	return books, byID, arows.Err()
}
