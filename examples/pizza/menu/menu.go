// Package menu holds the pizza example's models. syncgen generates the rest of the
// package from them: run go generate after changing a model.
package menu

import "time"

//go:generate go tool syncgen -server

// Pizza is a pizza on the menu.
type Pizza struct {
	ID        string     `json:"id" sync:"unique"`
	Name      string     `json:"name" sync:"index"`
	Price     int        `json:"price"` // in cents
	Toppings  []string   `json:"toppings"`
	Vegan     bool       `json:"vegan"`
	UpdatedAt time.Time  `json:"updatedAt" sync:"updatedAt"`
	DeletedAt *time.Time `json:"deletedAt,omitempty" sync:"deletedAt"`
}

// Order is a customer's order of one pizza.
type Order struct {
	ID        string     `json:"id" sync:"unique"`
	PizzaID   string     `json:"pizzaId" sync:"ref=Pizza"`
	Customer  string     `json:"customer"`
	Quantity  int        `json:"quantity"`
	Note      string     `json:"-" sync:"local"` // stays on this device
	UpdatedAt time.Time  `json:"updatedAt" sync:"updatedAt"`
	DeletedAt *time.Time `json:"deletedAt,omitempty" sync:"deletedAt"`
}
