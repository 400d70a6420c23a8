package server

import (
	"context"
	"database/sql"
	"time"
)

// purge removes tombstones and idempotency keys past their retention, at most once a
// minute, and moves each model's horizon past the purged tombstones, and each scope's
// (scopes.go).
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
	tx, err := s.db.Writer().BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	cutoff := formatTime(now.Add(-s.opts.tombstones))
	for _, m := range s.models {
		var top sql.NullInt64
		if m.scopeKey != "" { // before the tombstones go: their scopes' horizons
			if err := s.purgeScopes(ctx, tx, m, cutoff); err != nil {
				return err
			}
		}
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
		formatTime(now.Add(-s.opts.keys))); err != nil {
		return err
	}
	return tx.Commit()
}
