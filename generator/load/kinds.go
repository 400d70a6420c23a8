package load

import (
	"fmt"
	"go/types"
	"reflect"
	"strings"

	"github.com/syncgen/syncgen/generator/model"
)

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
