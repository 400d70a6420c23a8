// Package model is syncgen's intermediate representation: plain data describing the tagged
// models of one Go package, produced by the loader and consumed by every emitter. It holds
// no go/types values, so emitters and tests can build and read it without loading code.
package model

import "fmt"

// Package is one Go package that syncgen runs on.
type Package struct {
	Name   string   // Go package name, e.g. "menu"
	Path   string   // import path
	Dir    string   // absolute directory of the package's files
	Models []*Model // sorted by Name
}

// Pos is a source position. File is absolute; diagnostics print it relative to the
// working directory.
type Pos struct {
	File      string
	Line, Col int
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col) }

// Model is one exported struct with a sync:"unique" field.
type Model struct {
	Name         string // Go type name, e.g. "Pizza"
	Table        string // SQLite table, e.g. "pizzas"
	TableRenamed string // previous table name from //syncgen:table NAME renamed=OLD, or ""
	Path         string // REST path, e.g. "/pizzas"
	RepoName     string // repository field name, e.g. "Pizzas"
	Pos          Pos    // the type's name

	// Fields are the model's flattened fields in encoding/json order: every exported field,
	// including those tagged sync:"-" (Skip), which emitters leave out.
	Fields []*Field

	// Struct is the exact top-level field list of the Go struct, unexported and embedded
	// fields included, for the compile-time staleness guard.
	Struct []StructField

	// TagHash summarises the sync, db and json tags of every field (see TagHashInput); the
	// runtime compares it with the compiled struct's tags by reflection.
	TagHash string
}

// Unique returns the model's sync:"unique" field.
func (m *Model) Unique() *Field { return m.find(func(f *Field) bool { return f.Unique }) }

// UpdatedAt returns the sync:"updatedAt" field, or nil.
func (m *Model) UpdatedAt() *Field { return m.find(func(f *Field) bool { return f.UpdatedAt }) }

// DeletedAt returns the sync:"deletedAt" field, or nil.
func (m *Model) DeletedAt() *Field { return m.find(func(f *Field) bool { return f.DeletedAt }) }

func (m *Model) find(pred func(*Field) bool) *Field {
	for _, f := range m.Fields {
		if pred(f) {
			return f
		}
	}
	return nil
}

// Stored returns the fields that have a column (every field but sync:"-").
func (m *Model) Stored() []*Field {
	var out []*Field
	for _, f := range m.Fields {
		if !f.Skip {
			out = append(out, f)
		}
	}
	return out
}

// Field is one flattened field of a model.
type Field struct {
	Name    string   // Go field name, e.g. "UpdatedAt"
	Path    []string // selector path from the model value, e.g. ["Base", "UpdatedAt"]
	Column  string   // SQLite column (db tag, else snake_case of Name)
	JSONKey string   // key on the wire (json tag, else Name); "" when json:"-"
	JSONTag string   // the field's json tag as written ("" when it has none)
	Pos     Pos      // the field's tag, or its name when it has no tag

	Type Type

	Options

	// JSONWas lists the JSON key's earlier names, oldest first, as migrations/schema.json
	// records them; package schema fills it in (a declared rename adds one).
	JSONWas []string
}

// Options are the parsed sync tag options of a field.
type Options struct {
	Unique    bool
	UpdatedAt bool
	DeletedAt bool
	Index     bool
	Local     bool
	ReadOnly  bool
	Skip      bool   // sync:"-"
	Ref       string // sync:"ref=Model": the referenced model's Go name
	OnDelete  string // sync:"onDelete=cascade|restrict" on a ref: what deleting its target does
	Renamed   string // sync:"renamed=old": the column's previous name (or the JSON key's)
	// Scope (sync:"scope") marks the field whose value decides who sees the record: the
	// generated server stores it in an indexed column and filters by it (docs/SCOPES.md).
	Scope bool
}

// Sent reports whether the field travels to and from the remote.
func (f *Field) Sent() bool { return !f.Skip && !f.Local && f.JSONKey != "" }

// Kind is how a field is stored in SQLite and bound from Go.
type Kind int

const (
	KindString  Kind = iota + 1 // TEXT
	KindBool                    // INTEGER 0/1
	KindInt                     // INTEGER (every signed int kind)
	KindUint                    // INTEGER (every unsigned int kind; values above MaxInt64 are an error)
	KindFloat                   // REAL
	KindBytes                   // BLOB
	KindTime                    // TEXT, fixed-width UTC
	KindJSON                    // TEXT holding JSON (other structs, slices, maps)
	KindScanner                 // the type's own sql.Scanner / driver.Valuer
)

var kindNames = map[Kind]string{
	KindString: "string", KindBool: "bool", KindInt: "int", KindUint: "uint", KindFloat: "float",
	KindBytes: "bytes", KindTime: "time", KindJSON: "json", KindScanner: "scanner",
}

func (k Kind) String() string { return kindNames[k] }

// Type describes a field's Go type as far as storage needs it.
type Type struct {
	Kind Kind
	// Nullable: the column accepts NULL (a pointer, a sql.Null*, or a Scanner type that is
	// a pointer); Pointer: the Go type is *T over a Kind value.
	Nullable bool
	Pointer  bool
	// Basic is the underlying basic type name for scalar kinds ("string", "int32", "float64",
	// …), used for conversions of named types; "" for other kinds.
	Basic string
	// Expr is the field's exact Go type, for emitting declarations and conversions.
	Expr TypeExpr
}

// StructField is one top-level field of a model's Go struct.
type StructField struct {
	Name     string // "" for an embedded field
	Embedded bool
	Type     TypeExpr
}
