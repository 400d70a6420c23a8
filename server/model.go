package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/syncgen/syncgen/runtime"
	"github.com/syncgen/syncgen/wire"
)

// Model is one model as the server sees it; generated code makes them with
// ModelOf.
type Model struct {
	schema                 *runtime.Schema
	hasUpdated, hasDeleted bool
	// normalize decodes a record body, stamps its updatedAt with now when it has none,
	// clamps it to at most limit, and encodes it again as the model's JSON.
	normalize func(body []byte, now, limit time.Time) (record, error)
	// tombstone is the record data with deletedAt set to at (a model with deletedAt).
	tombstone func(data []byte, at time.Time) ([]byte, error)
	// restamp is the record data with updatedAt set to at.
	restamp func(data []byte, at time.Time) ([]byte, error)
	// shape is the model's JSON keys, for merging field changes (merge.go).
	shape shape
	// scopeKey is the JSON key of the model's sync:"scope" field, "" when it has none.
	scopeKey string
}

// record is a record the server is about to store.
type record struct {
	id        string
	updatedAt time.Time // zero for a model without updatedAt
	deleted   bool      // deletedAt is set
	data      []byte
}

// ModelOf is used by generated code: it makes a model's Model from its adapter.
func ModelOf[T any](a runtime.Adapter[T]) Model {
	s := a.Schema()
	var hasUpdated, hasDeleted bool
	for _, c := range s.Columns {
		hasUpdated = hasUpdated || c.UpdatedAt
		hasDeleted = hasDeleted || c.DeletedAt
	}
	sh := shapeOf(s)
	// encode is v as the model's JSON, with the keys of src the model does not know.
	encode := func(v *T, src []byte) (record, error) {
		data, err := a.MarshalRemote(v)
		if err == nil {
			data, err = sh.keep(src, data)
		}
		if err != nil {
			return record{}, err
		}
		updated, deleted := a.Stamps(v)
		return record{id: a.ID(v), updatedAt: updated, deleted: deleted != nil, data: data}, nil
	}
	var scopeKey string
	if c := s.ScopeColumn(); c != nil {
		scopeKey = c.JSON
	}
	return Model{
		schema: s, hasUpdated: hasUpdated, hasDeleted: hasDeleted, shape: sh, scopeKey: scopeKey,
		normalize: func(body []byte, now, limit time.Time) (record, error) {
			v := new(T)
			if err := a.UnmarshalRemote(body, v); err != nil {
				return record{}, err
			}
			if updated, _ := a.Stamps(v); hasUpdated && updated.IsZero() {
				a.SetUpdatedAt(v, now) // absent or null: the server stamps it
			} else if hasUpdated && updated.After(limit) {
				a.SetUpdatedAt(v, limit)
			}
			return encode(v, body)
		},
		restamp: func(data []byte, at time.Time) ([]byte, error) {
			v := new(T)
			if err := a.UnmarshalRemote(data, v); err != nil {
				return nil, err
			}
			a.SetUpdatedAt(v, at)
			r, err := encode(v, data)
			return r.data, err
		},
		tombstone: func(data []byte, at time.Time) ([]byte, error) {
			v := new(T)
			if err := a.UnmarshalRemote(data, v); err != nil {
				return nil, err
			}
			a.SetDeletedAt(v, &at)
			a.SetUpdatedAt(v, at)
			r, err := encode(v, data)
			return r.data, err
		},
	}
}

// storedRow is a stored record.
type storedRow struct {
	ID        string `db:"id"`
	Version   int64  `db:"version"`
	Seq       int64  `db:"seq"`
	UpdatedAt string `db:"updated_at"`
	Deleted   bool   `db:"deleted"`
	DeletedAt string `db:"deleted_at"`
	Data      string `db:"data"`
	Scope     string `db:"scope"`
}

// entry is a stored record as the protocol shows it.
func (m *Model) entry(row *storedRow) wire.Entry {
	e := wire.Entry{ID: row.ID, Version: strconv.FormatInt(row.Version, 10), Seq: strconv.FormatInt(row.Seq, 10),
		Deleted: row.Deleted}
	if t, err := runtime.ParseTime(row.UpdatedAt); err == nil {
		e.UpdatedAt = t.Format(wire.TimeLayout)
	}
	if !row.Deleted || m.hasDeleted {
		e.Record = json.RawMessage(row.Data)
	}
	return e
}

// rowUpdatedAt is a stored record's updatedAt, "" when there is none.
func (r *storedRow) rowUpdatedAt() string {
	if r == nil {
		return ""
	}
	return r.UpdatedAt
}

// bodyError says what is wrong with a record body in the protocol's terms: JSON types and
// field names, never the Go types the generated code decodes into.
func bodyError(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return fmt.Sprintf("want a JSON object, not %s", jsonKind(typeErr.Value))
		}
		return fmt.Sprintf("field %q: %s is not of the field's type", typeErr.Field, jsonKind(typeErr.Value))
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("not valid JSON at byte %d", syntaxErr.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF) || err.Error() == "unexpected end of JSON input":
		return "the JSON ends early"
	}
	var timeErr *time.ParseError
	if errors.As(err, &timeErr) {
		return fmt.Sprintf("%q is not an RFC 3339 time", timeErr.Value)
	}
	return "not a JSON object of the model"
}

// jsonKind names the JSON kind encoding/json reports in UnmarshalTypeError.Value.
func jsonKind(v string) string {
	switch {
	case v == "string", v == "bool", v == "array", v == "object", v == "null":
		return "a JSON " + v
	case len(v) >= 6 && v[:6] == "number":
		return "a JSON number"
	}
	return "a JSON value"
}
