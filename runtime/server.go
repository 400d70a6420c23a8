package runtime

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
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
)

// The generated server (syncgen -server): NewServer serves a package's models over the
// plain REST routes and the syncgen protocol (docs/PROTOCOL.md), storing each record as
// JSON with its sync metadata in the runtime's server tables, on SQLite or PostgreSQL.

// ServerModel is one model as the server sees it; generated code makes them with
// ServeModel.
type ServerModel struct {
	schema                 *Schema
	hasUpdated, hasDeleted bool
	// normalize decodes a record body, clamps its updatedAt to at most limit, and encodes
	// it again as the model's JSON.
	normalize func(body []byte, limit time.Time) (serverRecord, error)
	// tombstone is the record data with deletedAt set to at (a model with deletedAt).
	tombstone func(data []byte, at time.Time) ([]byte, error)
	// restamp is the record data with updatedAt set to at.
	restamp func(data []byte, at time.Time) ([]byte, error)
}

// serverRecord is a record the server is about to store.
type serverRecord struct {
	id        string
	updatedAt time.Time // zero for a model without updatedAt
	deleted   bool      // deletedAt is set
	data      []byte
}

// ServeModel is used by generated code: it makes a model's ServerModel from its adapter.
func ServeModel[T any](a Adapter[T]) ServerModel {
	s := a.Schema()
	var hasUpdated, hasDeleted bool
	for _, c := range s.Columns {
		hasUpdated = hasUpdated || c.UpdatedAt
		hasDeleted = hasDeleted || c.DeletedAt
	}
	encode := func(v *T) (serverRecord, error) {
		data, err := a.MarshalRemote(v)
		if err != nil {
			return serverRecord{}, err
		}
		updated, deleted := a.Stamps(v)
		return serverRecord{id: a.ID(v), updatedAt: updated, deleted: deleted != nil, data: data}, nil
	}
	return ServerModel{
		schema: s, hasUpdated: hasUpdated, hasDeleted: hasDeleted,
		normalize: func(body []byte, limit time.Time) (serverRecord, error) {
			v := new(T)
			if err := a.UnmarshalRemote(body, v); err != nil {
				return serverRecord{}, err
			}
			if updated, _ := a.Stamps(v); hasUpdated && updated.After(limit) {
				a.SetUpdatedAt(v, limit)
			}
			return encode(v)
		},
		restamp: func(data []byte, at time.Time) ([]byte, error) {
			v := new(T)
			if err := a.UnmarshalRemote(data, v); err != nil {
				return nil, err
			}
			a.SetUpdatedAt(v, at)
			r, err := encode(v)
			return r.data, err
		},
		tombstone: func(data []byte, at time.Time) ([]byte, error) {
			v := new(T)
			if err := a.UnmarshalRemote(data, v); err != nil {
				return nil, err
			}
			a.SetDeletedAt(v, &at)
			a.SetUpdatedAt(v, at)
			r, err := encode(v)
			return r.data, err
		},
	}
}

// ServerOption configures NewServer.
type ServerOption func(*serverOptions)

type serverOptions struct {
	now        func() time.Time
	skew       time.Duration
	tombstones time.Duration
	keys       time.Duration
	maxBody    int64
	validate   func(ctx context.Context, model string, record json.RawMessage) error
	auth       func(*http.Request) (string, error)
	scope      func(ctx context.Context, user, model string, record json.RawMessage) bool
	before     func(ctx context.Context, user, model string, record json.RawMessage) (json.RawMessage, error)
}

// WithAuthentication identifies the user of each request; an error is answered with 401.
// The other hooks get the user; ServerUser reads it from a request's context.
func WithAuthentication(f func(*http.Request) (user string, err error)) ServerOption {
	return func(o *serverOptions) { o.auth = f }
}

// WithScope says whether user may see and write a record of model (its Go name). Records
// out of scope are neither listed nor readable nor writable: to the user they are absent;
// writing a new record out of scope is 403.
func WithScope(f func(ctx context.Context, user, model string, record json.RawMessage) bool) ServerOption {
	return func(o *serverOptions) { o.scope = f }
}

// WithBeforeWrite may change each record before it is stored, after validation: to set
// readonly fields, say. An error is answered with 422.
func WithBeforeWrite(f func(ctx context.Context, user, model string, record json.RawMessage) (json.RawMessage, error)) ServerOption {
	return func(o *serverOptions) { o.before = f }
}

type serverUserKey struct{}

// ServerUser returns the user WithAuthentication found for a request's context.
func ServerUser(ctx context.Context) string {
	u, _ := ctx.Value(serverUserKey{}).(string)
	return u
}

// visible reports whether the request's user may see a record's data.
func (s *Server) visible(ctx context.Context, m *ServerModel, data string) bool {
	return s.opts.scope == nil || s.opts.scope(ctx, ServerUser(ctx), m.schema.Model, json.RawMessage(data))
}

// WithServerClock replaces time.Now for the server (tests).
func WithServerClock(now func() time.Time) ServerOption {
	return func(o *serverOptions) { o.now = now }
}

// WithServerSkew sets how far ahead of the server's clock an updatedAt may be before it
// is clamped (default 5 minutes).
func WithServerSkew(d time.Duration) ServerOption {
	return func(o *serverOptions) { o.skew = d }
}

// WithTombstoneRetention sets how long deletes stay in the change feed (default 30
// days); a cursor older than the purged tombstones gets 410 and the client resyncs.
func WithTombstoneRetention(d time.Duration) ServerOption {
	return func(o *serverOptions) { o.tombstones = d }
}

// WithKeyRetention sets how long idempotency keys and their answers are kept (default 7
// days).
func WithKeyRetention(d time.Duration) ServerOption {
	return func(o *serverOptions) { o.keys = d }
}

// WithMaxBodyBytes limits a request body (default 1 MiB); larger ones get 413.
func WithMaxBodyBytes(n int64) ServerOption {
	return func(o *serverOptions) { o.maxBody = n }
}

// WithValidation checks every record before it is written; an error is answered with 422
// and its message. model is the model's Go name.
func WithValidation(f func(ctx context.Context, model string, record json.RawMessage) error) ServerOption {
	return func(o *serverOptions) { o.validate = f }
}

// Server serves a package's models: an http.Handler. Close it when done.
type Server struct {
	db     *DB
	opts   serverOptions
	models []*ServerModel
	byName map[string]*ServerModel // by path without the leading slash, for batches
	mux    *http.ServeMux
	done   chan struct{} // closed by Close: ends event streams

	mu        sync.Mutex
	purgedAt  time.Time
	listeners map[chan string]struct{} // event streams: the paths of changed models
	closed    bool
	streams   sync.WaitGroup
}

// NewServer migrates the server's tables in db and returns the handler of models.
func NewServer(db *DB, models []ServerModel, opts ...ServerOption) (*Server, error) {
	if db == nil || db.writer == nil {
		return nil, errors.New("new server: nil or unopened DB: open one with runtime.OpenSQLite or runtime.OpenPostgres")
	}
	o := serverOptions{now: time.Now, skew: 5 * time.Minute, tombstones: 30 * 24 * time.Hour,
		keys: 7 * 24 * time.Hour, maxBody: 1 << 20}
	for _, opt := range opts {
		opt(&o)
	}
	if err := migrateServer(context.Background(), db); err != nil {
		return nil, fmt.Errorf("new server: %w", err)
	}
	s := &Server{db: db, opts: o, mux: http.NewServeMux(), byName: map[string]*ServerModel{},
		done: make(chan struct{}), listeners: map[chan string]struct{}{}}
	s.mux.HandleFunc("POST /_batch", s.batch)
	s.mux.HandleFunc("GET /_events", s.events)
	for i := range models {
		m := &models[i]
		s.models = append(s.models, m)
		s.byName[strings.TrimPrefix(m.schema.Path, "/")] = m
		p := m.schema.Path
		s.mux.HandleFunc("GET "+p, func(w http.ResponseWriter, r *http.Request) { s.list(w, r, m) })
		s.mux.HandleFunc("POST "+p, func(w http.ResponseWriter, r *http.Request) { s.writeHTTP(w, r, m, "") })
		s.mux.HandleFunc("GET "+p+"/_changes", func(w http.ResponseWriter, r *http.Request) { s.changes(w, r, m) })
		s.mux.HandleFunc("GET "+p+"/{id}", func(w http.ResponseWriter, r *http.Request) { s.get(w, r, m) })
		for _, method := range []string{"PUT", "PATCH", "DELETE"} {
			s.mux.HandleFunc(method+" "+p+"/{id}", func(w http.ResponseWriter, r *http.Request) {
				s.writeHTTP(w, r, m, r.PathValue("id"))
			})
		}
	}
	return s, nil
}

// ServeHTTP serves the plain REST routes and the protocol.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if v := r.Header.Get("Syncgen-Protocol"); v != "" {
		if v != "1" {
			writeError(w, http.StatusBadRequest, "unsupported_protocol", "this server speaks syncgen protocol 1")
			return
		}
		w.Header().Set("Syncgen-Protocol", "1")
	}
	if s.opts.auth != nil {
		user, err := s.opts.auth(r)
		if err != nil {
			writeError(w, http.StatusUnauthorized, "unauthorized", err.Error())
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), serverUserKey{}, user))
	}
	s.mux.ServeHTTP(w, r)
}

// Close ends the event streams and waits for them. It does not close the DB.
func (s *Server) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.done)
	}
	s.mu.Unlock()
	s.streams.Wait()
	return nil
}

// serverRow is a stored record.
type serverRow struct {
	ID        string `db:"id"`
	Version   int64  `db:"version"`
	Seq       int64  `db:"seq"`
	UpdatedAt string `db:"updated_at"`
	Deleted   bool   `db:"deleted"`
	DeletedAt string `db:"deleted_at"`
	Data      string `db:"data"`
}

// entryTimeLayout is how entries show updatedAt: fixed-width microseconds, what the stamps
// hold.
const entryTimeLayout = "2006-01-02T15:04:05.000000Z"

// changeEntry is a record in the change feed and in protocol answers.
type changeEntry struct {
	ID        string          `json:"id"`
	Version   string          `json:"version"`
	Seq       string          `json:"seq"`
	UpdatedAt string          `json:"updatedAt"`
	Deleted   bool            `json:"deleted"`
	Record    json.RawMessage `json:"record"`
}

func (m *ServerModel) entry(row *serverRow) changeEntry {
	e := changeEntry{ID: row.ID, Version: strconv.FormatInt(row.Version, 10), Seq: strconv.FormatInt(row.Seq, 10),
		Deleted: row.Deleted}
	if t, err := ParseTime(row.UpdatedAt); err == nil {
		e.UpdatedAt = t.Format(entryTimeLayout)
	}
	if !row.Deleted || m.hasDeleted {
		e.Record = json.RawMessage(row.Data)
	}
	return e
}

const rowColumns = "id, version, seq, updated_at, deleted, deleted_at, data"

func (s *Server) q(query string) string { return s.db.writer.Rebind(query) }

func protocol(r *http.Request) bool { return r.Header.Get("Syncgen-Protocol") != "" }

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"error": msg, "code": code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeRaw(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}

// list answers a plain REST listing, in commit order, optionally since a time and paged
// with _page and _limit: live records, and for a model with deletedAt its tombstones too,
// which is how plain clients learn of deletes.
func (s *Server) list(w http.ResponseWriter, r *http.Request, m *ServerModel) {
	query := `SELECT data FROM syncgen_server_records WHERE model = ? AND (deleted = 0 OR ? = 1)`
	args := []any{m.schema.Table, boolInt(m.hasDeleted)}
	if since := r.URL.Query().Get("since"); since != "" {
		t, err := time.Parse(time.RFC3339Nano, since)
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad_request", "since: "+err.Error())
			return
		}
		query += ` AND updated_at >= ?`
		args = append(args, formatWall(t))
	}
	query += ` ORDER BY seq`
	if l := r.URL.Query().Get("_limit"); l != "" {
		limit, err1 := strconv.Atoi(l)
		page, err2 := strconv.Atoi(cmpOr(r.URL.Query().Get("_page"), "1"))
		if err1 != nil || err2 != nil || limit < 1 || page < 1 {
			writeError(w, http.StatusBadRequest, "bad_request", "_page and _limit must be positive integers")
			return
		}
		query += fmt.Sprintf(` LIMIT %d OFFSET %d`, limit, (page-1)*limit)
	}
	var data []string
	if err := sqlx.SelectContext(r.Context(), s.db.reader, &data, s.q(query), args...); err != nil {
		writeError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	out := make([]json.RawMessage, 0, len(data))
	for _, d := range data {
		if s.visible(r.Context(), m, d) {
			out = append(out, json.RawMessage(d))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// get answers one record: its entry for the protocol, the record for plain REST (404
// once deleted, unless the model keeps tombstones with deletedAt).
func (s *Server) get(w http.ResponseWriter, r *http.Request, m *ServerModel) {
	row, err := s.row(r.Context(), s.db.reader, m, r.PathValue("id"))
	switch {
	case err != nil:
		writeError(w, http.StatusInternalServerError, "internal", err.Error())
	case row == nil || (row.Deleted && !m.hasDeleted && !protocol(r)) || !s.visible(r.Context(), m, row.Data):
		writeError(w, http.StatusNotFound, "not_found", "no such record")
	case protocol(r):
		writeJSON(w, http.StatusOK, m.entry(row))
	default:
		writeRaw(w, http.StatusOK, []byte(row.Data))
	}
}

func (s *Server) row(ctx context.Context, q sqlx.QueryerContext, m *ServerModel, id string) (*serverRow, error) {
	var row serverRow
	err := sqlx.GetContext(ctx, q, &row, s.q(`SELECT `+rowColumns+` FROM syncgen_server_records WHERE model = ? AND id = ?`), m.schema.Table, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &row, nil
}

// changes answers the change feed: records changed after the cursor, in seq order.
func (s *Server) changes(w http.ResponseWriter, r *http.Request, m *ServerModel) {
	ctx := r.Context()
	if err := s.purge(ctx); err != nil {
		writeError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	var after int64
	fromStart := r.URL.Query().Get("cursor") == ""
	if c := r.URL.Query().Get("cursor"); c != "" {
		var err error
		if after, err = strconv.ParseInt(c, 10, 64); err != nil || after < 0 {
			writeError(w, http.StatusBadRequest, "bad_request", "cursor: not one this server gave")
			return
		}
	}
	limit := 500
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "bad_request", "limit must be a positive integer")
			return
		}
		limit = min(n, 1000)
	}
	// One read transaction: the newest seq committed, then the rows, so a last page's
	// cursor can move up to that seq even when this model had no changes.
	tx, err := s.db.reader.BeginTxx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	defer tx.Rollback()
	var horizon, newest int64
	err = tx.QueryRowxContext(ctx, s.q(`SELECT
		COALESCE(MAX(CASE WHEN name = ? THEN value END), 0), COALESCE(MAX(CASE WHEN name = 'seq' THEN value END), 0)
		FROM syncgen_server_counters`), "horizon:"+m.schema.Table).Scan(&horizon, &newest)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	if !fromStart && (after < horizon || after > newest) {
		writeError(w, http.StatusGone, "cursor_expired", "the changes after this cursor are not all kept: resync from the start")
		return
	}
	var rows []serverRow
	err = sqlx.SelectContext(ctx, tx, &rows, s.q(`SELECT `+rowColumns+` FROM syncgen_server_records
		WHERE model = ? AND seq > ? ORDER BY seq LIMIT ?`), m.schema.Table, after, limit+1)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	page := struct {
		Changes []changeEntry `json:"changes"`
		Cursor  string        `json:"cursor"`
		HasMore bool          `json:"hasMore"`
	}{Changes: []changeEntry{}, Cursor: strconv.FormatInt(after, 10)}
	if len(rows) > limit {
		rows, page.HasMore = rows[:limit], true
	}
	for i := range rows {
		if s.visible(ctx, m, rows[i].Data) {
			page.Changes = append(page.Changes, m.entry(&rows[i]))
		}
		page.Cursor = strconv.FormatInt(rows[i].Seq, 10)
	}
	if !page.HasMore {
		page.Cursor = strconv.FormatInt(max(after, newest), 10)
	}
	writeJSON(w, http.StatusOK, page)
}

// purge removes tombstones and idempotency keys past their retention, at most once a
// minute, and moves each model's horizon past the purged tombstones.
func (s *Server) purge(ctx context.Context) error {
	now := s.opts.now()
	s.mu.Lock()
	due := now.Sub(s.purgedAt) >= time.Minute
	if due {
		s.purgedAt = now
	}
	s.mu.Unlock()
	if !due {
		return nil
	}
	tx, err := s.db.writer.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	cutoff := formatWall(now.Add(-s.opts.tombstones))
	for _, m := range s.models {
		var top sql.NullInt64
		if err := tx.QueryRowxContext(ctx, s.q(`SELECT MAX(seq) FROM syncgen_server_records
			WHERE model = ? AND deleted = 1 AND deleted_at < ?`), m.schema.Table, cutoff).Scan(&top); err != nil {
			return err
		}
		if !top.Valid {
			continue
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM syncgen_server_records WHERE model = ? AND deleted = 1 AND deleted_at < ?`),
			m.schema.Table, cutoff); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO syncgen_server_counters (name, value) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value WHERE excluded.value > syncgen_server_counters.value`),
			"horizon:"+m.schema.Table, top.Int64); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM syncgen_server_keys WHERE created_at < ?`),
		formatWall(now.Add(-s.opts.keys))); err != nil {
		return err
	}
	return tx.Commit()
}

// writeReq is one write, from a single request or a batch op.
type writeReq struct {
	model    *ServerModel
	id       string
	del      bool
	body     []byte
	protocol bool
	ifMatch  *string // the protocol's If-Match; nil when absent
	key      string
}

// writeHTTP reads a write request and answers it.
func (s *Server) writeHTTP(w http.ResponseWriter, r *http.Request, m *ServerModel, id string) {
	q := writeReq{model: m, id: id, del: r.Method == http.MethodDelete, protocol: protocol(r), key: r.Header.Get("Idempotency-Key")}
	if !q.del {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.maxBody))
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("a record may have at most %d bytes", s.opts.maxBody))
			return
		case err != nil:
			writeError(w, http.StatusBadRequest, "bad_request", err.Error())
			return
		}
		q.body = body
	}
	if id == "" { // POST {path}: the id is in the body
		if rec, err := m.normalize(q.body, s.opts.now().Add(s.opts.skew)); err == nil {
			q.id = rec.id
		}
		if q.id == "" {
			writeError(w, http.StatusBadRequest, "bad_request", "the record has no id")
			return
		}
	}
	if v := r.Header.Get("If-Match"); v != "" {
		v = strings.Trim(strings.TrimPrefix(v, "W/"), `"`)
		q.ifMatch = &v
	}
	if q.protocol && q.key == "" {
		writeError(w, http.StatusBadRequest, "missing_key", "protocol writes need an Idempotency-Key")
		return
	}
	status, answer := s.write(r.Context(), q)
	writeRaw(w, status, answer)
}

func errorBody(code, msg string) []byte {
	b, _ := json.Marshal(map[string]string{"error": msg, "code": code})
	return b
}

// write applies one write in one transaction with its idempotency key, and returns the
// answer's status and body.
func (s *Server) write(ctx context.Context, q writeReq) (int, []byte) {
	w, err := s.writeAll(ctx, []writeReq{q})
	if err != nil {
		return http.StatusServiceUnavailable, errorBody("internal", err.Error())
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
	out := make([]written, len(qs))
	tx, err := s.db.writer.BeginTxx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	several := len(qs) > 1
	changed := map[string]bool{}
	for i, q := range qs {
		if several {
			if _, err := tx.ExecContext(ctx, "SAVEPOINT syncgen_write"); err != nil {
				return nil, err
			}
		}
		var ch bool
		status, answer, err := s.writeIn(ctx, tx, q, &ch)
		if err != nil {
			if !several {
				return []written{{http.StatusInternalServerError, errorBody("internal", err.Error())}}, nil
			}
			if _, err := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT syncgen_write"); err != nil {
				return nil, err
			}
			status, answer, ch = http.StatusInternalServerError, errorBody("internal", err.Error()), false
		}
		if several {
			if _, err := tx.ExecContext(ctx, "RELEASE SAVEPOINT syncgen_write"); err != nil {
				return nil, err
			}
		}
		out[i] = written{status, answer}
		if ch {
			changed[strings.TrimPrefix(q.model.schema.Path, "/")] = true
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	for model := range changed {
		s.announce(model)
	}
	return out, nil
}

// writeIn applies one write with its idempotency key inside tx. An error is the server's
// failure: tx must not keep what the write did.
func (s *Server) writeIn(ctx context.Context, tx *sqlx.Tx, q writeReq, changed *bool) (int, []byte, error) {
	m := q.model
	if strings.HasPrefix(q.id, "_") {
		return http.StatusBadRequest, errorBody("reserved_id", "ids beginning with _ are reserved"), nil
	}
	now := s.opts.now().UTC()
	hash := sha256.New()
	ifMatch := ""
	if q.ifMatch != nil {
		ifMatch = "\"" + *q.ifMatch
	}
	fmt.Fprintf(hash, "%t\x00%s\x00%s\x00%s\x00%t\x00%s\x00", q.del, m.schema.Table, q.id, ifMatch, q.protocol, ServerUser(ctx))
	if c, err := canonicalJSON(q.body); err == nil { // the same record, however it is spelled
		hash.Write(c)
	} else {
		hash.Write(q.body)
	}
	sum := hex.EncodeToString(hash.Sum(nil))

	if q.key != "" {
		var stored struct {
			Hash   string `db:"hash"`
			Status int    `db:"status"`
			Answer string `db:"answer"`
		}
		err := tx.QueryRowxContext(ctx, s.q(`SELECT hash, status, answer FROM syncgen_server_keys WHERE key = ?`), q.key).StructScan(&stored)
		switch {
		case err == nil && stored.Hash == sum:
			return stored.Status, []byte(stored.Answer), nil
		case err == nil:
			return http.StatusUnprocessableEntity, errorBody("key_reused", "this Idempotency-Key was used for another request"), nil
		case !errors.Is(err, sql.ErrNoRows):
			return 0, nil, err
		}
	}
	status, answer, store, err := s.apply(ctx, tx, q, now, changed)
	if err != nil {
		return 0, nil, err
	}
	if q.key != "" && store {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO syncgen_server_keys (key, hash, status, answer, created_at)
			VALUES (?, ?, ?, ?, ?)`), q.key, sum, status, string(answer), formatWall(now)); err != nil {
			return 0, nil, err
		}
	}
	return status, answer, nil
}

// apply decides and stores a write inside tx. store says whether the answer is kept for
// the idempotency key.
func (s *Server) apply(ctx context.Context, tx *sqlx.Tx, q writeReq, now time.Time, changed *bool) (status int, answer []byte, store bool, err error) {
	m := q.model
	// The seq comes first: on PostgreSQL the counter's row lock then serializes writers
	// from here to the commit, so the record read below cannot change under this write,
	// and a later commit never gets a smaller seq. A write that changes nothing leaves a
	// gap, which cursors do not mind.
	var seq int64
	if err := tx.QueryRowxContext(ctx, s.q(`UPDATE syncgen_server_counters SET value = value + 1 WHERE name = 'seq' RETURNING value`)).Scan(&seq); err != nil {
		return 0, nil, false, err
	}
	cur, err := s.row(ctx, tx, m, q.id)
	if err != nil {
		return 0, nil, false, err
	}
	if cur != nil && !s.visible(ctx, m, cur.Data) {
		return http.StatusNotFound, errorBody("not_found", "no such record"), false, nil
	}
	curEntry := func() []byte {
		var e any
		if cur != nil {
			e = m.entry(cur)
		}
		b, _ := json.Marshal(map[string]any{"error": "the record changed: resolve against entry and send again", "code": "conflict", "entry": e})
		return b
	}
	if q.protocol && (q.ifMatch == nil && cur != nil || q.ifMatch != nil && (cur == nil || *q.ifMatch != strconv.FormatInt(cur.Version, 10))) {
		return http.StatusConflict, curEntry(), true, nil
	}

	var rec serverRecord
	if q.del {
		switch {
		case cur == nil:
			return http.StatusNotFound, errorBody("not_found", "no such record"), false, nil
		case cur.Deleted:
			status, answer = s.answer(q, m, cur, http.StatusOK)
			return status, answer, true, nil
		case !q.protocol && m.hasUpdated && cur.UpdatedAt > formatWall(now):
			// A plain delete happens now; a record stamped later stays (last writer wins).
			status, answer = s.answer(q, m, cur, http.StatusOK)
			return status, answer, true, nil
		}
		rec = serverRecord{id: q.id, updatedAt: now.Truncate(time.Microsecond), deleted: true, data: []byte(cur.Data)}
		if at, err := ParseTime(cur.UpdatedAt); err == nil && m.hasUpdated && !rec.updatedAt.After(at) {
			rec.updatedAt = at.Add(time.Microsecond) // ordered after what it deletes
		}
		if m.hasDeleted {
			if rec.data, err = m.tombstone([]byte(cur.Data), rec.updatedAt); err != nil {
				return 0, nil, false, err
			}
		}
	} else {
		rec, err = m.normalize(q.body, now.Add(s.opts.skew).Truncate(time.Microsecond))
		switch {
		case err != nil:
			return http.StatusBadRequest, errorBody("bad_request", "the body is not a "+m.schema.Model+": "+err.Error()), false, nil
		case rec.id != q.id:
			return http.StatusBadRequest, errorBody("id_mismatch", "the body's id is not the path's"), false, nil
		}
		if s.opts.validate != nil {
			if verr := s.opts.validate(ctx, m.schema.Model, rec.data); verr != nil {
				return http.StatusUnprocessableEntity, errorBody("validation", verr.Error()), true, nil
			}
		}
		if s.opts.before != nil {
			data, berr := s.opts.before(ctx, ServerUser(ctx), m.schema.Model, rec.data)
			if berr != nil {
				return http.StatusUnprocessableEntity, errorBody("validation", berr.Error()), true, nil
			}
			if rec, err = m.normalize(data, now.Add(s.opts.skew).Truncate(time.Microsecond)); err != nil || rec.id != q.id {
				return 0, nil, false, fmt.Errorf("the before-write hook made the record invalid: %v", err)
			}
		}
		if !s.visible(ctx, m, string(rec.data)) {
			return http.StatusForbidden, errorBody("forbidden", "this record is out of your scope"), false, nil
		}
		if !q.protocol && cur != nil && !s.later(m, rec, cur) {
			status, answer = s.answer(q, m, cur, http.StatusOK) // the stored record is later: it stays
			return status, answer, true, nil
		}
		// A protocol write saw the stored version (If-Match), so it comes after it: its
		// updatedAt moves past the stored one when a slow clock put it behind, and every
		// replica's last-writer-wins orders the two as the server did.
		if at, err := ParseTime(cur.rowUpdatedAt()); q.protocol && err == nil && m.hasUpdated && !rec.updatedAt.After(at) {
			rec.updatedAt = at.Add(time.Microsecond)
			if rec.data, err = m.restamp(rec.data, rec.updatedAt); err != nil {
				return 0, nil, false, err
			}
		}
	}

	row := serverRow{ID: q.id, Version: 1, Seq: seq, Data: string(rec.data), Deleted: rec.deleted}
	if cur != nil {
		row.Version = cur.Version + 1
	}
	if !rec.updatedAt.IsZero() {
		row.UpdatedAt = formatWall(rec.updatedAt)
	}
	if rec.deleted {
		row.DeletedAt = formatWall(now)
	}
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO syncgen_server_records (model, `+rowColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (model, id) DO UPDATE SET version = excluded.version, seq = excluded.seq, updated_at = excluded.updated_at,
		deleted = excluded.deleted, deleted_at = excluded.deleted_at, data = excluded.data`),
		m.schema.Table, row.ID, row.Version, row.Seq, row.UpdatedAt, boolInt(row.Deleted), row.DeletedAt, row.Data)
	if err != nil {
		return 0, nil, false, err
	}
	*changed = true
	status = http.StatusOK
	if cur == nil {
		status = http.StatusCreated
	}
	status, answer = s.answer(q, m, &row, status)
	return status, answer, true, nil
}

// answer is a write's answer: the entry for the protocol, the record for plain REST.
func (s *Server) answer(q writeReq, m *ServerModel, row *serverRow, status int) (int, []byte) {
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
func (s *Server) later(m *ServerModel, rec serverRecord, cur *serverRow) bool {
	if !m.hasUpdated {
		return true
	}
	curAt, err := ParseTime(cur.UpdatedAt)
	if err != nil {
		return true
	}
	if c := rec.updatedAt.Compare(curAt); c != 0 {
		return c > 0
	}
	if cur.Deleted && !m.hasDeleted {
		return true // a record wins a tie with a delete
	}
	a, err1 := canonicalJSON(rec.data)
	b, err2 := canonicalJSON([]byte(cur.Data))
	return err1 != nil || err2 != nil || string(a) > string(b)
}

// batch applies several writes, each judged and committed on its own, in order.
func (s *Server) batch(w http.ResponseWriter, r *http.Request) {
	const maxOps = 100
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 8*s.opts.maxBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", "the batch is too large")
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	var req struct {
		Ops []struct {
			Key     string          `json:"key"`
			Model   string          `json:"model"`
			Op      string          `json:"op"`
			ID      string          `json:"id"`
			Version *string         `json:"version"`
			Record  json.RawMessage `json:"record"`
		} `json:"ops"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "the batch is not JSON: "+err.Error())
		return
	}
	if len(req.Ops) > maxOps {
		writeError(w, http.StatusRequestEntityTooLarge, "batch_too_large", fmt.Sprintf("at most %d ops in a batch", maxOps))
		return
	}
	type result struct {
		Key    string          `json:"key"`
		Status int             `json:"status"`
		Entry  json.RawMessage `json:"entry"`
		Error  json.RawMessage `json:"error"`
	}
	results := make([]result, len(req.Ops))
	answer := func(i, status int, body []byte) {
		res := result{Key: req.Ops[i].Key, Status: status}
		if status < 300 {
			res.Entry = body
		} else {
			var e struct {
				Entry json.RawMessage `json:"entry"`
			}
			json.Unmarshal(body, &e)
			res.Entry, res.Error = e.Entry, body
		}
		results[i] = res
	}
	var writes []writeReq
	var at []int
	for i, op := range req.Ops {
		m := s.byName[op.Model]
		switch {
		case m == nil:
			answer(i, http.StatusNotFound, errorBody("not_found", "no model "+strconv.Quote(op.Model)))
		case op.Op != "put" && op.Op != "delete":
			answer(i, http.StatusBadRequest, errorBody("bad_request", `op must be "put" or "delete"`))
		case op.Key == "":
			answer(i, http.StatusBadRequest, errorBody("missing_key", "every op needs a key"))
		case int64(len(op.Record)) > s.opts.maxBody:
			answer(i, http.StatusRequestEntityTooLarge, errorBody("too_large", fmt.Sprintf("a record may have at most %d bytes", s.opts.maxBody)))
		default:
			writes = append(writes, writeReq{model: m, id: op.ID, del: op.Op == "delete",
				body: op.Record, protocol: true, ifMatch: op.Version, key: op.Key})
			at = append(at, i)
		}
	}
	if len(writes) > 0 {
		ws, err := s.writeAll(r.Context(), writes)
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, "internal", err.Error())
			return
		}
		for k, w := range ws {
			answer(at[k], w.status, w.answer)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": results})
}

// announce tells the event streams that a model changed.
func (s *Server) announce(model string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.listeners {
		select {
		case ch <- model:
		default: // the stream has a backlog; its next event names every model
			select {
			case ch <- "":
			default:
			}
		}
	}
}

// events streams which models changed (server-sent events): one event per 100 ms at most,
// a ping every 25 s, until the client leaves or the server closes.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	ch := make(chan string, 64)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		writeError(w, http.StatusServiceUnavailable, "internal", "the server is closing")
		return
	}
	s.listeners[ch] = struct{}{}
	s.streams.Add(1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ch)
		s.mu.Unlock()
		s.streams.Done()
	}()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if c := r.URL.Query().Get("cursor"); c != "" { // changes since the client's cursor first
		ch <- ""
	}
	rc.Flush()
	ping := time.NewTicker(25 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		case <-ping.C:
			io.WriteString(w, ": ping\n\n")
		case model := <-ch:
			changed := map[string]bool{model: true}
			coalesce := time.After(100 * time.Millisecond)
		gather:
			for {
				select {
				case m := <-ch:
					changed[m] = true
				case <-coalesce:
					break gather
				}
			}
			var models []string
			for _, m := range s.models {
				if name := strings.TrimPrefix(m.schema.Path, "/"); changed[name] || changed[""] {
					models = append(models, name)
				}
			}
			var seq int64
			s.db.reader.QueryRowxContext(r.Context(), s.q(`SELECT value FROM syncgen_server_counters WHERE name = 'seq'`)).Scan(&seq)
			data, _ := json.Marshal(map[string]any{"models": models, "seq": strconv.FormatInt(seq, 10)})
			fmt.Fprintf(w, "event: changed\ndata: %s\n\n", data)
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// rowUpdatedAt is a stored record's updatedAt, "" when there is none.
func (r *serverRow) rowUpdatedAt() string {
	if r == nil {
		return ""
	}
	return r.UpdatedAt
}
