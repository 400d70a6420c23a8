package names

// A and B share a table, a path and a repository name.
type A struct {
	ID string `sync:"unique"`
}

//syncgen:table as
//syncgen:name As
type B struct {
	ID string `sync:"unique"`
}

//syncgen:name Sync
//syncgen:path v1/cs
type C struct {
	ID string `sync:"unique"`
}

//syncgen:colour blue
//syncgen:table 9lives
type D struct {
	ID  string `sync:"unique" json:"id"`
	Id2 string `json:"id"`
}

// E has sync tags but no unique field.
type E struct {
	Name string `sync:"index"`
}
