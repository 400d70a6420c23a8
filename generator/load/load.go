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
	"reflect"
	"regexp"
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

func containsStruct(ss []*types.Struct, s *types.Struct) bool {
	for _, x := range ss {
		if types.Identical(x, s) {
			return true
		}
	}
	return false
}

// embeddedStruct returns the struct an embedded field's type (T or *T) refers to.
func embeddedStruct(t types.Type) (*types.Struct, bool) {
	if p, ok := types.Unalias(t).(*types.Pointer); ok {
		t = p.Elem()
	}
	st, ok := t.Underlying().(*types.Struct)
	return st, ok
}

// hasSyncTags reports whether any field of st carries a sync tag.
func hasSyncTags(st *types.Struct) bool {
	for i := 0; i < st.NumFields(); i++ {
		if _, ok := reflect.StructTag(st.Tag(i)).Lookup("sync"); ok {
			return true
		}
	}
	return false
}

// candidate is one field found while flattening, before encoding/json's dominance rules.
type candidate struct {
	field  *model.Field
	depth  int
	tagged bool // has a json name
	index  []int
}

// fields flattens a model's struct as encoding/json does and parses each field's tags.
// tagged reports whether any field carries a sync tag.
func (l *loader) fields(modelName string, st *types.Struct) (fields []*model.Field, tagged bool) {
	var cands []candidate
	var walk func(st *types.Struct, path []string, index []int, depth int, seen []*types.Struct)
	walk = func(st *types.Struct, path []string, index []int, depth int, seen []*types.Struct) {
		for i := 0; i < st.NumFields(); i++ {
			f := st.Field(i)
			tag := reflect.StructTag(st.Tag(i))
			jsonTag, hasJSON := tag.Lookup("json")
			jsonName, _, _ := strings.Cut(jsonTag, ",")
			if _, ok := tag.Lookup("sync"); ok {
				tagged = true
			}
			fpath := append(append([]string(nil), path...), f.Name())
			findex := append(append([]int(nil), index...), i)
			if f.Embedded() && (jsonName == "" || !hasJSON) {
				if inner, ok := embeddedStruct(f.Type()); ok {
					if _, isPtr := types.Unalias(f.Type()).(*types.Pointer); isPtr {
						if !hasSyncTags(inner) {
							continue // not a base of models: encoding/json's business only
						}
						// A nil *Base would have no place to scan a row into.
						tagged = true
						l.diags.Add(l.pos(l.tagPos(f)), fmt.Sprintf("%s.%s: embedded pointer to a struct: embed %s by value", modelName, f.Name(), f.Name()))
						continue
					}
					if !containsStruct(seen, inner) {
						walk(inner, fpath, findex, depth+1, append(seen, inner))
					}
					continue
				}
			}
			if !f.Exported() {
				continue
			}
			cands = append(cands, candidate{
				field:  l.field(modelName, f, tag, fpath),
				depth:  depth,
				tagged: jsonName != "" && jsonName != "-",
				index:  findex,
			})
		}
	}
	walk(st, nil, nil, 0, []*types.Struct{st})
	return l.dominant(modelName, cands), tagged
}

// dominant applies encoding/json's rules for fields of the same JSON name at different
// depths: the shallowest wins, then a tagged one; a tie that encoding/json would silently
// drop is reported instead.
func (l *loader) dominant(modelName string, cands []candidate) []*model.Field {
	byKey := map[string][]candidate{}
	for _, c := range cands {
		key := c.field.JSONKey
		if key == "" {
			key = "\x00" + strings.Join(c.field.Path, ".") // json:"-": never collides
		}
		byKey[key] = append(byKey[key], c)
	}
	var keep []candidate
	for key, cs := range byKey {
		sort.SliceStable(cs, func(i, j int) bool {
			if cs[i].depth != cs[j].depth {
				return cs[i].depth < cs[j].depth
			}
			return cs[i].tagged && !cs[j].tagged
		})
		if len(cs) > 1 && cs[0].depth == cs[1].depth && cs[0].tagged == cs[1].tagged {
			l.diags.Add(cs[1].field.Pos, fmt.Sprintf("%s.%s: JSON key %q is also used by %s: rename one with a json tag",
				modelName, cs[1].field.Name, key, strings.Join(cs[0].field.Path, ".")))
		}
		keep = append(keep, cs[0])
	}
	// Fields in struct order, as encoding/json sorts them by index sequence.
	sort.Slice(keep, func(i, j int) bool { return lessIndex(keep[i].index, keep[j].index) })
	out := make([]*model.Field, len(keep))
	for i, c := range keep {
		out[i] = c.field
	}
	return out
}

func lessIndex(a, b []int) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return len(a) < len(b)
}

// field builds one flattened field from its tags and type.
func (l *loader) field(modelName string, v *types.Var, tag reflect.StructTag, path []string) *model.Field {
	f := &model.Field{Name: v.Name(), Path: path}
	f.Pos = l.pos(l.tagPos(v))
	where := modelName + "." + v.Name()

	jsonTag, hasJSON := tag.Lookup("json")
	jsonName, _, _ := strings.Cut(jsonTag, ",")
	f.JSONTag = jsonTag
	switch {
	case jsonName == "-" && jsonTag == "-":
		f.JSONKey = ""
	case hasJSON && jsonName != "" && jsonName != "-" || jsonTag == "-,":
		if jsonTag == "-," {
			jsonName = "-"
		}
		f.JSONKey = jsonName
	default:
		f.JSONKey = v.Name()
	}

	f.Column = model.SnakeCase(v.Name())
	if db, ok := tag.Lookup("db"); ok {
		db, _, _ = strings.Cut(db, ",")
		switch {
		case db == "-":
			// sqlx skips the field; so do we, unless sync says otherwise.
		case !validIdent.MatchString(db):
			l.diags.Add(f.Pos, fmt.Sprintf("%s: db tag %q is not a valid column name (letters, digits and _, not starting with a digit)", where, db))
		default:
			f.Column = db
		}
	}

	if syncTag, ok := tag.Lookup("sync"); ok {
		opts, problems := model.ParseSyncTag(syncTag)
		for _, p := range problems {
			l.diags.Add(f.Pos, where+": "+p)
		}
		f.Options = opts
	}
	if db, _ := tag.Lookup("db"); db == "-" && !f.Skip {
		f.Skip = true
	}

	typ, problem := l.classify(v.Type())
	f.Type = typ
	invalid := v.Type() == types.Typ[types.Invalid] // go/types reports why
	if problem != "" && !f.Skip && !invalid {
		l.diags.Add(f.Pos, where+": "+problem)
	}
	return f
}

var validIdent = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// tagPos is the position of a field's tag, or of its name when it has none.
func (l *loader) tagPos(v *types.Var) token.Pos {
	for _, file := range l.pkg.Syntax {
		if file.Pos() > v.Pos() || v.Pos() > file.End() {
			continue
		}
		var found token.Pos = v.Pos()
		ast.Inspect(file, func(n ast.Node) bool {
			f, ok := n.(*ast.Field)
			if !ok {
				return found == v.Pos()
			}
			if f.Tag != nil && f.Pos() <= v.Pos() && v.Pos() < f.End() {
				found = f.Tag.Pos()
				return false
			}
			return true
		})
		return found
	}
	return v.Pos()
}

// classify maps a Go type to its storage kind, or says why it cannot be stored.
func (l *loader) classify(t types.Type) (model.Type, string) {
	typ := model.Type{Expr: typeExpr(t, l.pkg.Types)}
	if isScanner(t) {
		typ.Kind = model.KindScanner
		_, typ.Nullable = t.(*types.Pointer)
		typ.Nullable = typ.Nullable || isNullWrapper(t)
		return typ, ""
	}
	if p, ok := types.Unalias(t).(*types.Pointer); ok {
		inner, problem := l.classify(p.Elem())
		if problem != "" {
			return typ, problem
		}
		if inner.Pointer || inner.Kind == model.KindScanner {
			return typ, fmt.Sprintf("unsupported type %s: a pointer to a pointer or to a sql.Scanner cannot be stored", typeString(t, l.pkg.Types))
		}
		inner.Expr, inner.Pointer, inner.Nullable = typ.Expr, true, true
		return inner, ""
	}
	if isTime(t) {
		typ.Kind = model.KindTime
		return typ, ""
	}
	switch u := t.Underlying().(type) {
	case *types.Basic:
		typ.Basic = u.Name()
		switch {
		case u.Kind() == types.String:
			typ.Kind = model.KindString
		case u.Kind() == types.Bool:
			typ.Kind = model.KindBool
		case u.Info()&types.IsInteger != 0 && u.Kind() != types.Uintptr:
			if u.Info()&types.IsUnsigned != 0 {
				typ.Kind = model.KindUint
			} else {
				typ.Kind = model.KindInt
			}
		case u.Info()&types.IsFloat != 0:
			typ.Kind = model.KindFloat
		default:
			return typ, unsupported(t, l.pkg.Types)
		}
		return typ, ""
	case *types.Slice:
		if b, ok := u.Elem().Underlying().(*types.Basic); ok && b.Kind() == types.Byte {
			typ.Kind, typ.Nullable = model.KindBytes, true
			return typ, ""
		}
		typ.Kind, typ.Nullable = model.KindJSON, true
	case *types.Map:
		typ.Kind, typ.Nullable = model.KindJSON, true
	case *types.Struct, *types.Array:
		typ.Kind = model.KindJSON
	default:
		return typ, unsupported(t, l.pkg.Types)
	}
	if !jsonable(t, nil) {
		return typ, unsupported(t, l.pkg.Types)
	}
	return typ, ""
}

func unsupported(t types.Type, pkg *types.Package) string {
	return fmt.Sprintf("unsupported type %s (valid: string, bool, numbers, []byte, time.Time, pointers to these, sql.Null*, sql.Scanner+driver.Valuer types, and structs, slices and maps that encoding/json can marshal)", typeString(t, pkg))
}

// jsonable reports whether encoding/json can marshal every value of t: no channels, funcs,
// complex numbers or non-empty interfaces inside. Types with their own MarshalJSON pass.
func jsonable(t types.Type, seen []types.Type) bool {
	for _, s := range seen {
		if types.Identical(s, t) {
			return true
		}
	}
	seen = append(seen, t)
	if hasMethod(t, "MarshalJSON") || hasMethod(t, "MarshalText") {
		return true
	}
	switch u := t.Underlying().(type) {
	case *types.Basic:
		return u.Info()&types.IsComplex == 0 && u.Kind() != types.UnsafePointer && u.Kind() != types.Uintptr
	case *types.Pointer:
		return jsonable(u.Elem(), seen)
	case *types.Slice:
		return jsonable(u.Elem(), seen)
	case *types.Array:
		return jsonable(u.Elem(), seen)
	case *types.Map:
		k := u.Key().Underlying()
		b, ok := k.(*types.Basic)
		keyOK := ok && (b.Info()&types.IsString != 0 || b.Info()&types.IsInteger != 0) || hasMethod(u.Key(), "MarshalText")
		return keyOK && jsonable(u.Elem(), seen)
	case *types.Struct:
		for i := 0; i < u.NumFields(); i++ {
			f := u.Field(i)
			if tag := reflect.StructTag(u.Tag(i)).Get("json"); tag == "-" {
				continue
			}
			if (f.Exported() || f.Embedded()) && !jsonable(f.Type(), seen) {
				return false
			}
		}
		return true
	case *types.Interface:
		return u.Empty()
	}
	return false
}

func hasMethod(t types.Type, name string) bool {
	return lookupMethod(types.NewPointer(t), name) != nil
}

// isScanner: *T has Scan(any) error and T has Value() (driver.Value, error).
func isScanner(t types.Type) bool {
	if isTime(t) {
		return false
	}
	scan := lookupMethod(types.NewPointer(t), "Scan")
	value := lookupMethod(t, "Value")
	return scan != nil && scan.Params().Len() == 1 && scan.Results().Len() == 1 &&
		value != nil && value.Params().Len() == 0 && value.Results().Len() == 2
}

// isNullWrapper: database/sql's Null types (NullString, Null[T], …) hold NULL.
func isNullWrapper(t types.Type) bool {
	n, ok := types.Unalias(t).(*types.Named)
	return ok && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == "database/sql" && strings.HasPrefix(n.Obj().Name(), "Null")
}

func lookupMethod(t types.Type, name string) *types.Signature {
	ms := types.NewMethodSet(t)
	for i := 0; i < ms.Len(); i++ {
		if fn := ms.At(i).Obj(); fn.Name() == name && fn.Exported() {
			return fn.Type().(*types.Signature)
		}
	}
	return nil
}

func isTime(t types.Type) bool {
	n, ok := types.Unalias(t).(*types.Named)
	return ok && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == "time" && n.Obj().Name() == "Time"
}

func typeString(t types.Type, pkg *types.Package) string {
	return types.TypeString(t, types.RelativeTo(pkg))
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
