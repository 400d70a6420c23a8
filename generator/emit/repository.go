package emit

import (
	"github.com/dave/jennifer/jen"

	"github.com/syncgen/syncgen/generator/model"
)

// repositoryFile emits what concerns the package as a whole: the model registry and the
// check that the structs' tags are the ones the code was generated from.
func repositoryFile(f *jen.File, p *model.Package) {
	models := sortedModels(p)
	f.Comment("syncgenSchemas lists the package's models for the runtime, by name.")
	f.Var().Id("syncgenSchemas").Op("=").Index().Op("*").Qual(runtimePkg, "Schema").ValuesFunc(func(g *jen.Group) {
		for _, m := range models {
			g.Op("&").Id(lowerFirst(m.Name) + "Schema")
		}
	})
	f.Line()
	f.Comment("checkGeneratedTags reports runtime.ErrStaleGeneratedCode when a model's struct tags")
	f.Comment("changed since syncgen ran.")
	f.Func().Id("checkGeneratedTags").Params().Error().Block(
		jen.Return(jen.Qual("errors", "Join").CallFunc(func(g *jen.Group) {
			for _, m := range models {
				g.Line().Qual(runtimePkg, "CheckTags").Call(jen.Id(m.Name).Values(), jen.Id(lowerFirst(m.Name)+"Schema").Dot("TagHash"))
			}
			g.Line()
		})),
	)
}
