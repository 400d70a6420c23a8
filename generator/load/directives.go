package load

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
			l.diags.Add(l.pos(c.Pos()), m.Name+": "+fmt.Sprintf(format, a...))
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
