package bad

// Book's refs: each mistake is reported at its tag.
type Book struct {
	ID       string  `sync:"unique"`
	AuthorID string  `sync:"onDelete=cascade"`
	EditorID string  `sync:"ref=Author,onDelete=nullify"`
	Ratings  []int   `sync:"ref=Author"`
	Score    float64 `sync:"ref=Author,onDelete=restrict"`
}

type Author struct {
	ID string `sync:"unique"`
}
