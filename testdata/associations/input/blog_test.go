package blog

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/syncgen/syncgen/runtime"
)

// TestRelations runs the generated relations against SQLite: loads both ways, a condition
// across a nullable ref, a self-ref cascade and a restrict.
func TestRelations(t *testing.T) {
	ctx := context.Background()
	db, err := runtime.OpenSQLite(filepath.Join(t.TempDir(), "app.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	repo, err := NewRepository(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	if err := repo.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	ann := "ann"
	err = errors.Join(
		repo.Authors.UpsertMany(ctx, []*Author{{ID: "ann", Name: "Ann"}, {ID: "bob", Name: "Bob"}}),
		repo.Tags.Upsert(ctx, &Tag{ID: "go"}),
		repo.Posts.UpsertMany(ctx, []*Post{{ID: "p1", AuthorID: &ann, EditorID: "bob", TagIDs: []string{"go"}}, {ID: "p2", EditorID: "ann"}}),
		repo.Comments.Upsert(ctx, &Comment{ID: "c1", PostID: "p1", AuthorID: "bob"}),
		repo.Categories.UpsertMany(ctx, []*Category{{ID: "root"}, {ID: "child", ParentID: "root"}, {ID: "leaf", ParentID: "child"}}),
	)
	if err != nil {
		t.Fatal(err)
	}
	res, err := repo.Posts.FindWith(ctx, PostQuery{}.Where(PostRel.Author.Has(AuthorFields.Name.Eq("Ann"))),
		PostRel.Author, PostRel.Editor, PostRel.Tags, PostRel.Authors)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Records) != 1 {
		t.Fatalf("posts by Ann: %+v", res.Records)
	}
	p := res.Records[0]
	a, _ := PostRel.Author.Of(res, p)
	e, _ := PostRel.Editor.Of(res, p)
	if a.ID != "ann" || e.ID != "bob" || len(PostRel.Tags.Of(res, p)) != 1 || len(PostRel.Authors.Of(res, p)) != 1 {
		t.Fatalf("p1's relations: %+v %+v %+v %+v", a, e, PostRel.Tags.Of(res, p), PostRel.Authors.Of(res, p))
	}
	ares, err := repo.Authors.FindWith(ctx, AuthorQuery{}.OrderBy(AuthorFields.ID.Asc()), AuthorRel.PostsByEditorID)
	if err != nil {
		t.Fatal(err)
	}
	if got := AuthorRel.PostsByEditorID.Of(ares, ares.Records[0]); len(got) != 1 || got[0].ID != "p2" {
		t.Fatalf("posts Ann edits: %+v", got)
	}
	if err := repo.Authors.Delete(ctx, "ann"); !errors.Is(err, runtime.ErrRestricted) {
		t.Fatalf("deleting an author of a post: %v", err)
	}
	if err := repo.Categories.Delete(ctx, "root"); err != nil {
		t.Fatal(err)
	}
	if n, err := repo.Categories.Count(ctx, CategoryQuery{}); n != 0 || err != nil {
		t.Fatalf("after deleting the root: %d categories, %v", n, err)
	}
}
