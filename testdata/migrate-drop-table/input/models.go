package shop

//go:generate go tool syncgen

type Order struct {
	ID         string  `json:"id" sync:"unique"`
	CustomerID string  `json:"customerId"`
	Total      float64 `json:"total"`
	Note       *string `json:"note"`
	Legacy     string  `json:"legacy"`
}
