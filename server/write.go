package server

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/syncgen/syncgen/runtime"
	"github.com/syncgen/syncgen/wire"
)

// writeReq is one write, from a single request or a batch op.
type writeReq struct {
	model    *Model
	id       string
	del      bool
	body     []byte
	protocol bool
	ifMatch  *string // the protocol's If-Match; nil when absent
	key      string
	fields   []string // the keys a put changed (merge.go); nil: the whole record
}

// writeHTTP reads a write request and answers it.
func (s *Server) writeHTTP(w http.ResponseWriter, r *http.Request, m *Model, id string) {
	q := writeReq{model: m, id: id, del: r.Method == http.MethodDelete, protocol: protocol(r), key: r.Header.Get(wire.HeaderIdempotencyKey)}
	if id != "" { // the path's id: checked before the body is read
		if err := wire.CheckID(id); err != nil {
			writeError(w, http.StatusBadRequest, wire.IDCode(err), "id: "+err.Error())
			return
		}
	}
	if !q.del {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.maxBody))
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			writeError(w, http.StatusRequestEntityTooLarge, wire.CodeTooLarge, fmt.Sprintf("a record may have at most %d bytes", s.opts.maxBody))
			return
		case err != nil:
			writeError(w, http.StatusBadRequest, wire.CodeBadRequest, "read the body: "+err.Error())
			return
		}
		q.body = body
	}
	if id == "" { // POST {path}: the id is in the body
		if rec, err := m.normalize(q.body, s.opts.now(), s.opts.now().Add(s.opts.skew)); err == nil {
			q.id = rec.id
		}
		if q.id == "" {
			writeError(w, http.StatusBadRequest, wire.CodeBadRequest, "the record has no id")
			return
		}
	}
	if v := r.Header.Get(wire.HeaderIfMatch); v != "" {
		v = strings.Trim(strings.TrimPrefix(strings.TrimSpace(v), "W/"), `"`)
		if v == "*" || strings.ContainsAny(v, `,"`) || v == "" {
			writeError(w, http.StatusBadRequest, wire.CodeBadRequest, `If-Match: want one version, "<version>"; * and lists are not used`)
			return
		}
		q.ifMatch = &v
	}
	if q.protocol && q.key == "" {
		writeError(w, http.StatusBadRequest, wire.CodeMissingKey, "protocol writes need an Idempotency-Key")
		return
	}
	if fields, err := wire.DecodeFields(r.Header.Get(wire.HeaderFields)); err != nil { // field changes
		writeError(w, http.StatusBadRequest, wire.CodeBadRequest, err.Error())
		return
	} else {
		q.fields = fields
	}
	status, answer := s.write(r.Context(), q)
	writeRaw(w, status, answer)
}

// write applies one write in one transaction with its idempotency key, and returns the
// answer's status and body.
func (s *Server) write(ctx context.Context, q writeReq) (int, []byte) {
	w, err := s.writeAll(ctx, []writeReq{q})
	if err != nil {
		return http.StatusServiceUnavailable, s.internal(ctx, "write", err)
	}
	return w[0].status, w[0].answer
}

// written is a write's answer.
type written struct {
	status int
	answer []byte
}

// writeAll applies writes in order in one transaction, each judged as if alone: a write
// that fails is rolled back to its savepoint and answered, and the others stand. One
// commit for them all, so a batch costs one sync to disk, not one per write. An error
// says none was applied (the commit failed, say).
func (s *Server) writeAll(ctx context.Context, qs []writeReq) ([]written, error) {
	if len(qs) == 1 && s.pipelined(qs[0]) {
		return s.writePipelined(ctx, qs[0])
	}
	out := make([]written, len(qs))
	tx, err := s.db.Writer().BeginTxx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	seqs := &seqs{s: s, tx: tx}
	if err := s.lockWrites(ctx, tx, qs, seqs); err != nil {
		return nil, err
	}
	several := len(qs) > 1
	var changed []change
	for i, q := range qs {
		if several {
			if _, err := tx.ExecContext(ctx, "SAVEPOINT syncgen_write"); err != nil {
				return nil, err
			}
		}
		var ch *change
		given := seqs.n
		status, answer, err := s.writeIn(ctx, sqlTx{tx, s}, seqs, q, &ch)
		if err != nil {
			if !several {
				return []written{{http.StatusInternalServerError, s.internal(ctx, "write", err)}}, nil
			}
			if _, err := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT syncgen_write"); err != nil {
				return nil, err
			}
			seqs.n = given // PostgreSQL: the seq is given back, as SQLite's counter is
			status, answer, ch = http.StatusInternalServerError, s.internal(ctx, "batch op", err), nil
		}
		if several {
			if _, err := tx.ExecContext(ctx, "RELEASE SAVEPOINT syncgen_write"); err != nil {
				return nil, err
			}
		}
		out[i] = written{status, answer}
		if ch != nil {
			changed = append(changed, *ch)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	s.announce(changed)
	s.publish(changed)
	return out, nil
}

// writeIn applies one write with its idempotency key inside tx. An error is the server's
// failure: tx must not keep what the write did.
func (s *Server) writeIn(ctx context.Context, tx writeTx, seqs *seqs, q writeReq, changed **change) (int, []byte, error) {
	m := q.model
	// Checked before anything reaches the database: PostgreSQL refuses NUL and invalid
	// UTF-8 with an error, and an id no client can pull must never be stored.
	if err := wire.CheckID(q.id); err != nil {
		return http.StatusBadRequest, errorBody(wire.IDCode(err), "id: "+err.Error()), nil
	}
	if q.key != "" {
		if err := wire.CheckKey(q.key); err != nil {
			return http.StatusBadRequest, errorBody(wire.CodeBadRequest, err.Error()), nil
		}
	}
	if int64(len(q.body)) > s.opts.maxRecord {
		return http.StatusRequestEntityTooLarge, errorBody(wire.CodeTooLarge, fmt.Sprintf("a record may have at most %d bytes", s.opts.maxRecord)), nil
	}
	now := s.opts.now().UTC()
	hash := sha256.New()
	ifMatch := ""
	if q.ifMatch != nil {
		ifMatch = "\"" + *q.ifMatch
	}
	fmt.Fprintf(hash, "%t\x00%s\x00%s\x00%s\x00%t\x00%s\x00", q.del, m.schema.Table, q.id, ifMatch, q.protocol, User(ctx))
	if c, err := wire.Canonical(m.shape.upgraded(q.body)); err == nil { // the same record, however it is spelled
		hash.Write(c)
	} else {
		hash.Write(q.body)
	}
	if q.fields != nil { // field changes: part of the request
		fmt.Fprintf(hash, "\x00fields\x00%s", wire.EncodeFields(m.shape.upgrade(map[string]json.RawMessage{}, q.fields)))
	}
	sum := hex.EncodeToString(hash.Sum(nil))

	// Two requests with one key never both miss it (the second waits, then replays the
	// first's answer), and the record read below cannot change under this write: SQLite
	// has one writer, and on PostgreSQL writeAll locked the key and the record
	// (lockWrites). The seq comes before the key is looked up; a write that changes
	// nothing leaves a gap, which cursors do not mind (seq.go).
	seq, err := seqs.next(ctx)
	if err != nil {
		return 0, nil, err
	}
	owner := User(ctx) // keys belong to the caller: another user's key is another key
	if q.key != "" {
		stored, err := tx.storedKey(ctx, owner, q.key)
		switch {
		case err == nil && stored.Hash == sum:
			return stored.Status, []byte(stored.Answer), nil
		case err == nil:
			return http.StatusUnprocessableEntity, errorBody(wire.CodeKeyReused, "this Idempotency-Key was used for another request"), nil
		case !errors.Is(err, sql.ErrNoRows):
			return 0, nil, err
		}
	}
	status, answer, store, err := s.apply(ctx, tx, q, seq, now, changed)
	if err != nil {
		return 0, nil, err
	}
	if q.key != "" && store {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO syncgen_server_keys (owner, key, hash, status, answer, created_at)
			VALUES (?, ?, ?, ?, ?, ?)`), owner, q.key, sum, status, string(answer), formatTime(now)); err != nil {
			return 0, nil, err
		}
	}
	return status, answer, nil
}

// apply decides and stores a write inside tx. store says whether the answer is kept for
// the idempotency key.
func (s *Server) apply(ctx context.Context, tx writeTx, q writeReq, seq int64, now time.Time, changed **change) (status int, answer []byte, store bool, err error) {
	m := q.model
	cur, err := tx.current(ctx, m, q.id)
	if err != nil {
		return 0, nil, false, err
	}
	if cur != nil && !s.visible(ctx, m, cur.Data) {
		return http.StatusNotFound, errorBody(wire.CodeNotFound, "no such record"), false, nil
	}
	if cur != nil { // a record in a scope the user may not see: refused with the reason
		if seen, err := s.inScope(ctx, m, cur.Scope); err != nil {
			return 0, nil, false, err
		} else if !seen {
			return http.StatusForbidden, errorBody(wire.CodeOutOfScope, "this record is not in a scope you may see (access revoked, or moved away)"), false, nil
		}
	}
	curEntry := func() []byte {
		e := json.RawMessage("null")
		if cur != nil {
			e, _ = json.Marshal(m.entry(cur))
		}
		b, _ := json.Marshal(wire.Error{Message: "the record changed: resolve against entry and send again", Code: wire.CodeConflict, Entry: e})
		return b
	}
	if q.protocol && (q.ifMatch == nil && cur != nil || q.ifMatch != nil && (cur == nil || *q.ifMatch != strconv.FormatInt(cur.Version, 10))) {
		return http.StatusConflict, curEntry(), true, nil
	}

	var rec record
	var scope string // rec's scope value (scopes.go)
	if q.del {
		switch {
		case cur == nil:
			return http.StatusNotFound, errorBody(wire.CodeNotFound, "no such record"), false, nil
		case cur.Deleted:
			status, answer = s.answer(q, m, cur, http.StatusOK)
			return status, answer, true, nil
		case !q.protocol && m.hasUpdated && cur.UpdatedAt > formatTime(now):
			// A plain delete happens now; a record stamped later stays (last writer wins).
			status, answer = s.answer(q, m, cur, http.StatusOK)
			return status, answer, true, nil
		}
		rec = record{id: q.id, updatedAt: now.Truncate(time.Microsecond), deleted: true, data: []byte(cur.Data)}
		if at, err := runtime.ParseTime(cur.UpdatedAt); err == nil && m.hasUpdated && !rec.updatedAt.After(at) {
			rec.updatedAt = at.Add(time.Microsecond) // ordered after what it deletes
		}
		if m.hasDeleted {
			if rec.data, err = m.tombstone([]byte(cur.Data), rec.updatedAt); err != nil {
				return 0, nil, false, err
			}
		}
		scope = m.scopeOf(rec.data)
	} else {
		// Field changes: the body merges into the stored record (merge.go).
		var stored []byte
		if cur != nil && (!cur.Deleted || m.hasDeleted) {
			stored = []byte(cur.Data)
		}
		body, merr := m.shape.merge(stored, q.body, q.fields)
		if merr != nil {
			return http.StatusBadRequest, errorBody(wire.CodeBadRequest, "the body is not a "+m.schema.Model+": "+bodyError(merr)), false, nil
		}
		rec, err = m.normalize(body, now.Truncate(time.Microsecond), now.Add(s.opts.skew).Truncate(time.Microsecond))
		switch {
		case err != nil:
			return http.StatusBadRequest, errorBody(wire.CodeBadRequest, "the body is not a "+m.schema.Model+": "+bodyError(err)), false, nil
		case rec.id != q.id:
			return http.StatusBadRequest, errorBody(wire.CodeIDMismatch, "the body's id is not the path's"), false, nil
		}
		if s.opts.validate != nil {
			if verr := s.opts.validate(ctx, m.schema.Model, rec.data); verr != nil {
				return http.StatusUnprocessableEntity, errorBody(wire.CodeValidation, verr.Error()), true, nil
			}
		}
		if s.opts.before != nil {
			data, berr := s.opts.before(ctx, User(ctx), m.schema.Model, rec.data)
			if berr != nil {
				return http.StatusUnprocessableEntity, errorBody(wire.CodeValidation, berr.Error()), true, nil
			}
			if rec, err = m.normalize(data, now.Truncate(time.Microsecond), now.Add(s.opts.skew).Truncate(time.Microsecond)); err != nil || rec.id != q.id {
				return 0, nil, false, fmt.Errorf("the before-write hook made the record invalid: %v", err)
			}
		}
		if !s.visible(ctx, m, string(rec.data)) {
			return http.StatusForbidden, errorBody(wire.CodeForbidden, "this record is out of your scope"), false, nil
		}
		if scope = m.scopeOf(rec.data); cur == nil || scope != cur.Scope {
			if seen, err := s.inScope(ctx, m, scope); err != nil {
				return 0, nil, false, err
			} else if !seen {
				return http.StatusForbidden, errorBody(wire.CodeOutOfScope, fmt.Sprintf("%s %q is not a scope you may write to", m.scopeKey, scope)), false, nil
			}
		}
		if !q.protocol && cur != nil && !s.later(m, rec, cur) {
			status, answer = s.answer(q, m, cur, http.StatusOK) // the stored record is later: it stays
			return status, answer, true, nil
		}
		// A protocol write saw the stored version (If-Match), so it comes after it: its
		// updatedAt moves past the stored one when a slow clock put it behind, and every
		// replica's last-writer-wins orders the two as the server did.
		if at, err := runtime.ParseTime(cur.rowUpdatedAt()); q.protocol && err == nil && m.hasUpdated && !rec.updatedAt.After(at) {
			rec.updatedAt = at.Add(time.Microsecond)
			if rec.data, err = m.restamp(rec.data, rec.updatedAt); err != nil {
				return 0, nil, false, err
			}
		}
	}

	row := storedRow{ID: q.id, Version: 1, Seq: seq, Data: string(rec.data), Deleted: rec.deleted, Scope: scope}
	if cur != nil {
		row.Version = cur.Version + 1
	}
	if !rec.updatedAt.IsZero() {
		row.UpdatedAt = formatTime(rec.updatedAt)
	}
	if rec.deleted {
		row.DeletedAt = formatTime(now)
	}
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO syncgen_server_records (model, `+rowColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (model, id) DO UPDATE SET version = excluded.version, seq = excluded.seq, updated_at = excluded.updated_at,
		deleted = excluded.deleted, deleted_at = excluded.deleted_at, data = excluded.data, scope = excluded.scope`),
		m.schema.Table, row.ID, row.Version, row.Seq, row.UpdatedAt, boolInt(row.Deleted), row.DeletedAt, row.Data, row.Scope)
	if err != nil {
		return 0, nil, false, err
	}
	left := ""
	if cur != nil && cur.Scope != row.Scope {
		left = cur.Scope
		if err := s.moved(ctx, tx, m, row.ID, cur.Scope, row.Scope, seq); err != nil {
			return 0, nil, false, err
		}
	}
	*changed = &change{model: m, seq: seq, data: row.Data, scope: row.Scope, left: left}
	status = http.StatusOK
	if cur == nil {
		status = http.StatusCreated
	}
	status, answer = s.answer(q, m, &row, status)
	return status, answer, true, nil
}

// answer is a write's answer: the entry for the protocol, the record for plain REST.
func (s *Server) answer(q writeReq, m *Model, row *storedRow, status int) (int, []byte) {
	if q.protocol {
		b, _ := json.Marshal(m.entry(row))
		return status, b
	}
	if row.Deleted && q.del {
		return http.StatusOK, []byte("{}")
	}
	return status, []byte(row.Data)
}

// later reports whether a plain write wins against the stored record by the order of
// last-writer-wins: (updatedAt, canonical JSON); a delete is ordered by its time. Without
// updatedAt the write always wins.
func (s *Server) later(m *Model, rec record, cur *storedRow) bool {
	if !m.hasUpdated {
		return true
	}
	curAt, err := runtime.ParseTime(cur.UpdatedAt)
	if err != nil {
		return true
	}
	if c := rec.updatedAt.Compare(curAt); c != 0 {
		return c > 0
	}
	if cur.Deleted && !m.hasDeleted {
		return true // a record wins a tie with a delete
	}
	a, err1 := wire.Canonical(rec.data)
	b, err2 := wire.Canonical([]byte(cur.Data))
	return err1 != nil || err2 != nil || string(a) > string(b)
}
