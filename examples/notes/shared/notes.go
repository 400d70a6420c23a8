// Package shared holds the notes example's model: notes that belong to one scope, a
// user's own or a group's. syncgen generates the rest, the server included.
package shared

import "time"

//go:generate go tool syncgen -server

// Note is a note in one scope: "alice" for Alice's own, "family" for the family's.
type Note struct {
	ID        string     `json:"id" sync:"unique"`
	Scope     string     `json:"scope" sync:"scope"`
	Text      string     `json:"text"`
	UpdatedAt time.Time  `json:"updatedAt" sync:"updatedAt"`
	DeletedAt *time.Time `json:"deletedAt,omitempty" sync:"deletedAt"`
}
