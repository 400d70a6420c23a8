package load

import (
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"github.com/syncgen/syncgen/generator/model"
)

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

// embeddedStruct returns the struct an embedded field's type (T or *T) refers to.
func embeddedStruct(t types.Type) (*types.Struct, bool) {
	if p, ok := types.Unalias(t).(*types.Pointer); ok {
		t = p.Elem()
	}
	st, ok := t.Underlying().(*types.Struct)
	return st, ok
}

func containsStruct(ss []*types.Struct, s *types.Struct) bool {
	for _, x := range ss {
		if types.Identical(x, s) {
			return true
		}
	}
	return false
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
