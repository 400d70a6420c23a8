// Package v3 is the third release's Note: v2's, with the title's key renamed to heading.
package v3

import "time"

//go:generate go tool syncgen -server

// Note is a note with a heading (the title of v1 and v2) and a colour.
type Note struct {
	ID        string    `json:"id" sync:"unique"`
	Heading   string    `json:"heading" sync:"renamed=title"`
	Color     string    `json:"color"`
	UpdatedAt time.Time `json:"updatedAt" sync:"updatedAt"`
}
