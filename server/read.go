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
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/syncgen/syncgen/runtime"
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
	values, filtered, err := s.readable(ctx, m)
	if err != nil {
		s.fail(w, r, "list", err)
		return
	}
	if filtered {
		if len(values) == 0 {
			writeRaw(w, http.StatusOK, []byte("[]\n"))
			return
		}
		query += ` AND scope IN ` + placeholders(len(values))
		args = append(args, anyArgs(values)...)
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
	seen := true
	if err == nil && row != nil {
		seen, err = s.inScope(r.Context(), m, row.Scope)
	}
	switch {
	case err != nil:
		s.fail(w, r, "get", err)
	case row == nil || !seen || (row.Deleted && !m.hasDeleted && !protocol(r)) || !s.visible(r.Context(), m, row.Data):
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
	where, err := feedSubsets(r, m)
	if err != nil {
		writeError(w, http.StatusBadRequest, wire.CodeBadRequest, err.Error())
		return
	}
	values, filtered, err := s.readable(ctx, m)
	if err != nil {
		s.fail(w, r, "feed", err)
		return
	}
	reads := values // the values whose records are read: narrowed to the ones asked for
	if filtered {
		if asked, ok := r.URL.Query()[wire.QueryScope]; ok { // narrowed by the client
			set := make(map[string]bool, len(asked)) // a map: the client may send many
			for _, v := range asked {
				set[v] = true
			}
			values = slices.DeleteFunc(slices.Clone(values), func(v string) bool { return !set[v] })
		}
		reads = values
		if where != nil { // subsets that name their scope values read only those
			if only, ok := where.ScopeValues(m.schema); ok {
				reads = slices.DeleteFunc(slices.Clone(values), func(v string) bool { _, found := slices.BinarySearch(only, v); return !found })
			}
		}
	} else if s.opts.scopes != nil && len(r.URL.Query()[wire.QueryScope]) > 0 {
		writeError(w, http.StatusBadRequest, wire.CodeBadRequest, m.schema.Model+" has no scope field: its feed cannot be narrowed by scope")
		return
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
	if filtered && !fromStart {
		// A reader of some scopes needs only their tombstones: other scopes' purges must
		// not send them a 410 (scopes.go).
		if horizon, err = s.scopeHorizon(ctx, tx, m, reads); err != nil {
			s.fail(w, r, "feed", err)
			return
		}
	}
	if !fromStart && (after < horizon || after > newest) {
		writeError(w, http.StatusGone, wire.CodeCursorExpired, "the changes after this cursor are not all kept: resync from the start")
		return
	}
	// The rows stream from the database; the page ends at limit rows or, before that,
	// at the entry that would take it past maxPage bytes, so a page never holds more
	// than about maxPage bytes of records however large the rows are.
	query, args := `SELECT `+rowColumns+`, 0 AS gone FROM syncgen_server_records
		WHERE model = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?`, []any{m.schema.Table, after, newest, limit + 1}
	if filtered {
		query, args = scopedFeed(m, after, newest, limit+1, reads, values)
	}
	rows, err := tx.QueryxContext(ctx, s.q(query), args...)
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
		var row struct {
			storedRow
			Gone int `db:"gone"` // 1: left the reader's scopes; 2: moved to one not read
		}
		if err := rows.StructScan(&row); err != nil {
			s.fail(w, r, "feed", err)
			return
		}
		if read == limit {
			hasMore = true
			break
		}
		send := row.Gone > 0 || s.visible(ctx, m, row.Data)
		outside := row.Gone == 2 || (send && row.Gone == 0 && !row.Deleted && where != nil && !where.Match([]byte(row.Data)))
		if send && !(outside && fromStart) { // from the start, the reader holds nothing to be told of
			entry := m.entry(&row.storedRow)
			if row.Gone == 1 || outside { // neither its record nor its version
				entry = wire.Entry{ID: row.ID, Seq: strconv.FormatInt(row.Seq, 10), Left: !outside, Outside: outside}
			}
			e, err := json.Marshal(entry)
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
	if !hasMore && s.opts.scopes == nil {
		// With scopes a cursor stays at the last change the reader saw: the newest seq
		// would tell them of other scopes' writes.
		cursor = max(after, newest)
	}
	c := strconv.FormatInt(cursor, 10)
	if entries == nil {
		entries = []json.RawMessage{}
	}
	var scopes *[]string // absent for a model not filtered by scope
	if filtered {
		values = append([]string{}, values...) // [], not null, when there are none
		scopes = &values
	}
	writeJSON(w, http.StatusOK, struct {
		Changes []json.RawMessage `json:"changes"`
		Cursor  *string           `json:"cursor"`
		HasMore bool              `json:"hasMore"`
		Scopes  *[]string         `json:"scopes,omitempty"`
	}{entries, &c, hasMore, scopes})
}

// scopedFeed is the change feed's query for a reader who sees the scope values seen and
// reads those of read (some of them): the records in read changed after the cursor, and
// the records that moved out of read since (or were purged since): gone is 1 for those now
// in none of seen (they left the reader's scopes), 2 for those in one of seen that is not
// read (they left what the reader syncs). Both halves read the (model, scope, seq)
// indexes, so the feed costs what these scopes' changes cost.
func scopedFeed(m *Model, after, newest int64, limit int, read, seen []string) (string, []any) {
	if len(read) == 0 {
		return `SELECT ` + rowColumns + `, 0 AS gone FROM syncgen_server_records WHERE 1 = 0`, nil
	}
	in := placeholders(len(read))
	gone := `1`
	var seenArgs []any
	if len(seen) > len(read) {
		gone, seenArgs = `CASE WHEN r.scope IN `+placeholders(len(seen))+` THEN 2 ELSE 1 END`, anyArgs(seen)
	}
	v := anyArgs(read)
	query := `SELECT ` + rowColumns + `, 0 AS gone FROM syncgen_server_records
		WHERE model = ? AND scope IN ` + in + ` AND seq > ? AND seq <= ?
	UNION ALL
	SELECT l.id, 0, l.seq, '', 0, '', '', l.scope, ` + gone + ` FROM syncgen_server_leaves l
		LEFT JOIN syncgen_server_records r ON r.model = l.model AND r.id = l.id
		WHERE l.model = ? AND l.scope IN ` + in + ` AND l.seq > ? AND l.seq <= ? AND (r.scope IS NULL OR r.scope NOT IN ` + in + `)
	ORDER BY seq LIMIT ?`
	args := append([]any{m.schema.Table}, v...)
	args = append(args, after, newest)
	args = append(args, seenArgs...)
	args = append(args, m.schema.Table)
	args = append(args, v...)
	args = append(args, after, newest)
	args = append(args, v...)
	return query, append(args, limit)
}

// feedSubsets is the subsets a feed request asks for (wire.QueryWhere), compiled against
// the model; nil when it asks for none.
func feedSubsets(r *http.Request, m *Model) (*runtime.Subsets, error) {
	raw, ok := r.URL.Query()[wire.QueryWhere]
	if !ok {
		return nil, nil
	}
	var subs []wire.Subset
	dec := json.NewDecoder(strings.NewReader(raw[0]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&subs); err != nil || len(raw) > 1 {
		return nil, fmt.Errorf("%s: not one JSON array of subsets", wire.QueryWhere)
	}
	where, err := runtime.CompileSubsets(m.schema, subs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", wire.QueryWhere, err)
	}
	return where, nil
}
