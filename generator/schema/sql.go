package schema

import (
	"fmt"
	"strings"

	"github.com/syncgen/syncgen/templates"
)

// rebuildSuffix names the table a rebuild fills before it takes the real name.
const rebuildSuffix = "__syncgen_new"

// quote quotes an SQLite identifier.
func quote(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

// columnDef is a column's definition in CREATE TABLE and ADD COLUMN.
func columnDef(c Column) string {
	def := quote(c.Name) + " " + c.Type
	if c.NotNull {
		def += " NOT NULL"
	}
	if c.Default != "" {
		def += " DEFAULT " + c.Default
	}
	if c.PrimaryKey {
		def += " PRIMARY KEY"
	}
	return def
}

func createIndex(table string, ix Index) string {
	cols := make([]string, len(ix.Columns))
	for i, c := range ix.Columns {
		cols[i] = quote(c)
	}
	return fmt.Sprintf("CREATE INDEX %s ON %s (%s);", quote(ix.Name), quote(table), strings.Join(cols, ", "))
}

func createTable(name string, t Table) (string, error) {
	c := templates.CreateTable{Table: quote(name)}
	for _, col := range t.Columns {
		c.Columns = append(c.Columns, columnDef(col))
	}
	return templates.RenderCreateTable(c)
}

// sql renders one op as statements, one or more lines.
func sql(o op) (string, error) {
	switch o.kind {
	case opCreateTable:
		stmt, err := createTable(o.table, o.def)
		if err != nil {
			return "", err
		}
		lines := []string{stmt}
		for _, ix := range o.def.Indexes {
			lines = append(lines, createIndex(o.table, ix))
		}
		return strings.Join(lines, "\n"), nil
	case opDropTable:
		return fmt.Sprintf("DROP TABLE %s;", quote(o.table)), nil
	case opRenameTable:
		return fmt.Sprintf("ALTER TABLE %s RENAME TO %s;", quote(o.from), quote(o.table)), nil
	case opAddColumn:
		return fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s;", quote(o.table), columnDef(o.column)), nil
	case opDropColumn:
		return fmt.Sprintf("ALTER TABLE %s DROP COLUMN %s;", quote(o.table), quote(o.column.Name)), nil
	case opRenameColumn:
		return fmt.Sprintf("ALTER TABLE %s RENAME COLUMN %s TO %s;", quote(o.table), quote(o.from), quote(o.column.Name)), nil
	case opCreateIndex:
		return createIndex(o.table, o.index), nil
	case opDropIndex:
		return fmt.Sprintf("DROP INDEX %s;", quote(o.index.Name)), nil
	case opRebuild:
		return rebuild(o)
	}
	return "", fmt.Errorf("render op: unknown kind %d", o.kind)
}

// rebuild renders SQLite's table rebuild: the new shape under a temporary name, the rows
// copied (converted with CAST when the type changes, NULLs replaced by the default when
// the column becomes NOT NULL), the old table dropped, the new one renamed into place,
// and its indexes created. Foreign keys are off around it (the NO TRANSACTION wrapper), so
// dropping the old table does not touch rows that point to it, and renaming the new one
// leaves their references to the name alone.
func rebuild(o op) (string, error) {
	temp := o.table + rebuildSuffix
	create := templates.CreateTable{Table: quote(temp)}
	for _, c := range o.def.Columns {
		create.Columns = append(create.Columns, columnDef(c))
	}
	r := templates.Rebuild{Create: create, Source: quote(o.from), Table: quote(o.table)}
	for i, c := range o.def.Columns {
		src := o.sources[i]
		if src == "" {
			continue
		}
		oc := o.old.column(src)
		if oc == nil {
			return "", fmt.Errorf("render rebuild of %s: no column %s in %s", o.table, src, o.from)
		}
		value := quote(src)
		if oc.Type != c.Type {
			value = fmt.Sprintf("CAST(%s AS %s)", value, c.Type)
		}
		if c.NotNull && !oc.NotNull && c.Default != "" {
			value = fmt.Sprintf("COALESCE(%s, %s)", value, c.Default)
		}
		r.Columns = append(r.Columns, quote(c.Name))
		r.Values = append(r.Values, value)
	}
	for _, ix := range o.def.Indexes {
		r.Indexes = append(r.Indexes, createIndex(o.table, ix))
	}
	return templates.RenderRebuild(r)
}

// describe says what an op does, for the file's comments: one line, or for a rebuild a
// line per change.
func describe(o op) []string {
	if o.kind == opRebuild {
		lines := []string{"rebuild table " + o.table + ":"}
		for _, w := range o.why {
			lines = append(lines, "  - "+w)
		}
		return lines
	}
	return []string{describeOne(o)}
}

func describeOne(o op) string {
	switch o.kind {
	case opCreateTable:
		return "create table " + o.table
	case opDropTable:
		return "drop table " + o.table + " and its rows"
	case opRenameTable:
		return "rename table " + o.from + " to " + o.table
	case opAddColumn:
		return "add column " + o.table + "." + o.column.Name
	case opDropColumn:
		return "drop column " + o.table + "." + o.column.Name
	case opRenameColumn:
		return "rename column " + o.table + "." + o.from + " to " + o.column.Name
	case opCreateIndex:
		return "create index " + o.index.Name
	case opDropIndex:
		return "drop index " + o.index.Name
	}
	return ""
}

// phrase names an op in the file name.
func phrase(o op) string {
	switch o.kind {
	case opCreateTable:
		return "create_" + o.table
	case opDropTable:
		return "drop_" + o.table
	case opRenameTable:
		return "rename_" + o.from + "_to_" + o.table
	case opAddColumn:
		return "add_" + o.table + "_" + o.column.Name
	case opRenameColumn:
		return "rename_" + o.table + "_" + o.from + "_to_" + o.column.Name
	case opCreateIndex:
		return "index_" + strings.TrimSuffix(o.index.Name, "_idx")
	case opDropIndex:
		return "drop_" + o.index.Name
	case opRebuild:
		return "rebuild_" + o.table
	}
	return ""
}

// maxSummary bounds the summary in a file name.
const maxSummary = 60

// summary names a migration after its ops: lower snake case, at most maxSummary
// characters, cut at a word. Index changes only name it when nothing else happens.
func summary(ops []op) string {
	var parts []string
	for _, o := range ops {
		if o.kind != opCreateIndex && o.kind != opDropIndex {
			parts = append(parts, phrase(o))
		}
	}
	if len(parts) == 0 {
		for _, o := range ops {
			parts = append(parts, phrase(o))
		}
	}
	s := snake(strings.Join(parts, "_"))
	if len(s) > maxSummary {
		s = s[:maxSummary]
		if i := strings.LastIndexByte(s, '_'); i > 0 {
			s = s[:i]
		}
		s = strings.TrimSuffix(s, "_to") // a cut rename reads better without its dangling "to"
	}
	if s == "" {
		return "migration"
	}
	return s
}

// snake lowers s and turns every run of other characters than a-z and 0-9 into one _.
func snake(s string) string {
	var b strings.Builder
	under := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if under && b.Len() > 0 {
				b.WriteByte('_')
			}
			under = false
			b.WriteRune(r)
			continue
		}
		under = true
	}
	return b.String()
}

// render renders the migration file of ops: Up applies them in order, Down undoes them
// in reverse. A file with a rebuild is NO TRANSACTION (see templates.Migration).
func render(ops []op) ([]byte, error) {
	var m templates.Migration
	for _, o := range ops {
		m.Comments = append(m.Comments, describe(o)...)
		m.NoTransaction = m.NoTransaction || o.kind == opRebuild
		stmt, err := sql(o)
		if err != nil {
			return nil, err
		}
		m.Up = append(m.Up, stmt)
	}
	for i := len(ops) - 1; i >= 0; i-- {
		stmt, err := sql(inverse(ops[i]))
		if err != nil {
			return nil, err
		}
		m.Down = append(m.Down, stmt)
	}
	return templates.RenderMigration(m)
}
