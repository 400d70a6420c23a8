package runtime

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// A plain REST server keeps no versions: a PUT replaces whatever it holds. So before a
// queued write of a model with updatedAt goes to a remote without versions, the push reads
// the record the write would replace and reconciles it as a pull would: when it changed
// since this client last saw it, the model's resolver decides (last-writer-wins by
// default), and a write it overrules is dropped and reported, not sent. What remains is
// the window between that read and the write; read repair (reconcileWith) closes it
// afterwards: a client that pulls an older record than the server had acknowledged sends
// its own again.

// refresh reads, for every head bound for a remote without versions, the record the
// server holds, and reconciles it in one commit. A head whose read failed gets its error
// in errs and backs off; prepare leaves it out.
func (r *Repo) refresh(ctx context.Context, heads []entry, rep *SyncReport, errs []error) {
	if _, versioned := r.remote.(VersionedRemote); versioned {
		return
	}
	var todo []int
	for i, h := range heads {
		if !r.byTable[h.Table].readsBeforeWrite(h.Op) {
			continue
		}
		if !h.frozen() {
			// A first send of a record the remote never gave or acknowledged to this
			// client is a create of a new client-generated id: there is nothing to read,
			// and read repair covers the rare natural id another client created too.
			var seen bool
			err := r.db.reader.QueryRowxContext(ctx, `SELECT EXISTS (SELECT 1 FROM syncgen_records
				WHERE model = ? AND record_id = ? AND (base IS NOT NULL OR deleted_at <> ''))`, h.Table, h.ID).Scan(&seen)
			if err != nil {
				errs[i] = fmt.Errorf("push %s %q: read sync state: %w", r.byTable[h.Table].schema().Model, h.ID, err)
				continue
			}
			if !seen {
				continue
			}
		}
		todo = append(todo, i)
	}
	if len(todo) == 0 {
		return
	}
	recs, gerrs := make([]remoteRecord, len(heads)), make([]error, len(heads))
	sem := make(chan struct{}, r.sync.pushLimit)
	var wg sync.WaitGroup
	for _, i := range todo {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			h := heads[i]
			recs[i], gerrs[i] = r.getRemote(ctx, r.byTable[h.Table].endpoint(), h.ID)
			if errors.Is(gerrs[i], ErrNotFound) {
				recs[i], gerrs[i] = remoteRecord{id: h.ID}, nil
			}
		})
	}
	wg.Wait()
	err := r.tx(ctx, rep, func(tx *Tx) error {
		for _, i := range todo {
			h, m := heads[i], r.byTable[heads[i].Table]
			err := gerrs[i]
			if err == nil {
				err = m.refreshed(ctx, tx, h, recs[i])
			}
			switch {
			case err == nil:
				continue
			case gerrs[i] == nil && !errors.Is(err, ErrMalformedResponse):
				return fmt.Errorf("push %s %q: reconcile the record read before writing it: %w", m.schema().Model, h.ID, err)
			}
			errs[i] = fmt.Errorf("push %s %q: read the record before writing it: %w", m.schema().Model, h.ID, err)
			if ctx.Err() != nil {
				continue
			}
			h.Attempts = max(h.Attempts, 1)
			if err := r.retryLater(ctx, tx, h, errs[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		for _, i := range todo {
			if errs[i] == nil {
				errs[i] = err
			}
		}
	}
}

// readsBeforeWrite reports whether a queued write with op is preceded by a read of the
// record on a remote without versions: for models ordered by updatedAt, except a DELETE
// (a model without deletedAt), which carries no time to order.
func (s *Store[T]) readsBeforeWrite(op string) bool {
	return s.sql.updated != nil && (op != opDelete || s.sql.deleted != nil)
}

// refreshed reconciles rec, the record the remote holds, read just before a queued write
// of it is sent. Unchanged since this client last saw it, absent, or the very record the
// write carries, it changes nothing; otherwise it goes through reconcile, which hands it
// to the resolver since the record has queued writes.
func (s *Store[T]) refreshed(ctx context.Context, tx *Tx, e entry, rec remoteRecord) error {
	if rec.raw == nil {
		return nil // the write creates it
	}
	st, err := tx.state(ctx, s.s.Table, e.ID)
	if err != nil || sameJSON(st.base, rec.raw) || e.Body.Valid && sameJSON([]byte(e.Body.String), rec.raw) {
		return err
	}
	in, bad := s.decode([]remoteRecord{rec})
	if len(in) == 0 {
		// A record this app cannot read may be a newer app's: the write waits (refresh
		// backs it off) rather than replace what it cannot see.
		return bad[0]
	}
	local, err := s.stored(ctx, tx.q, e.ID)
	if err != nil {
		return err
	}
	if local != nil {
		if c, err := s.compare(in[0].v, local, ""); err != nil || c == 0 {
			return err // the remote holds what this client holds: its own write, arrived
		}
	}
	_, err = s.reconcileWith(ctx, tx, in[0], false, st, local)
	return err
}
