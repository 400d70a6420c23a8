package runtime

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/syncgen/syncgen/wire"
)

// Subsets (docs/SCOPES.md, "Client-chosen subsets"): a client may sync only the records
// of a model that match some queries. The queries travel as wire.Subset, conditions on
// the record's JSON keys; both sides compile them against the model's schema here, so
// that the server's test of a record (Match, on its JSON) and the client's test of its
// rows (sql, in SQLite) agree value for value: times compare as times, numbers as
// numbers, strings byte by byte, and a null holds no comparison.

// subsetOf is the subset a query selects: its conditions, for the server.
func subsetOf(s *Schema, q Query) (wire.Subset, error) {
	if q.HasWindow() || len(q.orders) > 0 {
		return nil, errors.New("a subset is a set of records: it takes no limit, offset or order")
	}
	out := wire.Subset{}
	for i, c := range q.Conditions() {
		wc, err := wireCond(s, c)
		if err != nil {
			return nil, fmt.Errorf("condition %d: %w", i+1, err)
		}
		out = append(out, wc)
	}
	return out, nil
}

func wireCond(s *Schema, c *Condition) (wire.Cond, error) {
	if c == nil {
		return wire.Cond{}, errors.New("no condition")
	}
	if c.Op == OpOr {
		out := wire.Cond{Op: string(OpOr), Any: []wire.Cond{}}
		for _, a := range c.Any {
			wc, err := wireCond(s, a)
			if err != nil {
				return wire.Cond{}, err
			}
			out.Any = append(out.Any, wc)
		}
		return out, nil
	}
	col := s.column(c.Column)
	if _, err := subsetColumn(s, col, c.Column); err != nil {
		return wire.Cond{}, err
	}
	out := wire.Cond{Key: col.JSON, Op: string(c.Op)}
	if _, ok := subsetOps[c.Op]; !ok {
		return wire.Cond{}, fmt.Errorf("%s on %s: a subset takes Eq, Ne, Lt, Le, Gt, Ge, In, NotIn, HasPrefix, IsNull, NotNull and Or", c.Op, col.Field)
	}
	for _, v := range c.Values {
		b, err := json.Marshal(v)
		if err != nil {
			return wire.Cond{}, fmt.Errorf("%s: %w", col.Field, err)
		}
		if c.Op == OpIn || c.Op == OpNotIn {
			out.Values = append(out.Values, b)
		} else {
			out.Value = b
		}
	}
	return out, nil
}

// subsetOps are the operators a subset takes, with how many operands (-1: a list).
var subsetOps = map[Op]int{
	OpEq: 1, OpNe: 1, OpLt: 1, OpLe: 1, OpGt: 1, OpGe: 1, OpHasPrefix: 1,
	OpIn: -1, OpNotIn: -1, OpIsNull: 0, OpNotNull: 0,
}

// subsetColumn checks that a column can narrow a subset: it travels, and holds strings,
// numbers, booleans or times.
func subsetColumn(s *Schema, col *Column, name string) (*Column, error) {
	switch {
	case col == nil:
		return nil, fmt.Errorf("%s has no field %q", s.Model, name)
	case col.JSON == "":
		return nil, fmt.Errorf("%s.%s does not travel to the server: a subset cannot use it", s.Model, col.Field)
	}
	switch col.Kind {
	case KindString, KindBool, KindInt, KindUint, KindFloat, KindTime:
		return col, nil
	}
	return nil, fmt.Errorf("%s.%s holds bytes, JSON or a type of its own: a subset can compare only strings, numbers, booleans and times", s.Model, col.Field)
}

// column is the schema's column named name (SQLite), nil when there is none.
func (s *Schema) column(name string) *Column {
	for i := range s.Columns {
		if s.Columns[i].Name == name {
			return &s.Columns[i]
		}
	}
	return nil
}

// Subsets is a model's subsets compiled against its schema: records that match any of
// them are synced. The generated server matches records with it; the client its rows.
type Subsets struct {
	subs [][]term
}

// term is one compiled condition.
type term struct {
	col    *Column
	op     Op
	values []any // string, int64, float64, bool or time.Time, as the column's kind
	any    []term
}

// CompileSubsets checks subsets against a model's schema: keys it has, operators a subset
// takes, operands of the field's type, at most wire.MaxSubsetTerms terms in all.
func CompileSubsets(s *Schema, subs []wire.Subset) (*Subsets, error) {
	out := &Subsets{subs: make([][]term, 0, len(subs))}
	budget := wire.MaxSubsetTerms
	for i, sub := range subs {
		terms, err := compileTerms(s, sub, &budget)
		if err != nil {
			return nil, fmt.Errorf("subset %d: %w", i+1, err)
		}
		out.subs = append(out.subs, terms)
	}
	return out, nil
}

func compileTerms(s *Schema, conds []wire.Cond, budget *int) ([]term, error) {
	out := make([]term, 0, len(conds))
	for _, c := range conds {
		*budget -= 1 + len(c.Values)
		if *budget < 0 {
			return nil, fmt.Errorf("more than %d conditions and values", wire.MaxSubsetTerms)
		}
		if Op(c.Op) == OpOr {
			any, err := compileTerms(s, c.Any, budget)
			if err != nil {
				return nil, err
			}
			out = append(out, term{op: OpOr, any: any})
			continue
		}
		var col *Column
		for i := range s.Columns {
			if s.Columns[i].JSON == c.Key && c.Key != "" {
				col = &s.Columns[i]
			}
		}
		if col == nil {
			return nil, fmt.Errorf("%s has no field with the key %q", s.Model, c.Key)
		}
		if _, err := subsetColumn(s, col, c.Key); err != nil {
			return nil, err
		}
		n, ok := subsetOps[Op(c.Op)]
		if !ok || (Op(c.Op) == OpHasPrefix && col.Kind != KindString) {
			return nil, fmt.Errorf("%q: not an operator a subset takes on %s", c.Op, c.Key)
		}
		raws := c.Values
		switch {
		case n == 1 && (c.Value == nil || c.Values != nil), n == 0 && (c.Value != nil || c.Values != nil), n == -1 && c.Value != nil:
			return nil, fmt.Errorf("%s %s: wrong operands", c.Key, c.Op)
		case n == 1:
			raws = []json.RawMessage{c.Value}
		}
		t := term{col: col, op: Op(c.Op)}
		for _, raw := range raws {
			v, err := decodeKind(col.Kind, raw)
			if err != nil || v == nil {
				return nil, fmt.Errorf("%s %s: %s is not a value of the field", c.Key, c.Op, raw)
			}
			t.values = append(t.values, v)
		}
		out = append(out, t)
	}
	return out, nil
}

// decodeKind reads a JSON value as the kind holds it; nil for null or absent.
func decodeKind(k Kind, raw json.RawMessage) (any, error) {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	switch k {
	case KindString:
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	case KindBool:
		var b bool
		err := json.Unmarshal(raw, &b)
		return b, err
	case KindInt, KindUint:
		var n int64
		err := json.Unmarshal(raw, &n)
		return n, err
	case KindFloat:
		var f float64
		err := json.Unmarshal(raw, &f)
		return f, err
	case KindTime:
		var t time.Time
		err := json.Unmarshal(raw, &t)
		return t.UTC(), err
	}
	return nil, fmt.Errorf("kind %d cannot be compared", k)
}

// zeroKind is what a non-nullable field holds when its key is absent or null: the
// client decodes such a record into the zero value, so the server compares that.
func zeroKind(k Kind) any {
	switch k {
	case KindString:
		return ""
	case KindBool:
		return false
	case KindInt, KindUint:
		return int64(0)
	case KindFloat:
		return 0.0
	case KindTime:
		return time.Time{}
	}
	return nil
}

// Match reports whether a record's JSON matches any of the subsets; a record that is not
// a JSON object matches none.
func (ss *Subsets) Match(record []byte) bool {
	r := &matching{values: map[*Column]any{}}
	if json.Unmarshal(record, &r.fields) != nil {
		return false
	}
	for _, sub := range ss.subs {
		if allHold(sub, r) {
			return true
		}
	}
	return false
}

// matching is a record being matched: its fields, and the values of those read so far.
type matching struct {
	fields map[string]json.RawMessage
	values map[*Column]any
}

// notOfKind stands for a value not of its field's type: no condition holds on it.
var notOfKind = new(int)

// value is a field's value as its kind holds it: nil for null, the zero value for an
// absent or null non-nullable field, notOfKind for a value not of the field's type.
func (r *matching) value(col *Column) any {
	if v, ok := r.values[col]; ok {
		return v
	}
	raw, ok := r.fields[col.JSON]
	for _, was := range slices.Backward(col.JSONWas) { // a record of an older app version
		if !ok {
			raw, ok = r.fields[was]
		}
	}
	v, err := decodeKind(col.Kind, raw)
	switch {
	case err != nil:
		v = notOfKind
	case v == nil && !col.Nullable:
		v = zeroKind(col.Kind)
	}
	r.values[col] = v
	return v
}

func allHold(terms []term, r *matching) bool {
	for _, t := range terms {
		if !t.holds(r) {
			return false
		}
	}
	return true
}

func (t term) holds(r *matching) bool {
	if t.op == OpOr {
		for _, a := range t.any {
			if a.holds(r) {
				return true
			}
		}
		return false
	}
	v := r.value(t.col)
	if v == notOfKind {
		return false // as in SQL, where such a value would not be stored
	}
	switch t.op {
	case OpIsNull:
		return v == nil
	case OpNotNull:
		return v != nil
	case OpNotIn:
		if len(t.values) == 0 {
			return true
		}
	}
	if v == nil {
		return false
	}
	switch t.op {
	case OpEq:
		return compareKind(v, t.values[0]) == 0
	case OpNe:
		return compareKind(v, t.values[0]) != 0
	case OpLt:
		return compareKind(v, t.values[0]) < 0
	case OpLe:
		return compareKind(v, t.values[0]) <= 0
	case OpGt:
		return compareKind(v, t.values[0]) > 0
	case OpGe:
		return compareKind(v, t.values[0]) >= 0
	case OpHasPrefix:
		return strings.HasPrefix(v.(string), t.values[0].(string))
	case OpIn, OpNotIn:
		in := slices.ContainsFunc(t.values, func(w any) bool { return compareKind(v, w) == 0 })
		return in == (t.op == OpIn)
	}
	return false
}

// compareKind compares two values decoded by decodeKind from the same kind.
func compareKind(a, b any) int {
	switch a := a.(type) {
	case string:
		return strings.Compare(a, b.(string))
	case int64:
		return cmp.Compare(a, b.(int64))
	case float64:
		return cmp.Compare(a, b.(float64))
	case bool:
		return cmp.Compare(boolInt(a), boolInt(b.(bool)))
	case time.Time:
		return a.Compare(b.(time.Time))
	}
	return math.MinInt
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ScopeValues is the scope values the subsets can match, when each names some with Eq or
// In on the scope field; ok is false when one does not, or the model has no scope field.
// The server reads only these values' records.
func (ss *Subsets) ScopeValues(s *Schema) (values []string, ok bool) {
	values = []string{}
	for _, sub := range ss.subs {
		var these []string
		named := false
		for _, t := range sub {
			if t.col == nil || !t.col.Scope || (t.op != OpEq && t.op != OpIn) {
				continue
			}
			var vs []string
			for _, v := range t.values {
				vs = append(vs, v.(string))
			}
			if !named {
				these, named = vs, true
			} else {
				these = intersect(these, vs)
			}
		}
		if !named {
			return nil, false
		}
		values = append(values, these...)
	}
	return slices.Compact(slices.Sorted(slices.Values(values))), s.ScopeColumn() != nil
}

// sql is the subsets as a SQLite condition on the model's table: true for the rows that
// match any of them, as Match would their records.
func (ss *Subsets) sql() (string, []any) {
	if len(ss.subs) == 0 {
		return "0", nil
	}
	var args []any
	ors := make([]string, len(ss.subs))
	for i, sub := range ss.subs {
		ors[i] = termsSQL(sub, " AND ", "1", &args)
	}
	return "COALESCE(" + strings.Join(ors, " OR ") + ", 0)", args
}

func termsSQL(terms []term, join, none string, args *[]any) string {
	if len(terms) == 0 {
		return none
	}
	parts := make([]string, len(terms))
	for i, t := range terms {
		parts[i] = t.sql(args)
	}
	return "(" + strings.Join(parts, join) + ")"
}

func (t term) sql(args *[]any) string {
	if t.op == OpOr {
		return termsSQL(t.any, " OR ", "0", args)
	}
	col := quoteIdent(t.col.Name)
	switch t.op {
	case OpIsNull:
		return col + " IS NULL"
	case OpNotNull:
		return col + " IS NOT NULL"
	case OpHasPrefix: // as StringField.HasPrefix has it
		prefix := t.values[0].(string)
		*args = append(*args, len([]rune(prefix)), prefix)
		return "substr(" + col + ", 1, ?) = ?"
	case OpIn, OpNotIn:
		if len(t.values) == 0 {
			return map[Op]string{OpIn: "0", OpNotIn: "1"}[t.op]
		}
		for _, v := range t.values {
			*args = append(*args, bindValue(t.col.Kind, v))
		}
		marks := strings.TrimSuffix(strings.Repeat("?, ", len(t.values)), ", ")
		return col + map[Op]string{OpIn: " IN (", OpNotIn: " NOT IN ("}[t.op] + marks + ")"
	}
	*args = append(*args, bindValue(t.col.Kind, t.values[0]))
	return col + " " + map[Op]string{OpEq: "=", OpNe: "<>", OpLt: "<", OpLe: "<=", OpGt: ">", OpGe: ">="}[t.op] + " ?"
}
