package remote

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/syncgen/syncgen/runtime"
)

// JSONServerParams maps a query to json-server 0.17's URL parameters: Eq and In as
// field=value, Ne as field_ne, Lt/Le as field_lte, Gt/Ge as field_gte, Like and
// HasPrefix as field_like, and the order as _sort/_order. What json-server cannot express
// (NotIn, IsNull, OR, strict comparisons, the window) is left out: the remote then sends
// more than the query asks for, and the query itself is answered locally, so the answer
// stays exact.
//
//	menu.WithPizzaREST(runtime.RESTModel[menu.PizzaQuery]{
//		Params: func(q menu.PizzaQuery) url.Values { return remote.JSONServerParams(q.Query()) },
//	})
func JSONServerParams(q runtime.Query) url.Values {
	v := url.Values{}
	for _, c := range q.Conditions() {
		if c == nil || c.JSON == "" {
			continue
		}
		switch c.Op {
		case runtime.OpEq, runtime.OpIn:
			for _, x := range c.Values {
				v.Add(c.JSON, paramValue(x))
			}
		case runtime.OpNe:
			v.Add(c.JSON+"_ne", paramValue(c.Values[0]))
		case runtime.OpLt, runtime.OpLe:
			v.Add(c.JSON+"_lte", paramValue(c.Values[0]))
		case runtime.OpGt, runtime.OpGe:
			v.Add(c.JSON+"_gte", paramValue(c.Values[0]))
		case runtime.OpHasPrefix:
			v.Add(c.JSON+"_like", "^"+regexp.QuoteMeta(paramValue(c.Values[0])))
		case runtime.OpLike:
			v.Add(c.JSON+"_like", likeToRegexp(paramValue(c.Values[0])))
		}
	}
	var sorts, orders []string
	for _, o := range sentOrders(q) {
		sorts = append(sorts, o.JSON)
		if o.Desc {
			orders = append(orders, "desc")
		} else {
			orders = append(orders, "asc")
		}
	}
	if len(sorts) > 0 {
		v.Set("_sort", strings.Join(sorts, ","))
		v.Set("_order", strings.Join(orders, ","))
	}
	return v
}

// paramValue renders a condition's operand as encoding/json would put it in the record.
func paramValue(x any) string {
	if t, ok := x.(time.Time); ok {
		return t.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprint(x)
}

// likeToRegexp turns a SQL LIKE pattern (with \ escapes) into an anchored regexp; json-server
// matches _like case-insensitively, as SQLite's LIKE does for ASCII.
func likeToRegexp(pattern string) string {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		switch ch := pattern[i]; {
		case ch == '\\' && i+1 < len(pattern):
			i++
			b.WriteString(regexp.QuoteMeta(pattern[i : i+1]))
		case ch == '%':
			b.WriteString(".*")
		case ch == '_':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(pattern[i : i+1]))
		}
	}
	b.WriteString("$")
	return b.String()
}
