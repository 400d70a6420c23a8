package runtime

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Cond is one condition of a query: SQL over a model's columns with bound arguments.
// Generated code declares a distinct type per model (type PizzaCond runtime.Cond), so a
// condition of one model does not compile in another's query.
type Cond struct {
	sql  string
	args []any
	info *Condition
}

// CondType is satisfied by Cond and by every generated per-model condition type.
type CondType interface {
	~struct {
		sql  string
		args []any
		info *Condition
	}
}

// Condition describes a condition, for remotes that turn queries into URL parameters.
type Condition struct {
	Column string // SQLite column ("" for OpOr)
	JSON   string // the column's key on the wire ("" when it never travels)
	Op     Op
	Values []any        // the operands, as given (time.Time for times)
	Any    []*Condition // OpOr: any of these holds; OpHas: the related record's conditions
	// Relation names the relation of an OpHas condition ("Book.Author"); a remote that
	// cannot express it lists more, and the local answer stays exact.
	Relation string
}

// Op is a condition's operator.
type Op string

const (
	OpEq        Op = "eq"
	OpNe        Op = "ne"
	OpLt        Op = "lt"
	OpLe        Op = "le"
	OpGt        Op = "gt"
	OpGe        Op = "ge"
	OpIn        Op = "in"
	OpNotIn     Op = "notIn"
	OpLike      Op = "like"
	OpHasPrefix Op = "hasPrefix"
	OpIsNull    Op = "isNull"
	OpNotNull   Op = "notNull"
	OpOr        Op = "or"
	OpHas       Op = "has" // a related record matches (Relation, Any)
)

// Order is one ORDER BY term; generated code declares a per-model type like Cond's.
type Order struct {
	sql  string
	info OrderTerm
}

// OrderType is satisfied by Order and by every generated per-model order type.
type OrderType interface {
	~struct {
		sql  string
		info OrderTerm
	}
}

// OrderTerm describes an ORDER BY term.
type OrderTerm struct {
	Column, JSON string
	Desc         bool
}

// Query is a model-independent query: conditions (AND), order, limit and offset. It is a
// value: every method returns a new Query and leaves the receiver unchanged. The zero
// Query means every record.
type Query struct {
	conds  []Cond
	orders []Order
	limit  int
	offset int
}

// Where returns q with more conditions, all of which must hold.
func Where[C CondType](q Query, conds []C) Query {
	out := q
	out.conds = make([]Cond, len(q.conds), len(q.conds)+len(conds))
	copy(out.conds, q.conds)
	for _, c := range conds {
		out.conds = append(out.conds, Cond(c))
	}
	return out
}

// OrderBy returns q with more ORDER BY terms.
func OrderBy[O OrderType](q Query, orders []O) Query {
	out := q
	out.orders = make([]Order, len(q.orders), len(q.orders)+len(orders))
	copy(out.orders, q.orders)
	for _, o := range orders {
		out.orders = append(out.orders, Order(o))
	}
	return out
}

// Limit returns q returning at most n records; n <= 0 means no limit.
func (q Query) Limit(n int) Query { q.limit = n; return q }

// Offset returns q skipping the first n records.
func (q Query) Offset(n int) Query { q.offset = n; return q }

// Conditions describes q's conditions (all must hold), for mapping to URL parameters.
func (q Query) Conditions() []*Condition {
	out := make([]*Condition, len(q.conds))
	for i, c := range q.conds {
		out[i] = c.info
	}
	return out
}

// Orders describes q's ORDER BY terms.
func (q Query) Orders() []OrderTerm {
	out := make([]OrderTerm, len(q.orders))
	for i, o := range q.orders {
		out[i] = o.info
	}
	return out
}

// Window returns q's limit and offset (0: none).
func (q Query) Window() (limit, offset int) { return q.limit, q.offset }

// HasWindow reports whether q has a Limit or an Offset.
func (q Query) HasWindow() bool { return q.limit > 0 || q.offset > 0 }

// Or is true when any of conds holds; no conds is false.
func Or[C CondType](conds []C) C {
	info := &Condition{Op: OpOr}
	if len(conds) == 0 {
		return C(Cond{sql: "0", info: info})
	}
	parts := make([]string, len(conds))
	var args []any
	for i, c := range conds {
		parts[i] = Cond(c).sql
		args = append(args, Cond(c).args...)
		info.Any = append(info.Any, Cond(c).info)
	}
	return C(Cond{sql: "(" + strings.Join(parts, " OR ") + ")", args: args, info: info})
}

// Key is a canonical form of q: equal queries have equal keys. Use it to cache results or
// share subscriptions.
func (q Query) Key() string {
	var b strings.Builder
	sql, args := q.whereSQL()
	b.WriteString(sql)
	for _, a := range args {
		fmt.Fprintf(&b, "\x00%T:%v", a, a)
	}
	for _, o := range q.orders {
		b.WriteString("\x01" + o.sql)
	}
	fmt.Fprintf(&b, "\x02%d\x02%d", q.limit, q.offset)
	return b.String()
}

func (q Query) whereSQL() (string, []any) {
	if len(q.conds) == 0 {
		return "", nil
	}
	parts := make([]string, len(q.conds))
	var args []any
	for i, c := range q.conds {
		parts[i] = c.sql
		args = append(args, c.args...)
	}
	return strings.Join(parts, " AND "), args
}

// column is what every field builder knows of its column.
type column struct {
	quoted string // the column, quoted for SQL
	name   string
	json   string
	kind   Kind
}

func newColumn(name, json string, kind Kind) column {
	return column{quoted: quoteIdent(name), name: name, json: json, kind: kind}
}

func (c column) info(op Op, values ...any) *Condition {
	return &Condition{Column: c.name, JSON: c.json, Op: op, Values: values}
}

func (c column) order(desc bool) Order {
	dir := " ASC"
	if desc {
		dir = " DESC"
	}
	return Order{sql: c.quoted + dir, info: OrderTerm{Column: c.name, JSON: c.json, Desc: desc}}
}

// Field builds the conditions and orders on one column. Generated code declares one per
// field, in PizzaFields, with C the model's condition type and V the field's type.
type Field[C CondType, O OrderType, V any] struct {
	col column
}

// NewField is used by generated code: the column, its JSON key and its kind.
func NewField[C CondType, O OrderType, V any](name, json string, kind Kind) Field[C, O, V] {
	return Field[C, O, V]{col: newColumn(name, json, kind)}
}

func (f Field[C, O, V]) cond(sqlOp string, op Op, v V) C {
	return C(Cond{sql: f.col.quoted + " " + sqlOp + " ?", args: []any{bindValue(f.col.kind, v)}, info: f.col.info(op, v)})
}

func (f Field[C, O, V]) list(op Op, vs []V) C {
	values := make([]any, len(vs))
	args := make([]any, len(vs))
	for i, v := range vs {
		values[i] = v
		args[i] = bindValue(f.col.kind, v)
	}
	info := f.col.info(op, values...)
	switch {
	case len(vs) == 0 && op == OpIn:
		return C(Cond{sql: "0", info: info})
	case len(vs) == 0:
		return C(Cond{sql: "1", info: info})
	}
	sqlOp := " IN ("
	if op == OpNotIn {
		sqlOp = " NOT IN ("
	}
	if len(vs) > inlineValues {
		// One parameter holding every value: SQLite limits a statement's parameters.
		return C(Cond{sql: f.col.quoted + sqlOp + "SELECT value FROM json_each(?))", args: []any{jsonValues(args)}, info: info})
	}
	return C(Cond{sql: f.col.quoted + sqlOp + strings.TrimSuffix(strings.Repeat("?,", len(vs)), ",") + ")", args: args, info: info})
}

// inlineValues is the longest list In and NotIn bind one parameter per value; a longer
// one goes as one JSON array through json_each, so any number of values fits.
const inlineValues = 64

// jsonValues encodes bound values as a JSON array for json_each: strings, numbers and
// booleans, as the driver would bind them (json_each gives true as 1, as the driver binds
// it). Other values (bytes, times of a Scanner type) cannot travel so and fail the
// statement.
func jsonValues(args []any) any {
	vals := make([]any, len(args))
	for i, a := range args {
		v, err := driver.DefaultParameterConverter.ConvertValue(a)
		if err != nil {
			return badValue{fmt.Errorf("value %d of the list: %w", i, err)}
		}
		switch v.(type) {
		case nil, int64, float64, bool, string:
		default:
			return badValue{fmt.Errorf("value %d of the list: a %T cannot be listed beyond %d values: use strings, numbers or booleans", i, v, inlineValues)}
		}
		vals[i] = v
	}
	b, err := json.Marshal(vals)
	if err != nil {
		return badValue{err}
	}
	return string(b)
}

// Eq is column = v.
func (f Field[C, O, V]) Eq(v V) C { return f.cond("=", OpEq, v) }

// Ne is column <> v.
func (f Field[C, O, V]) Ne(v V) C { return f.cond("<>", OpNe, v) }

// In is column IN (vs…); no values is false.
func (f Field[C, O, V]) In(vs ...V) C { return f.list(OpIn, vs) }

// NotIn is column NOT IN (vs…); no values is true.
func (f Field[C, O, V]) NotIn(vs ...V) C { return f.list(OpNotIn, vs) }

// Asc orders by the column, ascending.
func (f Field[C, O, V]) Asc() O { return O(f.col.order(false)) }

// Desc orders by the column, descending.
func (f Field[C, O, V]) Desc() O { return O(f.col.order(true)) }

// OrderedField is a column of numbers, strings or times: it adds comparisons.
type OrderedField[C CondType, O OrderType, V any] struct {
	Field[C, O, V]
}

// NewOrderedField is used by generated code.
func NewOrderedField[C CondType, O OrderType, V any](name, json string, kind Kind) OrderedField[C, O, V] {
	return OrderedField[C, O, V]{NewField[C, O, V](name, json, kind)}
}

// Lt is column < v.
func (f OrderedField[C, O, V]) Lt(v V) C { return f.cond("<", OpLt, v) }

// Le is column <= v.
func (f OrderedField[C, O, V]) Le(v V) C { return f.cond("<=", OpLe, v) }

// Gt is column > v.
func (f OrderedField[C, O, V]) Gt(v V) C { return f.cond(">", OpGt, v) }

// Ge is column >= v.
func (f OrderedField[C, O, V]) Ge(v V) C { return f.cond(">=", OpGe, v) }

// StringField is a text column: it adds Like and HasPrefix.
type StringField[C CondType, O OrderType, V ~string] struct {
	OrderedField[C, O, V]
}

// NewStringField is used by generated code.
func NewStringField[C CondType, O OrderType, V ~string](name, json string, kind Kind) StringField[C, O, V] {
	return StringField[C, O, V]{NewOrderedField[C, O, V](name, json, kind)}
}

// Like is column LIKE pattern, with \ as the escape character.
func (f StringField[C, O, V]) Like(pattern string) C {
	return C(Cond{sql: f.col.quoted + ` LIKE ? ESCAPE '\'`, args: []any{pattern}, info: f.col.info(OpLike, pattern)})
}

// HasPrefix is true when the column starts with prefix (case-sensitive; % and _ in prefix
// are plain characters).
func (f StringField[C, O, V]) HasPrefix(prefix string) C {
	// substr keeps the comparison case-sensitive and uses no pattern syntax.
	return C(Cond{sql: "substr(" + f.col.quoted + ", 1, ?) = ?", args: []any{len([]rune(prefix)), prefix}, info: f.col.info(OpHasPrefix, prefix)})
}

// nullOps adds IsNull and NotNull to the nullable field types.
type nullOps[C CondType] struct{ col column }

// IsNull is column IS NULL.
func (n nullOps[C]) IsNull() C {
	return C(Cond{sql: n.col.quoted + " IS NULL", info: n.col.info(OpIsNull)})
}

// NotNull is column IS NOT NULL.
func (n nullOps[C]) NotNull() C {
	return C(Cond{sql: n.col.quoted + " IS NOT NULL", info: n.col.info(OpNotNull)})
}

// NullField is a nullable column of a pointer or sql.Null type; Eq and the others take the
// non-pointer value.
type NullField[C CondType, O OrderType, V any] struct {
	Field[C, O, V]
	nullOps[C]
}

// NewNullField is used by generated code.
func NewNullField[C CondType, O OrderType, V any](name, json string, kind Kind) NullField[C, O, V] {
	return NullField[C, O, V]{NewField[C, O, V](name, json, kind), nullOps[C]{newColumn(name, json, kind)}}
}

// NullOrderedField is a nullable number or time column.
type NullOrderedField[C CondType, O OrderType, V any] struct {
	OrderedField[C, O, V]
	nullOps[C]
}

// NewNullOrderedField is used by generated code.
func NewNullOrderedField[C CondType, O OrderType, V any](name, json string, kind Kind) NullOrderedField[C, O, V] {
	return NullOrderedField[C, O, V]{NewOrderedField[C, O, V](name, json, kind), nullOps[C]{newColumn(name, json, kind)}}
}

// NullStringField is a nullable text column.
type NullStringField[C CondType, O OrderType, V ~string] struct {
	StringField[C, O, V]
	nullOps[C]
}

// NewNullStringField is used by generated code.
func NewNullStringField[C CondType, O OrderType, V ~string](name, json string, kind Kind) NullStringField[C, O, V] {
	return NullStringField[C, O, V]{NewStringField[C, O, V](name, json, kind), nullOps[C]{newColumn(name, json, kind)}}
}

// NullOnlyField is a JSON or []byte column: only IsNull and NotNull apply.
type NullOnlyField[C CondType] struct {
	nullOps[C]
}

// NewNullOnlyField is used by generated code.
func NewNullOnlyField[C CondType](name, json string, kind Kind) NullOnlyField[C] {
	return NullOnlyField[C]{nullOps[C]{newColumn(name, json, kind)}}
}

// bindValue turns a condition's value into what the column stores.
func bindValue(kind Kind, v any) any {
	switch kind {
	case KindTime:
		if t, ok := v.(time.Time); ok {
			s, err := FormatTime(t)
			if err != nil {
				return badValue{err}
			}
			return s
		}
	case KindJSON:
		return JSON{V: v}
	}
	return v
}

// badValue carries a conversion error to the statement, which fails with it.
type badValue struct{ err error }

func (b badValue) Value() (driver.Value, error) { return nil, b.err }

// quoteIdent quotes a SQLite identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func limitSQL(q Query) string {
	switch {
	case q.limit > 0 && q.offset > 0:
		return " LIMIT " + strconv.Itoa(q.limit) + " OFFSET " + strconv.Itoa(q.offset)
	case q.limit > 0:
		return " LIMIT " + strconv.Itoa(q.limit)
	case q.offset > 0:
		return " LIMIT -1 OFFSET " + strconv.Itoa(q.offset)
	}
	return ""
}
