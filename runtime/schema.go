package runtime

// Kind is how a column is stored in SQLite.
type Kind int

const (
	KindString  Kind = iota + 1 // TEXT
	KindBool                    // INTEGER 0 or 1
	KindInt                     // INTEGER
	KindUint                    // INTEGER; values above math.MaxInt64 are an error
	KindFloat                   // REAL
	KindBytes                   // BLOB
	KindTime                    // TEXT, fixed-width UTC (see TimeLayout)
	KindJSON                    // TEXT holding JSON
	KindScanner                 // the type's own sql.Scanner and driver.Valuer
)

// Schema describes one model to the runtime. Generated code declares one per model; the
// runtime never sees the model's Go type except through its adapter.
type Schema struct {
	Model   string // Go type name, e.g. "Pizza"
	Table   string // SQLite table
	Path    string // REST path, e.g. "/pizzas"
	Repo    string // repository field name, e.g. "Pizzas"
	TagHash string // summary of the struct tags the code was generated from
	Columns []Column
}

// Column is one stored field of a model, in the order of the adapter's values.
type Column struct {
	Field    string // Go field name
	Name     string // SQLite column
	JSON     string // key on the wire; "" when the field never travels
	Kind     Kind
	Nullable bool

	Unique, UpdatedAt, DeletedAt, Index, Local, ReadOnly bool
	Ref                                                  string // the Go name of the model this column refers to, or ""
	// OnDelete is what deleting the record Ref points to does to this one: OnDeleteCascade,
	// OnDeleteRestrict, or "" (nothing: records sync in any order).
	OnDelete string
	// JSONWas lists the key's earlier names on the wire, oldest first (a declared rename):
	// records and queued writes of an older app version are read through them (fields.go).
	JSONWas []string
	// Scope marks the column whose value decides who may see a record (sync:"scope"): the
	// generated server filters by it, and a client drops the records of a scope it lost.
	Scope bool
}

// The onDelete rules of a ref column (sync:"ref=Author,onDelete=cascade").
const (
	OnDeleteCascade  = "cascade"  // deleting the target deletes the records pointing to it
	OnDeleteRestrict = "restrict" // deleting a target that live records point to fails: *RestrictError
)
