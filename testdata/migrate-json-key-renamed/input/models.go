package shop

//go:generate go tool syncgen

type Customer struct {
	ID    string `json:"id" sync:"unique"`
	Name  string `json:"name"`
	Email string `json:"mail" sync:"index,renamed=email"`
}

type Order struct {
	ID         string  `json:"id" sync:"unique"`
	CustomerID string  `json:"customerId" sync:"ref=Customer"`
	Total      float64 `json:"total"`
	Note       *string `json:"note"`
	Legacy     string  `json:"legacy"`
}
