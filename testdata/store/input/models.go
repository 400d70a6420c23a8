// Package store exercises the generated local store end to end: every field kind, the
// query operators, transactions, deletes and subscriptions (see store_test.go).
package store

import (
	"database/sql"
	"errors"
	"time"
)

type Base struct {
	ID        string     `json:"id" sync:"unique"`
	UpdatedAt time.Time  `json:"updatedAt" sync:"updatedAt"`
	DeletedAt *time.Time `json:"deletedAt,omitempty" sync:"deletedAt"`
}

type Size string

const (
	Small Size = "small"
	Large Size = "large"
)

type Dough struct {
	Kind  string `json:"kind"`
	Grams int    `json:"grams"`
}

// Broken fails to marshal when Fail is set.
type Broken struct{ Fail bool }

func (b Broken) MarshalJSON() ([]byte, error) {
	if b.Fail {
		return nil, errors.New("broken on purpose")
	}
	return []byte(`{}`), nil
}

func (b *Broken) UnmarshalJSON([]byte) error { return nil }

type Pizza struct {
	Base
	Name     string            `json:"name" sync:"index"`
	Size     Size              `json:"size"`
	Price    int64             `json:"price"`
	Weight   float64           `json:"weight"`
	Slices   uint8             `json:"slices"`
	Vegan    bool              `json:"vegan"`
	Nick     *string           `json:"nick"`
	Rating   *float32          `json:"rating"`
	BakedAt  time.Time         `json:"bakedAt"`
	EatenAt  *time.Time        `json:"eatenAt"`
	Photo    []byte            `json:"photo"`
	Toppings []string          `json:"toppings"`
	Extras   map[string]int    `json:"extras"`
	Dough    Dough             `json:"dough"`
	Crust    *Dough            `json:"crust"`
	Coupon   sql.NullString    `json:"coupon"`
	Note     string            `json:"-" sync:"local"`
	Score    int               `json:"score" sync:"readonly"`
	Broken   Broken            `json:"broken"`
	Cache    map[string]string `json:"-" sync:"-"`
}

// Topping has no updatedAt or deletedAt: deletes remove the row.
type Topping struct {
	Name    string `json:"name" sync:"unique"`
	PizzaID string `json:"pizzaId" sync:"ref=Pizza"`
}
