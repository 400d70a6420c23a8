package server

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/syncgen/syncgen/wire"
)

// visible reports whether the request's user may see a record's data.
func (s *Server) visible(ctx context.Context, m *Model, data string) bool {
	return s.opts.scope == nil || s.opts.scope(ctx, User(ctx), m.schema.Model, json.RawMessage(data))
}

// listChunk is how many rows a listing reads at a time: a listing holds at most this
// many records in memory, and no database connection while it writes to the client.
const listChunk = 16

// list answers a plain REST listing, in commit order, optionally since a time and paged
// with _page and _limit: live records, and for a model with deletedAt its tombstones too,
// which is how plain clients learn of deletes. The answer is streamed, read from the
// database a few rows at a time by seq, so a listing without _limit costs no more memory
// than one with it. A record written while a listing runs moves to its end.
func (s *Server) list(w http.ResponseWriter, r *http.Request, m *Model) {
	ctx := r.Context()
	query := `SELECT seq, data FROM syncgen_server_records WHERE model = ? AND (deleted = 0 OR ? = 1)`
	args := []any{m.schema.Table, boolInt(m.hasDeleted)}
	if since := r.URL.Query().Get("since"); since != "" {
		t, err := time.Parse(time.RFC3339Nano, since)
		if err != nil {
			writeError(w, http.StatusBadRequest, wire.CodeBadRequest, "since: not an RFC 3339 time")
			return
		}
		query += ` AND updated_at >= ?`
		args = append(args, formatTime(t))
	}
	remaining, offset := int64(-1), int64(0) // -1: every record
	if l := r.URL.Query().Get("_limit"); l != "" {
		limit, err1 := strconv.ParseInt(l, 10, 64)
		page, err2 := strconv.ParseInt(cmpOr(r.URL.Query().Get("_page"), "1"), 10, 64)
		if err1 != nil || err2 != nil || limit < 1 || page < 1 || page-1 > math.MaxInt64/limit {
			writeError(w, http.StatusBadRequest, wire.CodeBadRequest, "_page and _limit must be positive integers, and their product at most 2^63-1")
			return
		}
		remaining, offset = limit, (page-1)*limit
	}
	type listRow struct {
		Seq  int64  `db:"seq"`
		Data string `db:"data"`
	}
	var (
		after   int64 = -1 // the seq of the last row read; -1 before the first chunk
		started bool
		first   = true
		bw      = bufio.NewWriterSize(w, 32<<10)
	)
	for remaining != 0 {
		n := int64(listChunk)
		if remaining > 0 && remaining < n {
			n = remaining
		}
		q, a := query, slices.Clone(args)
		if after >= 0 {
			q += ` AND seq > ?`
			a = append(a, after)
		}
		q += fmt.Sprintf(` ORDER BY seq LIMIT %d`, n)
		if after < 0 && offset > 0 {
			q += fmt.Sprintf(` OFFSET %d`, offset)
		}
		var rows []listRow
		if err := sqlx.SelectContext(ctx, s.db.Reader(), &rows, s.q(q), a...); err != nil {
			if !started {
				s.fail(w, r, "list", err)
			} else {
				// The answer has begun: it ends here, not valid JSON, which the client
				// takes as a failed request.
				s.opts.log.ErrorContext(ctx, "syncgen server: list", "err", err)
			}
			return
		}
		if !started {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			bw.WriteString("[")
			started = true
		}
		for _, row := range rows {
			if !s.visible(ctx, m, row.Data) {
				continue
			}
			if !first {
				bw.WriteString(",")
			}
			first = false
			bw.WriteString(row.Data)
		}
		if int64(len(rows)) < n {
			break
		}
		after = rows[len(rows)-1].Seq
		if remaining > 0 {
			remaining -= int64(len(rows))
		}
	}
	if !started {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		bw.WriteString("[")
	}
	bw.WriteString("]\n")
	bw.Flush()
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
	if err := wire.CheckID(r.PathValue("id")); err != nil {
		writeError(w, http.StatusBadRequest, wire.IDCode(err), "id: "+err.Error())
		return
	}
	row, err := s.row(r.Context(), s.db.Reader(), m, r.PathValue("id"))
	switch {
	case err != nil:
		s.fail(w, r, "get", err)
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
		s.fail(w, r, "purge", err)
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
		limit = min(n, wire.MaxFeedLimit)
	}
	// One read transaction: the newest seq committed, then the rows, so a last page's
	// cursor can move up to that seq even when this model had no changes.
	tx, err := s.db.Reader().BeginTxx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		s.fail(w, r, "feed", err)
		return
	}
	defer tx.Rollback()
	horizon, newest, err := s.feedHead(ctx, tx, m) // newest: no write below it is in flight (seq.go)
	if err != nil {
		s.fail(w, r, "feed", err)
		return
	}
	if !fromStart && (after < horizon || after > newest) {
		writeError(w, http.StatusGone, wire.CodeCursorExpired, "the changes after this cursor are not all kept: resync from the start")
		return
	}
	// The rows stream from the database; the page ends at limit rows or, before that,
	// at the entry that would take it past maxPage bytes, so a page never holds more
	// than about maxPage bytes of records however large the rows are.
	rows, err := tx.QueryxContext(ctx, s.q(`SELECT `+rowColumns+` FROM syncgen_server_records
		WHERE model = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?`), m.schema.Table, after, newest, limit+1)
	if err != nil {
		s.fail(w, r, "feed", err)
		return
	}
	defer rows.Close()
	var (
		entries []json.RawMessage
		size    int64
		read    int
		hasMore bool
	)
	cursor := after
	for rows.Next() {
		var row storedRow
		if err := rows.StructScan(&row); err != nil {
			s.fail(w, r, "feed", err)
			return
		}
		if read == limit {
			hasMore = true
			break
		}
		if s.visible(ctx, m, row.Data) {
			e, err := json.Marshal(m.entry(&row))
			if err != nil {
				s.fail(w, r, "feed", err)
				return
			}
			if len(entries) > 0 && size+int64(len(e)) > s.opts.maxPage {
				hasMore = true
				break
			}
			entries = append(entries, e)
			size += int64(len(e))
		}
		read++
		cursor = row.Seq
	}
	if err := rows.Err(); err != nil {
		s.fail(w, r, "feed", err)
		return
	}
	if !hasMore {
		cursor = max(after, newest)
	}
	c := strconv.FormatInt(cursor, 10)
	if entries == nil {
		entries = []json.RawMessage{}
	}
	writeJSON(w, http.StatusOK, struct {
		Changes []json.RawMessage `json:"changes"`
		Cursor  *string           `json:"cursor"`
		HasMore bool              `json:"hasMore"`
	}{entries, &c, hasMore})
}
