// Package v2 is the second release's Note: v1's, plus a colour.
package v2

import "time"

//go:generate go tool syncgen -server

// Note is a note with a title and a colour.
type Note struct {
	ID        string    `json:"id" sync:"unique"`
	Title     string    `json:"title"`
	Color     string    `json:"color"`
	UpdatedAt time.Time `json:"updatedAt" sync:"updatedAt"`
}
