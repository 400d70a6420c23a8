package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/syncgen/syncgen/wire"
)

// visible reports whether the request's user may see a record's data.
func (s *Server) visible(ctx context.Context, m *Model, data string) bool {
	return s.opts.scope == nil || s.opts.scope(ctx, User(ctx), m.schema.Model, json.RawMessage(data))
}

// list answers a plain REST listing, in commit order, optionally since a time and paged
// with _page and _limit: live records, and for a model with deletedAt its tombstones too,
// which is how plain clients learn of deletes.
func (s *Server) list(w http.ResponseWriter, r *http.Request, m *Model) {
	query := `SELECT data FROM syncgen_server_records WHERE model = ? AND (deleted = 0 OR ? = 1)`
	args := []any{m.schema.Table, boolInt(m.hasDeleted)}
	if since := r.URL.Query().Get("since"); since != "" {
		t, err := time.Parse(time.RFC3339Nano, since)
		if err != nil {
			writeError(w, http.StatusBadRequest, wire.CodeBadRequest, "since: "+err.Error())
			return
		}
		query += ` AND updated_at >= ?`
		args = append(args, formatTime(t))
	}
	query += ` ORDER BY seq`
	if l := r.URL.Query().Get("_limit"); l != "" {
		limit, err1 := strconv.Atoi(l)
		page, err2 := strconv.Atoi(cmpOr(r.URL.Query().Get("_page"), "1"))
		if err1 != nil || err2 != nil || limit < 1 || page < 1 {
			writeError(w, http.StatusBadRequest, wire.CodeBadRequest, "_page and _limit must be positive integers")
			return
		}
		query += fmt.Sprintf(` LIMIT %d OFFSET %d`, limit, (page-1)*limit)
	}
	var data []string
	if err := sqlx.SelectContext(r.Context(), s.db.Reader(), &data, s.q(query), args...); err != nil {
		writeError(w, http.StatusInternalServerError, wire.CodeInternal, err.Error())
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
func (s *Server) get(w http.ResponseWriter, r *http.Request, m *Model) {
	row, err := s.row(r.Context(), s.db.Reader(), m, r.PathValue("id"))
	switch {
	case err != nil:
		writeError(w, http.StatusInternalServerError, wire.CodeInternal, err.Error())
	case row == nil || (row.Deleted && !m.hasDeleted && !protocol(r)) || !s.visible(r.Context(), m, row.Data):
		writeError(w, http.StatusNotFound, wire.CodeNotFound, "no such record")
	case protocol(r):
		writeJSON(w, http.StatusOK, m.entry(row))
	default:
		writeRaw(w, http.StatusOK, []byte(row.Data))
	}
}

func (s *Server) row(ctx context.Context, q sqlx.QueryerContext, m *Model, id string) (*storedRow, error) {
	var row storedRow
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
func (s *Server) changes(w http.ResponseWriter, r *http.Request, m *Model) {
	ctx := r.Context()
	if err := s.purge(ctx); err != nil {
		writeError(w, http.StatusInternalServerError, wire.CodeInternal, err.Error())
		return
	}
	var after int64
	fromStart := r.URL.Query().Get("cursor") == ""
	if c := r.URL.Query().Get("cursor"); c != "" {
		var err error
		if after, err = strconv.ParseInt(c, 10, 64); err != nil || after < 0 {
			writeError(w, http.StatusBadRequest, wire.CodeBadRequest, "cursor: not one this server gave")
			return
		}
	}
	limit := 500
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, wire.CodeBadRequest, "limit must be a positive integer")
			return
		}
		limit = min(n, 1000)
	}
	// One read transaction: the newest seq committed, then the rows, so a last page's
	// cursor can move up to that seq even when this model had no changes.
	tx, err := s.db.Reader().BeginTxx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		writeError(w, http.StatusInternalServerError, wire.CodeInternal, err.Error())
		return
	}
	defer tx.Rollback()
	var horizon, newest int64
	err = tx.QueryRowxContext(ctx, s.q(`SELECT
		COALESCE(MAX(CASE WHEN name = ? THEN value END), 0), COALESCE(MAX(CASE WHEN name = 'seq' THEN value END), 0)
		FROM syncgen_server_counters`), "horizon:"+m.schema.Table).Scan(&horizon, &newest)
	if err != nil {
		writeError(w, http.StatusInternalServerError, wire.CodeInternal, err.Error())
		return
	}
	if !fromStart && (after < horizon || after > newest) {
		writeError(w, http.StatusGone, wire.CodeCursorExpired, "the changes after this cursor are not all kept: resync from the start")
		return
	}
	var rows []storedRow
	err = sqlx.SelectContext(ctx, tx, &rows, s.q(`SELECT `+rowColumns+` FROM syncgen_server_records
		WHERE model = ? AND seq > ? ORDER BY seq LIMIT ?`), m.schema.Table, after, limit+1)
	if err != nil {
		writeError(w, http.StatusInternalServerError, wire.CodeInternal, err.Error())
		return
	}
	page := wire.Changes{Changes: []wire.Entry{}}
	cursor := after
	if len(rows) > limit {
		rows, page.HasMore = rows[:limit], true
	}
	for i := range rows {
		if s.visible(ctx, m, rows[i].Data) {
			page.Changes = append(page.Changes, m.entry(&rows[i]))
		}
		cursor = rows[i].Seq
	}
	if !page.HasMore {
		cursor = max(after, newest)
	}
	c := strconv.FormatInt(cursor, 10)
	page.Cursor = &c
	writeJSON(w, http.StatusOK, page)
}
