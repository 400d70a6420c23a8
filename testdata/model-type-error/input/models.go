package broken

// The model's own declaration has a type error: that stops the run.
type Order struct {
	ID    string `sync:"unique"`
	Price Money
}

// A type error elsewhere does not.
var _ = undefinedHelper
