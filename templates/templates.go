// Package templates holds the SQL text/templates syncgen renders migration files with,
// embedded so the generator carries them in its binary. Go code builds the statements
// (identifiers quoted, column definitions, expressions); the templates only lay them out.
package templates

import (
	"bytes"
	"embed"
	"fmt"
	"strings"
	"text/template"
)

//go:embed *.sql.tmpl
var files embed.FS

var set = template.Must(template.New("syncgen").
	Funcs(template.FuncMap{"join": strings.Join}).
	Option("missingkey=error").
	ParseFS(files, "*.sql.tmpl"))

// Migration is one migration file in goose's format.
type Migration struct {
	// Comments are lines shown under the header, without the leading "-- ".
	Comments []string
	// NoTransaction marks a file that rebuilds tables: its sections turn foreign keys
	// off, run between BEGIN and COMMIT, end with PRAGMA foreign_key_check and turn
	// foreign keys back on, each control statement on a line of its own.
	NoTransaction bool
	// Up and Down are the sections' statements, each complete with its semicolon; one
	// entry may hold several statements on separate lines.
	Up, Down []string
}

// Section is one goose section of a migration, as the template sees it.
type Section struct {
	Name          string // "Up" or "Down"
	NoTransaction bool
	Statements    []string
}

// Sections returns the Up and Down sections for the template.
func (m Migration) Sections() []Section {
	return []Section{
		{Name: "Up", NoTransaction: m.NoTransaction, Statements: m.Up},
		{Name: "Down", NoTransaction: m.NoTransaction, Statements: m.Down},
	}
}

// CreateTable is a CREATE TABLE statement.
type CreateTable struct {
	Table   string   // quoted name
	Columns []string // column definitions, e.g. `"id" TEXT NOT NULL PRIMARY KEY`
}

// Rebuild is SQLite's table rebuild (https://sqlite.org/lang_altertable.html#otheralter):
// create the new shape under a temporary name, copy the rows, drop the old table, rename
// the new one into place and recreate its indexes. Foreign keys must be off around it,
// which the migration's NO TRANSACTION wrapper does.
type Rebuild struct {
	Create  CreateTable // the new shape; Create.Table is the temporary name
	Source  string      // quoted name of the table the rows come from
	Table   string      // quoted final name
	Columns []string    // quoted columns of the new table that receive data
	Values  []string    // one expression over Source per column
	Indexes []string    // CREATE INDEX statements of the new table
}

// RenderMigration renders a whole migration file.
func RenderMigration(m Migration) ([]byte, error) { return execute("migration.sql.tmpl", m) }

// RenderCreateTable renders a CREATE TABLE statement.
func RenderCreateTable(c CreateTable) (string, error) {
	b, err := execute("create_table.sql.tmpl", c)
	return string(b), err
}

// RenderRebuild renders the statements of a table rebuild.
func RenderRebuild(r Rebuild) (string, error) {
	if len(r.Columns) != len(r.Values) {
		return "", fmt.Errorf("render rebuild of %s: %d columns but %d values", r.Table, len(r.Columns), len(r.Values))
	}
	b, err := execute("rebuild.sql.tmpl", r)
	return string(b), err
}

func execute(name string, data any) ([]byte, error) {
	var buf bytes.Buffer
	if err := set.ExecuteTemplate(&buf, name, data); err != nil {
		return nil, fmt.Errorf("render %s: %w", name, err)
	}
	return buf.Bytes(), nil
}
