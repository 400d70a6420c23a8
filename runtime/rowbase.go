package runtime

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"reflect"
	"time"

	"github.com/jmoiron/sqlx"
)

// Bases stored as rows. A record's base (the JSON the remote last acknowledged or sent,
// in syncgen_records) is most often exactly what the model encodes from the record's
// row: a record pulled and not written since. A pull stores such a base as the empty
// string, which no JSON is, and which means "the row, as MarshalRemote encodes it";
// whoever reads the base encodes the row. That halves what a first pull writes.
//
// It holds while nothing but the remote changed the row since: a local write (writeTx,
// deleteTx) first stores the row's encoding as the base, in its own transaction. Only a
// pull's common case (applyQuick) stores a base as the row, and only when the remote's
// JSON is what the model encodes of the record once stored (rowIsBase): no key the model
// does not know (a newer app's field, which must travel in the base), no value the row
// keeps otherwise. Every other base write stores the JSON.

// rowBase is the stored base of a record whose base is its row.
const rowBase = ""

// canStoreRowBase reports whether records of a model with these columns may keep their
// bases as rows: a column of the model's own scanner type may not read back what it wrote.
func canStoreRowBase(cols []Column) bool {
	for _, c := range cols {
		if c.JSON != "" && c.Kind == KindScanner {
			return false
		}
	}
	return true
}

// rowIsBase reports whether raw, a record from the remote decoded as v, is what the model
// encodes from v's row once stored; vals are v's column values (Adapter.Values).
func (s *Store[T]) rowIsBase(raw []byte, v *T, vals []any) bool {
	if !s.sql.rowBase {
		return false
	}
	for i, c := range s.s.Columns {
		if c.JSON != "" && !readsBack(c.Kind, vals[i]) {
			return false
		}
	}
	data, err := s.a.MarshalRemote(v)
	return err == nil && (string(data) == string(raw) || sameMembers(data, raw))
}

// sameMembers reports whether two JSON objects have the same members in any order (a
// server that keeps records as maps sends their keys sorted), each value the same JSON.
// Both must be valid JSON, and a's keys distinct, as a struct's encoding has them. b with
// a key twice, or a key written with escapes, is reported different, which only keeps a
// base as JSON.
func sameMembers(a, b []byte) bool {
	ma, mb := members(a), members(b)
	if ma == nil || len(ma) != len(mb) {
		return false
	}
	for _, x := range ma {
		n := 0
		for _, y := range mb {
			if string(x[0]) == string(y[0]) {
				n++
				if !bytes.Equal(x[1], y[1]) && !sameJSON(x[1], y[1]) {
					return false
				}
			}
		}
		if n != 1 {
			return false
		}
	}
	return true
}

// members splits a valid JSON object into its keys (quoted) and values; nil when data is
// not an object or a key has escapes.
func members(data []byte) [][2][]byte {
	i := 0
	ws := func() {
		for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
			i++
		}
	}
	// str skips the string at i, and reports whether it has escapes.
	str := func() (escaped bool) {
		for i++; i < len(data) && data[i] != '"'; i++ {
			if data[i] == '\\' {
				escaped = true
				i++
			}
		}
		i = min(i+1, len(data))
		return escaped
	}
	ws()
	if i == len(data) || data[i] != '{' {
		return nil
	}
	i++
	out := [][2][]byte{}
	for {
		ws()
		if i < len(data) && data[i] == '}' {
			return out
		}
		if i == len(data) || data[i] != '"' {
			return nil
		}
		k := i
		if str() {
			return nil
		}
		key := data[k:i]
		ws()
		if i == len(data) || data[i] != ':' {
			return nil
		}
		i++
		ws()
		v := i
		for depth := 0; i < len(data); {
			c := data[i]
			if depth == 0 && (c == ',' || c == '}' || c == ' ' || c == '\t' || c == '\n' || c == '\r') {
				break
			}
			switch c {
			case '"':
				str()
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
			i++
		}
		out = append(out, [2][]byte{key, data[v:i]})
		ws()
		if i < len(data) && data[i] == ',' {
			i++
		}
	}
}

// readsBack reports whether a column's value reads back from its row as it is: a time
// reads back in UTC, a float's negative zero as zero, an empty non-nil []byte maybe as
// nil.
func readsBack(k Kind, v any) bool {
	utc := func(t time.Time) bool { return t.Location() == time.UTC }
	switch k {
	case KindTime:
		switch t := v.(type) {
		case Time:
			return utc(time.Time(t))
		case NullTime:
			return t.T == nil || utc(*t.T)
		}
		return false
	case KindFloat:
		f := reflect.ValueOf(v)
		if f.Kind() == reflect.Pointer && !f.IsNil() {
			f = f.Elem()
		}
		return f.Kind() == reflect.Pointer || f.CanFloat() && !(f.Float() == 0 && math.Signbit(f.Float()))
	case KindBytes:
		b := reflect.ValueOf(v)
		return b.Kind() == reflect.Slice && (b.IsNil() || b.Len() > 0)
	}
	return true
}

// rowBase is the base of a record whose base is its row: the row, encoded.
func (s *Store[T]) rowBase(ctx context.Context, q queryer, id string) ([]byte, error) {
	v, err := s.stored(ctx, q, id)
	if err != nil {
		return nil, err
	}
	return s.encodeRow(id, v)
}

func (s *Store[T]) encodeRow(id string, v *T) ([]byte, error) {
	if v == nil {
		return nil, fmt.Errorf("sync state of %s %q: the base is the row, which is gone", s.s.Model, id)
	}
	return s.a.MarshalRemote(v)
}

// keepBases stores, before a local write changes or deletes the records ids, the base
// of each whose base is its row: the row as it is now.
func (s *Store[T]) keepBases(ctx context.Context, tx *Tx, ids []string) error {
	var rows []string
	// CROSS JOIN keeps the ids the outer loop: SQLite probes each id's sync state, and
	// builds no temporary index of the ids first, as IN (json_each) does.
	if err := sqlx.SelectContext(ctx, tx.q, &rows, `SELECT r.record_id FROM json_each(?) j
		CROSS JOIN syncgen_records r ON r.model = ? AND r.record_id = j.value AND r.base = ''`, idList(ids), s.s.Table); err != nil {
		return fmt.Errorf("read sync state: %w", err)
	}
	if len(rows) == 0 {
		return nil
	}
	locals, err := s.storedMany(ctx, tx.q, idList(rows))
	if err != nil {
		return err
	}
	for _, id := range rows {
		base, err := s.encodeRow(id, locals[id])
		if err != nil {
			return err
		}
		if _, err := tx.q.ExecContext(ctx, `UPDATE syncgen_records SET base = ? WHERE model = ? AND record_id = ?`,
			string(base), s.s.Table, id); err != nil {
			return fmt.Errorf("record sync state: %w", err)
		}
	}
	return nil
}
