package emit

import (
	"fmt"

	"github.com/dave/jennifer/jen"

	"github.com/syncgen/syncgen/generator/model"
)

// modelFile emits a model's file: the version and staleness guards, the schema and the
// adapter between the struct and its row.
func modelFile(f *jen.File, m *model.Model, rels []*model.Relation) {
	lower := lowerFirst(m.Name)
	guard := lower + "FieldsChanged_RerunGoGenerate"

	f.Commentf("Generated for runtime API version %d.", runtimeVersion)
	f.Const().Id("_").Op("=").Qual(runtimePkg, fmt.Sprintf("GeneratedCodeVersion%d", runtimeVersion))
	f.Line()
	f.Commentf("%s stops the build when %s's fields (names, types", guard, m.Name)
	f.Comment("or order) changed since syncgen ran: run go generate.")
	f.Type().Id(guard).Struct(structFields(m.Struct)...)
	f.Line()
	f.Var().Id("_").Op("=").Id(guard).Call(jen.Id(m.Name).Values())
	f.Line()

	schema := lower + "Schema"
	f.Commentf("%s describes %s to the runtime.", schema, m.Name)
	f.Var().Id(schema).Op("=").Qual(runtimePkg, "Schema").Values(
		jen.Line().Add(kv("Model", jen.Lit(m.Name))),
		jen.Line().Add(kv("Table", jen.Lit(m.Table))),
		jen.Line().Add(kv("Path", jen.Lit(m.Path))),
		jen.Line().Add(kv("Repo", jen.Lit(m.RepoName))),
		jen.Line().Add(kv("TagHash", jen.Lit(m.TagHash))),
		jen.Line().Add(kv("Columns", jen.Index().Qual(runtimePkg, "Column").ValuesFunc(func(g *jen.Group) {
			for _, fl := range m.Stored() {
				g.Line().Add(columnLit(fl))
			}
			g.Line()
		}))),
		jen.Line(),
	)
	f.Line()

	adapter := lower + "Adapter"
	f.Commentf("%s maps %s to and from its row, in %s.Columns order.", adapter, m.Name, schema)
	f.Type().Id(adapter).Struct()
	f.Line()
	recv := jen.Id(adapter)
	f.Func().Params(recv.Clone()).Id("Schema").Params().Op("*").Qual(runtimePkg, "Schema").Block(
		jen.Return(jen.Op("&").Id(schema)),
	)
	f.Line()
	f.Func().Params(recv.Clone()).Id("ID").Params(jen.Id("r").Op("*").Id(m.Name)).String().Block(
		jen.Return(jen.String().Call(sel(m.Unique()))),
	)
	f.Line()
	f.Comment("SetUpdatedAt stamps r's updatedAt field, if the model has one.")
	f.Func().Params(recv.Clone()).Id("SetUpdatedAt").Params(jen.Id("r").Op("*").Id(m.Name), jen.Id("t").Qual("time", "Time")).BlockFunc(func(g *jen.Group) {
		if u := m.UpdatedAt(); u != nil {
			g.Add(sel(u)).Op("=").Id("t")
		}
	})
	f.Line()
	f.Comment("SetDeletedAt sets r's deletedAt field, if the model has one.")
	f.Func().Params(recv.Clone()).Id("SetDeletedAt").Params(jen.Id("r").Op("*").Id(m.Name), jen.Id("t").Op("*").Qual("time", "Time")).BlockFunc(func(g *jen.Group) {
		if d := m.DeletedAt(); d != nil {
			g.Add(sel(d)).Op("=").Id("t")
		}
	})
	f.Line()
	f.Comment("Stamps returns r's updatedAt and deletedAt fields: the zero time and nil for")
	f.Comment("a model without them.")
	f.Func().Params(recv.Clone()).Id("Stamps").Params(jen.Id("r").Op("*").Id(m.Name)).Params(jen.Qual("time", "Time"), jen.Op("*").Qual("time", "Time")).BlockFunc(func(g *jen.Group) {
		updated, deleted := jen.Qual("time", "Time").Values(), jen.Nil()
		if u := m.UpdatedAt(); u != nil {
			updated = sel(u)
		}
		if d := m.DeletedAt(); d != nil {
			deleted = sel(d)
		}
		g.Return(updated, deleted)
	})
	f.Line()
	f.Comment("Values returns r's column values for binding.")
	f.Func().Params(recv.Clone()).Id("Values").Params(jen.Id("r").Op("*").Id(m.Name)).Index().Any().Block(
		jen.Return(jen.Index().Any().ValuesFunc(func(g *jen.Group) {
			for _, fl := range m.Stored() {
				g.Line().Add(value(fl))
			}
			g.Line()
		})),
	)
	f.Line()
	f.Comment("Pointers returns scan destinations into r.")
	f.Func().Params(recv.Clone()).Id("Pointers").Params(jen.Id("r").Op("*").Id(m.Name)).Index().Any().Block(
		jen.Return(jen.Index().Any().ValuesFunc(func(g *jen.Group) {
			for _, fl := range m.Stored() {
				g.Line().Add(pointer(fl))
			}
			g.Line()
		})),
	)
	f.Line()
	wireDecls(f, m)
	storeDecls(f, m)
	relationDecls(f, m, rels)
}

var kindConst = map[model.Kind]string{
	model.KindString: "KindString", model.KindBool: "KindBool", model.KindInt: "KindInt",
	model.KindUint: "KindUint", model.KindFloat: "KindFloat", model.KindBytes: "KindBytes",
	model.KindTime: "KindTime", model.KindJSON: "KindJSON", model.KindScanner: "KindScanner",
}

func columnLit(f *model.Field) jen.Code {
	items := []jen.Code{
		kv("Field", jen.Lit(f.Name)),
		kv("Name", jen.Lit(f.Column)),
	}
	if f.Sent() {
		items = append(items, kv("JSON", jen.Lit(f.JSONKey)))
	}
	items = append(items, kv("Kind", jen.Qual(runtimePkg, kindConst[f.Type.Kind])))
	flags := []struct {
		name string
		on   bool
	}{
		{"Nullable", f.Type.Nullable}, {"Unique", f.Unique}, {"UpdatedAt", f.UpdatedAt},
		{"DeletedAt", f.DeletedAt}, {"Index", f.Index}, {"Local", f.Local}, {"ReadOnly", f.ReadOnly},
		{"Scope", f.Scope},
	}
	for _, fl := range flags {
		if fl.on {
			items = append(items, kv(fl.name, jen.True()))
		}
	}
	if f.Ref != "" {
		items = append(items, kv("Ref", jen.Lit(f.Ref)))
	}
	if f.OnDelete != "" {
		items = append(items, kv("OnDelete", jen.Lit(f.OnDelete)))
	}
	if f.Sent() && len(f.JSONWas) > 0 {
		items = append(items, kv("JSONWas", jen.Index().String().ValuesFunc(func(g *jen.Group) {
			for _, k := range f.JSONWas {
				g.Lit(k)
			}
		})))
	}
	return jen.Values(items...)
}

// kv is a keyed element of a composite literal; unlike jen.Dict it keeps the given order.
func kv(key string, value jen.Code) jen.Code { return jen.Id(key).Op(":").Add(value) }

// sel selects a field of r through its embedding path.
func sel(f *model.Field) *jen.Statement {
	s := jen.Id("r")
	for _, p := range f.Path {
		s = s.Dot(p)
	}
	return s
}

// isBasic reports whether the field's Go type is exactly its basic type (no conversion).
func isBasic(f *model.Field) bool {
	return f.Type.Expr.Kind == model.Named && f.Type.Expr.Pkg == "" && f.Type.Expr.Name == f.Type.Basic
}

// bindBasic is the driver type each scalar kind is bound as.
var bindBasic = map[model.Kind]string{
	model.KindString: "string", model.KindBool: "bool", model.KindInt: "int64",
	model.KindUint: "uint64", model.KindFloat: "float64",
}

// value is the bind expression of a field.
func value(f *model.Field) jen.Code {
	switch t := f.Type; {
	case t.Kind == model.KindTime && t.Pointer:
		return jen.Qual(runtimePkg, "NullTime").Values(jen.Dict{jen.Id("T"): sel(f)})
	case t.Kind == model.KindTime:
		return jen.Qual(runtimePkg, "Time").Call(sel(f))
	case t.Kind == model.KindJSON:
		return jen.Qual(runtimePkg, "JSON").Values(jen.Dict{jen.Id("V"): sel(f)})
	case t.Pointer, t.Kind == model.KindScanner, t.Kind == model.KindBytes && isBytes(f):
		return sel(f)
	case t.Kind == model.KindBytes:
		return jen.Index().Byte().Call(sel(f))
	case t.Basic == bindBasic[t.Kind] && isBasic(f):
		return sel(f)
	default:
		return jen.Id(bindBasic[t.Kind]).Call(sel(f))
	}
}

func isBytes(f *model.Field) bool {
	e := f.Type.Expr
	return e.Kind == model.Slice && e.Elem.Kind == model.Named && e.Elem.Pkg == "" && (e.Elem.Name == "byte" || e.Elem.Name == "uint8")
}

// pointer is the scan destination of a field.
func pointer(f *model.Field) jen.Code {
	switch t := f.Type; {
	case t.Kind == model.KindTime && t.Pointer:
		return jen.Qual(runtimePkg, "ScanNullTime").Values(jen.Dict{jen.Id("T"): jen.Op("&").Add(sel(f))})
	case t.Kind == model.KindTime:
		return jen.Qual(runtimePkg, "ScanTime").Values(jen.Dict{jen.Id("T"): jen.Op("&").Add(sel(f))})
	case t.Kind == model.KindJSON:
		return jen.Qual(runtimePkg, "ScanJSON").Values(jen.Dict{jen.Id("V"): jen.Op("&").Add(sel(f))})
	case t.Pointer, t.Kind == model.KindScanner, t.Kind == model.KindBytes && isBytes(f), isBasic(f):
		return jen.Op("&").Add(sel(f))
	case t.Kind == model.KindBytes:
		return jen.Parens(jen.Op("*").Index().Byte()).Call(jen.Op("&").Add(sel(f)))
	default:
		return jen.Parens(jen.Op("*").Id(t.Basic)).Call(jen.Op("&").Add(sel(f)))
	}
}

// structFields writes a struct's field list for the staleness guard.
func structFields(fields []model.StructField) []jen.Code {
	out := make([]jen.Code, len(fields))
	for i, sf := range fields {
		if sf.Embedded {
			out[i] = typeCode(sf.Type)
		} else {
			out[i] = jen.Id(sf.Name).Add(typeCode(sf.Type))
		}
	}
	return out
}

// typeCode writes a type expression, importing the packages it names.
func typeCode(e model.TypeExpr) *jen.Statement {
	switch e.Kind {
	case model.Named:
		var s *jen.Statement
		if e.Pkg == "" {
			s = jen.Id(e.Name)
		} else {
			s = jen.Qual(e.Pkg, e.Name)
		}
		if len(e.Args) > 0 {
			s = s.Types(codes(e.Args)...)
		}
		return s
	case model.Pointer:
		return jen.Op("*").Add(typeCode(*e.Elem))
	case model.Slice:
		return jen.Index().Add(typeCode(*e.Elem))
	case model.Array:
		return jen.Index(jen.Lit(int(e.Len))).Add(typeCode(*e.Elem))
	case model.Map:
		return jen.Map(typeCode(*e.Key)).Add(typeCode(*e.Elem))
	case model.Chan:
		switch e.Dir {
		case model.ChanSend:
			return jen.Chan().Op("<-").Add(typeCode(*e.Elem))
		case model.ChanRecv:
			return jen.Op("<-").Chan().Add(typeCode(*e.Elem))
		}
		return jen.Chan().Add(typeCode(*e.Elem))
	case model.Struct:
		return jen.Struct(structFields(e.Fields)...)
	case model.Func:
		return jen.Func().Add(signature(e))
	case model.Interface:
		var items []jen.Code
		for _, emb := range e.Embedded {
			items = append(items, typeCode(emb))
		}
		for _, m := range e.Methods {
			items = append(items, jen.Id(m.Name).Add(signature(m.Sig)))
		}
		return jen.Interface(items...)
	}
	return jen.Id("invalid")
}

func signature(e model.TypeExpr) *jen.Statement {
	params := codes(e.Params)
	if e.Variadic && len(params) > 0 {
		last := e.Params[len(e.Params)-1]
		params[len(params)-1] = jen.Op("...").Add(typeCode(*last.Elem))
	}
	s := jen.Params(params...)
	switch len(e.Results) {
	case 0:
	case 1:
		s = s.Add(typeCode(e.Results[0]))
	default:
		s = s.Params(codes(e.Results)...)
	}
	return s
}

func codes(es []model.TypeExpr) []jen.Code {
	out := make([]jen.Code, len(es))
	for i, e := range es {
		out[i] = typeCode(e)
	}
	return out
}
