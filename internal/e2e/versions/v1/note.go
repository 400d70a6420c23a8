// Package v1 is the first release's Note: a title.
package v1

import "time"

//go:generate go tool syncgen -server

// Note is a note with a title.
type Note struct {
	ID        string    `json:"id" sync:"unique"`
	Title     string    `json:"title"`
	UpdatedAt time.Time `json:"updatedAt" sync:"updatedAt"`
}
