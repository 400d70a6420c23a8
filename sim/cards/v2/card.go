// Package v2 is the field simulation's newer app version of Card: v1's title is renamed
// heading, and a colour is added. The simulation's server runs it.
package v2

import "time"

//go:generate go tool syncgen -server

// Card has a heading (v1's title), a body and a colour.
type Card struct {
	ID        string    `json:"id" sync:"unique"`
	Heading   string    `json:"heading" sync:"renamed=title"`
	Body      string    `json:"body"`
	Color     string    `json:"color"`
	UpdatedAt time.Time `json:"updatedAt" sync:"updatedAt"`
}
