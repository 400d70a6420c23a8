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

// PostgREST sets a REST remote up for PostgREST and Supabase's REST API (docs/POSTGREST.md):
// a record is {collection}?ID=eq.X (ID the model's unique field), read with Accept
// application/vnd.pgrst.object+json, so that a missing record is PostgREST's 406 (taken as
// not found); every write is one upsert, POST {collection} with Prefer:
// resolution=merge-duplicates,return=representation; deletes are DELETE {collection}?ID=eq.X;
// lists page by offset and limit (1000, PostgREST's usual max-rows) in a stable order (the
// query's, then the id); and "since" is ?updatedAt=gte.T on the model's updatedAt field.
// Give each model PostgRESTParams, and add the API key and token in WithRequestHook:
//
//	api := remote.NewREST("https://xyz.supabase.co/rest/v1", remote.PostgREST(), remote.WithRequestHook(auth))
//	menu.WithPizzaREST(runtime.RESTModel[menu.PizzaQuery]{
//		Params: func(q menu.PizzaQuery) url.Values { return remote.PostgRESTParams(q.Query()) },
//	})
func PostgREST() Option {
	return func(r *REST) {
		WithOffsetPagination("offset", "limit", 1000)(r)
		r.shape.item = func(e *runtime.Endpoint, coll *url.URL, id string) *url.URL {
			q := coll.Query()
			q.Set(idKey(e), "eq."+id)
			coll.RawQuery = q.Encode()
			return coll
		}
		r.shape.list = func(e *runtime.Endpoint, q url.Values, since time.Time) {
			if key := updatedKey(e); key != "" && !since.IsZero() {
				q.Add(key, "gte."+since.UTC().Format(time.RFC3339Nano))
			}
			id := idKey(e)
			if order := q.Get("order"); !strings.Contains(","+order, ","+id+".") {
				q.Set("order", strings.Trim(order+","+id+".asc", ","))
			}
		}
		r.shape.upsert = http.Header{"Prefer": {"resolution=merge-duplicates,return=representation"}}
		r.shape.accept = "application/vnd.pgrst.object+json"
		r.shape.notFound = http.StatusNotAcceptable
	}
}

// PostgRESTParams maps a query to PostgREST's operators: Eq as eq, Ne as neq, Lt, Le, Gt,
// Ge as lt, lte, gt, gte, In and NotIn as in.(…) and not.in.(…), Like and HasPrefix as
// like (with * for %), IsNull and NotNull as is.null and not.is.null, OR as or=(…), and
// the order as order=key.asc,key.desc. Like with escapes is left out (answered locally).
func PostgRESTParams(q runtime.Query) url.Values {
	v := url.Values{}
	for _, c := range q.Conditions() {
		if c == nil {
			continue
		}
		if c.Op == runtime.OpOr {
			if f := pgOr(c); f != "" {
				v.Add("or", f)
			}
			continue
		}
		if f := pgCond(c, false); f != "" && c.JSON != "" {
			v.Add(c.JSON, f)
		}
	}
	var orders []string
	for _, o := range sentOrders(q) {
		dir := ".asc"
		if o.Desc {
			dir = ".desc"
		}
		orders = append(orders, o.JSON+dir)
	}
	if len(orders) > 0 {
		v.Set("order", strings.Join(orders, ","))
	}
	return v
}

// pgOr is an OR as PostgREST's or=(key.op.value,…); "" when a part cannot be expressed.
func pgOr(c *runtime.Condition) string {
	var parts []string
	for _, a := range c.Any {
		var f string
		switch {
		case a == nil:
		case a.Op == runtime.OpOr:
			if inner := pgOr(a); inner != "" {
				f = "or" + inner
			}
		case a.JSON != "":
			if cond := pgCond(a, true); cond != "" {
				f = a.JSON + "." + cond
			}
		}
		if f == "" {
			return ""
		}
		parts = append(parts, f)
	}
	if len(parts) == 0 {
		return ""
	}
	return "(" + strings.Join(parts, ",") + ")"
}

// pgCond is a condition's operator and operand, "op.value"; "" when left out. A value
// is literal, except inside in.(…) lists and or=(…) trees (tree), where strings are
// quoted.
func pgCond(c *runtime.Condition, tree bool) string {
	scalar := func(x any) string {
		if s, ok := x.(string); ok && !tree {
			return s
		}
		return pgValue(x)
	}
	one := func(op string) string {
		if len(c.Values) != 1 {
			return ""
		}
		return op + "." + scalar(c.Values[0])
	}
	list := func(op string) string {
		if len(c.Values) == 0 {
			return ""
		}
		vals := make([]string, len(c.Values))
		for i, x := range c.Values {
			vals[i] = pgValue(x)
		}
		return op + ".(" + strings.Join(vals, ",") + ")"
	}
	switch c.Op {
	case runtime.OpEq:
		return one("eq")
	case runtime.OpNe:
		return one("neq")
	case runtime.OpLt:
		return one("lt")
	case runtime.OpLe:
		return one("lte")
	case runtime.OpGt:
		return one("gt")
	case runtime.OpGe:
		return one("gte")
	case runtime.OpIn:
		return list("in")
	case runtime.OpNotIn:
		return list("not.in")
	case runtime.OpHasPrefix:
		if s, ok := firstValue(c).(string); ok && !strings.ContainsAny(s, `*%_\`) {
			return "like." + scalar(s+"*")
		}
	case runtime.OpLike:
		if s, ok := firstValue(c).(string); ok && !strings.ContainsAny(s, `*\`) {
			return "like." + scalar(strings.ReplaceAll(s, "%", "*"))
		}
	case runtime.OpIsNull:
		return "is.null"
	case runtime.OpNotNull:
		return "not.is.null"
	}
	return ""
}

// pgValue renders an operand of a list or a tree; strings are double-quoted (PostgREST's
// quoting for values holding its reserved characters , . : ( )), with " and \ escaped.
func pgValue(x any) string {
	switch v := x.(type) {
	case string:
		return pgQuote(v)
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano)
	case bool:
		return strconv.FormatBool(v)
	}
	return fmt.Sprint(x)
}

func pgQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
