package emit

import (
	"github.com/dave/jennifer/jen"

	"github.com/syncgen/syncgen/generator/model"
)

// repositoryFile emits what concerns the package as a whole: the model registry, the
// embedded migrations, the tag check and the Repository.
func repositoryFile(f *jen.File, p *model.Package) {
	models := sortedModels(p)
	f.Comment("syncgenSchemas lists the package's models for the runtime, by name.")
	f.Var().Id("syncgenSchemas").Op("=").Index().Op("*").Qual(runtimePkg, "Schema").ValuesFunc(func(g *jen.Group) {
		for _, m := range models {
			g.Op("&").Id(lowerFirst(m.Name) + "Schema")
		}
	})
	f.Line()
	f.Comment("syncgenMigrations holds the package's migrations, applied by Repository.Migrate.")
	f.Comment("//go:embed migrations/*.sql")
	f.Var().Id("syncgenMigrations").Qual("embed", "FS")
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
	f.Line()

	f.Commentf("Repository is package %s's offline-first repository: its models in SQLite, kept", p.Name)
	f.Comment("in sync with a remote.")
	f.Type().Id("Repository").StructFunc(func(g *jen.Group) {
		for _, m := range models {
			g.Id(m.RepoName).Op("*").Id(m.Name + "Repository")
		}
		g.Line().Id("core").Op("*").Qual(runtimePkg, "Repo")
	})
	f.Line()
	f.Comment("NewRepository opens the repository over db; a nil remote makes it local only. It")
	f.Comment("returns runtime.ErrStaleGeneratedCode when the models' tags changed since syncgen ran.")
	f.Func().Id("NewRepository").Params(
		jen.Id("db").Op("*").Qual(runtimePkg, "DB"),
		jen.Id("remote").Qual(runtimePkg, "Remote"),
		jen.Id("opts").Op("...").Qual(runtimePkg, "Option"),
	).Params(jen.Op("*").Id("Repository"), jen.Error()).Block(
		jen.If(jen.Err().Op(":=").Id("checkGeneratedTags").Call(), jen.Err().Op("!=").Nil()).Block(
			jen.Return(jen.Nil(), jen.Err()),
		),
		jen.List(jen.Id("core"), jen.Err()).Op(":=").Qual(runtimePkg, "NewRepo").Call(
			jen.Id("db"), jen.Id("remote"),
			jen.Qual(runtimePkg, "Package").Values(
				jen.Line().Add(kv("Path", jen.Lit(p.Path))),
				jen.Line().Add(kv("Schemas", jen.Id("syncgenSchemas"))),
				jen.Line().Add(kv("Migrations", jen.Id("syncgenMigrations"))),
				jen.Line(),
			),
			jen.Id("opts").Op("..."),
		),
		jen.If(jen.Err().Op("!=").Nil()).Block(jen.Return(jen.Nil(), jen.Err())),
		jen.Return(jen.Op("&").Id("Repository").ValuesFunc(func(g *jen.Group) {
			for _, m := range models {
				g.Line().Id(m.RepoName).Op(":").Op("&").Id(m.Name + "Repository").Values(
					jen.Qual(runtimePkg, "NewStore").Call(jen.Id("core"), jen.Id(lowerFirst(m.Name)+"Adapter").Values()))
			}
			g.Line().Id("core").Op(":").Id("core")
			g.Line()
		}), jen.Nil()),
	)
	f.Line()
	f.Comment("Tx is a transaction across the package's models; see Repository.Tx.")
	f.Type().Id("Tx").StructFunc(func(g *jen.Group) {
		for _, m := range models {
			g.Id(m.RepoName).Op("*").Id(m.Name + "Repository")
		}
	})
	f.Line()
	f.Comment("Tx runs fn in one transaction: the writes of every model commit together, or none")
	f.Comment("does when fn returns an error. Inside fn use only tx: the repository's own methods")
	f.Comment("would wait for the transaction to end.")
	f.Func().Params(jen.Id("r").Op("*").Id("Repository")).Id("Tx").Params(
		jen.Id("ctx").Qual("context", "Context"),
		jen.Id("fn").Func().Params(jen.Id("tx").Op("*").Id("Tx")).Error(),
	).Error().Block(
		jen.Return(jen.Id("r").Dot("core").Dot("Tx").Call(jen.Id("ctx"), jen.Func().Params(jen.Id("tx").Op("*").Qual(runtimePkg, "Tx")).Error().Block(
			jen.Return(jen.Id("fn").Call(jen.Op("&").Id("Tx").ValuesFunc(func(g *jen.Group) {
				for _, m := range models {
					g.Line().Id(m.RepoName).Op(":").Op("&").Id(m.Name + "Repository").Values(
						jen.Id("r").Dot(m.RepoName).Dot("s").Dot("InTx").Call(jen.Id("tx")))
				}
				g.Line()
			}))),
		))),
	)
	f.Line()
	f.Comment("Migrate applies the runtime's and this package's pending migrations. It is safe at")
	f.Comment("every start and from several processes at once, and refuses a database migrated by")
	f.Comment("newer code.")
	f.Func().Params(jen.Id("r").Op("*").Id("Repository")).Id("Migrate").Params(jen.Id("ctx").Qual("context", "Context")).Error().Block(
		jen.Return(jen.Id("r").Dot("core").Dot("Migrate").Call(jen.Id("ctx"))),
	)
	f.Line()
	syncMethods(f)
	f.Comment("Close ends the repository's background work and subscriptions, and makes Run")
	f.Comment("return. It does not close the DB.")
	f.Func().Params(jen.Id("r").Op("*").Id("Repository")).Id("Close").Params().Error().Block(
		jen.Return(jen.Id("r").Dot("core").Dot("Close").Call()),
	)
}

// syncMethods emits the Repository's sync methods: one-line delegations to runtime.Repo,
// which documents them in full.
func syncMethods(f *jen.File) {
	ctx := func() *jen.Statement { return jen.Id("ctx").Qual("context", "Context") }
	seqs := func() *jen.Statement { return jen.Id("seq").Op("...").Int64() }
	methods := []struct {
		doc     []string
		name    string
		params  []jen.Code
		args    []jen.Code
		results []jen.Code
	}{
		{[]string{
			"Sync runs one sync round now: it pushes every queued write, without waiting out",
			"backoff (a server's Retry-After is still honoured), then pulls every model.",
		}, "Sync", []jen.Code{ctx()}, []jen.Code{jen.Id("ctx")}, []jen.Code{rt("SyncReport"), jen.Error()}},
		{[]string{
			"Run keeps syncing until ctx ends or the repository closes: on an interval, after",
			"local writes, and with backoff after failures.",
		}, "Run", []jen.Code{ctx()}, []jen.Code{jen.Id("ctx")}, []jen.Code{jen.Error()}},
		{[]string{"Status reports the outbox and the last sync round."},
			"Status", nil, nil, []jen.Code{rt("Status")}},
		{[]string{
			"Events delivers sync events until ctx ends; a subscriber that falls behind loses the",
			"oldest.",
		}, "Events", []jen.Code{ctx()}, []jen.Code{jen.Id("ctx")}, []jen.Code{jen.Op("<-").Chan().Add(rt("Event"))}},
		{[]string{"WaitIdle waits until every queued write has been pushed or dead-lettered."},
			"WaitIdle", []jen.Code{ctx()}, []jen.Code{jen.Id("ctx")}, []jen.Code{jen.Error()}},
		{[]string{"DeadLetters lists the writes the server rejected, oldest first."},
			"DeadLetters", []jen.Code{ctx()}, []jen.Code{jen.Id("ctx")}, []jen.Code{jen.Index().Add(rt("DeadLetter")), jen.Error()}},
		{[]string{
			"Retry queues dead letters again (all of them when no seq is given), as new writes of",
			"their records' current local state.",
		}, "Retry", []jen.Code{ctx(), seqs()}, []jen.Code{jen.Id("ctx"), jen.Id("seq").Op("...")}, []jen.Code{jen.Error()}},
		{[]string{
			"Discard drops dead letters (all of them when no seq is given) and the writes queued",
			"behind them, reverts their records to the version the remote last acknowledged, and",
			"pulls them.",
		}, "Discard", []jen.Code{ctx(), seqs()}, []jen.Code{jen.Id("ctx"), jen.Id("seq").Op("...")}, []jen.Code{jen.Error()}},
	}
	for _, m := range methods {
		for _, line := range m.doc {
			f.Comment(line)
		}
		f.Func().Params(jen.Id("r").Op("*").Id("Repository")).Id(m.name).Params(m.params...).Params(m.results...).Block(
			jen.Return(jen.Id("r").Dot("core").Dot(m.name).Call(m.args...)),
		)
		f.Line()
	}
}
