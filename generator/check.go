package generator

import (
	"fmt"
	"go/ast"
	"go/token"
	"strings"

	"github.com/syncgen/syncgen/generator/model"
)

// directives applies //syncgen:table, //syncgen:path and //syncgen:name from a model's doc
// comment.
func (l *loader) directives(m *model.Model, doc *ast.CommentGroup) {
	if doc == nil {
		return
	}
	for _, c := range doc.List {
		text, ok := strings.CutPrefix(c.Text, "//syncgen:")
		if !ok {
			continue
		}
		verb, arg, _ := strings.Cut(strings.TrimSpace(text), " ")
		args := strings.Fields(arg)
		bad := func(format string, a ...any) {
			l.diags.add(l.pos(c.Pos()), m.Name+": "+fmt.Sprintf(format, a...))
		}
		switch verb {
		case "table":
			if len(args) == 0 || len(args) > 2 || !validIdent.MatchString(args[0]) {
				bad("//syncgen:table needs a table name (letters, digits and _) and optionally renamed=OLD")
				continue
			}
			m.Table = args[0]
			if len(args) == 2 {
				old, ok := strings.CutPrefix(args[1], "renamed=")
				if !ok || !validIdent.MatchString(old) {
					bad("//syncgen:table %s: expected renamed=OLD after the name, found %q", args[0], args[1])
					continue
				}
				m.TableRenamed = old
			}
			if !pathSet(doc) {
				m.Path = "/" + m.Table
			}
		case "path":
			if len(args) != 1 || !validPath(args[0]) {
				bad("//syncgen:path needs one path starting with / (e.g. /v1/pizzas), without a trailing / or a segment starting with _")
				continue
			}
			m.Path = args[0]
		case "name":
			if len(args) != 1 || !token.IsIdentifier(args[0]) || !token.IsExported(args[0]) {
				bad("//syncgen:name needs one exported Go identifier (e.g. Pies)")
				continue
			}
			m.RepoName = args[0]
		default:
			bad("unknown directive //syncgen:%s (valid: //syncgen:table NAME [renamed=OLD], //syncgen:path /PATH, //syncgen:name NAME)", verb)
		}
	}
}

func pathSet(doc *ast.CommentGroup) bool {
	for _, c := range doc.List {
		if strings.HasPrefix(c.Text, "//syncgen:path") {
			return true
		}
	}
	return false
}

func validPath(p string) bool {
	if !strings.HasPrefix(p, "/") || len(p) < 2 || strings.HasSuffix(p, "/") {
		return false
	}
	for _, seg := range strings.Split(p[1:], "/") {
		if seg == "" || strings.HasPrefix(seg, "_") || strings.ContainsAny(seg, "?#% ") {
			return false
		}
	}
	return true
}

// checkModel reports the rules that concern one model's fields together.
func (l *loader) checkModel(m *model.Model) {
	var unique, updated, deleted []*model.Field
	for _, f := range m.Fields {
		where := m.Name + "." + f.Name
		switch {
		case f.Unique:
			unique = append(unique, f)
			if f.Type.Kind != model.KindString || f.Type.Pointer {
				l.diags.add(f.Pos, fmt.Sprintf("%s: sync:\"unique\" needs a string field, found %s", where, exprString(f.Type.Expr)))
			}
			if f.JSONKey == "" {
				l.diags.add(f.Pos, where+": sync:\"unique\" field is the record's id on the wire: it cannot be json:\"-\"")
			}
		}
		if f.UpdatedAt {
			updated = append(updated, f)
			if f.Type.Kind != model.KindTime || f.Type.Pointer {
				l.diags.add(f.Pos, fmt.Sprintf("%s: sync:\"updatedAt\" needs a time.Time field, found %s", where, exprString(f.Type.Expr)))
			}
		}
		if f.DeletedAt {
			deleted = append(deleted, f)
			if f.Type.Kind != model.KindTime || !f.Type.Pointer {
				l.diags.add(f.Pos, fmt.Sprintf("%s: sync:\"deletedAt\" needs a *time.Time field, found %s", where, exprString(f.Type.Expr)))
			}
		}
		if f.Ref != "" && f.Type.Kind != model.KindString && !stringSlice(f.Type.Expr) {
			l.diags.add(f.Pos, fmt.Sprintf("%s: sync:\"ref=%s\" needs a string (or *string) field holding the id, or a []string holding ids, found %s", where, f.Ref, exprString(f.Type.Expr)))
		}
	}
	switch len(unique) {
	case 0:
		l.diags.add(m.Pos, fmt.Sprintf("%s: has sync tags but no sync:\"unique\" field: tag the string id field with sync:\"unique\"", m.Name))
	case 1:
	default:
		for _, f := range unique[1:] {
			l.diags.add(f.Pos, fmt.Sprintf("%s.%s: a second sync:\"unique\" field (%s already is): a model has exactly one", m.Name, f.Name, unique[0].Name))
		}
	}
	for _, extra := range [][]*model.Field{updated, deleted} {
		if len(extra) > 1 {
			for _, f := range extra[1:] {
				l.diags.add(f.Pos, fmt.Sprintf("%s.%s: a second field with the same sync option as %s: a model has at most one", m.Name, f.Name, extra[0].Name))
			}
		}
	}

	columns := map[string]*model.Field{}
	for _, f := range m.Stored() {
		if prev, ok := columns[f.Column]; ok {
			l.diags.add(f.Pos, fmt.Sprintf("%s.%s: column %q is also used by %s: rename one with a db tag", m.Name, f.Name, f.Column, prev.Name))
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
			l.diags.add(m.Pos, fmt.Sprintf("%s: %s %q is also %s's: set another with a //syncgen: directive", m.Name, what, value, prev.Name))
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
				l.diags.add(m.Pos, fmt.Sprintf("%s: repository name %q is a method of Repository: set another with //syncgen:name", m.Name, meth))
			}
		}
		for _, f := range m.Fields {
			if f.Ref != "" && byName[f.Ref] == nil {
				l.diags.add(f.Pos, fmt.Sprintf("%s.%s: sync:\"ref=%s\": %s is not a model of this package (models: %s)", m.Name, f.Name, f.Ref, f.Ref, modelNames(models)))
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
