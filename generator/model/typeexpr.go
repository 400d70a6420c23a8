package model

// TypeExpr is a Go type written out as syntax, so an emitter can print it with the right
// imports without go/types.
type TypeExpr struct {
	Kind TypeExprKind

	// Named: Pkg is the import path ("" for predeclared types and for the model's own
	// package), Name the type name, Args any type arguments.
	Pkg  string
	Name string
	Args []TypeExpr

	Elem *TypeExpr // Pointer, Slice, Array, Map (value), Chan
	Key  *TypeExpr // Map
	Len  int64     // Array
	Dir  ChanDir   // Chan

	Fields []StructField // Struct

	// Func: parameter and result types; Variadic marks the last parameter as ...T.
	Params, Results []TypeExpr
	Variadic        bool

	// Interface: methods by name with their Func signatures, and embedded types.
	Methods  []Method
	Embedded []TypeExpr
}

// TypeExprKind tells which form a TypeExpr has.
type TypeExprKind int

const (
	Named TypeExprKind = iota + 1
	Pointer
	Slice
	Array
	Map
	Chan
	Struct
	Func
	Interface
)

// ChanDir is a channel's direction.
type ChanDir int

const (
	ChanBoth ChanDir = iota
	ChanSend
	ChanRecv
)

// Method is one method of an interface type.
type Method struct {
	Name string
	Sig  TypeExpr // Kind Func
}
