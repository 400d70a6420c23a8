package emit

import (
	"github.com/dave/jennifer/jen"

	"github.com/syncgen/syncgen/generator/model"
)

// storeDecls emits a model's typed query API and its repository: PizzaCond, PizzaOrder,
// PizzaOr, PizzaQuery, PizzaFields and PizzaRepository, each a thin layer over the
// runtime's generic Store and query builders.
func storeDecls(f *jen.File, m *model.Model) {
	name := m.Name
	cond, order, query := name+"Cond", name+"Order", name+"Query"

	f.Commentf("%s is a condition on %s records; build them from %sFields.", cond, name, name)
	f.Type().Id(cond).Add(rt("Cond"))
	f.Line()
	f.Commentf("%s is an ORDER BY term for %s records; build them from %sFields.", order, name, name)
	f.Type().Id(order).Add(rt("Order"))
	f.Line()
	f.Commentf("%sOr holds when any of conds holds.", name)
	f.Func().Id(name + "Or").Params(jen.Id("conds").Op("...").Id(cond)).Id(cond).Block(
		jen.Return(rt("Or").Call(jen.Id("conds"))),
	)
	f.Line()

	f.Commentf("%s selects %s records. The zero value means every record; methods return a", query, name)
	f.Comment("new query and leave the receiver unchanged.")
	f.Type().Id(query).Struct(jen.Id("q").Add(rt("Query")))
	f.Line()
	qrecv := func() *jen.Statement { return jen.Params(jen.Id("q").Id(query)) }
	wrap := func(c jen.Code) jen.Code { return jen.Return(jen.Id(query).Values(jen.Id("q").Op(":").Add(c))) }
	f.Comment("Where adds conditions, all of which must hold.")
	f.Func().Add(qrecv()).Id("Where").Params(jen.Id("conds").Op("...").Id(cond)).Id(query).Block(
		wrap(rt("Where").Call(jen.Id("q").Dot("q"), jen.Id("conds"))),
	)
	f.Comment("OrderBy adds ORDER BY terms.")
	f.Func().Add(qrecv()).Id("OrderBy").Params(jen.Id("orders").Op("...").Id(order)).Id(query).Block(
		wrap(rt("OrderBy").Call(jen.Id("q").Dot("q"), jen.Id("orders"))),
	)
	f.Comment("Limit returns at most n records; n <= 0 means no limit.")
	f.Func().Add(qrecv()).Id("Limit").Params(jen.Id("n").Int()).Id(query).Block(
		wrap(jen.Id("q").Dot("q").Dot("Limit").Call(jen.Id("n"))),
	)
	f.Comment("Offset skips the first n records.")
	f.Func().Add(qrecv()).Id("Offset").Params(jen.Id("n").Int()).Id(query).Block(
		wrap(jen.Id("q").Dot("q").Dot("Offset").Call(jen.Id("n"))),
	)
	f.Comment("Query is the model-independent form of the query, whose conditions, orders and")
	f.Comment("window a REST mapping can read.")
	f.Func().Add(qrecv()).Id("Query").Params().Add(rt("Query")).Block(jen.Return(jen.Id("q").Dot("q")))
	f.Comment("Key is a canonical form of the query: equal queries have equal keys.")
	f.Func().Add(qrecv()).Id("Key").Params().String().Block(
		jen.Return(jen.Id("q").Dot("q").Dot("Key").Call()),
	)
	f.Line()

	fieldsType := lowerFirst(name) + "Fields"
	f.Commentf("%s is the type of %sFields.", fieldsType, name)
	f.Type().Id(fieldsType).StructFunc(func(g *jen.Group) {
		for _, fl := range m.Stored() {
			typ, _ := fieldBuilder(fl, cond, order)
			g.Id(fl.Name).Add(typ)
		}
	})
	f.Line()
	f.Commentf("%sFields has one typed field per column of %s, to build conditions and orders:", name, name)
	f.Commentf("%sQuery{}.Where(%sFields.%s.Eq(…)).", name, name, m.Unique().Name)
	f.Var().Id(name + "Fields").Op("=").Id(fieldsType).ValuesFunc(func(g *jen.Group) {
		for _, fl := range m.Stored() {
			_, ctor := fieldBuilder(fl, cond, order)
			g.Line().Id(fl.Name).Op(":").Add(ctor)
		}
		g.Line()
	})
	f.Line()

	f.Commentf("With%sREST sets %s's REST settings: its path, how a %s becomes URL", name, name, query)
	f.Comment("parameters, and a hook for its requests.")
	f.Func().Id("With" + name + "REST").Params(jen.Id("m").Add(rt("RESTModel").Types(jen.Id(query)))).Add(rt("Option")).Block(
		jen.Return(rt("WithREST").Call(
			jen.Op("&").Id(lowerFirst(name)+"Schema"), jen.Id("m"),
			jen.Func().Params(jen.Id("q").Add(rt("Query"))).Id(query).Block(jen.Return(jen.Id(query).Values(jen.Id("q").Op(":").Id("q")))),
		)),
	)
	f.Line()

	f.Commentf("With%sResolver sets the resolver of %s conflicts: what happens when a record with", name, name)
	f.Comment("pending local writes changed on the remote too (default: runtime.LastWriterWins for a")
	f.Comment("model with updatedAt, else runtime.RemoteWins). It runs inside the pull's transaction")
	f.Comment("and must not use the repository.")
	f.Func().Id("With" + name + "Resolver").Params(jen.Id("f").Add(rt("Resolver").Types(jen.Id(name)))).Add(rt("Option")).Block(
		jen.Return(rt("WithResolver").Call(jen.Op("&").Id(lowerFirst(name)+"Schema"), jen.Id("f"))),
	)
	f.Line()

	repoType := name + "Repository"
	idType := typeCode(m.Unique().Type.Expr)
	f.Commentf("%s reads and writes %s records.", repoType, name)
	f.Type().Id(repoType).Struct(jen.Id("s").Op("*").Add(rt("Store").Types(jen.Id(name))))
	f.Line()
	recv := func() *jen.Statement { return jen.Params(jen.Id("r").Op("*").Id(repoType)) }
	ctx := jen.Id("ctx").Qual("context", "Context")
	policies := jen.Id("p").Op("...").Add(rt("Policy"))
	f.Commentf("Get returns the %s with id; errors.Is(err, runtime.ErrNotFound) when it is absent", name)
	f.Comment("or deleted.")
	f.Func().Add(recv()).Id("Get").Params(ctx.Clone(), jen.Id("id").Add(idType.Clone()), policies.Clone()).Params(jen.Id(name), jen.Error()).Block(
		jen.Return(jen.Id("r").Dot("s").Dot("Get").Call(jen.Id("ctx"), jen.String().Call(jen.Id("id")), jen.Id("p").Op("..."))),
	)
	f.Commentf("Find returns the %s records that match q.", name)
	f.Func().Add(recv()).Id("Find").Params(ctx.Clone(), jen.Id("q").Id(query), policies.Clone()).Params(jen.Index().Id(name), jen.Error()).Block(
		jen.Return(jen.Id("r").Dot("s").Dot("Find").Call(jen.Id("ctx"), jen.Id("q").Dot("q"), jen.Id("p").Op("..."))),
	)
	f.Commentf("Count returns how many %s records match q.", name)
	f.Func().Add(recv()).Id("Count").Params(ctx.Clone(), jen.Id("q").Id(query)).Params(jen.Int(), jen.Error()).Block(
		jen.Return(jen.Id("r").Dot("s").Dot("Count").Call(jen.Id("ctx"), jen.Id("q").Dot("q"))),
	)
	upsertDoc := "Upsert writes v."
	if u := m.UpdatedAt(); u != nil {
		upsertDoc = "Upsert writes v, stamping v." + u.Name + " in place."
	}
	f.Comment(upsertDoc)
	f.Func().Add(recv()).Id("Upsert").Params(ctx.Clone(), jen.Id("v").Op("*").Id(name), policies.Clone()).Error().Block(
		jen.Return(jen.Id("r").Dot("s").Dot("Upsert").Call(jen.Id("ctx"), jen.Id("v"), jen.Id("p").Op("..."))),
	)
	f.Comment("UpsertMany writes every record in one transaction: all or none.")
	f.Func().Add(recv()).Id("UpsertMany").Params(ctx.Clone(), jen.Id("vs").Index().Op("*").Id(name), policies.Clone()).Error().Block(
		jen.Return(jen.Id("r").Dot("s").Dot("UpsertMany").Call(jen.Id("ctx"), jen.Id("vs"), jen.Id("p").Op("..."))),
	)
	if d := m.DeletedAt(); d != nil {
		f.Commentf("Delete sets %s on the record with id, keeping it as a tombstone; deleting an", d.Name)
		f.Comment("absent record is not an error.")
	} else {
		f.Comment("Delete removes the record with id; deleting an absent record is not an error.")
	}
	f.Func().Add(recv()).Id("Delete").Params(ctx.Clone(), jen.Id("id").Add(idType.Clone()), policies.Clone()).Error().Block(
		jen.Return(jen.Id("r").Dot("s").Dot("Delete").Call(jen.Id("ctx"), jen.String().Call(jen.Id("id")), jen.Id("p").Op("..."))),
	)
	f.Commentf("Hydrate brings q's %s records from the remote into SQLite, every page, then", name)
	f.Comment("answers q locally.")
	f.Func().Add(recv()).Id("Hydrate").Params(ctx.Clone(), jen.Id("q").Id(query), jen.Id("opts").Op("...").Add(rt("HydrateOption"))).Params(jen.Index().Id(name), jen.Error()).Block(
		jen.Return(jen.Id("r").Dot("s").Dot("Hydrate").Call(jen.Id("ctx"), jen.Id("q").Dot("q"), jen.Id("opts").Op("..."))),
	)
	f.Commentf("SyncOnly syncs only the %s records that match any of qs among those the user may", name)
	f.Comment("see; the zero query matches them all, no queries none. See runtime.Store.SyncOnly.")
	f.Func().Add(recv()).Id("SyncOnly").Params(ctx.Clone(), jen.Id("qs").Op("...").Id(query)).Error().Block(
		jen.Id("all").Op(":=").Make(jen.Index().Add(rt("Query")), jen.Len(jen.Id("qs"))),
		jen.For(jen.List(jen.Id("i"), jen.Id("q")).Op(":=").Range().Id("qs")).Block(
			jen.Id("all").Index(jen.Id("i")).Op("=").Id("q").Dot("q"),
		),
		jen.Return(jen.Id("r").Dot("s").Dot("SyncOnly").Call(jen.Id("ctx"), jen.Id("all").Op("..."))),
	)
	f.Comment("Subscribe sends q's result now and after every committed write to the model that")
	f.Comment("changes it; a slow reader gets only the latest result. The channel closes when ctx ends.")
	f.Func().Add(recv()).Id("Subscribe").Params(ctx.Clone(), jen.Id("q").Id(query)).Op("<-").Chan().Index().Id(name).Block(
		jen.Return(jen.Id("r").Dot("s").Dot("Subscribe").Call(jen.Id("ctx"), jen.Id("q").Dot("q"))),
	)
}

// kindName is the runtime Kind constant of each storage kind.
func kindName(k model.Kind) *jen.Statement { return jen.Qual(runtimePkg, kindConst[k]) }

// sqlNull maps database/sql's Null types to the value type their conditions take.
var sqlNull = map[string]struct {
	value string
	kind  model.Kind
}{
	"NullString": {"string", model.KindString}, "NullBool": {"bool", model.KindBool},
	"NullByte": {"byte", model.KindInt}, "NullInt16": {"int16", model.KindInt},
	"NullInt32": {"int32", model.KindInt}, "NullInt64": {"int64", model.KindInt},
	"NullFloat64": {"float64", model.KindFloat}, "NullTime": {"time", model.KindTime},
}

// fieldBuilder returns the PizzaFields field type of a column and its constructor call.
func fieldBuilder(f *model.Field, cond, order string) (typ, ctor *jen.Statement) {
	kind := f.Type.Kind
	value := typeCode(f.Type.Expr)
	if f.Type.Pointer {
		value = typeCode(*f.Type.Expr.Elem)
	}
	e := f.Type.Expr
	if kind == model.KindScanner && e.Kind == model.Named && e.Pkg == "database/sql" {
		switch n, ok := sqlNull[e.Name]; {
		case ok && n.value == "time":
			kind, value = n.kind, jen.Qual("time", "Time")
		case ok:
			kind, value = n.kind, jen.Id(n.value)
		case e.Name == "Null" && len(e.Args) == 1:
			value = typeCode(e.Args[0]) // bound as is: database/sql converts it
		}
	}
	json := ""
	if f.Sent() {
		json = f.JSONKey
	}
	args := []jen.Code{jen.Lit(f.Column), jen.Lit(json), kindName(kind)}
	nullable := f.Type.Nullable
	var builder string
	switch kind {
	case model.KindString:
		builder = "StringField"
	case model.KindInt, model.KindUint, model.KindFloat, model.KindTime:
		builder = "OrderedField"
	case model.KindBytes, model.KindJSON:
		t := jen.Qual(runtimePkg, "NullOnlyField").Types(jen.Id(cond))
		return t, jen.Qual(runtimePkg, "NewNullOnlyField").Types(jen.Id(cond)).Call(args...)
	default:
		builder = "Field"
	}
	if nullable {
		builder = "Null" + builder
	}
	typ = jen.Qual(runtimePkg, builder).Types(jen.Id(cond), jen.Id(order), value.Clone())
	ctor = jen.Qual(runtimePkg, "New"+builder).Types(jen.Id(cond), jen.Id(order), value.Clone()).Call(args...)
	return typ, ctor
}
