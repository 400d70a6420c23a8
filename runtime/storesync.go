package runtime

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/syncgen/syncgen/wire"
)

// syncModel is what the sync machinery needs of one model. *Store[T] implements it, so
// the push and pull loops in the runtime never see a model's Go type.
type syncModel interface {
	schema() *Schema
	endpoint() *Endpoint
	hasUpdatedAt() bool
	// live reports whether the record is stored and not a tombstone.
	live(ctx context.Context, tx *Tx, id string) (bool, error)
	// pushBody is the body of a queued write of the record's current state: nil for a
	// DELETE.
	pushBody(ctx context.Context, tx *Tx, id, op string) (json.RawMessage, error)
	// shape is the model's JSON keys, for field changes (fields.go).
	jsonShape() *jsonShape
	// rowBase is the base of a record whose base is stored as its row (rowbase.go).
	rowBase(ctx context.Context, q queryer, id string) ([]byte, error)
	// deleteTx deletes a record locally in tx, queueing the delete when queue is set.
	deleteTx(ctx context.Context, tx *Tx, id string, queue bool) error
	// refs lists the records, by table and id, that the record's ref fields point to.
	refs(ctx context.Context, id string) ([][2]string, error)
	// acked records that the remote took a write and answered with answer (nil: no
	// record) at version.
	acked(ctx context.Context, tx *Tx, e entry, w Write, answer json.RawMessage, version string) error
	// rejected hands a write the remote refused with 409 to the resolver, with the
	// record the remote holds.
	rejected(ctx context.Context, tx *Tx, remote remoteRecord) error
	// decodePage checks and decodes one page of records, touching no database, so it
	// can run while the previous page is applied.
	decodePage(recs []remoteRecord) (decodedPage, error)
	// applyPage reconciles a decoded page in one transaction, then calls after in it.
	// after returns how many local records it changed.
	applyPage(ctx context.Context, page decodedPage, rep *SyncReport, after func(*Tx, pageInfo) (int, error)) error
	// sweep removes local records matching q that the remote no longer has: not seen in a
	// full listing that started at start, with a base and no queued writes.
	sweep(ctx context.Context, tx *Tx, q Query, seen map[string]bool, start string) (int, error)
	// leave removes a record that left the user's scopes (scopes.go).
	leave(ctx context.Context, tx *Tx, id string, cause error) error
	// unsync removes a record the device no longer syncs, unless it has queued writes.
	unsync(ctx context.Context, tx *Tx, id string) (int, error)
	// revert puts the record back to base (nil: removes it).
	revert(ctx context.Context, tx *Tx, id string, base []byte) error
	// fetch reads the record from the remote and reconciles it; when the remote does not
	// have it and absentDeletes is set, the local copy goes too.
	fetch(ctx context.Context, id string, absentDeletes bool) error
	// readsBeforeWrite and refreshed: see refresh.go.
	readsBeforeWrite(op string) bool
	refreshed(ctx context.Context, tx *Tx, e entry, rec remoteRecord) error
}

// pageInfo is what a listing needs to know of a page it applied.
type pageInfo struct {
	ids    []string
	newest time.Time // the largest updatedAt in the page
}

// decodedPage is a page decoded by a model's decodePage, for its applyPage.
type decodedPage interface{ info() pageInfo }

type decoded[T any] struct {
	in      []incoming[T]
	skipped []error // records left out, each reported as an EventError
	list    string  // the ids' idList
	pageInfo
}

func (d *decoded[T]) info() pageInfo { return d.pageInfo }

// remoteRecord is a record as a remote sent it: its JSON (nil: the remote does not have
// it, or deleted it), and its id and version when the remote gives them apart.
type remoteRecord struct {
	id      string
	raw     json.RawMessage
	version string
}

// plainRecords wraps the records of a plain page.
func plainRecords(raws []json.RawMessage) []remoteRecord {
	out := make([]remoteRecord, len(raws))
	for i, raw := range raws {
		out[i] = remoteRecord{raw: raw}
	}
	return out
}

// incoming is a record from the remote, decoded; v is nil when the remote does not have it.
type incoming[T any] struct {
	id      string
	v       *T
	raw     json.RawMessage
	version string
	// Set by decodePage, off the writer, for applyQuick: v's bound values (or the error
	// binding them), raw as a string, and whether raw is what the model encodes of the row
	// (rowbase.go).
	row     []any
	rowErr  error
	rawStr  string
	rowBase bool
}

// rawString is raw as the string a base is stored as.
func (x *incoming[T]) rawString() string {
	if x.rawStr != "" {
		return x.rawStr
	}
	return string(x.raw)
}

func (s *Store[T]) schema() *Schema       { return s.s }
func (s *Store[T]) jsonShape() *jsonShape { return s.sql.shape }
func (s *Store[T]) hasUpdatedAt() bool    { return s.sql.updated != nil }

// decode checks a page before anything is written: every record decodes and has an id.
// A record that does not is an error of its own, in skipped, and the page goes on
// without it: one bad record on the remote must not stop a model's sync for good.
func (s *Store[T]) decode(recs []remoteRecord) (out []incoming[T], skipped []error) {
	out = make([]incoming[T], 0, len(recs))
	for i, rec := range recs {
		if rec.raw == nil {
			if rec.id == "" {
				skipped = append(skipped, fmt.Errorf("decode %s record %d: %w: a change without an id", s.s.Model, i, ErrMalformedResponse))
				continue
			}
			out = append(out, incoming[T]{id: rec.id, version: rec.version})
			continue
		}
		v := new(T)
		rec.raw = s.sql.shape.upgrade(rec.raw) // renamed keys (fields.go)
		if err := s.a.UnmarshalRemote(rec.raw, v); err != nil {
			skipped = append(skipped, fmt.Errorf("decode %s record %d: %w: %w", s.s.Model, i, ErrMalformedResponse, err))
			continue
		}
		id := s.a.ID(v)
		switch {
		case id == "":
			skipped = append(skipped, fmt.Errorf("decode %s record %d: %w: no id in %.200s", s.s.Model, i, ErrMalformedResponse, rec.raw))
			continue
		case rec.id != "" && id != rec.id:
			skipped = append(skipped, fmt.Errorf("decode %s record %d: %w: id %q in a change of %q", s.s.Model, i, ErrMalformedResponse, id, rec.id))
			continue
		}
		out = append(out, incoming[T]{id: id, v: v, raw: rec.raw, version: rec.version})
	}
	return out, skipped
}

// stored reads a record whether or not it is a tombstone; nil when absent.
func (s *Store[T]) stored(ctx context.Context, q queryer, id string) (*T, error) {
	rows, err := q.QueryContext(ctx, "SELECT "+s.sql.columns+" FROM "+quoteIdent(s.s.Table)+" WHERE "+s.sql.idCol+" = ?", id)
	if err != nil {
		return nil, err
	}
	all, err := s.scanAll(rows)
	if len(all) == 0 || err != nil {
		return nil, err
	}
	return all[0], nil
}

// storedMany reads many records (list: their idList), tombstones included, in one query,
// by id.
func (s *Store[T]) storedMany(ctx context.Context, q queryer, list string) (map[string]*T, error) {
	rows, err := q.QueryContext(ctx, "SELECT "+s.sql.columns+" FROM "+quoteIdent(s.s.Table)+" WHERE "+s.sql.idCol+
		" IN (SELECT value FROM json_each(?))", list)
	if err != nil {
		return nil, err
	}
	all, err := s.scanAll(rows)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]*T, len(all))
	for _, v := range all {
		byID[s.a.ID(v)] = v
	}
	return byID, nil
}

// scanAll scans and closes rows of s.sql.columns.
func (s *Store[T]) scanAll(rows *sql.Rows) ([]*T, error) {
	defer rows.Close()
	var all []*T
	for rows.Next() {
		v := new(T)
		if err := rows.Scan(s.a.Pointers(v)...); err != nil {
			return nil, err
		}
		all = append(all, v)
	}
	return all, rows.Close()
}

func (s *Store[T]) live(ctx context.Context, tx *Tx, id string) (bool, error) {
	v, err := s.stored(ctx, tx.q, id)
	if v == nil || err != nil {
		return false, err
	}
	_, deleted := s.a.Stamps(v)
	return deleted == nil, nil
}

// writeTx stamps and stores records as local writes in tx, and queues them for the remote
// when queue is set. A record with deletedAt set is queued as a delete.
func (s *Store[T]) writeTx(ctx context.Context, tx *Tx, vs []*T, queue bool) error {
	tx.touch(s.s.Table)
	ids := make([]string, len(vs))
	for i, v := range vs {
		if v == nil {
			return fmt.Errorf("upsert %s: record %d is nil", s.s.Model, i)
		}
		s.a.SetUpdatedAt(v, s.repo.clock.stamp())
		ids[i] = s.a.ID(v)
	}
	if err := s.keepBases(ctx, tx, ids); err != nil {
		return fmt.Errorf("upsert %s: %w", s.s.Model, err)
	}
	if err := s.exec(ctx, tx, s.sql.upsert, vs); err != nil || !queue {
		return err
	}
	ops := make([]string, len(vs))
	for i, v := range vs {
		ops[i] = opPut
		if _, deleted := s.a.Stamps(v); deleted != nil {
			ops[i] = opDelete
		}
	}
	if err := tx.enqueueMany(ctx, s.s.Table, ids, ops); err != nil {
		return fmt.Errorf("upsert %s: %w", s.s.Model, err)
	}
	return nil
}

// deleteTx deletes a record locally in tx, and queues the delete when queue is set. A
// model with deletedAt keeps the record as a tombstone; another keeps the time of the
// delete, so an older copy from the remote does not bring it back.
func (s *Store[T]) deleteTx(ctx context.Context, tx *Tx, id string, queue bool) error {
	tx.touch(s.s.Table)
	if err := s.keepBases(ctx, tx, []string{id}); err != nil {
		return fmt.Errorf("delete %s %q: %w", s.s.Model, id, err)
	}
	var err error
	if d := s.sql.deleted; d != nil {
		var v *T
		if v, err = s.stored(ctx, tx.q, id); err == nil && v == nil {
			// A record this device never held: a tombstone of its own, so the delete
			// travels as one, ordered by its time. A bare DELETE would remove the record
			// from a plain server for good, and other clients would never hear of it.
			return s.absentTombstone(ctx, tx, id, queue)
		} else if err == nil {
			err = s.tombstone(ctx, tx, id, d)
		}
	} else if _, err = tx.q.ExecContext(ctx, s.sql.deleteSQL, id); err == nil && s.repo.remote != nil {
		var at string
		if at, err = FormatTime(s.repo.clock.stamp()); err == nil {
			err = tx.setDeleted(ctx, s.s.Table, id, at)
		}
	}
	if err == nil && queue {
		err = tx.enqueue(ctx, s.s.Table, id, opDelete)
	}
	if err != nil {
		return fmt.Errorf("delete %s %q: %w", s.s.Model, id, err)
	}
	return nil
}

// store writes a record from the remote, keeping local columns; nil removes the record.
func (s *Store[T]) store(ctx context.Context, tx *Tx, id string, v *T) error {
	tx.touch(s.s.Table)
	if v == nil {
		_, err := tx.q.ExecContext(ctx, s.sql.deleteSQL, id)
		return err
	}
	return s.exec(ctx, tx, s.sql.apply, []*T{v})
}

// compare orders a remote record against the local one, by (updatedAt, canonical JSON):
// 1 when the remote is later, 0 when they are the same, -1 when the local is later.
// local is nil when absent; localDeleted is then the time of a local delete, if any.
func (s *Store[T]) compare(remote, local *T, localDeleted string) (int, error) {
	switch {
	case remote == nil && local == nil:
		return 0, nil
	case remote == nil:
		return 1, nil
	case local == nil && (localDeleted == "" || s.sql.updated == nil):
		return 1, nil
	}
	if s.sql.updated != nil {
		rt, _ := s.a.Stamps(remote)
		var lt time.Time
		if local != nil {
			lt, _ = s.a.Stamps(local)
		} else {
			var err error
			if lt, err = ParseTime(localDeleted); err != nil {
				return 0, err
			}
		}
		if c := rt.Compare(lt); c != 0 {
			return c, nil
		}
		if local == nil {
			return 1, nil // a record wins a tie with a delete
		}
	}
	rj, err := s.canonical(remote)
	if err != nil {
		return 0, err
	}
	lj, err := s.canonical(local)
	if err != nil {
		return 0, err
	}
	return bytes.Compare(rj, lj), nil
}

// newerVersion reports whether version a comes after b: both decimal, as the protocol's
// are; false when either is absent or not a number.
func newerVersion(a, b string) bool {
	x, err1 := strconv.ParseInt(a, 10, 64)
	y, err2 := strconv.ParseInt(b, 10, 64)
	return err1 == nil && err2 == nil && x > y
}

// sameJSON reports whether two JSON documents hold the same value (both nil counts).
func sameJSON(a, b []byte) bool {
	if a == nil || b == nil || bytes.Equal(a, b) {
		return a == nil && b == nil || bytes.Equal(a, b)
	}
	ca, err := wire.Canonical(a)
	if err != nil {
		return false
	}
	cb, err := wire.Canonical(b)
	return err == nil && bytes.Equal(ca, cb)
}

func (s *Store[T]) canonical(v *T) ([]byte, error) {
	data, err := s.a.MarshalRemote(v)
	if err != nil {
		return nil, err
	}
	return wire.Canonical(data)
}

// resolver returns the model's resolver: the one set by option, else the default.
func (s *Store[T]) resolver() Resolver[T] {
	if f, ok := s.repo.resolvers[s.s.Model].(Resolver[T]); ok && f != nil {
		return f
	}
	return MergeFields[T] // field by field, then last writer wins (fields.go)
}

// reconcile applies one record from the remote in tx, by the order of last-writer-wins
// when the local record has no queued writes, else through the resolver. rejected says
// the remote refused this client's write of the record (409): its resolution decides
// whether the local record is written again. It reports whether local data changed.
func (s *Store[T]) reconcile(ctx context.Context, tx *Tx, x incoming[T], rejected bool) (bool, error) {
	st, err := tx.state(ctx, s.s.Table, x.id)
	if err != nil {
		return false, err
	}
	local, err := s.stored(ctx, tx.q, x.id)
	if err != nil {
		return false, err
	}
	return s.reconcileWith(ctx, tx, x, rejected, st, local)
}

// reconcileWith is reconcile given the record's sync state and local row, as they are in tx.
func (s *Store[T]) reconcileWith(ctx context.Context, tx *Tx, x incoming[T], rejected bool, st recordState, local *T) (bool, error) {
	table := s.s.Table
	if x.v != nil {
		t, _ := s.a.Stamps(x.v)
		tx.observe(t)
	}
	cmp, err := s.compare(x.v, local, st.deletedAt)
	if err != nil {
		return false, fmt.Errorf("order %s %q: %w", s.s.Model, x.id, err)
	}
	// A base stored as the row is stored as JSON here: whatever follows may write the row.
	if st.rowBase || !bytes.Equal(st.base, x.raw) || st.version != x.version || (st.base == nil) != (x.raw == nil) {
		if err := tx.setBase(ctx, table, x.id, x.raw, x.version); err != nil {
			return false, err
		}
	}
	if !rejected && !st.hasWrites() {
		// A newer version from a versioned remote is the server's word on the record (it
		// may have clamped a stamp or set a readonly field): it applies whatever the stamps
		// say. Otherwise last writer wins.
		if cmp < 0 {
			return false, s.repair(ctx, tx, x, st, local)
		}
		if cmp == 0 && !newerVersion(x.version, st.version) {
			return false, nil
		}
		return true, s.store(ctx, tx, x.id, x.v)
	}
	if !rejected && sameJSON(st.base, x.raw) {
		return false, nil // unchanged on the remote since the local writes began: no conflict
	}

	c := Conflict[T]{Model: s.s.Model, ID: x.id, Local: local, Remote: x.v, RemoteLater: cmp > 0 || s.sql.updated == nil}
	if st.base != nil {
		if b := new(T); s.a.UnmarshalRemote(s.sql.shape.upgrade(st.base), b) == nil {
			c.Base = b
		}
	}
	if err := s.mergeConflict(&c, st.base, x.raw); err != nil { // field changes (fields.go)
		return false, fmt.Errorf("resolve %s %q: %w", s.s.Model, x.id, err)
	}
	res, err := s.resolver()(ctx, c)
	if err != nil {
		return false, fmt.Errorf("resolve %s %q: %w", s.s.Model, x.id, err)
	}
	tx.event(Event{Kind: EventConflict, Model: s.s.Model, ID: x.id})
	switch res.Action {
	case TakeRemote:
		n, err := tx.dropPending(ctx, table, x.id)
		if err != nil {
			return false, err
		}
		if rejected {
			n++
		}
		if n > 0 {
			tx.event(Event{Kind: EventOverruled, Model: s.s.Model, ID: x.id, Count: n})
			s.repo.log.Info("syncgen: pending writes overruled by the remote", "model", s.s.Model, "id", x.id, "writes", n)
		}
		if cmp == 0 && !rejected {
			return false, nil
		}
		return true, s.store(ctx, tx, x.id, x.v)
	case KeepLocal:
		if !c.RemoteLater && !rejected {
			return false, nil
		}
		// Written again with a new stamp, the local record is ordered after the remote's
		// on every replica.
		if local == nil && x.v == nil {
			return false, nil // deleted on both sides: nothing to send
		}
		if local == nil {
			return true, s.deleteTx(ctx, tx, x.id, true)
		}
		return true, s.writeTx(ctx, tx, []*T{local}, true)
	case WriteMerged:
		if res.Merged == nil || s.a.ID(res.Merged) != x.id {
			return false, fmt.Errorf("resolve %s %q: WriteMerged needs a Merged record with the same id", s.s.Model, x.id)
		}
		return true, s.writeTx(ctx, tx, []*T{res.Merged}, true)
	case DeleteRecord:
		if local == nil && x.v == nil {
			return false, nil
		}
		return true, s.deleteTx(ctx, tx, x.id, true)
	}
	return false, fmt.Errorf("resolve %s %q: unknown action %d", s.s.Model, x.id, res.Action)
}

// repair is read repair for remotes without versions, which a late or blind write can
// set back: when the remote sends an older record than the one it last acknowledged or
// sent (base), and this client holds that newer one unchanged, it queues it again, with
// its own stamp, so the remote gets it back. Versioned remotes never go back.
func (s *Store[T]) repair(ctx context.Context, tx *Tx, x incoming[T], st recordState, local *T) error {
	if _, versioned := s.repo.remote.(VersionedRemote); versioned || s.sql.updated == nil || local == nil || x.v == nil || st.base == nil {
		return nil
	}
	base := new(T)
	if s.a.UnmarshalRemote(st.base, base) != nil {
		return nil
	}
	baseAt, _ := s.a.Stamps(base)
	at, _ := s.a.Stamps(x.v)
	localAt, deleted := s.a.Stamps(local)
	if !baseAt.After(at) || !localAt.Equal(baseAt) || deleted != nil && s.sql.deleted == nil {
		return nil
	}
	s.repo.log.Info("syncgen: the remote went back to an older record; sending ours again", "model", s.s.Model, "id", x.id)
	op := opPut
	if deleted != nil {
		op = opDelete
	}
	return tx.enqueue(ctx, s.s.Table, x.id, op)
}

func (s *Store[T]) decodePage(recs []remoteRecord) (decodedPage, error) {
	in, skipped := s.decode(recs)
	d := &decoded[T]{in: in, skipped: skipped, pageInfo: pageInfo{ids: make([]string, len(in))}}
	for i := range in {
		x := &in[i]
		d.ids[i] = x.id
		if x.v == nil {
			continue
		}
		if t, _ := s.a.Stamps(x.v); t.After(d.newest) {
			d.newest = t
		}
		vals := s.a.Values(x.v)
		x.rowBase = s.rowIsBase(x.raw, x.v, vals) // before bindValues converts vals
		x.row, x.rowErr = s.bindValues(x.v, vals)
		if !x.rowBase {
			x.rawStr = string(x.raw)
		}
	}
	d.list = idList(d.ids)
	return d, nil
}

func (s *Store[T]) applyPage(ctx context.Context, page decodedPage, rep *SyncReport, after func(*Tx, pageInfo) (int, error)) error {
	d := page.(*decoded[T])
	in, info := d.in, d.pageInfo
	return s.repo.tx(ctx, rep, func(tx *Tx) error {
		// The page's local rows and sync states in three queries, not three per record.
		// An id the page repeats is read again: its first occurrence changed it.
		list := d.list
		if list == "" {
			list = idList(info.ids)
		}
		states, err := statesOf(ctx, tx.q, s.s.Table, list)
		if err != nil {
			return err
		}
		locals, err := s.storedMany(ctx, tx.q, list)
		if err != nil {
			return fmt.Errorf("read %s: %w", s.s.Model, err)
		}
		done := make(map[string]bool, len(in))
		changed := 0
		// The common case goes into batch; a record reconcileWith takes, which may read
		// or write anything of its own, goes after what batch holds is written.
		batch := &pageBatch{table: s.s.Table}
		for i := range in {
			x := &in[i]
			var c bool
			if done[x.id] {
				if err = s.flush(ctx, tx, batch); err == nil {
					c, err = s.reconcile(ctx, tx, *x, false)
				}
			} else if handled, quick := s.applyQuick(x, states[x.id], locals[x.id], batch); handled {
				c = quick
			} else if err = s.flush(ctx, tx, batch); err == nil {
				st := states[x.id]
				if st.rowBase {
					st.base, err = s.encodeRow(x.id, locals[x.id])
				}
				if err == nil {
					c, err = s.reconcileWith(ctx, tx, *x, false, st, locals[x.id])
				}
			}
			done[x.id] = true
			if err != nil {
				return err
			}
			if c {
				changed++
			}
		}
		if err := s.flush(ctx, tx, batch); err != nil {
			return err
		}
		if after != nil {
			n, err := after(tx, info)
			if err != nil {
				return err
			}
			changed += n
		}
		if changed > 0 {
			tx.event(Event{Kind: EventPulled, Model: s.s.Model, Count: changed})
		}
		for _, err := range d.skipped {
			s.repo.log.Warn("syncgen: skipped a record the remote sent", "model", s.s.Model, "err", err)
			tx.event(Event{Kind: EventError, Model: s.s.Model, Err: err})
		}
		return nil
	})
}

func (s *Store[T]) sweep(ctx context.Context, tx *Tx, q Query, seen map[string]bool, start string) (int, error) {
	cond, args := q.whereSQL()
	if cond != "" {
		cond = "(" + cond + ") AND "
	}
	query := "SELECT " + s.sql.idCol + " FROM " + quoteIdent(s.s.Table) + " WHERE " + cond +
		s.sql.idCol + " IN (SELECT record_id FROM syncgen_records WHERE model = ? AND base IS NOT NULL AND synced_at < ?) AND " +
		s.sql.idCol + " NOT IN (SELECT record_id FROM syncgen_outbox WHERE model = ?)"
	var ids []string
	if err := sqlx.SelectContext(ctx, tx.q, &ids, query, append(args, s.s.Table, start, s.s.Table)...); err != nil {
		return 0, fmt.Errorf("sweep %s: %w", s.s.Model, err)
	}
	n := 0
	for _, id := range ids {
		if seen[id] {
			continue
		}
		if err := s.store(ctx, tx, id, nil); err != nil {
			return n, fmt.Errorf("sweep %s %q: %w", s.s.Model, id, err)
		}
		if err := tx.forget(ctx, s.s.Table, id); err != nil {
			return n, fmt.Errorf("sweep %s %q: %w", s.s.Model, id, err)
		}
		n++
	}
	return n, nil
}

// absentTombstone stores and, with queue, queues a tombstone of id for a record this
// device does not hold: the id, the stamps, and zero values.
func (s *Store[T]) absentTombstone(ctx context.Context, tx *Tx, id string, queue bool) error {
	var key string
	for _, c := range s.s.Columns {
		if c.Unique {
			key = c.JSON
		}
	}
	data, err := json.Marshal(map[string]string{key: id})
	if err != nil {
		return err
	}
	v := new(T)
	if err := s.a.UnmarshalRemote(data, v); err != nil || s.a.ID(v) != id {
		return fmt.Errorf("delete %s %q: build its tombstone: %v", s.s.Model, id, err)
	}
	now := s.repo.clock.stamp()
	s.a.SetDeletedAt(v, &now)
	if err := s.writeTx(ctx, tx, []*T{v}, queue); err != nil {
		return fmt.Errorf("delete %s %q: %w", s.s.Model, id, err)
	}
	return nil
}

func (s *Store[T]) pushBody(ctx context.Context, tx *Tx, id, op string) (json.RawMessage, error) {
	if op == opDelete && s.sql.deleted == nil {
		return nil, nil
	}
	v, err := s.stored(ctx, tx.q, id)
	if v == nil || err != nil {
		return nil, err
	}
	st, err := tx.state(ctx, s.s.Table, id)
	if err != nil {
		return nil, err
	}
	return s.body(v, st.base)
}

func (s *Store[T]) refs(ctx context.Context, id string) ([][2]string, error) {
	if !slices.ContainsFunc(s.s.Columns, func(c Column) bool { return c.Ref != "" }) {
		return nil, nil
	}
	var out [][2]string
	v, err := s.stored(ctx, s.repo.db.reader, id)
	if v == nil || err != nil {
		return nil, err
	}
	vals := s.a.Values(v)
	for i, c := range s.s.Columns {
		target := s.repo.byModel[c.Ref]
		if c.Ref == "" || target == nil {
			continue
		}
		for _, ref := range refKeys(vals[i]) {
			if !(target == syncModel(s) && ref == id) {
				out = append(out, [2]string{target.schema().Table, ref})
			}
		}
	}
	return out, nil
}

// refValue is the id a ref column's value holds ("" for none): a string or a named
// string, a pointer to one, or a driver.Valuer such as sql.NullString.
func refValue(v any) string {
	if x, ok := v.(driver.Valuer); ok {
		v, _ = x.Value()
	}
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer && !rv.IsNil() {
		rv = rv.Elem()
	}
	if rv.Kind() == reflect.String {
		return rv.String()
	}
	return ""
}

func (s *Store[T]) acked(ctx context.Context, tx *Tx, e entry, w Write, answer json.RawMessage, version string) error {
	res, err := tx.q.ExecContext(ctx, `DELETE FROM syncgen_outbox WHERE seq = ?`, e.Seq)
	if err != nil {
		return err
	}
	// The record may be outside the app's subsets (scopes.go): the next pull looks.
	if _, err := tx.q.ExecContext(ctx, `UPDATE syncgen_scopes SET evicted = NULL WHERE model = ? AND evicted IS NOT NULL`, s.s.Table); err != nil {
		return err
	}
	gone, _ := res.RowsAffected()
	answer = s.sql.shape.upgrade(answer) // renamed keys (fields.go)
	if answer != nil && w.Body != nil {
		if v := new(T); s.a.UnmarshalRemote(answer, v) != nil || s.a.ID(v) != e.ID {
			s.repo.log.Warn("syncgen: the server's answer to a write is not the record; keeping what was sent",
				"model", s.s.Model, "id", e.ID)
			answer = nil
		}
	}
	if answer != nil && w.Body != nil && version == "" {
		if later, err := s.overruled(answer, w.Body); err != nil || later != nil {
			if err != nil {
				return err
			}
			// The server kept a later record (last-writer-wins on its side): this write
			// lost, which the resolver decides on and the report shows, as for a 409.
			_, err := s.reconcile(ctx, tx, incoming[T]{id: e.ID, v: later, raw: answer}, true)
			return err
		}
	}
	base := answer
	if base == nil {
		base = w.Body
	}
	if err := tx.setBase(ctx, s.s.Table, e.ID, base, version); err != nil {
		return err
	}
	tx.event(Event{Kind: EventPushed, Model: s.s.Model, ID: e.ID, Seq: e.Seq})
	if gone == 0 || answer == nil {
		return nil
	}
	// With nothing queued behind it, the record takes the server's answer: fields the
	// server set or changed, readonly ones for a start.
	st, err := tx.state(ctx, s.s.Table, e.ID)
	if err != nil || st.hasWrites() {
		return err
	}
	v, err := s.stored(ctx, tx.q, e.ID)
	if v == nil || err != nil {
		return err
	}
	if err := s.a.UnmarshalRemote(answer, v); err != nil {
		return err
	}
	t, _ := s.a.Stamps(v)
	tx.observe(t)
	return s.store(ctx, tx, e.ID, v)
}

// overruled decodes a plain server's answer to a write when it holds a record stamped
// later than the one sent: the server ordered the write before what it had. nil when the
// answer is the write (or a version of it the server changed, at the same stamp or before).
func (s *Store[T]) overruled(answer, sent []byte) (*T, error) {
	if s.sql.updated == nil || sameJSON(answer, sent) {
		return nil, nil
	}
	a, b := new(T), new(T)
	if s.a.UnmarshalRemote(answer, a) != nil || s.a.UnmarshalRemote(sent, b) != nil {
		return nil, nil
	}
	at, _ := s.a.Stamps(a)
	bt, _ := s.a.Stamps(b)
	if at.After(bt) {
		return a, nil
	}
	return nil, nil
}

func (s *Store[T]) rejected(ctx context.Context, tx *Tx, remote remoteRecord) error {
	in, skipped := s.decode([]remoteRecord{remote})
	if len(skipped) > 0 {
		return skipped[0]
	}
	_, err := s.reconcile(ctx, tx, in[0], true)
	return err
}

func (s *Store[T]) revert(ctx context.Context, tx *Tx, id string, base []byte) error {
	if base == nil {
		if err := s.store(ctx, tx, id, nil); err != nil {
			return err
		}
		return tx.forget(ctx, s.s.Table, id)
	}
	v, err := s.stored(ctx, tx.q, id)
	if err != nil {
		return err
	}
	if v == nil {
		v = new(T)
	}
	if err := s.a.UnmarshalRemote(s.sql.shape.upgrade(base), v); err != nil {
		return fmt.Errorf("revert %s %q: %w", s.s.Model, id, err)
	}
	return s.store(ctx, tx, id, v)
}

func (s *Store[T]) fetch(ctx context.Context, id string, absentDeletes bool) error {
	rec, err := s.repo.getRemote(ctx, s.endpoint(), id)
	if errors.Is(err, ErrNotFound) && absentDeletes {
		return s.repo.tx(ctx, nil, func(tx *Tx) error {
			_, err := s.reconcile(ctx, tx, incoming[T]{id: id}, false)
			return err
		})
	}
	if err != nil {
		return fmt.Errorf("get %s %q from remote: %w", s.s.Model, id, err)
	}
	d, _ := s.decodePage([]remoteRecord{rec})
	if skipped := d.(*decoded[T]).skipped; len(skipped) > 0 { // the one record asked for
		return fmt.Errorf("get %s %q from remote: %w", s.s.Model, id, skipped[0])
	}
	return s.applyPage(ctx, d, nil, nil)
}
