// Package model holds the simulation's models; syncgen generates the rest, the server
// included.
package model

import "time"

//go:generate go tool syncgen -server

// Item has every sync field: updatedAt and a deletedAt tombstone.
type Item struct {
	ID        string     `json:"id" sync:"unique"`
	Name      string     `json:"name"`
	Count     int        `json:"count"`
	Tags      []string   `json:"tags"`
	UpdatedAt time.Time  `json:"updatedAt" sync:"updatedAt"`
	DeletedAt *time.Time `json:"deletedAt,omitempty" sync:"deletedAt"`
}

// Note points to an item and is deleted with DELETE (no deletedAt).
type Note struct {
	ID        string    `json:"id" sync:"unique"`
	ItemID    string    `json:"itemId" sync:"ref=Item"`
	Text      string    `json:"text"`
	UpdatedAt time.Time `json:"updatedAt" sync:"updatedAt"`
}
