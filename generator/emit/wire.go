package emit

import (
	"github.com/dave/jennifer/jen"

	"github.com/syncgen/syncgen/generator/model"
)

// wireDecls emits a model's JSON form on the wire: a flat struct of the fields that travel,
// with their json tags as written, so encoding/json treats each exactly as in the model,
// and the adapter methods between it and the model. local and sync:"-" fields never
// travel, and decoding leaves them as they are.
func wireDecls(f *jen.File, m *model.Model) {
	lower := lowerFirst(m.Name)
	wire, adapter := lower+"Wire", lower+"Adapter"
	var sent []*model.Field
	for _, fl := range m.Fields {
		if fl.Sent() {
			sent = append(sent, fl)
		}
	}
	f.Commentf("%s is %s as it travels to and from the remote.", wire, m.Name)
	f.Type().Id(wire).StructFunc(func(g *jen.Group) {
		for _, fl := range sent {
			s := g.Id(fl.Name).Add(typeCode(fl.Type.Expr))
			if fl.JSONTag != "" {
				s.Tag(map[string]string{"json": fl.JSONTag})
			}
		}
	})
	f.Line()
	f.Comment("MarshalRemote encodes r's fields that travel.")
	f.Func().Params(jen.Id(adapter)).Id("MarshalRemote").Params(jen.Id("r").Op("*").Id(m.Name)).Params(jen.Index().Byte(), jen.Error()).Block(
		jen.Return(jen.Qual("encoding/json", "Marshal").Call(jen.Id(wire).ValuesFunc(func(g *jen.Group) {
			for _, fl := range sent {
				g.Line().Id(fl.Name).Op(":").Add(sel(fl))
			}
			g.Line()
		}))),
	)
	f.Line()
	f.Comment("UnmarshalRemote decodes a record from the remote into r, leaving the fields that do")
	f.Comment("not travel as they are.")
	f.Func().Params(jen.Id(adapter)).Id("UnmarshalRemote").Params(jen.Id("data").Index().Byte(), jen.Id("r").Op("*").Id(m.Name)).Error().BlockFunc(func(g *jen.Group) {
		g.Var().Id("w").Id(wire)
		g.If(jen.Err().Op(":=").Qual("encoding/json", "Unmarshal").Call(jen.Id("data"), jen.Op("&").Id("w")), jen.Err().Op("!=").Nil()).Block(
			jen.Return(jen.Err()),
		)
		for _, fl := range sent {
			g.Add(sel(fl)).Op("=").Id("w").Dot(fl.Name)
		}
		g.Return(jen.Nil())
	})
	f.Line()
}
