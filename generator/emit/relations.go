package emit

import (
	"github.com/dave/jennifer/jen"

	"github.com/syncgen/syncgen/generator/model"
)

// relationDecls emits a model's relations (BookRel: one typed value per relation, over a
// runtime.RelationSpec) and the repository methods that load them. A model without
// relations gets nothing.
func relationDecls(f *jen.File, m *model.Model, rels []*model.Relation) {
	if len(rels) == 0 {
		return
	}
	name := m.Name
	typ := lowerFirst(name) + "Relations"
	relType := func(r *model.Relation) *jen.Statement {
		kind := "One"
		if r.Many {
			kind = "Many"
		}
		return rt(kind).Types(jen.Id(name), jen.Id(name+"Cond"), jen.Id(r.Target.Name), jen.Id(r.Target.Name+"Cond"))
	}
	f.Commentf("%s is the type of %sRel.", typ, name)
	f.Type().Id(typ).StructFunc(func(g *jen.Group) {
		for _, r := range rels {
			g.Comment(relationDoc(r))
			g.Id(r.Name).Add(relType(r))
		}
	})
	f.Line()
	f.Commentf("%sRel holds %s's relations: load them with FindWith and SubscribeWith, read a", name, name)
	f.Commentf("record's with Of, and query across one with Has: %sQuery{}.Where(%sRel.%s.Has(…)).", name, name, rels[0].Name)
	f.Var().Id(name + "Rel").Op("=").Id(typ).ValuesFunc(func(g *jen.Group) {
		for _, r := range rels {
			kind := "NewOne"
			if r.Many {
				kind = "NewMany"
			}
			schema := func(m *model.Model) jen.Code { return jen.Op("&").Id(lowerFirst(m.Name) + "Schema") }
			var spec *jen.Statement
			switch r.Kind {
			case model.RelForward:
				spec = rt("Forward").Call(jen.Lit(r.Name), schema(r.Owner), jen.Lit(r.Field.Name), schema(r.Target))
			case model.RelReverse:
				spec = rt("Reverse").Call(jen.Lit(r.Name), schema(r.Owner), schema(r.Target), jen.Lit(r.Field.Name))
			case model.RelThrough:
				spec = rt("Through").Call(jen.Lit(r.Name), schema(r.Owner), schema(r.Join), jen.Lit(r.Field.Name), jen.Lit(r.JoinTarget.Name), schema(r.Target))
			}
			g.Line().Id(r.Name).Op(":").Add(rt(kind).Types(jen.Id(name), jen.Id(name+"Cond"), jen.Id(r.Target.Name), jen.Id(r.Target.Name+"Cond")).Call(spec))
		}
		g.Line()
	})
	f.Line()

	recv := jen.Params(jen.Id("r").Op("*").Id(name + "Repository"))
	ctx := jen.Id("ctx").Qual("context", "Context")
	params := []jen.Code{ctx, jen.Id("q").Id(name + "Query"), jen.Id("rels").Op("...").Add(rt("Relation").Types(jen.Id(name)))}
	loaded := jen.Op("*").Add(rt("Loaded").Types(jen.Id(name)))
	f.Commentf("FindWith returns the %s records that match q, from SQLite, with rels loaded in one", name)
	f.Commentf("query each; read a record's with the relation: %sRel.%s.Of(res, v).", name, rels[0].Name)
	f.Func().Add(recv).Id("FindWith").Params(params...).Params(loaded.Clone(), jen.Error()).Block(
		jen.Return(jen.Id("r").Dot("s").Dot("FindWith").Call(jen.Id("ctx"), jen.Id("q").Dot("q"), jen.Id("rels").Op("..."))),
	)
	f.Comment("SubscribeWith sends FindWith's answer now and after every commit to the model or a")
	f.Comment("related one that changes it. The channel closes when ctx ends.")
	f.Func().Add(recv).Id("SubscribeWith").Params(params...).Op("<-").Chan().Add(loaded).Block(
		jen.Return(jen.Id("r").Dot("s").Dot("SubscribeWith").Call(jen.Id("ctx"), jen.Id("q").Dot("q"), jen.Id("rels").Op("..."))),
	)
}

func relationDoc(r *model.Relation) string {
	switch r.Kind {
	case model.RelForward:
		if r.Many {
			return r.Name + " are the " + r.Target.Name + " records that " + r.Field.Name + " lists."
		}
		return r.Name + " is the " + r.Target.Name + " that " + r.Field.Name + " points to."
	case model.RelReverse:
		if r.Field.RefList() {
			return r.Name + " are the " + r.Target.Name + " records whose " + r.Field.Name + " lists the " + r.Owner.Name + "."
		}
		return r.Name + " are the " + r.Target.Name + " records whose " + r.Field.Name + " points to the " + r.Owner.Name + "."
	}
	return r.Name + " are the " + r.Target.Name + " records linked through " + r.Join.Name + " (" + r.Field.Name + ", " + r.JoinTarget.Name + ")."
}
