// Package scoped holds a model with a scope field, for the scope simulation, the scope
// benchmarks and the scope tests; syncgen generates the rest, the server included.
package scoped

import "time"

//go:generate go tool syncgen -server

// Task belongs to one scope, a team: a user sees the tasks of the teams the server's
// WithScopes hook grants them.
type Task struct {
	ID        string     `json:"id" sync:"unique"`
	Team      string     `json:"team" sync:"scope,index"`
	Title     string     `json:"title"`
	Priority  int        `json:"priority"`
	UpdatedAt time.Time  `json:"updatedAt" sync:"updatedAt"`
	DeletedAt *time.Time `json:"deletedAt,omitempty" sync:"deletedAt"`
}
