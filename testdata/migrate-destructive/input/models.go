package shop

//go:generate go tool syncgen

type Order struct {
	ID         string `json:"id" sync:"unique"`
	CustomerID string `json:"customerId"`
	Total      int64  `json:"total"`
	Note       string `json:"note"`
	Paid       bool   `json:"paid"`
}
