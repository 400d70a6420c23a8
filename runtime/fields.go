package runtime

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/syncgen/syncgen/wire"
)

// Field changes. A write tells the remote which JSON keys it changed since the version it
// started from (its base, whose version is its If-Match): the keys of the model whose
// values differ between the record and the base. The keys are fixed with the body when
// the write is first sent; until then the entry absorbs later writes, and its keys are
// the union of theirs. Keys this app's model does not know (fields of a newer app) are
// never changed by it, so a server that merges per field keeps them. A conflict compares
// both sides with the base the same way: a key changed on one side keeps that change; a
// key changed on both goes to the later writer (or the remote, without updatedAt).

// jsonShape is a model's JSON keys as this app knows them.
type jsonShape struct {
	keys  []string     // keys of the fields that travel, in column order
	stamp string       // the updatedAt key, or ""
	was   wire.Renames // declared renames
}

func shapeOfSchema(s *Schema) *jsonShape {
	sh := &jsonShape{}
	for _, c := range s.Columns {
		if c.JSON == "" || c.Local {
			continue
		}
		sh.keys = append(sh.keys, c.JSON)
		if c.UpdatedAt {
			sh.stamp = c.JSON
		}
		for _, old := range c.JSONWas {
			if sh.was == nil {
				sh.was = wire.Renames{}
			}
			sh.was[old] = c.JSON
		}
	}
	return sh
}

// upgrade renames the earlier keys of a record from the remote, or of a write queued by
// an older app, to the keys now; a key now that is present wins over its earlier name.
// Without declared renames it returns raw as it is.
func (sh *jsonShape) upgrade(raw json.RawMessage) json.RawMessage {
	if len(sh.was) == 0 || len(raw) == 0 || string(raw) == "null" {
		return raw
	}
	var rec map[string]json.RawMessage
	if json.Unmarshal(raw, &rec) != nil || rec == nil {
		return raw
	}
	if !sh.was.Record(rec) {
		return raw
	}
	out, err := json.Marshal(rec)
	if err != nil {
		return raw
	}
	return out
}

// upgradeKeys renames earlier keys in a list of changed keys.
func (sh *jsonShape) upgradeKeys(keys []string) []string { return sh.was.Keys(keys) }

// object decodes a JSON object; nil for nil or null.
func object(raw []byte) (map[string]json.RawMessage, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var m map[string]json.RawMessage
	err := json.Unmarshal(raw, &m)
	return m, err
}

// sameValue reports whether a key holds the same value in two records (absent in both
// counts; absent and null differ).
func sameValue(a, b map[string]json.RawMessage, k string) bool {
	x, okx := a[k]
	y, oky := b[k]
	if okx != oky {
		return false
	}
	return !okx || bytes.Equal(x, y) || sameJSON(x, y)
}

// changed lists the keys of this model whose values differ between rec and base. A nil
// base (the remote lacks the record) gives nil: the whole record.
func (sh *jsonShape) changed(rec, base map[string]json.RawMessage) []string {
	if base == nil {
		return nil
	}
	out := []string{}
	for _, k := range sh.keys {
		if !sameValue(rec, base, k) {
			out = append(out, k)
		}
	}
	return out
}

// pushFields is the changed keys of a put's body against the record's base.
func (sh *jsonShape) pushFields(body, base []byte) ([]string, error) {
	if base == nil {
		return nil, nil
	}
	b, err := object(sh.upgrade(base))
	if err != nil || b == nil {
		return nil, err
	}
	r, err := object(body)
	if err != nil {
		return nil, fmt.Errorf("changed fields: %w", err)
	}
	return sh.changed(r, b), nil
}

// FieldsNotKeptError is a write the remote took but whose answer lacks keys the write
// changed: the server could not keep them (a field it does not have, an older server
// that drops unknown keys). The write is a dead letter with this error, never a silent
// loss; errors.As finds it in the EventDeadLettered event.
type FieldsNotKeptError struct {
	Model, ID string
	Fields    []string // the keys the answer lacks
}

func (e *FieldsNotKeptError) Error() string {
	return fmt.Sprintf("%s %q: the remote did not keep the changed fields %s", e.Model, e.ID, strings.Join(e.Fields, ", "))
}

// notKept lists the keys of fields present in the body sent that the answer lacks. An
// unversioned remote's answer is only compared when it is the write (its updatedAt is
// the body's): a plain server answers a later record it kept instead as it is.
func (sh *jsonShape) notKept(body, answer []byte, fields []string, versioned bool) []string {
	if len(fields) == 0 || answer == nil {
		return nil
	}
	b, err1 := object(body)
	a, err2 := object(sh.upgrade(answer))
	if err1 != nil || err2 != nil || a == nil || !versioned && (sh.stamp == "" || !sameValue(a, b, sh.stamp)) {
		return nil
	}
	var lost []string
	for _, k := range fields {
		if _, sent := b[k]; !sent {
			continue
		}
		if _, kept := a[k]; !kept {
			lost = append(lost, k)
		}
	}
	return lost
}

// isDelete reports whether v is a delete: absent, or a tombstone (deletedAt set).
func (s *Store[T]) isDelete(v *T) bool {
	if v == nil {
		return true
	}
	_, deleted := s.a.Stamps(v)
	return deleted != nil
}

// mergeConflict fills in a conflict's changed keys and its three-way merge: local's
// changes over remote, a key changed on both sides taken from the later writer.
func (s *Store[T]) mergeConflict(c *Conflict[T], base, remote json.RawMessage) error {
	sh := s.sql.shape
	b, err := object(sh.upgrade(base))
	if err != nil || b == nil || s.isDelete(c.Local) || s.isDelete(c.Remote) {
		return err // no base or a delete on one side: nothing to merge field by field
	}
	ldata, err := s.a.MarshalRemote(c.Local)
	if err != nil {
		return err
	}
	l, err := object(ldata)
	if err != nil {
		return err
	}
	r, err := object(sh.upgrade(remote))
	if err != nil || r == nil {
		return err
	}
	c.LocalFields, c.RemoteFields = sh.changed(l, b), sh.changed(r, b)
	merged := make(map[string]json.RawMessage, len(r))
	for k, v := range r {
		merged[k] = v
	}
	for _, k := range c.LocalFields {
		if slices.Contains(c.RemoteFields, k) && c.RemoteLater {
			continue
		}
		if v, ok := l[k]; ok {
			merged[k] = v
		} else {
			delete(merged, k)
		}
	}
	data, err := json.Marshal(merged)
	if err != nil {
		return err
	}
	m := new(T)
	*m = *c.Local // local-only fields stay
	if err := s.a.UnmarshalRemote(data, m); err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	c.Merged = m
	switch mj := s.mustCanonical(m); {
	case bytes.Equal(mj, s.mustCanonical(c.Local)):
		c.mergedIs = -1
	case bytes.Equal(mj, s.mustCanonical(c.Remote)):
		c.mergedIs = 1
	}
	return nil
}

func (s *Store[T]) mustCanonical(v *T) []byte {
	b, _ := s.canonical(v)
	return b
}

// upgradeQueued rewrites the bodies and changed keys of sent writes still queued (frozen
// by an older version of the app) to the keys now, for every model with declared
// renames. The server reads earlier keys too and hashes the request after renaming them,
// so a retry of a write it already applied still replays its answer. Bases are read
// through the renames when used, so they are not rewritten.
func (r *Repo) upgradeQueued(ctx context.Context) error {
	for _, m := range r.models {
		sh := m.jsonShape()
		if len(sh.was) == 0 {
			continue
		}
		table := m.schema().Table
		err := r.Tx(ctx, func(tx *Tx) error {
			var rows []struct {
				Seq    int64          `db:"seq"`
				Body   sql.NullString `db:"body"`
				Fields sql.NullString `db:"fields"`
			}
			if err := sqlx.SelectContext(ctx, tx.q, &rows, `SELECT seq, body, fields FROM syncgen_outbox
				WHERE model = ? AND body IS NOT NULL`, table); err != nil {
				return err
			}
			for _, row := range rows {
				body := sh.upgrade(json.RawMessage(row.Body.String))
				fields := row.Fields
				if fields.Valid {
					var keys []string
					if err := json.Unmarshal([]byte(fields.String), &keys); err != nil {
						return err
					}
					fields.String, _ = marshalFields(sh.upgradeKeys(keys)).(string)
				}
				if string(body) == row.Body.String && fields == row.Fields {
					continue
				}
				if _, err := tx.q.ExecContext(ctx, `UPDATE syncgen_outbox SET body = ?, fields = ? WHERE seq = ?`,
					string(body), fields, row.Seq); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("migrate: rewrite queued %s writes to renamed keys: %w", m.schema().Model, err)
		}
	}
	return nil
}
