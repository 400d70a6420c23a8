package runtime

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/jmoiron/sqlx"
)

// Scopes (docs/SCOPES.md): a model with a sync:"scope" field is filtered by the server,
// which lists, with each feed page, the scope values the user may see now. A client keeps,
// per model, the values whose records it holds in full up to its cursor (held). A value
// the server no longer lists is lost: its records leave the device, and their queued
// writes become dead letters (ErrOutOfScope). A value listed but not held is gained: after
// the feed, its records are read from the start of a feed narrowed to it.

// ErrOutOfScope is the cause of the dead letters of writes to a record that left the
// user's scopes before they were sent: errors.Is(err, ErrOutOfScope).
var ErrOutOfScope = errors.New("the record left your scopes on the server")

// OutOfScopeError says which record left, and why.
type OutOfScopeError struct {
	Model, ID string
	// Scope is the scope value the user lost, "" when the record itself moved to a scope
	// the user does not see.
	Scope string
}

func (e *OutOfScopeError) Error() string {
	if e.Scope == "" {
		return fmt.Sprintf("%s %q moved to a scope you do not see: %v; this write was not sent", e.Model, e.ID, ErrOutOfScope)
	}
	return fmt.Sprintf("%s %q is in scope %q, which you may no longer see: %v; this write was not sent", e.Model, e.ID, e.Scope, ErrOutOfScope)
}

func (e *OutOfScopeError) Unwrap() error { return ErrOutOfScope }

// scopeColumn is the SQLite column of a schema's scope field, "" when it has none.
func scopeColumn(s *Schema) string {
	for _, c := range s.Columns {
		if c.Scope {
			return c.Name
		}
	}
	return ""
}

// SyncOnly makes the repository sync only the records of this model that q selects,
// among those the user may see (the server intersects the two); the zero query syncs
// every record the user may see again. q may hold only conditions on the model's scope
// field, Eq or In: the server filters by those in SQL. It takes effect at the next pull:
// records of a scope value added arrive, those of a value removed leave the device
// (records with queued writes stay until the writes are pushed). The choice is kept in
// the database.
func (s *Store[T]) SyncOnly(ctx context.Context, q Query) error {
	if err := s.repo.check(); err != nil {
		return err
	}
	values, err := subsetOf(s.s, q)
	if err != nil {
		return fmt.Errorf("sync only %s: %w", s.s.Model, err)
	}
	var subset any // NULL: every value
	if values != nil {
		b, _ := json.Marshal(values)
		subset = string(b)
	}
	return s.repo.tx(ctx, nil, func(tx *Tx) error {
		_, err := tx.q.ExecContext(ctx, `INSERT INTO syncgen_scopes (model, subset) VALUES (?, ?)
			ON CONFLICT (model) DO UPDATE SET subset = excluded.subset`, s.s.Table, subset)
		if err != nil {
			return fmt.Errorf("sync only %s: %w", s.s.Model, err)
		}
		return nil
	})
}

// subsetOf is the scope values a query selects, sorted; nil for every value.
func subsetOf(s *Schema, q Query) ([]string, error) {
	col := scopeColumn(s)
	if col == "" {
		return nil, fmt.Errorf("%s has no sync:\"scope\" field to narrow the sync by", s.Model)
	}
	if q.HasWindow() || len(q.orders) > 0 {
		return nil, errors.New("a subset is a set of records: it takes no limit, offset or order")
	}
	var values []string
	for i, c := range q.Conditions() {
		if c == nil || c.Column != col || (c.Op != OpEq && c.Op != OpIn) {
			return nil, fmt.Errorf("condition %d: a subset can be narrowed only by the scope field (%s) with Eq or In; other conditions are answered locally by queries", i+1, col)
		}
		var these []string
		for _, v := range c.Values {
			str, ok := v.(string)
			if !ok {
				str = fmt.Sprint(v)
			}
			these = append(these, str)
		}
		if i == 0 {
			values = these
		} else {
			values = intersect(values, these)
		}
	}
	if values == nil && len(q.Conditions()) > 0 {
		values = []string{}
	}
	if values != nil { // sorted, and still empty rather than nil when nothing is chosen
		values = append([]string{}, slices.Compact(slices.Sorted(slices.Values(values)))...)
	}
	return values, nil
}

// scopePull is one pull's view of a model's scopes.
type scopePull struct {
	m      syncModel
	held   []string // values held in full up to the cursor; nil: not known
	subset []string // the app's choice (SyncScopes); nil: every value
	full   bool     // the feed is read from the start: its pages bring every listed value
	first  bool     // no scoped page applied yet in this read
	listed []string // the last page's values; nil: the model is not filtered by scope
}

// loadScopes reads a model's scope state.
func (r *Repo) loadScopes(ctx context.Context, m syncModel, full bool) (*scopePull, error) {
	sc := &scopePull{m: m, full: full, first: true}
	if scopeColumn(m.schema()) == "" {
		return sc, nil
	}
	var held, subset sql.NullString
	err := r.db.reader.QueryRowxContext(ctx, `SELECT held, subset FROM syncgen_scopes WHERE model = ?`, m.schema().Table).Scan(&held, &subset)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("read scopes: %w", err)
	}
	if held.Valid {
		if err := json.Unmarshal([]byte(held.String), &sc.held); err != nil {
			return nil, fmt.Errorf("read scopes: %w", err)
		}
		if sc.held == nil {
			sc.held = []string{}
		}
	}
	if subset.Valid {
		if err := json.Unmarshal([]byte(subset.String), &sc.subset); err != nil {
			return nil, fmt.Errorf("read scopes: %w", err)
		}
		if sc.subset == nil {
			sc.subset = []string{}
		}
	}
	return sc, nil
}

// restart starts a read from the start over (a resync).
func (sc *scopePull) restart() { sc.full, sc.first = true, true }

// changes reads a feed page, narrowed to the subset when the app chose one.
func (sc *scopePull) changes(ctx context.Context, feed ChangeFeed, cursor string, only []string) (*Changes, error) {
	if only == nil {
		only = sc.subset
	}
	if only != nil {
		sf, ok := feed.(ScopedFeed)
		if !ok {
			return nil, fmt.Errorf("pull %s: the remote cannot narrow its feed by scope (SyncScopes needs the syncgen protocol)", sc.m.schema().Model)
		}
		if len(only) == 0 { // nothing chosen: nothing to read, and the cursor stays
			return &Changes{Cursor: cursor, Scopes: []string{}}, nil
		}
		return sf.ChangesIn(ctx, sc.m.endpoint(), cursor, only)
	}
	return feed.Changes(ctx, sc.m.endpoint(), cursor)
}

// apply applies a page's scope news in tx: the records that left, the values lost. It
// returns how many local records went.
func (sc *scopePull) apply(ctx context.Context, tx *Tx, r *Repo, listed []string, left []string) (int, error) {
	n := 0
	for _, id := range left {
		if err := sc.m.leave(ctx, tx, id, &OutOfScopeError{Model: sc.m.schema().Model, ID: id}); err != nil {
			return n, err
		}
		n++
	}
	if listed == nil {
		return n, nil
	}
	slices.Sort(listed)
	sc.listed = listed
	var deferred []string // dropped from the subset, with writes still queued: later
	if sc.held != nil {
		var lost []string
		for _, v := range sc.held {
			if !slices.Contains(listed, v) {
				lost = append(lost, v)
			}
		}
		for _, v := range lost {
			k, later, err := sc.loseScope(ctx, tx, v)
			n += k
			if err != nil {
				return n, err
			}
			if later {
				deferred = append(deferred, v)
			}
		}
	}
	switch {
	case sc.full && sc.first:
		sc.held = slices.Clone(listed)
	case sc.full:
		sc.held = intersect(sc.held, listed)
	case sc.held != nil:
		sc.held = intersect(sc.held, listed)
	}
	if len(deferred) > 0 { // still held, so that a later pull removes the rest
		sc.held = slices.Compact(slices.Sorted(slices.Values(append(sc.held, deferred...))))
	}
	sc.first = false
	return n, nil
}

// loseScope removes the local records of a scope value the pull no longer lists. Their
// queued writes are dead letters when the user lost the value; when the app dropped it
// from its subset, records with queued writes stay until those are pushed, and later
// says the value must stay held until then.
func (sc *scopePull) loseScope(ctx context.Context, tx *Tx, v string) (n int, later bool, err error) {
	s := sc.m.schema()
	chosen := sc.subset != nil && !slices.Contains(sc.subset, v)
	query := `SELECT ` + idColumn(s) + ` FROM ` + quoteIdent(s.Table) + ` WHERE ` + quoteIdent(scopeColumn(s)) + ` = ?`
	if chosen {
		query += ` AND ` + idColumn(s) + ` NOT IN (SELECT record_id FROM syncgen_outbox WHERE model = ?)`
	}
	args := []any{v}
	if chosen {
		args = append(args, s.Table)
	}
	var ids []string
	if err := sqlx.SelectContext(ctx, tx.q, &ids, query, args...); err != nil {
		return 0, false, fmt.Errorf("drop scope %q: %w", v, err)
	}
	for _, id := range ids {
		if err := sc.m.leave(ctx, tx, id, &OutOfScopeError{Model: s.Model, ID: id, Scope: v}); err != nil {
			return 0, false, err
		}
	}
	if chosen {
		err := tx.q.QueryRowxContext(ctx, `SELECT EXISTS (SELECT 1 FROM `+quoteIdent(s.Table)+` WHERE `+quoteIdent(scopeColumn(s))+` = ?)`, v).Scan(&later)
		if err != nil {
			return 0, false, fmt.Errorf("drop scope %q: %w", v, err)
		}
	}
	return len(ids), later, nil
}

// gained is the values listed by the last page and not held in full.
func (sc *scopePull) gained() []string {
	var out []string
	for _, v := range sc.listed {
		if !slices.Contains(sc.held, v) {
			out = append(out, v)
		}
	}
	return out
}

// save stores the held values in tx.
func (sc *scopePull) save(ctx context.Context, tx *Tx) error {
	if sc.listed == nil && sc.held == nil {
		return nil
	}
	held := sc.held
	if held == nil {
		held = []string{}
	}
	b, _ := json.Marshal(held)
	_, err := tx.q.ExecContext(ctx, `INSERT INTO syncgen_scopes (model, held) VALUES (?, ?)
		ON CONFLICT (model) DO UPDATE SET held = excluded.held`, sc.m.schema().Table, string(b))
	if err != nil {
		return fmt.Errorf("save scopes: %w", err)
	}
	return nil
}

// catchUp reads the records of the values gained, from the start of a feed narrowed to
// them; with its last page they are held. The main cursor does not move: the catch-up
// overlaps the feed, and a record read twice is applied once.
func (r *Repo) catchUp(ctx context.Context, sc *scopePull, feed ChangeFeed, rep *SyncReport) error {
	gained := sc.gained()
	if len(gained) == 0 {
		return nil
	}
	cursor := ""
	given := map[string]bool{"": true}
	for {
		page, err := sc.changes(ctx, feed, cursor, gained)
		if err != nil {
			return fmt.Errorf("read the records of a scope gained: %w", err)
		}
		if err := cursorAdvances(cursor, page.Cursor, page.HasMore, given); err != nil {
			return err
		}
		// "Left" here means left the gained values, not all the client syncs: a record
		// that moved from one to another it syncs must stay. The main feed reports
		// records that leave everything it syncs.
		recs, _ := feedRecords(page)
		d, err := sc.m.decodePage(recs)
		if err != nil {
			return err
		}
		last := !page.HasMore
		err = sc.m.applyPage(ctx, d, rep, func(tx *Tx, _ pageInfo) (int, error) {
			n := 0
			if !last {
				return n, nil
			}
			if page.Scopes != nil {
				sc.held = append(sc.held, intersect(gained, page.Scopes)...)
				slices.Sort(sc.held)
			}
			return n, sc.save(ctx, tx)
		})
		if err != nil || last {
			return err
		}
		cursor = page.Cursor
	}
}

// strays removes, after a pull, the local records of scope values not held (a device's
// own writes outside its subset, or to a value lost while they were queued) once nothing
// of them waits to be pushed: the device holds only what it syncs.
func (r *Repo) strays(ctx context.Context, sc *scopePull, rep *SyncReport) error {
	if sc.listed == nil || sc.held == nil {
		return nil
	}
	s := sc.m.schema()
	query := `SELECT ` + idColumn(s) + ` FROM ` + quoteIdent(s.Table) + ` WHERE ` +
		idColumn(s) + ` NOT IN (SELECT record_id FROM syncgen_outbox WHERE model = ?)`
	args := []any{s.Table}
	if len(sc.held) > 0 {
		query += ` AND ` + quoteIdent(scopeColumn(s)) + ` NOT IN (` + strings.TrimSuffix(strings.Repeat("?, ", len(sc.held)), ", ") + `)`
		for _, v := range sc.held {
			args = append(args, v)
		}
	}
	var ids []string
	if err := sqlx.SelectContext(ctx, r.db.reader, &ids, query, args...); err != nil {
		return fmt.Errorf("find records outside the scopes synced: %w", err)
	}
	if len(ids) == 0 {
		return nil
	}
	return r.tx(ctx, rep, func(tx *Tx) error {
		for _, id := range ids {
			var pending bool // queued since the read above: it stays
			if err := tx.q.QueryRowxContext(ctx, `SELECT EXISTS (SELECT 1 FROM syncgen_outbox WHERE model = ? AND record_id = ?)`, s.Table, id).Scan(&pending); err != nil {
				return err
			}
			if pending {
				continue
			}
			if err := sc.m.leave(ctx, tx, id, nil); err != nil {
				return err
			}
		}
		return nil
	})
}

// chosen leaves out of a listing (a hydrate) the records outside the app's subset
// (SyncOnly), which a listing does not narrow by.
func (sc *scopePull) chosen(recs []remoteRecord) []remoteRecord {
	if sc.subset == nil {
		return recs
	}
	var key string
	for _, c := range sc.m.schema().Columns {
		if c.Scope {
			key = c.JSON
		}
	}
	return slices.DeleteFunc(recs, func(r remoteRecord) bool {
		var fields map[string]json.RawMessage
		var v string
		if json.Unmarshal(r.raw, &fields) == nil && json.Unmarshal(fields[key], &v) == nil {
			return !slices.Contains(sc.subset, v)
		}
		return false // not an object: the decode reports it
	})
}

// feedRecords splits a feed page into the records to reconcile and the ids that left.
func feedRecords(page *Changes) (recs []remoteRecord, left []string) {
	for _, c := range page.Changes {
		if c.Left {
			left = append(left, c.ID)
			continue
		}
		recs = append(recs, remoteRecord{id: c.ID, raw: c.Record, version: c.Version})
	}
	return recs, left
}

func intersect(a, b []string) []string {
	out := []string{}
	for _, v := range a {
		if slices.Contains(b, v) {
			out = append(out, v)
		}
	}
	return out
}

// leave removes a record that left the user's scopes from the device: its queued writes
// become dead letters with cause, its row and sync state go. Nothing is queued.
func (s *Store[T]) leave(ctx context.Context, tx *Tx, id string, cause error) error {
	var pending []entry
	if err := sqlx.SelectContext(ctx, tx.q, &pending, `SELECT `+entryColumns+` FROM syncgen_outbox
		WHERE model = ? AND record_id = ? AND dead = 0 ORDER BY seq`, s.s.Table, id); err != nil {
		return fmt.Errorf("%s %q left the scopes: %w", s.s.Model, id, err)
	}
	for _, e := range pending {
		if err := s.repo.deadLetter(ctx, tx, e, http.StatusForbidden, "", cause); err != nil {
			return fmt.Errorf("%s %q left the scopes: %w", s.s.Model, id, err)
		}
	}
	if err := s.store(ctx, tx, id, nil); err != nil {
		return fmt.Errorf("%s %q left the scopes: %w", s.s.Model, id, err)
	}
	if err := tx.forget(ctx, s.s.Table, id); err != nil {
		return fmt.Errorf("%s %q left the scopes: %w", s.s.Model, id, err)
	}
	tx.event(Event{Kind: EventLeft, Model: s.s.Model, ID: id})
	return nil
}
