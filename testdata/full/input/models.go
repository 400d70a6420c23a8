package shop

import (
	"database/sql"
	"time"
)

//go:generate go tool syncgen

type Base struct {
	ID        string     `json:"id" sync:"unique"`
	UpdatedAt time.Time  `json:"updatedAt" sync:"updatedAt,index"`
	DeletedAt *time.Time `json:"deletedAt,omitempty" sync:"deletedAt"`
}

type Status string

type Address struct {
	Street string `json:"street"`
}

// Order is a customer's order.
//
//syncgen:path /v1/orders
type Order struct {
	Base
	CustomerID string         `json:"customerId" sync:"ref=Customer"`
	Status     Status         `json:"status" sync:"index"`
	Total      float64        `json:"total"`
	Count      int32          `json:"count"`
	Big        uint64         `json:"big"`
	Paid       bool           `json:"paid"`
	Note       *string        `json:"note"`
	Data       []byte         `json:"data"`
	Ship       Address        `json:"ship"`
	Tags       []string       `json:"tags"`
	Meta       map[string]int `json:"meta"`
	Promo      sql.NullString `json:"promo"`
	Draft      string         `json:"-" sync:"local"`
	Server     string         `json:"server" sync:"readonly"`
	Old        int            `json:"old" sync:"renamed=legacy"`
	Ignored    chan int       `sync:"-"`
	secret     func()
}

type Customer struct {
	ID   string `json:"id" sync:"unique"`
	Name string `json:"name"`
}

// Pie has every directive.
//
//syncgen:table baked_pies renamed=pies
//syncgen:path /v2/pies
//syncgen:name Pies
type Pie struct {
	ID      string    `json:"id" sync:"unique"`
	Updated time.Time `json:"updated" sync:"updatedAt"`
	Slices  uint8     `json:"slices" db:"slice_count"`
	Weight  *float32  `json:"weight,omitempty"`
	Baked   *time.Time
	Kind    PieKind `sync:"index"`
	Raw     []byte  `json:"raw" sync:"local"`
	OrderID *string `json:"orderId" sync:"ref=Order"`
	Matrix  [2][2]int
	Nested  *Address `json:"nested"`
}

type PieKind int8

// HTTPLog checks initialisms in names.
type HTTPLog struct {
	LogID   string `json:"logId" sync:"unique"`
	UserID  int64  `json:"userId"`
	URLPath string `json:"urlPath"`
}
