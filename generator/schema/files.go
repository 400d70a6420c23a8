package schema

import (
	"fmt"

	"github.com/syncgen/syncgen/generator/model"
)

// Options are the CLI switches that concern migrations.
type Options struct {
	// AllowDestructive lets a migration drop tables and columns, change a column's type
	// and make a column NOT NULL (-allow-destructive).
	AllowDestructive bool
}

// Files returns what the package's migrations/ directory must hold, by name: schema.json,
// and a new NNNN_<summary>.sql when the models' tables differ from the snapshot. Existing
// migration files are never returned: they are never rewritten. A directory that
// disagrees with its snapshot, or a change that is refused, comes back as problems.
func Files(p *model.Package, ex Existing, opts Options) (map[string][]byte, []Problem, error) {
	snap, problems := ex.check()
	if len(problems) > 0 {
		return nil, problems, nil
	}
	if problems := indexClashes(p.Models); len(problems) > 0 {
		return nil, problems, nil
	}
	old := Schema{Tables: snap.Tables}
	ops, problems := diff(old, p.Models, ex.pos(SnapshotFile), opts.AllowDestructive)
	if len(problems) > 0 {
		return nil, problems, nil
	}
	shape, problems := shapes(old, p.Models, opts.AllowDestructive)
	if len(problems) > 0 {
		return nil, problems, nil
	}
	next := apply(old, ops)
	for i := range next.Tables {
		next.Tables[i].JSON = shape[next.Tables[i].Name]
	}
	if err := equivalent(next, Desired(p)); err != nil {
		return nil, nil, fmt.Errorf("plan migration of %s: the planned schema differs from the models' (a bug in syncgen): %w", p.Path, err)
	}

	out := map[string][]byte{}
	if len(ops) > 0 {
		name := "0001_init.sql"
		if len(snap.Migrations) > 0 {
			name = fmt.Sprintf("%04d_%s.sql", nextNumber(snap), summary(ops))
		}
		data, err := render(ops)
		if err != nil {
			return nil, nil, fmt.Errorf("render %s: %w", name, err)
		}
		out[name] = data
		snap.Migrations = append(snap.Migrations, MigrationFile{File: name, SHA256: Sum(data)})
	}
	snap.Tables = next.Tables
	data, err := snap.Encode()
	if err != nil {
		return nil, nil, err
	}
	out[SnapshotFile] = data
	return out, nil, nil
}

func nextNumber(s Snapshot) int {
	n := 0
	for _, m := range s.Migrations {
		if v, _ := fileNumber(m.File); v > n {
			n = v
		}
	}
	return n + 1
}

// indexClashes reports two indexes of one name: index names are global in SQLite, and
// <table>_<column>_idx can repeat across tables (a_b.c and a.b_c).
func indexClashes(models []*model.Model) []Problem {
	type owner struct {
		m *model.Model
		f *model.Field
	}
	seen := map[string]owner{}
	var problems []Problem
	for _, m := range models {
		for _, f := range m.Stored() {
			if !f.Index && f.Ref == "" || f.Unique {
				continue
			}
			name := IndexName(m.Table, f.Column)
			if prev, ok := seen[name]; ok {
				problems = append(problems, Problem{Pos: f.Pos, Msg: fmt.Sprintf(
					"%s.%s: its index %q has the name of %s.%s's index: rename a column with a db tag or a table with //syncgen:table",
					m.Name, f.Name, name, prev.m.Name, prev.f.Name)})
				continue
			}
			seen[name] = owner{m, f}
		}
	}
	return problems
}
