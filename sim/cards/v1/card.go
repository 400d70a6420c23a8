// Package v1 is the field simulation's older app version of Card.
package v1

import "time"

//go:generate go tool syncgen -server

// Card has a title and a body.
type Card struct {
	ID        string    `json:"id" sync:"unique"`
	Title     string    `json:"title"`
	Body      string    `json:"body"`
	UpdatedAt time.Time `json:"updatedAt" sync:"updatedAt"`
}
