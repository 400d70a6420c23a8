// Package load is the generator's first stage, and the only code that touches go/packages
// and go/types: it loads the user's packages, turns their tagged structs into the IR of
// package model, and reads what each package's migrations/ directory already holds. Every
// mistake in the user's models comes back as Diagnostics, all of them at once.
package load

import (
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/tools/go/packages"

	"github.com/syncgen/syncgen/generator/model"
	"github.com/syncgen/syncgen/internal/taghash"
)

// loadMode is what the loader needs: syntax and full type information of the target
// packages; dependencies come from export data.
const loadMode = packages.NeedName | packages.NeedFiles | packages.NeedSyntax |
	packages.NeedTypes | packages.NeedTypesInfo

// Config says where and how to load. The zero Config loads from the current directory.
type Config struct {
	Dir  string   // working directory of the load; diagnostics print relative to it
	Tags []string // the user's build tags ("syncgen" is always added)
}

// Packages runs one packages.Load of the patterns (none means ".") and turns every package
// into the IR, sorted by import path. Mistakes in the user's models come back as
// *Diagnostics, all of them; any other error is a failure that is not the user's models.
func Packages(cfg Config, patterns ...string) ([]*model.Package, error) {
	tags := append([]string{"syncgen"}, cfg.Tags...)
	pcfg := &packages.Config{
		Mode:       loadMode,
		Dir:        cfg.Dir,
		BuildFlags: []string{"-tags=" + strings.Join(tags, ",")},
		Tests:      false,
	}
	if len(patterns) == 0 {
		patterns = []string{"."}
	}
	pkgs, err := packages.Load(pcfg, patterns...)
	if err != nil {
		return nil, fmt.Errorf("load packages: %w", err)
	}
	diags := &Diagnostics{Dir: cfg.Dir}
	var out []*model.Package
	for _, pkg := range pkgs {
		l := &loader{pkg: pkg, diags: diags}
		if p := l.load(); p != nil {
			out = append(out, p)
		}
	}
	if len(diags.List) > 0 {
		return nil, diags
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

type loader struct {
	pkg   *packages.Package
	diags *Diagnostics

	// specs are the struct type declarations of the package by name.
	specs map[string]*structDecl
}

type structDecl struct {
	name *types.TypeName
	spec *ast.TypeSpec
	doc  *ast.CommentGroup
}

func (l *loader) pos(p token.Pos) model.Pos {
	position := l.pkg.Fset.Position(p)
	return model.Pos{File: position.Filename, Line: position.Line, Col: position.Column}
}

func (l *loader) load() *model.Package {
	pkg := l.pkg
	// Errors that stop us: the package cannot be listed or parsed. Type errors only stop
	// us when they fall inside a model's declaration (checked below): hand-written code
	// that uses generated names must not block regenerating them.
	var typeErrs []packages.Error
	fatal := false
	for _, e := range pkg.Errors {
		switch {
		case e.Kind == packages.TypeError:
			typeErrs = append(typeErrs, e)
		case strings.HasPrefix(e.Msg, "# "):
			// The go command's compiler output repeats the type errors; they are judged
			// one by one below.
		default:
			l.diags.addRaw(e.Pos, e.Msg)
			fatal = true
		}
	}
	if fatal || pkg.Types == nil {
		return nil
	}
	if len(pkg.Syntax) == 0 {
		return nil
	}
	l.collectStructs()

	embedded := l.embeddedStructs()
	var models []*model.Model
	for _, name := range sortedKeys(l.specs) {
		d := l.specs[name]
		if !d.name.Exported() || embedded[name] {
			continue
		}
		if m := l.model(d); m != nil {
			models = append(models, m)
		}
	}
	l.reportTypeErrors(typeErrs, models)
	l.checkPackage(models)
	dir := ""
	if len(pkg.GoFiles) > 0 {
		dir = filepath.Dir(pkg.GoFiles[0])
	}
	return &model.Package{Name: pkg.Name, Path: pkg.PkgPath, Dir: dir, Models: models}
}

// collectStructs indexes the package's struct type declarations.
func (l *loader) collectStructs() {
	l.specs = map[string]*structDecl{}
	for _, file := range l.pkg.Syntax {
		for _, decl := range file.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, s := range gd.Specs {
				ts := s.(*ast.TypeSpec)
				if _, ok := ts.Type.(*ast.StructType); !ok || ts.TypeParams != nil {
					continue
				}
				tn, ok := l.pkg.TypesInfo.Defs[ts.Name].(*types.TypeName)
				if !ok {
					continue
				}
				doc := ts.Doc
				if doc == nil && len(gd.Specs) == 1 {
					doc = gd.Doc
				}
				l.specs[ts.Name.Name] = &structDecl{name: tn, spec: ts, doc: doc}
			}
		}
	}
}

// embeddedStructs names the package's structs that other structs embed: shared bases such
// as Base{ID, UpdatedAt, DeletedAt}, flattened into each model and not models themselves.
func (l *loader) embeddedStructs() map[string]bool {
	out := map[string]bool{}
	for _, d := range l.specs {
		st := d.name.Type().Underlying().(*types.Struct)
		for i := 0; i < st.NumFields(); i++ {
			f := st.Field(i)
			if !f.Embedded() {
				continue
			}
			t := f.Type()
			if p, ok := t.(*types.Pointer); ok {
				t = p.Elem()
			}
			if n, ok := types.Unalias(t).(*types.Named); ok && n.Obj().Pkg() == l.pkg.Types {
				out[n.Obj().Name()] = true
			}
		}
	}
	return out
}

// reportTypeErrors reports the type errors that fall inside a model's declaration.
func (l *loader) reportTypeErrors(errs []packages.Error, models []*model.Model) {
	for _, e := range errs {
		p, ok := parsePos(e.Pos)
		if !ok {
			continue
		}
		for _, m := range models {
			d := l.specs[m.Name]
			start, end := l.pkg.Fset.Position(d.spec.Pos()), l.pkg.Fset.Position(d.spec.End())
			if p.File == start.Filename && !before(p, position(start)) && !before(position(end), p) {
				l.diags.Add(p, m.Name+": "+e.Msg)
			}
		}
	}
}

func position(p token.Position) model.Pos {
	return model.Pos{File: p.Filename, Line: p.Line, Col: p.Column}
}

// before reports whether p comes before q in the same file.
func before(p, q model.Pos) bool {
	return p.Line < q.Line || p.Line == q.Line && p.Col < q.Col
}

// model builds one model from a struct declaration, or returns nil when the struct is not a
// model. A struct with sync tags but no sync:"unique" field is reported: it was meant to be one.
func (l *loader) model(d *structDecl) *model.Model {
	name := d.name.Name()
	fields, tagged := l.fields(name, d.name.Type().Underlying().(*types.Struct))
	if !tagged {
		return nil
	}
	m := &model.Model{
		Name:     name,
		Pos:      l.pos(d.spec.Name.Pos()),
		Fields:   fields,
		Table:    model.TableName(name),
		RepoName: model.RepoName(name),
	}
	m.Path = "/" + m.Table
	l.directives(m, d.doc)

	st := d.name.Type().Underlying().(*types.Struct)
	for i := 0; i < st.NumFields(); i++ {
		f := st.Field(i)
		sf := model.StructField{Embedded: f.Embedded(), Type: typeExpr(f.Type(), l.pkg.Types)}
		if !f.Embedded() {
			sf.Name = f.Name()
		}
		m.Struct = append(m.Struct, sf)
	}
	m.TagHash = taghash.Sum(tagLines(st))
	l.checkModel(m)
	return m
}

// tagLines walks a struct as taghash.Of walks the compiled one.
func tagLines(st *types.Struct) []taghash.Line {
	var lines []taghash.Line
	var walk func(st *types.Struct, prefix string, seen []*types.Struct)
	walk = func(st *types.Struct, prefix string, seen []*types.Struct) {
		for i := 0; i < st.NumFields(); i++ {
			f := st.Field(i)
			path := taghash.Join(prefix, f.Name())
			lines = append(lines, taghash.Line{Path: path, Tag: st.Tag(i)})
			if !f.Embedded() {
				continue
			}
			inner, ok := embeddedStruct(f.Type())
			if !ok || containsStruct(seen, inner) {
				continue
			}
			walk(inner, path, append(seen, inner))
		}
	}
	walk(st, "", []*types.Struct{st})
	return lines
}

// parsePos parses a "file:line:col" position from a packages.Error.
func parsePos(s string) (model.Pos, bool) {
	parts := strings.Split(s, ":")
	if len(parts) < 3 {
		return model.Pos{}, false
	}
	n := len(parts)
	line, err1 := strconv.Atoi(parts[n-2])
	col, err2 := strconv.Atoi(parts[n-1])
	if err1 != nil || err2 != nil {
		return model.Pos{}, false
	}
	return model.Pos{File: strings.Join(parts[:n-2], ":"), Line: line, Col: col}, true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
