package schema

import (
	"fmt"
	"sort"

	"github.com/syncgen/syncgen/generator/model"
)

// Problem is a reason not to write a migration, at a position: a model change that needs
// -allow-destructive or can never be migrated, or a migrations directory that disagrees
// with its snapshot.
type Problem struct {
	Pos model.Pos
	Msg string
}

type opKind int

const (
	opCreateTable  opKind = iota + 1 // def, with its indexes
	opDropTable                      // def (for the Down section)
	opRenameTable                    // from → table
	opAddColumn                      // table, column
	opDropColumn                     // table, column (only as the Down of an added column)
	opRenameColumn                   // table, from → column.Name
	opCreateIndex                    // table, index
	opDropIndex                      // table, index (for the Down section)
	opRebuild                        // from (old shape old) → def, copying sources
)

// op is one schema change. Its Down is inverse(op); its effect on a schema is apply.
type op struct {
	kind   opKind
	table  string // the table it works on; a renamed or rebuilt table's new name
	from   string // renames and rebuilds: the previous name (of the table, or of the column)
	column Column
	index  Index
	def    Table // create and drop table: the table; rebuild: the new shape
	old    Table // rebuild: the shape it starts from
	// sources, for a rebuild, names per column of def the column of old it is copied
	// from, or "" for a new column that takes its default.
	sources []string
	why     []string // rebuild: what it changes, for the file's comments
}

// diff plans the changes from the snapshot's schema to the models' tables. Ops come in
// phases, so that every op finds the names it needs: stale indexes are dropped first,
// then tables and columns are renamed, tables created, extended or rebuilt, new indexes
// created, and removed tables dropped last.
func diff(old Schema, models []*model.Model, snapshotPos model.Pos, allowDestructive bool) ([]op, []Problem) {
	var (
		refused, destructive []Problem
		phases               [6][]op
	)
	const (
		dropIndexes = iota
		renameTables
		renameColumns
		tables
		createIndexes
		dropTables
	)
	wanted := map[string]bool{}
	for _, m := range models {
		wanted[m.Table] = true
	}
	ms := append([]*model.Model(nil), models...)
	sort.Slice(ms, func(i, j int) bool { return ms[i].Table < ms[j].Table })

	claimed := map[string]bool{}
	for _, m := range ms {
		want := TableOf(m)
		prev := old.table(want.Name)
		// A declared rename applies while the old table exists and the new one does not;
		// once applied, the directive is harmless.
		if prev == nil && m.TableRenamed != "" && !wanted[m.TableRenamed] {
			prev = old.table(m.TableRenamed)
		}
		if prev == nil {
			phases[tables] = append(phases[tables], op{kind: opCreateTable, table: want.Name, def: want})
			continue
		}
		claimed[prev.Name] = true
		tp := planTable(m, want, *prev)
		if tp.refused != nil {
			refused = append(refused, *tp.refused)
			continue
		}
		destructive = append(destructive, tp.destructive...)
		// A renamed table is renamed first, also before a rebuild: ALTER TABLE RENAME
		// moves the references of other tables' foreign keys along, a rebuild does not.
		if prev.Name != want.Name {
			phases[renameTables] = append(phases[renameTables], op{kind: opRenameTable, table: want.Name, from: prev.Name})
		}
		if tp.rebuild != nil {
			phases[tables] = append(phases[tables], *tp.rebuild)
			continue
		}
		phases[dropIndexes] = append(phases[dropIndexes], tp.dropIndexes...)
		phases[renameColumns] = append(phases[renameColumns], tp.renameColumns...)
		phases[tables] = append(phases[tables], tp.addColumns...)
		phases[createIndexes] = append(phases[createIndexes], tp.createIndexes...)
	}
	for _, t := range old.Tables {
		if claimed[t.Name] {
			continue
		}
		destructive = append(destructive, Problem{Pos: snapshotPos, Msg: fmt.Sprintf(
			"table %q has no model any more: dropping it deletes all its rows; rerun with -allow-destructive to drop it, or keep the data under the new model's table with //syncgen:table NEW renamed=%s",
			t.Name, t.Name)})
		phases[dropTables] = append(phases[dropTables], op{kind: opDropTable, table: t.Name, def: t})
	}

	if !allowDestructive {
		refused = append(refused, destructive...)
	}
	if len(refused) > 0 {
		return nil, refused
	}
	var ops []op
	for _, p := range phases {
		ops = append(ops, p...)
	}
	return ops, nil
}

// tablePlan is what one existing table needs.
type tablePlan struct {
	refused     *Problem  // a change no migration can make
	destructive []Problem // changes that lose data
	rebuild     *op       // set when the table must be rebuilt; the fields below are then empty

	dropIndexes, renameColumns, addColumns, createIndexes []op
}

// planTable compares an existing table with the model's. Columns match by name, or by
// a declared rename (sync:"renamed=old") while the old column exists and the new does not.
func planTable(m *model.Model, want, prev Table) tablePlan {
	var tp tablePlan
	fields := m.Stored() // one per column of want, in order
	wantNames := map[string]bool{}
	for _, c := range want.Columns {
		wantNames[c.Name] = true
	}
	sources := make([]string, len(want.Columns))
	used := map[string]bool{}
	for i, c := range want.Columns {
		f := fields[i]
		switch {
		case prev.column(c.Name) != nil:
			sources[i] = c.Name
		case f.Renamed != "" && prev.column(f.Renamed) != nil && !wantNames[f.Renamed]:
			sources[i] = f.Renamed
		}
		if sources[i] != "" {
			used[sources[i]] = true
		}
	}

	oldKey := prev.primaryKey()
	for i, c := range want.Columns {
		if !c.PrimaryKey || sources[i] == oldKey.Name {
			continue
		}
		f := fields[i]
		tp.refused = &Problem{Pos: f.Pos, Msg: fmt.Sprintf(
			"%s.%s: sync:\"unique\" moves the primary key of table %q from column %q to %q: a table's primary key never changes, as every synced copy and outbox entry names records by it; declare a new model (with its own //syncgen:table) for the new identity and copy the records over, or, if the column was only renamed, tag the field sync:\"renamed=%s\"",
			m.Name, f.Name, want.Name, oldKey.Name, c.Name, oldKey.Name)}
		return tp
	}

	var why []string
	rebuild := false
	for i, c := range want.Columns {
		src := sources[i]
		if src == "" {
			why = append(why, fmt.Sprintf("add column %s", c.Name))
			continue
		}
		if src != c.Name {
			why = append(why, fmt.Sprintf("rename column %s to %s", src, c.Name))
		}
		oc := *prev.column(src)
		f := fields[i]
		where := m.Name + "." + f.Name
		if oc.Type != c.Type {
			rebuild = true
			why = append(why, fmt.Sprintf("change column %s from %s to %s", c.Name, oc.Type, c.Type))
			tp.destructive = append(tp.destructive, Problem{Pos: f.Pos, Msg: fmt.Sprintf(
				"%s: column %q of table %q changes type from %s to %s: rebuilding the table converts each value with CAST, and values that do not convert are lost; rerun with -allow-destructive to write that migration",
				where, c.Name, want.Name, oc.Type, c.Type)})
		}
		switch {
		case !oc.NotNull && c.NotNull:
			rebuild = true
			why = append(why, fmt.Sprintf("column %s becomes NOT NULL DEFAULT %s", c.Name, c.Default))
			tp.destructive = append(tp.destructive, Problem{Pos: f.Pos, Msg: fmt.Sprintf(
				"%s: column %q of table %q becomes NOT NULL: rebuilding the table replaces its NULLs with %s, losing the difference between NULL and that value; rerun with -allow-destructive to write that migration",
				where, c.Name, want.Name, c.Default)})
		case oc.NotNull && !c.NotNull:
			// Loosening keeps every value: a rebuild, but not a destructive one.
			rebuild = true
			why = append(why, fmt.Sprintf("column %s becomes nullable", c.Name))
		case oc.Default != c.Default && oc.Type == c.Type:
			// Only a rebuild changes a default (a new type brings its own, said above).
			rebuild = true
			why = append(why, fmt.Sprintf("column %s gets DEFAULT %s", c.Name, c.Default))
		}
	}
	for _, oc := range prev.Columns {
		if used[oc.Name] {
			continue
		}
		rebuild = true
		why = append(why, fmt.Sprintf("drop column %s", oc.Name))
		tp.destructive = append(tp.destructive, Problem{Pos: m.Pos, Msg: fmt.Sprintf(
			"%s: no field stores column %q of table %q any more: dropping it deletes its value in every row; rerun with -allow-destructive to drop it, or tag the field that replaces it sync:\"renamed=%s\" to keep the data",
			m.Name, oc.Name, want.Name, oc.Name)})
	}

	if rebuild {
		// The rebuild runs after the table's rename (see diff); its indexes keep their
		// old names until the rebuild drops them with the table.
		old := copyTable(prev)
		old.Name = want.Name
		tp.rebuild = &op{kind: opRebuild, table: want.Name, from: want.Name, def: want, old: old, sources: sources, why: why}
		return tp
	}

	for _, ix := range prev.Indexes {
		if w := want.index(ix.Name); w == nil || !sameIndex(*w, ix) {
			tp.dropIndexes = append(tp.dropIndexes, op{kind: opDropIndex, table: prev.Name, index: ix})
		}
	}
	for i, c := range want.Columns {
		switch src := sources[i]; {
		case src == "":
			tp.addColumns = append(tp.addColumns, op{kind: opAddColumn, table: want.Name, column: c})
		case src != c.Name:
			tp.renameColumns = append(tp.renameColumns, op{kind: opRenameColumn, table: want.Name, from: src, column: c})
		}
	}
	for _, ix := range want.Indexes {
		if p := prev.index(ix.Name); p == nil || !sameIndex(*p, ix) {
			tp.createIndexes = append(tp.createIndexes, op{kind: opCreateIndex, table: want.Name, index: ix})
		}
	}
	return tp
}

// inverse is the op that undoes o, for the Down section.
func inverse(o op) op {
	switch o.kind {
	case opCreateTable:
		return op{kind: opDropTable, table: o.table, def: o.def}
	case opDropTable:
		return op{kind: opCreateTable, table: o.table, def: o.def}
	case opRenameTable:
		return op{kind: opRenameTable, table: o.from, from: o.table}
	case opAddColumn:
		return op{kind: opDropColumn, table: o.table, column: o.column}
	case opDropColumn:
		return op{kind: opAddColumn, table: o.table, column: o.column}
	case opRenameColumn:
		c := o.column
		c.Name = o.from
		return op{kind: opRenameColumn, table: o.table, from: o.column.Name, column: c}
	case opCreateIndex:
		return op{kind: opDropIndex, table: o.table, index: o.index}
	case opDropIndex:
		return op{kind: opCreateIndex, table: o.table, index: o.index}
	case opRebuild:
		sources := make([]string, len(o.old.Columns))
		for j, oc := range o.old.Columns {
			for i, src := range o.sources {
				if src == oc.Name {
					sources[j] = o.def.Columns[i].Name
				}
			}
		}
		return op{kind: opRebuild, table: o.from, from: o.table, def: o.old, old: o.def, sources: sources}
	}
	panic(fmt.Sprintf("schema: unknown op %d", o.kind))
}

// apply returns s after the ops, as the database will be: the next snapshot.
func apply(s Schema, ops []op) Schema {
	out := Schema{Tables: make([]Table, len(s.Tables))}
	for i, t := range s.Tables {
		out.Tables[i] = copyTable(t)
	}
	remove := func(name string) {
		for i := range out.Tables {
			if out.Tables[i].Name == name {
				out.Tables = append(out.Tables[:i], out.Tables[i+1:]...)
				return
			}
		}
	}
	for _, o := range ops {
		switch o.kind {
		case opCreateTable:
			out.Tables = append(out.Tables, copyTable(o.def))
		case opDropTable:
			remove(o.table)
		case opRenameTable:
			out.table(o.from).Name = o.table
		case opAddColumn:
			t := out.table(o.table)
			t.Columns = append(t.Columns, o.column)
		case opDropColumn:
			t := out.table(o.table)
			for i := range t.Columns {
				if t.Columns[i].Name == o.column.Name {
					t.Columns = append(t.Columns[:i], t.Columns[i+1:]...)
					break
				}
			}
		case opRenameColumn:
			// SQLite renames the column in the table's indexes too.
			t := out.table(o.table)
			t.column(o.from).Name = o.column.Name
			for i := range t.Indexes {
				for j, c := range t.Indexes[i].Columns {
					if c == o.from {
						t.Indexes[i].Columns[j] = o.column.Name
					}
				}
			}
		case opCreateIndex:
			t := out.table(o.table)
			t.Indexes = append(t.Indexes, o.index)
			sort.Slice(t.Indexes, func(i, j int) bool { return t.Indexes[i].Name < t.Indexes[j].Name })
		case opDropIndex:
			for i := range out.Tables {
				t := &out.Tables[i]
				for j := range t.Indexes {
					if t.Indexes[j].Name == o.index.Name {
						t.Indexes = append(t.Indexes[:j], t.Indexes[j+1:]...)
						break
					}
				}
			}
		case opRebuild:
			remove(o.from)
			out.Tables = append(out.Tables, copyTable(o.def))
		}
	}
	sort.Slice(out.Tables, func(i, j int) bool { return out.Tables[i].Name < out.Tables[j].Name })
	return out
}

func copyTable(t Table) Table {
	c := Table{Name: t.Name, Columns: append([]Column(nil), t.Columns...)}
	for _, ix := range t.Indexes {
		c.Indexes = append(c.Indexes, Index{Name: ix.Name, Columns: append([]string(nil), ix.Columns...)})
	}
	return c
}
