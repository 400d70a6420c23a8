package server

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/jmoiron/sqlx"
)

// WithScopes says which scope values user may see of model (its Go name), for the models
// with a sync:"scope" field (docs/SCOPES.md). The server asks once per request and model,
// and filters in SQL: lists, gets, the change feed and events hold only the records whose
// scope field has one of the values; a write must keep the record within them (else 403
// out_of_scope). Models without a scope field are not filtered. An error is answered with
// 500 and logged. After changing a user's grants, call ScopesChanged.
func WithScopes(f func(ctx context.Context, user, model string) ([]string, error)) Option {
	return func(o *options) { o.scopes = f }
}

// ScopesChanged tells the open event streams of user that the scopes they may see
// changed (a grant or a revocation): each names every model at once, so that a client's
// Run pulls now rather than at its next poll, and its pull finds the new scope values.
// It reveals nothing: any stream may be told so.
func (s *Server) ScopesChanged(user string) {
	s.announceAllTo(func(l *listener) bool { return l.user == user })
}

// scopeOf is a record's scope value: its scope field's string, "" when absent or null.
func (m *Model) scopeOf(data []byte) string {
	if m.scopeKey == "" {
		return ""
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(data, &fields) != nil {
		return ""
	}
	var v string
	json.Unmarshal(fields[m.scopeKey], &v)
	return v
}

// scopeCacheKey holds a request's answers of the WithScopes hook, so that the hook runs
// once per request and model however many records the request touches.
type scopeCacheKey struct{}

type scopeCache map[string][]string

// withScopeCache gives a request a cache of its own.
func withScopeCache(ctx context.Context) context.Context {
	return context.WithValue(ctx, scopeCacheKey{}, scopeCache{})
}

// readable is the scope values the request's user may see of m, sorted; filtered is false
// when m is not filtered by scope (no scope field, or no WithScopes).
func (s *Server) readable(ctx context.Context, m *Model) (values []string, filtered bool, err error) {
	if m.scopeKey == "" || s.opts.scopes == nil {
		return nil, false, nil
	}
	cache, _ := ctx.Value(scopeCacheKey{}).(scopeCache)
	if v, ok := cache[m.schema.Model]; ok {
		return v, true, nil
	}
	v, err := s.opts.scopes(ctx, User(ctx), m.schema.Model)
	if err != nil {
		return nil, true, fmt.Errorf("the scopes hook for %s: %w", m.schema.Model, err)
	}
	v = slices.Compact(slices.Sorted(slices.Values(v)))
	if cache != nil {
		cache[m.schema.Model] = v
	}
	return v, true, nil
}

// inScope reports whether the request's user may see a record of m with scope value v.
func (s *Server) inScope(ctx context.Context, m *Model, v string) (bool, error) {
	values, filtered, err := s.readable(ctx, m)
	if err != nil || !filtered {
		return !filtered, err
	}
	_, found := slices.BinarySearch(values, v)
	return found, nil
}

// placeholders is "(?, ?, …)" with n marks; n must be at least 1.
func placeholders(n int) string {
	return "(" + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + ")"
}

// anyArgs turns strings into query arguments.
func anyArgs(v []string) []any {
	out := make([]any, len(v))
	for i, s := range v {
		out[i] = s
	}
	return out
}

// moved records, in tx, that a record left scope from for scope to at seq: readers of
// from hear that it left (the feed's "left" entries); a leave it had from to before is
// void, since it is back.
func (s *Server) moved(ctx context.Context, tx writeTx, m *Model, id, from, to string, seq int64) error {
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO syncgen_server_leaves (model, id, scope, seq) VALUES (?, ?, ?, ?)
		ON CONFLICT (model, id, scope) DO UPDATE SET seq = excluded.seq`), m.schema.Table, id, from, seq); err != nil {
		return fmt.Errorf("record the move out of a scope: %w", err)
	}
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM syncgen_server_leaves WHERE model = ? AND id = ? AND scope = ?`), m.schema.Table, id, to); err != nil {
		return fmt.Errorf("record the move into a scope: %w", err)
	}
	return nil
}

// purgeScopes runs in the purge's transaction before a scoped model's tombstones go:
// each scope's horizon moves past its own purged tombstones, and the scope's leaves at or
// below it go, since no cursor of its readers needs them.
func (s *Server) purgeScopes(ctx context.Context, tx *sqlx.Tx, m *Model, cutoff string) error {
	var tops []struct {
		Scope string `db:"scope"`
		Top   int64  `db:"top"`
	}
	if err := tx.SelectContext(ctx, &tops, s.q(`SELECT scope, MAX(seq) AS top FROM syncgen_server_records
		WHERE model = ? AND deleted = 1 AND deleted_at < ? GROUP BY scope`), m.schema.Table, cutoff); err != nil {
		return err
	}
	for _, t := range tops {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO syncgen_server_counters (name, value) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value WHERE excluded.value > syncgen_server_counters.value`),
			scopeHorizonName(m, t.Scope), t.Top); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM syncgen_server_leaves WHERE model = ? AND scope = ? AND seq <= ?`),
			m.schema.Table, t.Scope, t.Top); err != nil {
			return err
		}
	}
	return nil
}

// scopeHorizonName names a scope's horizon among the counters.
func scopeHorizonName(m *Model, scope string) string {
	return "horizon:" + m.schema.Table + ":scope:" + scope
}

// scopeHorizon is the largest seq of a purged tombstone in any of values, or of one
// purged before the model had scopes (they are not told apart): a reader of these
// scopes with a cursor below it missed a delete.
func (s *Server) scopeHorizon(ctx context.Context, tx *sqlx.Tx, m *Model, values []string) (int64, error) {
	names := []any{"horizon-before-scopes:" + m.schema.Table}
	for _, v := range values {
		names = append(names, scopeHorizonName(m, v))
	}
	var h int64
	err := tx.QueryRowxContext(ctx, s.q(`SELECT COALESCE(MAX(value), 0) FROM syncgen_server_counters WHERE name IN `+placeholders(len(names))), names...).Scan(&h)
	return h, err
}

// backfillScopes fills the scope column of records stored before their model had a scope
// field (or before this server version), once per model and scope key: a counter row
// says it is done.
func (s *Server) backfillScopes(ctx context.Context) error {
	for _, m := range s.models {
		if m.scopeKey == "" {
			continue
		}
		done := "scoped:" + m.schema.Table + ":" + m.scopeKey
		tx, err := s.db.Writer().BeginTxx(ctx, nil)
		if err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowxContext(ctx, s.q(`SELECT COUNT(*) FROM syncgen_server_counters WHERE name = ?`), done).Scan(&n); err != nil {
			tx.Rollback()
			return err
		}
		if n > 0 {
			tx.Rollback()
			continue
		}
		var rows []struct {
			ID   string `db:"id"`
			Data string `db:"data"`
		}
		if err := tx.SelectContext(ctx, &rows, s.q(`SELECT id, data FROM syncgen_server_records WHERE model = ?`), m.schema.Table); err != nil {
			tx.Rollback()
			return err
		}
		for _, r := range rows {
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE syncgen_server_records SET scope = ? WHERE model = ? AND id = ?`),
				m.scopeOf([]byte(r.Data)), m.schema.Table, r.ID); err != nil {
				tx.Rollback()
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO syncgen_server_counters (name, value) VALUES (?, 1)`), done); err != nil {
			tx.Rollback()
			return err
		}
		// Tombstones purged so far count for every scope.
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO syncgen_server_counters (name, value)
			SELECT ?, COALESCE(MAX(value), 0) FROM syncgen_server_counters WHERE name = ?
			ON CONFLICT (name) DO UPDATE SET value = excluded.value`),
			"horizon-before-scopes:"+m.schema.Table, "horizon:"+m.schema.Table); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}
