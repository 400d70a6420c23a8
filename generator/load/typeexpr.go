package load

import (
	"fmt"
	"go/types"
	"strings"

	"github.com/syncgen/syncgen/generator/model"
)

// typeExpr writes a go/types type out as IR syntax. Types of the package being generated
// get an empty Pkg, so emitters refer to them unqualified.
func typeExpr(t types.Type, self *types.Package) model.TypeExpr {
	switch t := t.(type) {
	case *types.Alias:
		return named(t.Obj(), t.TypeArgs(), self)
	case *types.Named:
		return named(t.Obj(), t.TypeArgs(), self)
	case *types.Basic:
		return model.TypeExpr{Kind: model.Named, Name: t.Name()}
	case *types.Pointer:
		return model.TypeExpr{Kind: model.Pointer, Elem: ptr(typeExpr(t.Elem(), self))}
	case *types.Slice:
		return model.TypeExpr{Kind: model.Slice, Elem: ptr(typeExpr(t.Elem(), self))}
	case *types.Array:
		return model.TypeExpr{Kind: model.Array, Len: t.Len(), Elem: ptr(typeExpr(t.Elem(), self))}
	case *types.Map:
		return model.TypeExpr{Kind: model.Map, Key: ptr(typeExpr(t.Key(), self)), Elem: ptr(typeExpr(t.Elem(), self))}
	case *types.Chan:
		dir := map[types.ChanDir]model.ChanDir{types.SendRecv: model.ChanBoth, types.SendOnly: model.ChanSend, types.RecvOnly: model.ChanRecv}[t.Dir()]
		return model.TypeExpr{Kind: model.Chan, Dir: dir, Elem: ptr(typeExpr(t.Elem(), self))}
	case *types.Struct:
		e := model.TypeExpr{Kind: model.Struct}
		for i := 0; i < t.NumFields(); i++ {
			f := t.Field(i)
			sf := model.StructField{Embedded: f.Embedded(), Type: typeExpr(f.Type(), self)}
			if !f.Embedded() {
				sf.Name = f.Name()
			}
			e.Fields = append(e.Fields, sf)
		}
		return e
	case *types.Signature:
		e := model.TypeExpr{Kind: model.Func, Variadic: t.Variadic()}
		for i := 0; i < t.Params().Len(); i++ {
			e.Params = append(e.Params, typeExpr(t.Params().At(i).Type(), self))
		}
		for i := 0; i < t.Results().Len(); i++ {
			e.Results = append(e.Results, typeExpr(t.Results().At(i).Type(), self))
		}
		return e
	case *types.Interface:
		e := model.TypeExpr{Kind: model.Interface}
		for i := 0; i < t.NumExplicitMethods(); i++ {
			m := t.ExplicitMethod(i)
			e.Methods = append(e.Methods, model.Method{Name: m.Name(), Sig: typeExpr(m.Type(), self)})
		}
		for i := 0; i < t.NumEmbeddeds(); i++ {
			e.Embedded = append(e.Embedded, typeExpr(t.EmbeddedType(i), self))
		}
		return e
	case *types.TypeParam:
		return model.TypeExpr{Kind: model.Named, Name: t.Obj().Name()}
	}
	return model.TypeExpr{Kind: model.Named, Name: "invalid"}
}

func named(obj *types.TypeName, args *types.TypeList, self *types.Package) model.TypeExpr {
	e := model.TypeExpr{Kind: model.Named, Name: obj.Name()}
	if obj.Pkg() != nil && obj.Pkg() != self {
		e.Pkg = obj.Pkg().Path()
	}
	for i := 0; i < args.Len(); i++ {
		e.Args = append(e.Args, typeExpr(args.At(i), self))
	}
	return e
}

func ptr(e model.TypeExpr) *model.TypeExpr { return &e }

// exprString prints a type for messages, qualifying other packages by their last path
// element.
func exprString(e model.TypeExpr) string {
	switch e.Kind {
	case model.Named:
		name := e.Name
		if e.Pkg != "" {
			name = e.Pkg[strings.LastIndex(e.Pkg, "/")+1:] + "." + name
		}
		if len(e.Args) > 0 {
			args := make([]string, len(e.Args))
			for i, a := range e.Args {
				args[i] = exprString(a)
			}
			name += "[" + strings.Join(args, ", ") + "]"
		}
		return name
	case model.Pointer:
		return "*" + exprString(*e.Elem)
	case model.Slice:
		return "[]" + exprString(*e.Elem)
	case model.Array:
		return fmt.Sprintf("[%d]%s", e.Len, exprString(*e.Elem))
	case model.Map:
		return "map[" + exprString(*e.Key) + "]" + exprString(*e.Elem)
	case model.Chan:
		return "chan " + exprString(*e.Elem)
	case model.Struct:
		return "struct{...}"
	case model.Func:
		return "func(...)"
	case model.Interface:
		return "interface{...}"
	}
	return "?"
}
