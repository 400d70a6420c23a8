package remote

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/syncgen/syncgen/runtime"
)

// pocketBaseMaxFilter keeps a filter under PocketBase's limit of 3500 characters (past
// it every request is a generic 400); conditions that would pass it are left out.
const pocketBaseMaxFilter = 3000

// PocketBase sets a REST remote up for PocketBase 0.40 (docs/POCKETBASE.md): lists are
// objects with the records under "items", paged by page and perPage (500 a page; its
// maximum is 1000), updates are PATCH (a create falls back to POST), pulls send "since"
// as a filter on the model's updatedAt field, pages are in a stable order (the query's
// order, then @rowid), and a 403 is taken for an expired or missing token (with
// collection rules left null, PocketBase answers 403, never 401): writes that get it are
// retried, not dead-lettered. Give each model its path and PocketBaseParams:
//
//	api := remote.NewREST("https://pb.example.com", remote.PocketBase(), remote.WithRequestHook(auth))
//	menu.WithPizzaREST(runtime.RESTModel[menu.PizzaQuery]{
//		Path:   "/api/collections/pizzas/records",
//		Params: func(q menu.PizzaQuery) url.Values { return remote.PocketBaseParams(q.Query()) },
//	})
func PocketBase() Option {
	return func(r *REST) {
		WithListKey("items")(r)
		WithPagePagination("page", "perPage", 500)(r)
		WithWriteMethod(http.MethodPatch)(r)
		WithAuthFailureStatus(http.StatusForbidden)(r)
		r.shape.list = pocketBaseList
	}
}

// pocketBaseList adds "since" to the filter and @rowid to the order: pages are offsets,
// and a record updated during a listing must not shift others across a page boundary.
func pocketBaseList(e *runtime.Endpoint, q url.Values, since time.Time) {
	if key := updatedKey(e); key != "" && !since.IsZero() {
		// Fixed width: PocketBase compares the stored strings, and this literal never
		// leaves out a later Go-written time (it may let in a few of the same second).
		q.Set("filter", and(" && ", q.Get("filter"), key+" >= "+pbString(SinceRFC3339(since))))
	}
	sort := q.Get("sort")
	if !strings.Contains(sort, "@rowid") {
		q.Set("sort", strings.Trim(sort+",@rowid", ","))
	}
}

// PocketBaseParams maps a query to PocketBase's filter and sort parameters: Eq, Ne, In,
// IsNull, NotNull, OR, and, on numbers and strings, Lt, Le, Gt, Ge; HasPrefix and Like as
// ~ (PocketBase's LIKE, which ignores ASCII case); Gt and Ge on times as the fixed-width
// string comparison "since" uses. What PocketBase cannot express exactly (NotIn, Lt/Le on
// times, Like with escapes, a filter over its length limit) is left out or widened: the
// remote then sends more than the query asks for, and the query is answered locally, so
// the answer stays exact.
func PocketBaseParams(q runtime.Query) url.Values {
	v := url.Values{}
	var conds []string
	size := 0
	for _, c := range q.Conditions() {
		if f := pbCond(c); f != "" && size+len(f) < pocketBaseMaxFilter {
			conds = append(conds, f)
			size += len(f) + 8
		}
	}
	if f := and(" && ", conds...); f != "" {
		v.Set("filter", f)
	}
	var sorts []string
	for _, o := range sentOrders(q) {
		if o.Desc {
			sorts = append(sorts, "-"+o.JSON)
		} else {
			sorts = append(sorts, o.JSON)
		}
	}
	if len(sorts) > 0 {
		v.Set("sort", strings.Join(sorts, ","))
	}
	return v
}

// pbCond is one condition in PocketBase's filter syntax, "" when it is left out.
func pbCond(c *runtime.Condition) string {
	if c == nil {
		return ""
	}
	if c.Op == runtime.OpOr {
		var any []string
		for _, a := range c.Any {
			f := pbCond(a)
			if f == "" {
				return "" // one part unknown: the whole OR could hold
			}
			any = append(any, f)
		}
		return and(" || ", any...)
	}
	if c.JSON == "" {
		return ""
	}
	val := func(i int) (string, bool) { return pbValue(c.Values[i]) }
	_, isTime := firstValue(c).(time.Time)
	switch c.Op {
	case runtime.OpEq, runtime.OpNe, runtime.OpLt, runtime.OpLe, runtime.OpGt, runtime.OpGe:
		if len(c.Values) != 1 || isTime && c.Op != runtime.OpGt && c.Op != runtime.OpGe {
			return ""
		}
		x, ok := val(0)
		if !ok {
			return ""
		}
		if isTime {
			return c.JSON + " >= " + x // Gt widened to Ge: the same second may differ in width
		}
		return c.JSON + " " + pbOps[c.Op] + " " + x
	case runtime.OpIn:
		var any []string
		for i := range c.Values {
			x, ok := val(i)
			if !ok || isTime {
				return ""
			}
			any = append(any, c.JSON+" = "+x)
		}
		if len(any) == 0 {
			return ""
		}
		return strings.Join(any, " || ")
	case runtime.OpHasPrefix:
		if s, ok := firstValue(c).(string); ok {
			return c.JSON + " ~ " + pbString(s+"%")
		}
	case runtime.OpLike:
		if s, ok := firstValue(c).(string); ok && !strings.Contains(s, `\`) {
			if !strings.ContainsAny(s, "%") {
				return "" // PocketBase would wrap it in %…%: a contains, not an equality
			}
			return c.JSON + " ~ " + pbString(s)
		}
	case runtime.OpIsNull:
		return c.JSON + " = null"
	case runtime.OpNotNull:
		return c.JSON + " != null"
	}
	return ""
}

func firstValue(c *runtime.Condition) any {
	if len(c.Values) == 0 {
		return nil
	}
	return c.Values[0]
}

// pbValue renders an operand: strings quoted, numbers and booleans bare.
func pbValue(x any) (string, bool) {
	switch v := x.(type) {
	case string:
		return pbString(v), true
	case bool:
		return strconv.FormatBool(v), true
	case time.Time:
		return pbString(SinceRFC3339(v)), true
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64:
		return fmt.Sprint(v), true
	}
	return "", false
}

// pbString quotes s for a filter: single quotes, with \ and ' escaped.
func pbString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// pbOps is PocketBase's filter operator of each comparison.
var pbOps = map[runtime.Op]string{runtime.OpEq: "=", runtime.OpNe: "!=", runtime.OpLt: "<", runtime.OpLe: "<=", runtime.OpGt: ">", runtime.OpGe: ">="}
