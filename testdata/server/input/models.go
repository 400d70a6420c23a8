package shop

//go:generate go tool syncgen

type Customer struct {
	ID    string `json:"id" sync:"unique"`
	Name  string `json:"name"`
	Email string `json:"email" sync:"index"`
}

type Order struct {
	ID         string  `json:"id" sync:"unique"`
	CustomerID string  `json:"customerId" sync:"ref=Customer,scope"`
	Total      float64 `json:"total"`
	Note       *string `json:"note"`
	Legacy     string  `json:"legacy"`
}
