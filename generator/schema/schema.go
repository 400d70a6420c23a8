// Package schema turns a package's models into SQLite tables and keeps its migrations:
// it computes the desired schema from the IR, compares it with migrations/schema.json
// (the snapshot syncgen wrote last), and renders the difference as one new goose migration
// file plus an updated snapshot. Everything here is pure: the generator reads the
// migrations directory before and writes the returned files after.
//
// Decisions:
//   - Tables carry no FOREIGN KEY constraints, not even for sync:"ref" fields: records
//     arrive from the remote in any order (a page of orders before the customers they
//     point to), and a constraint would refuse them. A ref is an index; the outbox orders
//     pushes instead.
//   - The comparison is at the level SQLite sees: column type, NOT NULL, DEFAULT, primary
//     key, indexes. Column order is not compared (ADD COLUMN appends; the generated code
//     names its columns), so reordering fields writes nothing.
//   - What SQLite cannot ALTER (a type, NULL-ness or default change, a dropped column) is
//     a table rebuild in a NO TRANSACTION file; dropping data needs -allow-destructive.
//   - Renames are declared (sync:"renamed=old", //syncgen:table new renamed=old), never
//     guessed, and apply only while the old name exists and the new one does not.
//   - Existing migration files are never rewritten; schema.json records each one's sha256
//     and a directory that disagrees with it is a diagnostic that says how to recover.
package schema

import (
	"fmt"
	"sort"
	"strings"

	"github.com/syncgen/syncgen/generator/model"
)

// Schema is a set of tables, sorted by name.
type Schema struct {
	Tables []Table
}

// Table is one SQLite table.
type Table struct {
	Name string `json:"name"`
	// Columns are in the table's column order: field order for a new table, added
	// columns last (as ALTER TABLE ADD COLUMN puts them).
	Columns []Column `json:"columns"`
	Indexes []Index  `json:"indexes,omitempty"` // sorted by name
	// JSON is the model's JSON shape (shape.go), in field order; not part of what SQLite
	// sees, so the schema comparison ignores it.
	JSON []JSONKey `json:"json,omitempty"`
}

// Column is one column of a table, at the level SQLite sees it.
type Column struct {
	Name       string `json:"name"`
	Type       string `json:"type"` // TEXT, INTEGER, REAL or BLOB
	NotNull    bool   `json:"notNull,omitempty"`
	Default    string `json:"default,omitempty"` // an SQL literal, "" for none
	PrimaryKey bool   `json:"primaryKey,omitempty"`
}

// Index is a secondary index.
type Index struct {
	Name    string   `json:"name"`
	Columns []string `json:"columns"`
}

// ZeroTime is the zero time.Time in the stored form (runtime.TimeLayout).
const ZeroTime = "0001-01-01T00:00:00.000000000Z"

// Desired returns the schema of the package's models: one table per model.
func Desired(p *model.Package) Schema {
	var s Schema
	for _, m := range p.Models {
		s.Tables = append(s.Tables, TableOf(m))
	}
	sort.Slice(s.Tables, func(i, j int) bool { return s.Tables[i].Name < s.Tables[j].Name })
	return s
}

// TableOf returns a model's table: a column per stored field in field order (local fields
// included, sync:"-" ones left out) and an index per index or ref field.
func TableOf(m *model.Model) Table {
	t := Table{Name: m.Table}
	for _, f := range m.Stored() {
		c := ColumnOf(f)
		t.Columns = append(t.Columns, c)
		if (f.Index || f.Ref != "") && !f.Unique { // the primary key is indexed already
			t.Indexes = append(t.Indexes, Index{Name: IndexName(t.Name, c.Name), Columns: []string{c.Name}})
		}
	}
	sort.Slice(t.Indexes, func(i, j int) bool { return t.Indexes[i].Name < t.Indexes[j].Name })
	return t
}

// IndexName is the name of the index on one column.
func IndexName(table, column string) string { return table + "_" + column + "_idx" }

// ColumnOf returns a field's column. The unique field is the TEXT primary key; nullable Go
// types (pointers, []byte, slices, maps, sql.Null*) and Scanner types, whose Value may be
// nil, are nullable columns; every other column is NOT NULL with its zero value as default,
// so ALTER TABLE ADD COLUMN can fill existing rows.
func ColumnOf(f *model.Field) Column {
	c := Column{Name: f.Column, Type: sqlType(f.Type.Kind)}
	switch {
	case f.Unique:
		c.Type, c.NotNull, c.PrimaryKey = "TEXT", true, true
	case f.Type.Nullable || f.Type.Kind == model.KindScanner:
	default:
		c.NotNull, c.Default = true, zeroValue(f.Type.Kind)
	}
	return c
}

func sqlType(k model.Kind) string {
	switch k {
	case model.KindBool, model.KindInt, model.KindUint:
		return "INTEGER"
	case model.KindFloat:
		return "REAL"
	case model.KindBytes, model.KindScanner:
		// BLOB affinity stores whatever a Valuer returns as it is.
		return "BLOB"
	default: // string, time (fixed-width UTC text), json
		return "TEXT"
	}
}

func zeroValue(k model.Kind) string {
	switch k {
	case model.KindBool, model.KindInt, model.KindUint:
		return "0"
	case model.KindFloat:
		return "0.0"
	case model.KindBytes:
		return "X''"
	case model.KindTime:
		return "'" + ZeroTime + "'"
	case model.KindJSON:
		return "'null'" // a struct or array; json.Unmarshal of null leaves the zero value
	default:
		return "''"
	}
}

// primaryKey returns the table's primary key column, or nil.
func (t *Table) primaryKey() *Column {
	for i := range t.Columns {
		if t.Columns[i].PrimaryKey {
			return &t.Columns[i]
		}
	}
	return nil
}

func (t *Table) column(name string) *Column {
	for i := range t.Columns {
		if t.Columns[i].Name == name {
			return &t.Columns[i]
		}
	}
	return nil
}

func (t *Table) index(name string) *Index {
	for i := range t.Indexes {
		if t.Indexes[i].Name == name {
			return &t.Indexes[i]
		}
	}
	return nil
}

func (s *Schema) table(name string) *Table {
	for i := range s.Tables {
		if s.Tables[i].Name == name {
			return &s.Tables[i]
		}
	}
	return nil
}

// sameIndex reports whether two indexes are the same definition.
func sameIndex(a, b Index) bool {
	return a.Name == b.Name && strings.Join(a.Columns, "\x00") == strings.Join(b.Columns, "\x00")
}

// equivalent reports whether two schemas describe the same tables, columns and indexes,
// whatever the column order (which only rebuilding a table could change, for nothing).
func equivalent(a, b Schema) error {
	if len(a.Tables) != len(b.Tables) {
		return fmt.Errorf("%d tables, want %d", len(a.Tables), len(b.Tables))
	}
	for i := range a.Tables {
		ta, tb := &a.Tables[i], &b.Tables[i]
		if ta.Name != tb.Name {
			return fmt.Errorf("table %s, want %s", ta.Name, tb.Name)
		}
		if len(ta.Columns) != len(tb.Columns) {
			return fmt.Errorf("table %s: %d columns, want %d", ta.Name, len(ta.Columns), len(tb.Columns))
		}
		for _, c := range tb.Columns {
			if got := ta.column(c.Name); got == nil || *got != c {
				return fmt.Errorf("table %s: column %s is %+v, want %+v", ta.Name, c.Name, got, c)
			}
		}
		if len(ta.Indexes) != len(tb.Indexes) {
			return fmt.Errorf("table %s: %d indexes, want %d", ta.Name, len(ta.Indexes), len(tb.Indexes))
		}
		for j := range tb.Indexes {
			if !sameIndex(ta.Indexes[j], tb.Indexes[j]) {
				return fmt.Errorf("table %s: index %v, want %v", ta.Name, ta.Indexes[j], tb.Indexes[j])
			}
		}
	}
	return nil
}
