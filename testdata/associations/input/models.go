package blog

import "time"

// Author is pointed to twice by Post: its reverse relations take the field's name.
type Author struct {
	ID   string `json:"id" sync:"unique"`
	Name string `json:"name"`
}

// Post has a nullable ref, a second ref to the same model, and a list of ids.
type Post struct {
	ID        string     `json:"id" sync:"unique"`
	AuthorID  *string    `json:"authorId" sync:"ref=Author,onDelete=restrict"`
	EditorID  string     `json:"editorId" sync:"ref=Author"`
	TagIDs    []string   `json:"tagIds" sync:"ref=Tag"`
	UpdatedAt time.Time  `json:"updatedAt" sync:"updatedAt"`
	DeletedAt *time.Time `json:"deletedAt,omitempty" sync:"deletedAt"`
}

// Tag is listed by posts.
type Tag struct {
	ID string `json:"id" sync:"unique"`
}

// Comment is a join model between posts and authors; it goes with its post.
type Comment struct {
	ID       string `json:"id" sync:"unique"`
	PostID   string `json:"postId" sync:"ref=Post,onDelete=cascade"`
	AuthorID string `json:"authorId" sync:"ref=Author"`
}

// Category points to itself.
type Category struct {
	ID       string `json:"id" sync:"unique"`
	ParentID string `json:"parentId" sync:"ref=Category,onDelete=cascade"`
}
