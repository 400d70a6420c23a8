package model

import (
	"fmt"
	"slices"
	"testing"
)

func ref(name, target string, list bool) *Field {
	f := &Field{Name: name, Options: Options{Ref: target}, Type: Type{Kind: KindString}}
	if list {
		f.Type.Kind = KindJSON
	}
	return f
}

func testModel(name string, fields ...*Field) *Model {
	return &Model{Name: name, RepoName: RepoName(name), Fields: append([]*Field{{Name: "ID", Options: Options{Unique: true}}}, fields...)}
}

// TestRelations checks the relations and their names: forward without the id suffix,
// reverse after the source's repository name, through a join model, and the longer
// names that replace a name two relations of a model would share.
func TestRelations(t *testing.T) {
	p := &Package{Models: []*Model{
		testModel("Author"),
		testModel("Book", ref("AuthorID", "Author", false), ref("EditorID", "Author", false), ref("TagIDs", "Tag", true)),
		testModel("BookTag", ref("BookID", "Book", false), ref("TagID", "Tag", false)),
		testModel("Category", ref("Parent", "Category", false)),
		testModel("Tag"),
	}}
	got := map[string][]string{}
	for owner, rels := range p.Relations() {
		for _, r := range rels {
			got[owner] = append(got[owner], fmt.Sprintf("%s:%d:%s:%v", r.Name, r.Kind, r.Target.Name, r.Many))
		}
	}
	want := map[string][]string{
		"Author":   {"BooksByAuthorID:2:Book:true", "BooksByEditorID:2:Book:true"},
		"Book":     {"Author:1:Author:false", "BookTags:2:BookTag:true", "Editor:1:Author:false", "TagIDs:1:Tag:true", "TagsViaBookTag:3:Tag:true"},
		"BookTag":  {"Book:1:Book:false", "Tag:1:Tag:false"},
		"Category": {"Categories:2:Category:true", "Parent:1:Category:false"},
		"Tag":      {"BookTags:2:BookTag:true", "BooksByTagIDs:2:Book:true", "BooksViaBookTag:3:Book:true"},
	}
	for owner, w := range want {
		if !slices.Equal(got[owner], w) {
			t.Errorf("%s: %v\nwant %v", owner, got[owner], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("relations of %d models, want %d: %v", len(got), len(want), got)
	}
}
