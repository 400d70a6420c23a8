package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// Relations: what a model's ref fields point to, and what points to it. Generated code
// declares each model's relations (BookRel.Author, AuthorRel.Books) as One and Many values
// over a RelationSpec; FindWith loads them in one query per relation whatever the number
// of records, and Has puts a condition across one into a query as a subquery.

// relKind is how a relation goes from its owner's records to its target's.
type relKind int

const (
	relForward relKind = iota + 1 // the owner's ref field holds the target's id, or a list of ids
	relReverse                    // the target's ref field holds the owner's id, or lists it
	relThrough                    // a join model's records hold the owner's id and the target's
)

// RelationSpec says how the records of one model reach those of another. Generated code
// makes them with Forward, Reverse and Through.
type RelationSpec struct {
	kind          relKind
	name          string // "Book.Author", for errors
	owner, target *Schema
	join          *Schema // relThrough
	// ref is the ref column: the owner's (relForward), the target's (relReverse), or the
	// join's column holding the owner's id (relThrough).
	ref     *Column
	joinRef *Column // relThrough: the join's column holding the target's id
	err     error   // the generated code named a field its schema does not have
}

// Forward is the relation from owner to target through owner's ref field: a book's
// author (AuthorID string `sync:"ref=Author"`), or a book's tags (TagIDs []string
// `sync:"ref=Tag"`).
func Forward(name string, owner *Schema, field string, target *Schema) *RelationSpec {
	r := &RelationSpec{kind: relForward, name: owner.Model + "." + name, owner: owner, target: target}
	r.ref, r.err = fieldColumn(owner, field)
	return r
}

// Reverse is the relation from owner to the records of source whose ref field points to
// it: an author's books (Book.AuthorID), a tag's books (Book.TagIDs).
func Reverse(name string, owner, source *Schema, field string) *RelationSpec {
	r := &RelationSpec{kind: relReverse, name: owner.Model + "." + name, owner: owner, target: source}
	r.ref, r.err = fieldColumn(source, field)
	return r
}

// Through is the many-to-many relation from owner to target through the records of a join
// model: ownerField holds the owner's id, targetField the target's (BookTag.BookID,
// BookTag.TagID).
func Through(name string, owner, join *Schema, ownerField, targetField string, target *Schema) *RelationSpec {
	r := &RelationSpec{kind: relThrough, name: owner.Model + "." + name, owner: owner, target: target, join: join}
	r.ref, r.err = fieldColumn(join, ownerField)
	if r.err == nil {
		r.joinRef, r.err = fieldColumn(join, targetField)
	}
	return r
}

func fieldColumn(s *Schema, field string) (*Column, error) {
	for i := range s.Columns {
		if s.Columns[i].Field == field {
			return &s.Columns[i], nil
		}
	}
	return nil, fmt.Errorf("%s has no stored field %s: run go generate", s.Model, field)
}

// tables lists the tables whose writes can change what the relation loads.
func (r *RelationSpec) tables() []string {
	if r.join != nil {
		return []string{r.target.Table, r.join.Table}
	}
	return []string{r.target.Table}
}

// isList reports whether a ref column holds a list of ids ([]string, stored as JSON).
func isList(c *Column) bool { return c.Kind == KindJSON }

func idColumn(s *Schema) string {
	for _, c := range s.Columns {
		if c.Unique {
			return quoteIdent(c.Name)
		}
	}
	return `"id"`
}

// liveSQL is the condition that leaves a model's tombstones out ("" for a model without
// deletedAt), its columns prefixed with alias ("t.") when given.
func liveSQL(s *Schema, alias string) string {
	for _, c := range s.Columns {
		if c.DeletedAt {
			return alias + quoteIdent(c.Name) + " IS NULL"
		}
	}
	return ""
}

func and(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return "1"
	}
	return strings.Join(out, " AND ")
}

// hasSQL is the condition, on the owner's columns, that some live target record matches
// where (SQL on the target's columns, unqualified). Every form is an IN or EXISTS
// subquery whose inner columns resolve to the inner table, so relations nest and a
// relation of a model to itself needs no aliases.
func (r *RelationSpec) hasSQL(where string) string {
	target := "SELECT " + idColumn(r.target) + " FROM " + quoteIdent(r.target.Table) + " WHERE " + and(liveSQL(r.target, ""), where)
	ref := quoteIdent(r.ref.Name)
	switch {
	case r.kind == relForward && isList(r.ref):
		return "EXISTS (SELECT 1 FROM json_each(" + ref + ") WHERE value IN (" + target + "))"
	case r.kind == relForward:
		return ref + " IN (" + target + ")"
	case r.kind == relReverse && isList(r.ref):
		return idColumn(r.owner) + " IN (SELECT j.value FROM (SELECT " + ref + " FROM " + quoteIdent(r.target.Table) +
			" WHERE " + and(liveSQL(r.target, ""), where) + ") AS s, json_each(s." + ref + ") AS j)"
	case r.kind == relReverse:
		return idColumn(r.owner) + " IN (SELECT " + ref + " FROM " + quoteIdent(r.target.Table) + " WHERE " + and(liveSQL(r.target, ""), where) + ")"
	default: // relThrough
		return idColumn(r.owner) + " IN (SELECT " + ref + " FROM " + quoteIdent(r.join.Table) + " WHERE " +
			and(liveSQL(r.join, ""), quoteIdent(r.joinRef.Name)+" IN ("+target+")") + ")"
	}
}

// loadSQL selects, for the owner keys in a JSON array (the one parameter), each key and a
// live target record it leads to: (key, target columns…).
func (r *RelationSpec) loadSQL() string {
	cols := make([]string, len(r.target.Columns))
	for i, c := range r.target.Columns {
		cols[i] = "t." + quoteIdent(c.Name)
	}
	selectTarget := strings.Join(cols, ", ") + " FROM " + quoteIdent(r.target.Table) + " AS t"
	keys := " IN (SELECT value FROM json_each(?))"
	id := "t." + idColumn(r.target)
	live := liveSQL(r.target, "t.")
	switch {
	case r.kind == relForward:
		return "SELECT " + id + ", " + selectTarget + " WHERE " + and(live, id+keys)
	case r.kind == relReverse && isList(r.ref):
		return "SELECT j.value, " + selectTarget + ", json_each(t." + quoteIdent(r.ref.Name) + ") AS j WHERE " +
			and(live, "j.value"+keys) + " ORDER BY " + id
	case r.kind == relReverse:
		ref := "t." + quoteIdent(r.ref.Name)
		return "SELECT " + ref + ", " + selectTarget + " WHERE " + and(live, ref+keys) + " ORDER BY " + id
	default: // relThrough
		ref := "j." + quoteIdent(r.ref.Name)
		return "SELECT " + ref + ", " + selectTarget + " JOIN " + quoteIdent(r.join.Table) + " AS j ON j." +
			quoteIdent(r.joinRef.Name) + " = " + id + " WHERE " + and(live, liveSQL(r.join, "j."), ref+keys) + " ORDER BY " + id
	}
}

// Relation is a relation of model T: what FindWith and SubscribeWith load. One and Many
// satisfy it; a relation of another model does not, so it does not compile there.
type Relation[T any] interface {
	spec() *RelationSpec
	load(ctx context.Context, db queryer, repo *Repo, into *Loaded[T]) error
}

// relation is what One and Many share: T and C are the owner's model and condition
// type, U and D the target's.
type relation[T any, C CondType, U any, D CondType] struct {
	s *RelationSpec
	// key is the index of the owner's field whose ids the relation looks up: the ref
	// field of a forward relation, else the owner's id. It is read by reflection, which
	// for a string costs no allocation.
	key []int
}

func newRelation[T any, C CondType, U any, D CondType](s *RelationSpec) relation[T, C, U, D] {
	r := relation[T, C, U, D]{s: s}
	if s.err != nil {
		return r
	}
	field := ""
	if s.kind == relForward {
		field = s.ref.Field
	} else {
		for _, c := range s.owner.Columns {
			if c.Unique {
				field = c.Field
			}
		}
	}
	f, ok := reflect.TypeFor[T]().FieldByName(field)
	if !ok {
		s.err = fmt.Errorf("%s has no field %q: run go generate", s.owner.Model, field)
		return r
	}
	r.key = f.Index
	return r
}

// keys appends the ids v's key field holds to buf: one for a string (none when empty or
// nil), each of a []string's.
func (r relation[T, C, U, D]) keys(v *T, buf []string) []string {
	fv := reflect.ValueOf(v).Elem().FieldByIndex(r.key)
	if fv.Kind() == reflect.Pointer {
		if fv.IsNil() {
			return buf
		}
		fv = fv.Elem()
	}
	switch fv.Kind() {
	case reflect.String:
		if id := fv.String(); id != "" {
			buf = append(buf, id)
		}
	case reflect.Slice:
		for i := range fv.Len() {
			if id := fv.Index(i).String(); id != "" {
				buf = append(buf, id)
			}
		}
	}
	return buf
}

func (r relation[T, C, U, D]) spec() *RelationSpec { return r.s }

// Has holds for the records with at least one related record that matches every one of
// conds (with none: at least one related record), in the same SQL statement:
// BookQuery{}.Where(BookRel.Author.Has(AuthorFields.Name.HasPrefix("T"))).
func (r relation[T, C, U, D]) Has(conds ...D) C {
	inner := Where(Query{}, conds)
	where, args := inner.whereSQL()
	info := &Condition{Op: OpHas, Relation: r.s.name}
	for _, c := range inner.conds {
		info.Any = append(info.Any, c.info)
	}
	if r.s.err != nil {
		return C(Cond{sql: "0", args: []any{badValue{r.s.err}}, info: info})
	}
	return C(Cond{sql: r.s.hasSQL(where), args: args, info: info})
}

// fetch runs the relation's one query for the owners' keys: the ids their ref fields
// hold (forward), else their own ids. It returns the related records by key, in the
// target's id order.
func (r relation[T, C, U, D]) fetch(ctx context.Context, db queryer, repo *Repo, owners *Loaded[T]) (map[string][]U, error) {
	if r.s.err != nil {
		return nil, fmt.Errorf("load %s: %w", r.s.name, r.s.err)
	}
	target, ok := repo.byModel[r.s.target.Model].(*Store[U])
	if !ok || repo.byModel[r.s.owner.Model] == nil {
		return nil, fmt.Errorf("load %s: not a relation of this repository's models", r.s.name)
	}
	var keys []string
	seen := map[string]bool{}
	add := func(k string) {
		if k != "" && !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	var buf []string
	for i := range owners.Records {
		buf = r.keys(&owners.Records[i], buf[:0])
		for _, k := range buf {
			add(k)
		}
	}
	found := make(map[string][]U, len(keys))
	if len(keys) == 0 {
		return found, nil
	}
	list, err := json.Marshal(keys)
	if err != nil {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, r.s.loadSQL(), string(list))
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", r.s.name, err)
	}
	defer rows.Close()
	var key string
	var u, zero U
	dest := append([]any{&key}, target.a.Pointers(&u)...) // u is copied out of each row
	for rows.Next() {
		u = zero
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("load %s: scan: %w", r.s.name, err)
		}
		found[key] = append(found[key], u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load %s: %w", r.s.name, err)
	}
	return found, nil
}

// One is a relation to at most one record: a ref field's target (a book's author).
type One[T any, C CondType, U any, D CondType] struct {
	relation[T, C, U, D]
}

// NewOne is used by generated code.
func NewOne[T any, C CondType, U any, D CondType](s *RelationSpec) One[T, C, U, D] {
	return One[T, C, U, D]{newRelation[T, C, U, D](s)}
}

func (r One[T, C, U, D]) load(ctx context.Context, db queryer, repo *Repo, into *Loaded[T]) error {
	found, err := r.fetch(ctx, db, repo, into)
	if err != nil {
		return err
	}
	m := make(map[string]U, len(found))
	for id, us := range found {
		m[id] = us[0]
	}
	into.related[r.s] = m // by the target's id
	return nil
}

// Of returns v's related record in res, and whether there is one: false when v's ref is
// empty, points to a record that is absent or deleted, or res was not loaded with r.
func (r One[T, C, U, D]) Of(res *Loaded[T], v T) (U, bool) {
	m, _ := res.related[r.s].(map[string]U)
	var buf [1]string
	if ids := r.keys(&v, buf[:0]); len(ids) == 1 {
		u, ok := m[ids[0]]
		return u, ok
	}
	var zero U
	return zero, false
}

// Many is a relation to any number of records: the records whose ref field points to
// the owner (an author's books), the targets of a []string ref, or those reached through
// a join model.
type Many[T any, C CondType, U any, D CondType] struct {
	relation[T, C, U, D]
}

// NewMany is used by generated code.
func NewMany[T any, C CondType, U any, D CondType](s *RelationSpec) Many[T, C, U, D] {
	return Many[T, C, U, D]{newRelation[T, C, U, D](s)}
}

func (r Many[T, C, U, D]) load(ctx context.Context, db queryer, repo *Repo, into *Loaded[T]) error {
	found, err := r.fetch(ctx, db, repo, into)
	if err != nil {
		return err
	}
	into.related[r.s] = found // by the key: the target's id (forward), else the owner's
	return nil
}

// Of returns v's related records in res, ordered by id (a []string ref's targets: in the
// list's order); nil when there are none or res was not loaded with r.
func (r Many[T, C, U, D]) Of(res *Loaded[T], v T) []U {
	m, _ := res.related[r.s].(map[string][]U)
	var buf [1]string
	ids := r.keys(&v, buf[:0])
	if len(ids) == 1 {
		return m[ids[0]]
	}
	var out []U
	for _, id := range ids {
		out = append(out, m[id]...)
	}
	return out
}

// Loaded is a query's records with the relations it was asked to load; read a record's
// related records with the relation: BookRel.Author.Of(res, book).
type Loaded[T any] struct {
	Records []T
	related map[*RelationSpec]any // by relation: map[owner id]U (One) or []U (Many)
}

// FindWith answers q from SQLite with rels loaded: one query for the records and one per
// relation, whatever their number, all in one read transaction.
func (s *Store[T]) FindWith(ctx context.Context, q Query, rels ...Relation[T]) (*Loaded[T], error) {
	if s.tx != nil {
		if err := s.tx.check(); err != nil {
			return nil, err
		}
		return s.findWith(ctx, s.tx.tx, q, rels)
	}
	if err := s.repo.check(); err != nil {
		return nil, err
	}
	tx, err := s.repo.db.reader.BeginTxx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("find %s: begin: %w", s.s.Model, err)
	}
	defer tx.Rollback() // read only: nothing to commit
	return s.findWith(ctx, tx, q, rels)
}

func (s *Store[T]) findWith(ctx context.Context, db queryer, q Query, rels []Relation[T]) (*Loaded[T], error) {
	records, err := s.findOn(ctx, db, q)
	if err != nil {
		return nil, err
	}
	res := &Loaded[T]{Records: records, related: make(map[*RelationSpec]any, len(rels))}
	for _, r := range rels {
		if err := r.load(ctx, db, s.repo, res); err != nil {
			return nil, fmt.Errorf("find %s: %w", s.s.Model, err)
		}
	}
	return res, nil
}

// SubscribeWith is Subscribe for FindWith: it sends q's records with rels loaded now,
// and after each commit that touches the model or a related one and changes the answer.
func (s *Store[T]) SubscribeWith(ctx context.Context, q Query, rels ...Relation[T]) <-chan *Loaded[T] {
	tables := []string{s.s.Table}
	for _, r := range rels {
		tables = append(tables, r.spec().tables()...)
	}
	return subscribe(s.repo, ctx, tables, func() (*Loaded[T], error) { return s.FindWith(ctx, q, rels...) })
}

// refKeys is the ids a ref column's bound value holds: one for a string ref (none when
// empty or NULL), each of a []string ref's.
func refKeys(v any) []string {
	switch x := v.(type) {
	case string:
		if x == "" {
			return nil
		}
		return []string{x}
	case JSON:
		rv := reflect.ValueOf(x.V)
		if rv.Kind() != reflect.Slice {
			return nil
		}
		out := make([]string, 0, rv.Len())
		for i := 0; i < rv.Len(); i++ {
			if e := rv.Index(i); e.Kind() == reflect.String && e.String() != "" {
				out = append(out, e.String())
			}
		}
		return out
	}
	if k := refValue(v); k != "" {
		return []string{k}
	}
	return nil
}
