package load

import (
	"fmt"
	"strings"

	"github.com/syncgen/syncgen/generator/model"
)

// checkModel reports the rules that concern one model's fields together.
func (l *loader) checkModel(m *model.Model) {
	var unique, updated, deleted, scope []*model.Field
	for _, f := range m.Fields {
		where := m.Name + "." + f.Name
		switch {
		case f.Unique:
			unique = append(unique, f)
			if f.Type.Kind != model.KindString || f.Type.Pointer {
				l.diags.Add(f.Pos, fmt.Sprintf("%s: sync:\"unique\" needs a string field, found %s", where, exprString(f.Type.Expr)))
			}
			if f.JSONKey == "" {
				l.diags.Add(f.Pos, where+": sync:\"unique\" field is the record's id on the wire: it cannot be json:\"-\"")
			}
		}
		if f.UpdatedAt {
			updated = append(updated, f)
			if f.Type.Kind != model.KindTime || f.Type.Pointer {
				l.diags.Add(f.Pos, fmt.Sprintf("%s: sync:\"updatedAt\" needs a time.Time field, found %s", where, exprString(f.Type.Expr)))
			}
		}
		if f.DeletedAt {
			deleted = append(deleted, f)
			if f.Type.Kind != model.KindTime || !f.Type.Pointer {
				l.diags.Add(f.Pos, fmt.Sprintf("%s: sync:\"deletedAt\" needs a *time.Time field, found %s", where, exprString(f.Type.Expr)))
			}
		}
		if f.Scope {
			scope = append(scope, f)
			if f.Type.Kind != model.KindString || f.Type.Pointer {
				l.diags.Add(f.Pos, fmt.Sprintf("%s: sync:\"scope\" needs a string field (the scope's value, such as a user's or a team's id), found %s", where, exprString(f.Type.Expr)))
			}
			if f.JSONKey == "" {
				l.diags.Add(f.Pos, where+": sync:\"scope\" field decides on the server who sees the record: it cannot be json:\"-\"")
			}
		}
		if f.Ref != "" && f.Type.Kind != model.KindString && !stringSlice(f.Type.Expr) {
			l.diags.Add(f.Pos, fmt.Sprintf("%s: sync:\"ref=%s\" needs a string (or *string) field holding the id, or a []string holding ids, found %s", where, f.Ref, exprString(f.Type.Expr)))
		}
	}
	switch len(unique) {
	case 0:
		l.diags.Add(m.Pos, fmt.Sprintf("%s: has sync tags but no sync:\"unique\" field: tag the string id field with sync:\"unique\"", m.Name))
	case 1:
	default:
		for _, f := range unique[1:] {
			l.diags.Add(f.Pos, fmt.Sprintf("%s.%s: a second sync:\"unique\" field (%s already is): a model has exactly one", m.Name, f.Name, unique[0].Name))
		}
	}
	for _, extra := range [][]*model.Field{updated, deleted, scope} {
		if len(extra) > 1 {
			for _, f := range extra[1:] {
				l.diags.Add(f.Pos, fmt.Sprintf("%s.%s: a second field with the same sync option as %s: a model has at most one", m.Name, f.Name, extra[0].Name))
			}
		}
	}

	columns := map[string]*model.Field{}
	for _, f := range m.Stored() {
		if prev, ok := columns[f.Column]; ok {
			l.diags.Add(f.Pos, fmt.Sprintf("%s.%s: column %q is also used by %s: rename one with a db tag", m.Name, f.Name, f.Column, prev.Name))
			continue
		}
		columns[f.Column] = f
	}
}

// repositoryMethods are the names a repository field must not take.
var repositoryMethods = []string{"Close", "DeadLetters", "Discard", "Events", "Migrate", "Retry", "Run", "Status", "Sync", "Tx", "WaitIdle"}

// checkPackage reports the rules across the models of one package: unique table, path and
// repository names, and refs to models that exist.
func (l *loader) checkPackage(models []*model.Model) {
	byName := map[string]*model.Model{}
	for _, m := range models {
		byName[m.Name] = m
	}
	seen := map[string]*model.Model{}
	claim := func(m *model.Model, what, value string) {
		key := what + "\x00" + value
		if prev, ok := seen[key]; ok {
			l.diags.Add(m.Pos, fmt.Sprintf("%s: %s %q is also %s's: set another with a //syncgen: directive", m.Name, what, value, prev.Name))
			return
		}
		seen[key] = m
	}
	for _, m := range models {
		claim(m, "table", m.Table)
		claim(m, "path", m.Path)
		claim(m, "repository name", m.RepoName)
		for _, meth := range repositoryMethods {
			if m.RepoName == meth {
				l.diags.Add(m.Pos, fmt.Sprintf("%s: repository name %q is a method of Repository: set another with //syncgen:name", m.Name, meth))
			}
		}
		for _, f := range m.Fields {
			if f.Ref != "" && byName[f.Ref] == nil {
				l.diags.Add(f.Pos, fmt.Sprintf("%s.%s: sync:\"ref=%s\": %s is not a model of this package (models: %s)", m.Name, f.Name, f.Ref, f.Ref, modelNames(models)))
			}
		}
	}
}

// stringSlice reports whether a type is []string: a ref field that lists ids.
func stringSlice(e model.TypeExpr) bool {
	return e.Kind == model.Slice && e.Elem.Kind == model.Named && e.Elem.Pkg == "" && e.Elem.Name == "string"
}

func modelNames(models []*model.Model) string {
	names := make([]string, len(models))
	for i, m := range models {
		names[i] = m.Name
	}
	return strings.Join(names, ", ")
}
