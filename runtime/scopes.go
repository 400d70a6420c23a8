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
	"github.com/syncgen/syncgen/wire"
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

// ScopeColumn is the schema's scope field (sync:"scope"), nil when it has none.
func (s *Schema) ScopeColumn() *Column {
	for i := range s.Columns {
		if s.Columns[i].Scope {
			return &s.Columns[i]
		}
	}
	return nil
}

// SyncOnly makes the repository sync only the records of this model that match any of
// qs, among those the user may see (the server intersects the two): the projects open on
// this device, the last 30 days of orders. A zero Query matches every record, so
// SyncOnly(ctx, Query{}) syncs all the user may see again; no queries sync nothing. The
// queries may use Eq, Ne, Lt, Le, Gt, Ge, In, NotIn, HasPrefix, IsNull, NotNull and Or on
// fields that travel and hold strings, numbers, booleans or times; anything else is an
// error that says so. It takes effect at the next pull (at once under Run): the records
// of a query added are read from the start once; those no query matches any more leave
// the device (records with queued writes stay until the writes are pushed), and so does
// a record an edit takes out of every query. The choice is kept in the database.
func (s *Store[T]) SyncOnly(ctx context.Context, qs ...Query) error {
	if err := s.repo.check(); err != nil {
		return err
	}
	var subsets []wire.Subset // nil: every record
	for i, q := range qs {
		sub, err := subsetOf(s.s, q)
		if err != nil {
			return fmt.Errorf("sync only %s: query %d: %w", s.s.Model, i+1, err)
		}
		if len(sub) == 0 {
			subsets = nil
			break
		}
		subsets = append(subsets, sub)
	}
	if subsets == nil && len(qs) == 0 {
		subsets = []wire.Subset{}
	}
	var stored any // NULL: every record
	if subsets != nil {
		if _, err := CompileSubsets(s.s, subsets); err != nil {
			return fmt.Errorf("sync only %s: %w", s.s.Model, err)
		}
		stored = jsonText(subsets)
	}
	defer func() {
		select {
		case s.repo.rechose <- struct{}{}:
		default:
		}
	}()
	return s.repo.tx(ctx, nil, func(tx *Tx) error {
		sc, err := loadScopes(ctx, tx.q, s, false)
		if err != nil {
			return fmt.Errorf("sync only %s: %w", s.s.Model, err)
		}
		switch keys := subsetKeys(subsets); {
		case sc.heldSubs == nil && subsets == nil:
		case sc.heldSubs == nil: // the device holds every record, so it holds the new choice
			sc.heldSubs = keys
		case subsets != nil: // what a dropped subset held goes: adding it again reads it again
			sc.heldSubs = intersect(sc.heldSubs, keys)
		}
		var held any
		if sc.heldSubs != nil {
			held = jsonText(sc.heldSubs)
		}
		_, err = tx.q.ExecContext(ctx, `INSERT INTO syncgen_scopes (model, subsets, subsets_held) VALUES (?, ?, ?)
			ON CONFLICT (model) DO UPDATE SET subsets = excluded.subsets, subsets_held = excluded.subsets_held, subset = NULL`,
			s.s.Table, stored, held)
		if err != nil {
			return fmt.Errorf("sync only %s: %w", s.s.Model, err)
		}
		return nil
	})
}

// jsonText is v's JSON. Of subsets it is also their key: equal choices have equal keys.
func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// scopePull is one pull's view of a model's scopes and subsets.
type scopePull struct {
	m      syncModel
	held   []string // values held in full up to the cursor; nil: not known
	full   bool     // the feed is read from the start: its pages bring every listed value
	first  bool     // no page applied yet in this read
	listed []string // the last page's values; nil: the model is not filtered by scope

	subsets  []wire.Subset // the app's choice (SyncOnly); nil: every record
	compiled *Subsets      // subsets compiled, nil with them
	heldSubs []string      // the keys of the subsets held in full up to the cursor; nil: every record is
	evicted  bool          // the records outside the subsets were removed from the device
	stored   bool          // the model has a row in syncgen_scopes
}

// loadScopes reads a model's scope and subset state; full says the pull reads the feed
// from the start.
func loadScopes(ctx context.Context, q sqlx.QueryerContext, m syncModel, full bool) (*scopePull, error) {
	sc := &scopePull{m: m, full: full, first: true}
	var held, subset, subsets, heldSubs, evicted sql.NullString
	err := q.QueryRowxContext(ctx, `SELECT held, subset, subsets, subsets_held, evicted FROM syncgen_scopes WHERE model = ?`,
		m.schema().Table).Scan(&held, &subset, &subsets, &heldSubs, &evicted)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("read scopes: %w", err)
	}
	sc.stored = err == nil
	if scope := m.schema().ScopeColumn(); subset.Valid && !subsets.Valid && scope != nil {
		// Scope values chosen before subsets took queries: the same choice, as a subset
		// on the scope field, held and evicted for.
		var values []json.RawMessage
		if err := json.Unmarshal([]byte(subset.String), &values); err != nil {
			return nil, fmt.Errorf("read scopes: %w", err)
		}
		old := []wire.Subset{{{Key: scope.JSON, Op: string(OpIn), Values: values}}}
		subsets = sql.NullString{String: jsonText(old), Valid: true}
		evicted = subsets
		if !heldSubs.Valid {
			heldSubs = sql.NullString{String: jsonText([]string{jsonText(old[0])}), Valid: true}
		}
	}
	for _, f := range []struct {
		col sql.NullString
		dst any
	}{{held, &sc.held}, {subsets, &sc.subsets}, {heldSubs, &sc.heldSubs}} {
		if f.col.Valid {
			if err := json.Unmarshal([]byte(f.col.String), f.dst); err != nil {
				return nil, fmt.Errorf("read scopes: %w", err)
			}
		}
	}
	if held.Valid && sc.held == nil {
		sc.held = []string{}
	}
	if heldSubs.Valid && sc.heldSubs == nil {
		sc.heldSubs = []string{}
	}
	if subsets.Valid {
		if sc.subsets == nil {
			sc.subsets = []wire.Subset{}
		}
		if sc.compiled, err = CompileSubsets(m.schema(), sc.subsets); err != nil {
			return nil, fmt.Errorf("read subsets: %w", err)
		}
		sc.evicted = evicted.String == subsets.String
	}
	return sc, nil
}

// restart starts a read from the start over (a resync).
func (sc *scopePull) restart() { sc.full, sc.first = true, true }

// changes reads a feed page, narrowed by f.
func (sc *scopePull) changes(ctx context.Context, feed ChangeFeed, cursor string, f FeedFilter) (*Changes, error) {
	if f.Scopes == nil && f.Where == nil {
		return feed.Changes(ctx, sc.m.endpoint(), cursor)
	}
	ff, ok := feed.(FilteredFeed)
	if !ok {
		return nil, fmt.Errorf("pull %s: the remote cannot narrow its feed (SyncOnly needs the syncgen protocol)", sc.m.schema().Model)
	}
	return ff.ChangesFiltered(ctx, sc.m.endpoint(), cursor, f)
}

// apply applies a page's scope news in tx: the records that left, the values lost, the
// records now outside the subsets. It returns how many local records went.
func (sc *scopePull) apply(ctx context.Context, tx *Tx, listed, left, outside []string) (int, error) {
	n := 0
	for _, id := range left {
		if err := sc.m.leave(ctx, tx, id, &OutOfScopeError{Model: sc.m.schema().Model, ID: id}); err != nil {
			return n, err
		}
		n++
	}
	for _, id := range outside {
		gone, err := sc.m.unsync(ctx, tx, id)
		if err != nil {
			return n, err
		}
		n += gone
	}
	if sc.full && sc.first {
		sc.heldSubs = nil
		if sc.subsets != nil {
			sc.heldSubs = subsetKeys(sc.subsets)
		}
	}
	if listed == nil {
		sc.first = false
		return n, nil
	}
	slices.Sort(listed)
	sc.listed = listed
	for _, v := range sc.held {
		if !slices.Contains(listed, v) {
			k, err := sc.loseScope(ctx, tx, v)
			n += k
			if err != nil {
				return n, err
			}
		}
	}
	switch {
	case sc.full && sc.first:
		sc.held = slices.Clone(listed)
	case sc.held != nil:
		sc.held = intersect(sc.held, listed)
	}
	sc.first = false
	return n, nil
}

// loseScope removes the local records of a scope value the pull no longer lists; their
// queued writes are dead letters.
func (sc *scopePull) loseScope(ctx context.Context, tx *Tx, v string) (int, error) {
	s := sc.m.schema()
	var ids []string
	if err := sqlx.SelectContext(ctx, tx.q, &ids, `SELECT `+idColumn(s)+` FROM `+quoteIdent(s.Table)+
		` WHERE `+quoteIdent(s.ScopeColumn().Name)+` = ?`, v); err != nil {
		return 0, fmt.Errorf("drop scope %q: %w", v, err)
	}
	for _, id := range ids {
		if err := sc.m.leave(ctx, tx, id, &OutOfScopeError{Model: s.Model, ID: id, Scope: v}); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}

// subsetKeys is the keys of subsets.
func subsetKeys(subsets []wire.Subset) []string {
	keys := make([]string, len(subsets))
	for i, s := range subsets {
		keys[i] = jsonText(s)
	}
	return keys
}

// main is the filter of the main feed: the subsets chosen, every scope value.
func (sc *scopePull) main() FeedFilter { return FeedFilter{Where: sc.subsets} }

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

// added is the filter that reads the subsets chosen and not held in full (all: every
// record), and whether there are any.
func (sc *scopePull) added() (FeedFilter, bool) {
	switch {
	case sc.heldSubs == nil: // every record is held
		return FeedFilter{}, false
	case sc.subsets == nil:
		return FeedFilter{}, true
	}
	var f FeedFilter
	for _, s := range sc.subsets {
		if !slices.Contains(sc.heldSubs, jsonText(s)) {
			f.Where = append(f.Where, s)
		}
	}
	return f, f.Where != nil
}

// save stores the held values and subsets in tx. When the app chose other subsets since
// the pull began, only the subsets of both stay held.
func (sc *scopePull) save(ctx context.Context, tx *Tx) error {
	if !sc.stored && sc.listed == nil && sc.held == nil && sc.heldSubs == nil {
		return nil // nothing to keep: no row says the same
	}
	var now sql.NullString
	err := tx.q.QueryRowxContext(ctx, `SELECT subsets FROM syncgen_scopes WHERE model = ?`, sc.m.schema().Table).Scan(&now)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("save scopes: %w", err)
	}
	if sc.heldSubs != nil && now.Valid && now.String != jsonText(sc.subsets) {
		var chosen []wire.Subset
		if err := json.Unmarshal([]byte(now.String), &chosen); err != nil {
			return fmt.Errorf("save scopes: %w", err)
		}
		sc.heldSubs = intersect(sc.heldSubs, subsetKeys(chosen))
	}
	var held, heldSubs any
	if sc.listed != nil || sc.held != nil {
		held = "[]"
		if sc.held != nil {
			held = jsonText(sc.held)
		}
	}
	if sc.heldSubs != nil {
		heldSubs = jsonText(sc.heldSubs)
	}
	_, err = tx.q.ExecContext(ctx, `INSERT INTO syncgen_scopes (model, held, subsets_held) VALUES (?, ?, ?)
		ON CONFLICT (model) DO UPDATE SET held = excluded.held, subsets_held = excluded.subsets_held`, sc.m.schema().Table, held, heldSubs)
	if err != nil {
		return fmt.Errorf("save scopes: %w", err)
	}
	return nil
}

// catchUp reads what the device holds not in full: the records of the values gained,
// from the start of a feed narrowed to them, then the records of the subsets added; with
// each read's last page they are held. The main cursor does not move: the reads overlap
// the feed, and a record read twice is applied once.
func (r *Repo) catchUp(ctx context.Context, sc *scopePull, feed ChangeFeed, rep *SyncReport) error {
	if gained := sc.gained(); len(gained) > 0 {
		f := sc.main()
		f.Scopes = gained
		err := r.readAll(ctx, sc, feed, f, rep, func(listed []string) {
			if listed != nil {
				sc.held = slices.Sorted(slices.Values(append(sc.held, intersect(gained, listed)...)))
			}
		})
		if err != nil {
			return fmt.Errorf("read the records of a scope gained: %w", err)
		}
	}
	if f, ok := sc.added(); ok {
		err := r.readAll(ctx, sc, feed, f, rep, func([]string) {
			if f.Where == nil {
				sc.heldSubs = nil
				return
			}
			for _, s := range f.Where {
				sc.heldSubs = append(sc.heldSubs, jsonText(s))
			}
		})
		if err != nil {
			return fmt.Errorf("read the records of a subset added: %w", err)
		}
	}
	return nil
}

// readAll reads a narrowed feed from the start and applies it; held runs in the
// transaction of its last page, with that page's scope values, before the state is saved.
func (r *Repo) readAll(ctx context.Context, sc *scopePull, feed ChangeFeed, f FeedFilter, rep *SyncReport, held func(listed []string)) error {
	cursor := ""
	given := map[string]bool{"": true}
	for {
		page, err := sc.changes(ctx, feed, cursor, f)
		if err != nil {
			return err
		}
		if err := cursorAdvances(cursor, page.Cursor, page.HasMore, given); err != nil {
			return err
		}
		// "Left" here means left the values read, not all the client syncs: a record
		// that moved from one to another it syncs must stay. The main feed reports
		// records that leave everything it syncs. From the start nothing is "outside".
		recs, _, _ := feedRecords(page)
		d, err := sc.m.decodePage(recs)
		if err != nil {
			return err
		}
		last := !page.HasMore
		err = sc.m.applyPage(ctx, d, rep, func(tx *Tx, _ pageInfo) (int, error) {
			if !last {
				return 0, nil
			}
			held(page.Scopes)
			return 0, sc.save(ctx, tx)
		})
		if err != nil || last {
			return err
		}
		cursor = page.Cursor
	}
}

// strays removes, after a pull, the local records the device does not sync once nothing
// of them waits to be pushed: of scope values not held (a device's own writes to a value
// lost while they were queued), and, after the app chose subsets or a write of the model
// was pushed since the last look, those outside all of them. (A record an edit on the
// server takes out of the subsets comes from the feed as "outside"; the device's own
// writes may be of a scope value the server does not read for it, so it looks itself.)
func (r *Repo) strays(ctx context.Context, sc *scopePull, rep *SyncReport) error {
	s := sc.m.schema()
	var outside []string
	var args []any
	if sc.listed != nil && sc.held != nil {
		o := quoteIdent(s.ScopeColumn().Name) + ` NOT IN (SELECT value FROM json_each(?))`
		outside, args = append(outside, o), append(args, jsonText(sc.held))
	}
	evict := sc.compiled != nil && !sc.evicted
	if evict {
		where, a := sc.compiled.sql()
		outside, args = append(outside, `NOT `+where), append(args, a...)
	}
	if len(outside) == 0 {
		return nil
	}
	var ids []string
	if err := sqlx.SelectContext(ctx, r.db.reader, &ids, `SELECT `+idColumn(s)+` FROM `+quoteIdent(s.Table)+
		` WHERE (`+strings.Join(outside, ` OR `)+`) AND `+idColumn(s)+` NOT IN (SELECT record_id FROM syncgen_outbox WHERE model = ?)`,
		append(args, s.Table)...); err != nil {
		return fmt.Errorf("find records outside what the device syncs: %w", err)
	}
	if len(ids) == 0 && !evict {
		return nil
	}
	return r.tx(ctx, rep, func(tx *Tx) error {
		for _, id := range ids {
			if _, err := sc.m.unsync(ctx, tx, id); err != nil {
				return err
			}
		}
		if evict {
			if _, err := tx.q.ExecContext(ctx, `UPDATE syncgen_scopes SET evicted = subsets WHERE model = ? AND subsets = ?`, s.Table, jsonText(sc.subsets)); err != nil {
				return fmt.Errorf("save subsets: %w", err)
			}
		}
		return nil
	})
}

// chosen leaves out of a listing (a hydrate) the records outside the app's subsets
// (SyncOnly), which a listing is not narrowed by.
func (sc *scopePull) chosen(recs []remoteRecord) []remoteRecord {
	if sc.compiled == nil {
		return recs
	}
	return slices.DeleteFunc(recs, func(r remoteRecord) bool { return !sc.compiled.Match(r.raw) })
}

// feedRecords splits a feed page into the records to reconcile, the ids that left the
// reader's scopes and those now outside its subsets.
func feedRecords(page *Changes) (recs []remoteRecord, left, outside []string) {
	for _, c := range page.Changes {
		switch {
		case c.Left:
			left = append(left, c.ID)
			continue
		case c.Outside:
			outside = append(outside, c.ID)
			continue
		}
		recs = append(recs, remoteRecord{id: c.ID, raw: c.Record, version: c.Version})
	}
	return recs, left, outside
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

// unsync removes a record the device no longer syncs (outside its subsets, or of a scope
// value it does not hold) unless something of it waits to be pushed, which keeps it
// until then. It returns 1 when a local record went.
func (s *Store[T]) unsync(ctx context.Context, tx *Tx, id string) (int, error) {
	var pending, held bool
	if err := tx.q.QueryRowxContext(ctx, `SELECT EXISTS (SELECT 1 FROM syncgen_outbox WHERE model = ? AND record_id = ?),
		EXISTS (SELECT 1 FROM `+quoteIdent(s.s.Table)+` WHERE `+idColumn(s.s)+` = ?)`, s.s.Table, id, id).Scan(&pending, &held); err != nil {
		return 0, fmt.Errorf("%s %q: %w", s.s.Model, id, err)
	}
	if pending {
		return 0, nil
	}
	if err := s.store(ctx, tx, id, nil); err != nil {
		return 0, fmt.Errorf("%s %q: %w", s.s.Model, id, err)
	}
	if err := tx.forget(ctx, s.s.Table, id); err != nil {
		return 0, fmt.Errorf("%s %q: %w", s.s.Model, id, err)
	}
	if !held {
		return 0, nil
	}
	tx.event(Event{Kind: EventLeft, Model: s.s.Model, ID: id})
	return 1, nil
}
