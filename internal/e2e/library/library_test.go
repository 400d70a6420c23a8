package library_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/syncgen/syncgen/internal/e2e/library"
	"github.com/syncgen/syncgen/internal/testmod"
	"github.com/syncgen/syncgen/remote"
	"github.com/syncgen/syncgen/runtime"
)

func openRepo(t *testing.T, r runtime.Remote) *library.Repository {
	t.Helper()
	db, err := runtime.OpenSQLite(filepath.Join(t.TempDir(), "app.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	repo, err := library.NewRepository(db, r)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { repo.Close() })
	if err := repo.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return repo
}

// seed writes authors a0…a(n-1) named "Tolstoy 0", "Austen 1", … each with two books,
// books labelled l0 (even) or l1 (odd), and every book of a0 tagged t0.
func seed(t *testing.T, repo *library.Repository, authors int) {
	t.Helper()
	ctx := context.Background()
	names := []string{"Tolstoy", "Austen", "Twain"}
	var as []*library.Author
	var bs []*library.Book
	for i := range authors {
		as = append(as, &library.Author{ID: fmt.Sprintf("a%d", i), Name: fmt.Sprintf("%s %d", names[i%3], i)})
		for j := range 2 {
			bs = append(bs, &library.Book{ID: fmt.Sprintf("b%d-%d", i, j), Title: fmt.Sprintf("book %d-%d", i, j),
				AuthorID: fmt.Sprintf("a%d", i), LabelIDs: []string{fmt.Sprintf("l%d", j)}})
		}
	}
	err := repo.Tx(ctx, func(tx *library.Tx) error {
		return errors.Join(
			tx.Authors.UpsertMany(ctx, as),
			tx.Books.UpsertMany(ctx, bs),
			tx.Labels.UpsertMany(ctx, []*library.Label{{ID: "l0", Name: "even"}, {ID: "l1", Name: "odd"}}),
			tx.Tags.Upsert(ctx, &library.Tag{ID: "t0", Name: "classic"}),
			tx.BookTags.UpsertMany(ctx, []*library.BookTag{{ID: "bt0", BookID: "b0-0", TagID: "t0"}, {ID: "bt1", BookID: "b0-1", TagID: "t0"}}),
		)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestFindWithLoadsEveryRelation(t *testing.T) {
	ctx := context.Background()
	repo := openRepo(t, nil)
	seed(t, repo, 3)
	// A book whose author is absent, and one whose ref is empty.
	if err := repo.Books.UpsertMany(ctx, []*library.Book{{ID: "orphan", AuthorID: "nobody"}, {ID: "anon"}}); err != nil {
		t.Fatal(err)
	}

	res, err := repo.Books.FindWith(ctx, library.BookQuery{}, library.BookRel.Author, library.BookRel.Labels, library.BookRel.Tags)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Records) != 8 {
		t.Fatalf("%d books, want 8", len(res.Records))
	}
	for _, b := range res.Records {
		a, ok := library.BookRel.Author.Of(res, b)
		switch {
		case b.ID == "orphan" || b.ID == "anon":
			if ok {
				t.Errorf("%s: author %+v, want none", b.ID, a)
			}
		case !ok || a.ID != b.AuthorID:
			t.Errorf("%s: author %+v %v, want %s", b.ID, a, ok, b.AuthorID)
		}
		labels := library.BookRel.Labels.Of(res, b)
		if len(labels) != len(b.LabelIDs) || len(labels) > 0 && labels[0].ID != b.LabelIDs[0] {
			t.Errorf("%s: labels %+v, want %v", b.ID, labels, b.LabelIDs)
		}
		tags := library.BookRel.Tags.Of(res, b)
		if want := b.AuthorID == "a0"; want != (len(tags) == 1 && tags[0].ID == "t0") {
			t.Errorf("%s: tags %+v", b.ID, tags)
		}
	}

	// The way back: an author's books, a label's books, a tag's books through the links.
	ares, err := repo.Authors.FindWith(ctx, library.AuthorQuery{}, library.AuthorRel.Books)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range ares.Records {
		books := library.AuthorRel.Books.Of(ares, a)
		if len(books) != 2 || books[0].ID != "b"+a.ID[1:]+"-0" || books[0].AuthorID != a.ID {
			t.Errorf("%s: books %+v", a.ID, books)
		}
	}
	lres, err := repo.Labels.FindWith(ctx, library.LabelQuery{}.Where(library.LabelFields.ID.Eq("l1")), library.LabelRel.Books)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(library.LabelRel.Books.Of(lres, lres.Records[0])); !slices.Equal(got, []string{"b0-1", "b1-1", "b2-1"}) {
		t.Errorf("label l1's books: %v", got)
	}
	tres, err := repo.Tags.FindWith(ctx, library.TagQuery{}, library.TagRel.Books)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(library.TagRel.Books.Of(tres, tres.Records[0])); !slices.Equal(got, []string{"b0-0", "b0-1"}) {
		t.Errorf("tag t0's books: %v", got)
	}

	// A deleted author is not loaded; nor is a deleted link's tag.
	if err := repo.BookTags.Delete(ctx, "bt0"); err != nil {
		t.Fatal(err)
	}
	res, err = repo.Books.FindWith(ctx, library.BookQuery{}.Where(library.BookFields.ID.Eq("b0-0")), library.BookRel.Tags)
	if err != nil {
		t.Fatal(err)
	}
	if tags := library.BookRel.Tags.Of(res, res.Records[0]); len(tags) != 0 {
		t.Errorf("a deleted link still loads its tag: %+v", tags)
	}
}

func ids[T interface{ library.Book | library.Author }](vs []T) []string {
	var out []string
	for _, v := range vs {
		switch v := any(v).(type) {
		case library.Book:
			out = append(out, v.ID)
		case library.Author:
			out = append(out, v.ID)
		}
	}
	return out
}

func TestHasQueriesAcrossRelations(t *testing.T) {
	ctx := context.Background()
	repo := openRepo(t, nil)
	seed(t, repo, 6)
	B, A := library.BookFields, library.AuthorFields
	cases := []struct {
		name string
		q    library.BookQuery
		want []string
	}{
		{"author's name starts with T", library.BookQuery{}.Where(library.BookRel.Author.Has(A.Name.HasPrefix("T"))).OrderBy(B.ID.Asc()),
			[]string{"b0-0", "b0-1", "b2-0", "b2-1", "b3-0", "b3-1", "b5-0", "b5-1"}},
		{"with another condition", library.BookQuery{}.Where(library.BookRel.Author.Has(A.Name.HasPrefix("Tw")), B.Title.Like("%-1")),
			[]string{"b2-1", "b5-1"}},
		{"labelled odd ([]string ref)", library.BookQuery{}.Where(library.BookRel.Labels.Has(library.LabelFields.Name.Eq("odd")), B.AuthorID.Eq("a1")),
			[]string{"b1-1"}},
		{"tagged classic (through a join model)", library.BookQuery{}.Where(library.BookRel.Tags.Has(library.TagFields.Name.Eq("classic"))),
			[]string{"b0-0", "b0-1"}},
		{"any link at all", library.BookQuery{}.Where(library.BookRel.BookTags.Has()), []string{"b0-0", "b0-1"}},
		{"in an Or", library.BookQuery{}.Where(library.BookOr(library.BookRel.Tags.Has(), B.ID.Eq("b4-0"))),
			[]string{"b0-0", "b0-1", "b4-0"}},
	}
	for _, c := range cases {
		got, err := repo.Books.Find(ctx, c.q.OrderBy(B.ID.Asc()))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if g := ids(got); !slices.Equal(g, c.want) {
			t.Errorf("%s: %v, want %v", c.name, g, c.want)
		}
	}
	// The way back, nested: authors with a book tagged classic; a value with quotes is a
	// parameter.
	got, err := repo.Authors.Find(ctx, library.AuthorQuery{}.Where(
		library.AuthorRel.Books.Has(library.BookRel.Tags.Has(library.TagFields.Name.In("classic", `x'); DROP TABLE books; --`)))))
	if err != nil {
		t.Fatal(err)
	}
	if g := ids(got); !slices.Equal(g, []string{"a0"}) {
		t.Errorf("authors of classic books: %v", g)
	}
	// A deleted author no longer matches.
	if err := repo.Authors.Delete(ctx, "a0", runtime.LocalOnly); err != nil {
		t.Fatal(err)
	}
	if n, err := repo.Books.Count(ctx, library.BookQuery{}.Where(library.BookRel.Author.Has(A.ID.Eq("a0")))); err != nil || n != 0 {
		t.Errorf("books of a deleted author: %d, %v", n, err)
	}
}

// TestInTakesAnyNumberOfIDs: 40,000 ids are more parameters than SQLite takes in one
// statement; In sends them as one.
func TestInTakesAnyNumberOfIDs(t *testing.T) {
	ctx := context.Background()
	repo := openRepo(t, nil)
	seed(t, repo, 10)
	list := make([]string, 40_000)
	for i := range list {
		list[i] = fmt.Sprintf("b%d-%d", i/2, i%2)
	}
	n, err := repo.Books.Count(ctx, library.BookQuery{}.Where(library.BookFields.ID.In(list...)))
	if err != nil || n != 20 {
		t.Fatalf("In with 40,000 ids: %d, %v", n, err)
	}
	n, err = repo.Books.Count(ctx, library.BookQuery{}.Where(library.BookFields.ID.NotIn(list[2:]...)))
	if err != nil || n != 2 {
		t.Fatalf("NotIn with 39,998 ids: %d, %v", n, err)
	}
	// Loading relations of as many records is one query each too.
	var many []*library.Book
	for i := range 40_000 {
		many = append(many, &library.Book{ID: fmt.Sprintf("m%05d", i), AuthorID: fmt.Sprintf("a%d", i%10)})
	}
	if err := repo.Books.UpsertMany(ctx, many, runtime.LocalOnly); err != nil {
		t.Fatal(err)
	}
	res, err := repo.Books.FindWith(ctx, library.BookQuery{}, library.BookRel.Author)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range res.Records {
		if a, ok := library.BookRel.Author.Of(res, b); !ok || a.ID != b.AuthorID {
			t.Fatalf("%s: author %+v", b.ID, a)
		}
	}
	ares, err := repo.Authors.FindWith(ctx, library.AuthorQuery{}, library.AuthorRel.Books)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(library.AuthorRel.Books.Of(ares, ares.Records[3])); got != 4_002 {
		t.Fatalf("a3 has %d books, want 4002", got)
	}
}

func TestSubscribeWithFiresOnlyWhenTheAnswerChanges(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	repo := openRepo(t, nil)
	seed(t, repo, 3)
	q := library.BookQuery{}.Where(library.BookFields.AuthorID.Eq("a1"))
	sub := repo.Books.SubscribeWith(ctx, q, library.BookRel.Author)
	plain := repo.Books.Subscribe(ctx, q)
	next := func(what string) *runtime.Loaded[library.Book] {
		t.Helper()
		select {
		case res := <-sub:
			return res
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no update", what)
			return nil
		}
	}
	quiet := func(what string) {
		t.Helper()
		select {
		case res := <-sub:
			t.Fatalf("%s: an update with nothing changed: %+v", what, res.Records)
		case res := <-plain:
			t.Fatalf("%s: Subscribe sent an unchanged result: %+v", what, res)
		case <-time.After(200 * time.Millisecond):
		}
	}
	first := next("first")
	<-plain
	if a, _ := library.BookRel.Author.Of(first, first.Records[0]); a.Name != "Austen 1" {
		t.Fatalf("first: author %+v", a)
	}

	// Writes outside the answer: another author's book, another author.
	if err := repo.Books.Upsert(ctx, &library.Book{ID: "b0-0", Title: "renamed", AuthorID: "a0"}); err != nil {
		t.Fatal(err)
	}
	if err := repo.Authors.Upsert(ctx, &library.Author{ID: "a2", Name: "Twain again"}); err != nil {
		t.Fatal(err)
	}
	quiet("writes outside the query")

	// The related author changes: the loaded answer changes, the plain one does not.
	if err := repo.Authors.Upsert(ctx, &library.Author{ID: "a1", Name: "Jane Austen"}); err != nil {
		t.Fatal(err)
	}
	res := next("author renamed")
	if a, _ := library.BookRel.Author.Of(res, res.Records[0]); a.Name != "Jane Austen" {
		t.Fatalf("after the rename: author %+v", a)
	}
	select {
	case got := <-plain:
		t.Fatalf("Subscribe of books fired for an author's rename: %+v", got)
	case <-time.After(200 * time.Millisecond):
	}
}

// TestDeleteRules: onDelete=cascade deletes what points to a record, in one transaction,
// each delete queued and synced; onDelete=restrict refuses with a typed error.
func TestDeleteRules(t *testing.T) {
	ctx := context.Background()
	db, err := runtime.OpenSQLite(filepath.Join(t.TempDir(), "server.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	srv, err := library.NewServer(db)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	a := openRepo(t, remote.NewProtocol(hs.URL))
	b := openRepo(t, remote.NewProtocol(hs.URL))
	seed(t, a, 2)
	if _, err := a.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}

	// Restrict: t0 is linked to two books.
	err = a.Tags.Delete(ctx, "t0")
	var re *runtime.RestrictError
	if !errors.As(err, &re) || !errors.Is(err, runtime.ErrRestricted) || re.By != "BookTag" || !slices.Equal(re.IDs, []string{"bt0", "bt1"}) {
		t.Fatalf("deleting a linked tag: %v", err)
	}
	if _, err := a.Tags.Get(ctx, "t0"); err != nil {
		t.Fatalf("the refused delete deleted: %v", err)
	}
	if err := a.Tags.Delete(ctx, "t0", runtime.RequireRemote); !errors.Is(err, runtime.ErrRestricted) {
		t.Fatalf("deleting a linked tag with RequireRemote: %v", err)
	}

	// Cascade: a0 → its books → their links, all in one transaction and all queued.
	before := a.Status().Pending
	if err := a.Authors.Delete(ctx, "a0"); err != nil {
		t.Fatal(err)
	}
	if got := a.Status().Pending - before; got != 5 {
		t.Errorf("%d deletes queued, want 5 (the author, two books, two links)", got)
	}
	for _, c := range []struct {
		n    func() (int, error)
		want int
	}{
		{func() (int, error) { return a.Books.Count(ctx, library.BookQuery{}) }, 2},
		{func() (int, error) { return a.BookTags.Count(ctx, library.BookTagQuery{}) }, 0},
		{func() (int, error) { return a.Tags.Count(ctx, library.TagQuery{}) }, 1},
	} {
		if n, err := c.n(); err != nil || n != c.want {
			t.Errorf("after the cascade: %d, %v; want %d", n, err, c.want)
		}
	}
	// Now nothing links t0: it goes.
	if err := a.Tags.Delete(ctx, "t0"); err != nil {
		t.Fatal(err)
	}

	// Synced: the other client sees every cascaded delete.
	if _, err := a.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	books, err := b.Books.Find(ctx, library.BookQuery{}.OrderBy(library.BookFields.ID.Asc()), runtime.LocalOnly)
	if err != nil {
		t.Fatal(err)
	}
	if g := ids(books); !slices.Equal(g, []string{"b1-0", "b1-1"}) {
		t.Errorf("books on the other client: %v", g)
	}
	if n, _ := b.BookTags.Count(ctx, library.BookTagQuery{}); n != 0 {
		t.Errorf("links on the other client: %d", n)
	}

	// LocalOnly cascades without queueing.
	before = a.Status().Pending
	if err := a.Authors.Delete(ctx, "a1", runtime.LocalOnly); err != nil {
		t.Fatal(err)
	}
	if n, _ := a.Books.Count(ctx, library.BookQuery{}); n != 0 || a.Status().Pending != before {
		t.Errorf("LocalOnly cascade: %d books left, %d queued", n, a.Status().Pending-before)
	}
}

// TestRelationsOfAnotherModelDoNotCompile: a relation is typed by its owner and its
// target, so one of another model is a compile error in a query, a FindWith or a Has.
func TestRelationsOfAnotherModelDoNotCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a package")
	}
	dir, err := os.MkdirTemp(".", "_compilecheck") // inside the module, to import its internal package
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	testmod.Write(t, dir, map[string]string{"wrong.go": `package wrong

import (
	"context"

	"github.com/syncgen/syncgen/internal/e2e/library"
	"github.com/syncgen/syncgen/runtime"
)

func wrong(ctx context.Context, r *library.Repository) {
	r.Books.FindWith(ctx, library.BookQuery{}, library.AuthorRel.Books)                        // line 11
	_ = library.BookQuery{}.Where(library.AuthorRel.Books.Has())                               // line 12
	_ = library.BookRel.Author.Has(library.BookFields.ID.Eq("x"))                              // line 13
	_, _ = library.BookRel.Author.Of(&runtime.Loaded[library.Author]{}, library.Book{})        // line 14
}
`})
	out, err := testmod.GoErr(".", "build", "./"+filepath.Base(dir))
	if err == nil {
		t.Fatal("a relation of another model compiled")
	}
	for _, line := range []string{"wrong.go:11:", "wrong.go:12:", "wrong.go:13:", "wrong.go:14:"} {
		if !strings.Contains(out, line) {
			t.Errorf("no compile error at %s:\n%s", line, out)
		}
	}
}
