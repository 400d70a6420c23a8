package shop_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncgen/syncgen/internal/e2e/shop"
	"github.com/syncgen/syncgen/remote"
	"github.com/syncgen/syncgen/runtime"
)

// postgrestServer follows PostgREST's documented behaviour for what remote.PostgREST
// sends (docs/POSTGREST.md lists what it leaves out): tables of JSON rows keyed by "id";
// GET with horizontal filters (eq, neq, lt, lte, gt, gte, like with * or %, in.(…), is.null,
// not.…, or=(…)), order, limit and offset; Accept application/vnd.pgrst.object+json
// answers the one row, or 406 PGRST116; POST inserts, or with Prefer
// resolution=merge-duplicates upserts (201), answering the rows with
// return=representation; DELETE removes the rows its filters match (204).
type postgrestServer struct {
	mu     sync.Mutex
	tables map[string][]map[string]any
	log    []string
}

func (s *postgrestServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = append(s.log, r.Method+" "+r.URL.String())
	table := strings.Trim(r.URL.Path, "/")
	rows, ok := s.tables[table]
	if !ok {
		pgError(w, 404, "42P01", "relation does not exist")
		return
	}
	single := strings.HasPrefix(r.Header.Get("Accept"), "application/vnd.pgrst.object")
	answer := func(status int, rows []map[string]any) {
		w.Header().Set("Content-Type", "application/json")
		if single {
			if len(rows) != 1 {
				pgError(w, 406, "PGRST116", fmt.Sprintf("JSON object requested, multiple (or no) rows returned: the result contains %d rows", len(rows)))
				return
			}
			w.WriteHeader(status)
			json.NewEncoder(w).Encode(rows[0])
			return
		}
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(rows)
	}
	switch r.Method {
	case http.MethodGet, http.MethodDelete:
		match, err := pgFilter(r.URL.Query())
		if err != nil {
			pgError(w, 400, "PGRST100", err.Error())
			return
		}
		var out, keep []map[string]any
		for _, row := range rows {
			if match(row) {
				out = append(out, row)
			} else {
				keep = append(keep, row)
			}
		}
		if r.Method == http.MethodDelete {
			s.tables[table] = keep
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if order := r.URL.Query().Get("order"); order != "" {
			terms := strings.Split(order, ",")
			slices.SortStableFunc(out, func(a, b map[string]any) int {
				for _, t := range terms {
					col, dir, _ := strings.Cut(t, ".")
					c := pgCompare(a[col], b[col])
					if dir == "desc" {
						c = -c
					}
					if c != 0 {
						return c
					}
				}
				return 0
			})
		}
		q := r.URL.Query()
		off, _ := strconv.Atoi(q.Get("offset"))
		out = out[min(off, len(out)):]
		if n, err := strconv.Atoi(q.Get("limit")); err == nil && n < len(out) {
			out = out[:n]
		}
		if out == nil {
			out = []map[string]any{}
		}
		answer(http.StatusOK, out)
	case http.MethodPost:
		body, _ := io.ReadAll(r.Body)
		var row map[string]any
		if err := json.Unmarshal(body, &row); err != nil || row["id"] == nil {
			pgError(w, 400, "PGRST102", "bad body")
			return
		}
		merge := strings.Contains(r.Header.Get("Prefer"), "resolution=merge-duplicates")
		i := slices.IndexFunc(rows, func(x map[string]any) bool { return x["id"] == row["id"] })
		switch {
		case i >= 0 && !merge:
			pgError(w, 409, "23505", `duplicate key value violates unique constraint "pkey"`)
			return
		case i >= 0:
			for k, v := range row {
				rows[i][k] = v
			}
			row = rows[i]
		default:
			s.tables[table] = append(rows, row)
		}
		if !strings.Contains(r.Header.Get("Prefer"), "return=representation") {
			w.WriteHeader(http.StatusCreated)
			return
		}
		answer(http.StatusCreated, []map[string]any{row})
	default:
		pgError(w, 405, "PGRST117", "unsupported method")
	}
}

func pgError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"code": code, "message": msg, "details": nil, "hint": nil})
}

// pgFilter reads the query's horizontal filters: every parameter but select, order,
// limit and offset is COLUMN=[not.]OP.VALUE; or=(COLUMN.OP.VALUE,…).
func pgFilter(q url.Values) (func(map[string]any) bool, error) {
	var conds []func(map[string]any) bool
	for key, vals := range q {
		switch key {
		case "select", "order", "limit", "offset":
			continue
		}
		for _, v := range vals {
			var c func(map[string]any) bool
			var err error
			if key == "or" {
				c, err = pgOrFilter(v)
			} else {
				c, err = pgOp(key, v)
			}
			if err != nil {
				return nil, err
			}
			conds = append(conds, c)
		}
	}
	return func(row map[string]any) bool {
		for _, c := range conds {
			if !c(row) {
				return false
			}
		}
		return true
	}, nil
}

func pgOrFilter(v string) (func(map[string]any) bool, error) {
	if !strings.HasPrefix(v, "(") || !strings.HasSuffix(v, ")") {
		return nil, fmt.Errorf("or: %q", v)
	}
	var anyOf []func(map[string]any) bool
	for _, part := range pgSplit(v[1 : len(v)-1]) {
		col, rest, ok := strings.Cut(part, ".")
		if !ok {
			return nil, fmt.Errorf("or part %q", part)
		}
		c, err := pgOp(col, rest)
		if err != nil {
			return nil, err
		}
		anyOf = append(anyOf, c)
	}
	return func(row map[string]any) bool {
		return slices.ContainsFunc(anyOf, func(c func(map[string]any) bool) bool { return c(row) })
	}, nil
}

// pgSplit splits on commas outside double quotes and parentheses.
func pgSplit(s string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case c == '(' && !quoted:
			depth++
		case c == ')' && !quoted:
			depth--
		case c == ',' && !quoted && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// pgUnquote reads a value that may be double-quoted.
func pgUnquote(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return strings.NewReplacer(`\"`, `"`, `\\`, `\`).Replace(v[1 : len(v)-1])
	}
	return v
}

func pgOp(col, v string) (func(map[string]any) bool, error) {
	not := strings.HasPrefix(v, "not.")
	v = strings.TrimPrefix(v, "not.")
	op, val, ok := strings.Cut(v, ".")
	if !ok {
		return nil, fmt.Errorf("%s: %q is not OP.VALUE", col, v)
	}
	val = pgUnquote(val)
	var test func(x any) bool
	switch op {
	case "eq", "neq", "lt", "lte", "gt", "gte":
		test = func(x any) bool {
			if x == nil {
				return false // SQL: a comparison with NULL is not true
			}
			c := pgCompare(x, val)
			return map[string]bool{"eq": c == 0, "neq": c != 0, "lt": c < 0, "lte": c <= 0, "gt": c > 0, "gte": c >= 0}[op]
		}
	case "like":
		re := regexp.MustCompile("^" + strings.NewReplacer(`\*`, ".*", `%`, ".*", "_", ".").Replace(regexp.QuoteMeta(val)) + "$")
		test = func(x any) bool { s, ok := x.(string); return ok && re.MatchString(s) }
	case "in":
		if !strings.HasPrefix(val, "(") || !strings.HasSuffix(val, ")") {
			return nil, fmt.Errorf("in: %q", val)
		}
		var list []string
		for _, p := range pgSplit(val[1 : len(val)-1]) {
			list = append(list, pgUnquote(p))
		}
		test = func(x any) bool {
			return x != nil && slices.ContainsFunc(list, func(s string) bool { return pgCompare(x, s) == 0 })
		}
	case "is":
		if val != "null" {
			return nil, fmt.Errorf("is.%s", val)
		}
		test = func(x any) bool { return x == nil }
	default:
		return nil, fmt.Errorf("operator %q", op)
	}
	return func(row map[string]any) bool { return test(row[col]) != not }, nil
}

// pgCompare compares a row's value with an operand as PostgreSQL would for the column's
// type: numbers as numbers, times as times, the rest as text.
func pgCompare(x, y any) int {
	xs, ys := fmt.Sprint(x), fmt.Sprint(y)
	if f, ok := x.(float64); ok {
		xs = strconv.FormatFloat(f, 'f', -1, 64)
	}
	xf, err1 := strconv.ParseFloat(xs, 64)
	yf, err2 := strconv.ParseFloat(ys, 64)
	if err1 == nil && err2 == nil {
		return cmpFloat(xf, yf)
	}
	xt, err1 := time.Parse(time.RFC3339Nano, xs)
	yt, err2 := time.Parse(time.RFC3339Nano, ys)
	if err1 == nil && err2 == nil {
		return xt.Compare(yt)
	}
	return strings.Compare(xs, ys)
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestPostgRESTPreset(t *testing.T) {
	ctx := context.Background()
	pg := &postgrestServer{tables: map[string][]map[string]any{"pizzas": nil, "notes": nil, "toppings": nil}}
	srv := httptest.NewServer(pg)
	t.Cleanup(srv.Close)
	clock := &manualClock{t: time.Date(2026, 12, 4, 4, 12, 40, 0, time.UTC)}
	open := func() *shop.Repository {
		return openRepo(t, remote.NewREST(srv.URL, remote.PostgREST()), runtime.WithClock(clock.now),
			shop.WithPizzaREST(runtime.RESTModel[shop.PizzaQuery]{
				Params: func(q shop.PizzaQuery) url.Values { return remote.PostgRESTParams(q.Query()) },
			}))
	}
	a, b := open(), open()
	requests := func() []string {
		pg.mu.Lock()
		defer pg.mu.Unlock()
		out := pg.log
		pg.log = nil
		return out
	}

	pizzas := []*shop.Pizza{
		{ID: "p1", Name: "Margherita", Price: 900},
		{ID: "p2", Name: "Quattro, Formaggi", Price: 1200},
		{ID: "p3", Name: "Marinara", Price: 800},
	}
	if err := a.Pizzas.UpsertMany(ctx, pizzas); err != nil {
		t.Fatal(err)
	}
	if rep := syncPizzas(t, a); rep.Pushed != 3 {
		t.Fatalf("A's sync: %+v", rep)
	}
	if rep := syncPizzas(t, b); rep.Pulled != 3 {
		t.Fatalf("B's sync: %+v", rep)
	}
	reqs := requests()
	// New records need no read before their write.
	if !hasRequestPart(reqs, "POST /pizzas") || hasRequestPart(reqs, "GET /pizzas?id=eq.p1") || !hasRequestPart(reqs, "GET /pizzas?limit=1000&offset=0&order=id.asc") {
		t.Fatalf("requests: %v", reqs)
	}
	syncPizzas(t, b)
	if reqs := requests(); !hasRequestPart(reqs, "updatedAt=gte.2026-12-04T04%3A12%3A") {
		t.Fatalf("a second pull without since: %v", reqs)
	}

	// The operators, through AlwaysHydrate on a client that has nothing yet.
	F := shop.PizzaFields
	c := open()
	for _, tc := range []struct {
		q    shop.PizzaQuery
		want string
	}{
		{shop.PizzaQuery{}.Where(F.Price.Lt(1000)).OrderBy(F.Price.Desc()), "price=lt.1000"},
		{shop.PizzaQuery{}.Where(F.Name.In("Quattro, Formaggi", "Margherita")).OrderBy(F.ID.Asc()), "name=in.%28%22Quattro%2C+Formaggi%22%2C%22Margherita%22%29"},
		{shop.PizzaQuery{}.Where(F.Name.HasPrefix("Mar"), F.Price.Ge(850)).OrderBy(F.ID.Asc()), "name=like.Mar%2A"},
		{shop.PizzaQuery{}.Where(shop.PizzaOr(F.Price.Gt(1000), F.Name.Eq("Marinara"))).OrderBy(F.ID.Asc()), "or=%28price.gt.1000%2Cname.eq.%22Marinara%22%29"},
		{shop.PizzaQuery{}.Where(F.DeletedAt.IsNull(), F.Name.Ne("Marinara")).OrderBy(F.ID.Asc()), "deletedAt=is.null"},
	} {
		got, err := c.Pizzas.Find(ctx, tc.q, runtime.AlwaysHydrate)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := a.Pizzas.Find(ctx, tc.q, runtime.LocalOnly)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: got %v, want %v", tc.want, got, want)
		}
		if reqs := requests(); !hasRequestPart(reqs, tc.want) || len(reqs) != 1 {
			t.Fatalf("%s: requests %v", tc.want, reqs)
		}
	}

	// A record the server does not have is its 406, taken as not found.
	if _, err := b.Pizzas.Get(ctx, "nope", runtime.AwaitRemote); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("get of a missing record: %v", err)
	}

	// Edits, a delete and RequireRemote converge.
	clock.add(time.Second)
	p, _ := a.Pizzas.Get(ctx, "p1")
	p.Price = 950
	a.Pizzas.Upsert(ctx, &p)
	clock.add(time.Second)
	if err := b.Pizzas.Delete(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	syncPizzas(t, b)
	if rep := syncPizzas(t, a); rep.Overruled != 1 {
		t.Fatalf("A's older edit: %+v, want it overruled by B's delete", rep)
	}
	n := shop.Note{ID: "n1", Text: "hello"}
	if err := a.Notes.Upsert(ctx, &n, runtime.RequireRemote); err != nil {
		t.Fatal(err)
	}
	if err := a.Notes.Delete(ctx, "n1", runtime.RequireRemote); err != nil {
		t.Fatal(err)
	}
	if reqs := requests(); !hasRequestPart(reqs, "DELETE /notes?id=eq.n1") {
		t.Fatalf("requests: %v", reqs)
	}
	settle(t, a, b)
	for name, r := range map[string]*shop.Repository{"A": a, "B": b} {
		if _, err := r.Pizzas.Get(ctx, "p1", runtime.LocalOnly); !errors.Is(err, runtime.ErrNotFound) {
			t.Fatalf("%s still holds p1: %v", name, err)
		}
	}
}

func hasRequestPart(reqs []string, part string) bool {
	return slices.ContainsFunc(reqs, func(r string) bool { return strings.Contains(r, part) })
}
