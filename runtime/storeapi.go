package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// The Store's public reads and writes: each takes policies that say how it uses the
// remote (policy.go), and falls back to the local store (store.go).

func (s *Store[T]) endpoint() *Endpoint { return s.repo.endpoints[s.s.Model] }

// fallback logs why a read answered from local data instead of the remote.
func (s *Store[T]) fallback(op string, err error) {
	s.repo.log.Warn("syncgen: remote failed, answering from local data", "model", s.s.Model, "op", op, "err", err)
}

// Get returns the record with id; errors.Is(err, ErrNotFound) when it is absent or a
// tombstone. The default policy, AwaitRemoteWhenNoneExist, asks the remote only when the
// record is not stored locally.
func (s *Store[T]) Get(ctx context.Context, id string, ps ...Policy) (T, error) {
	p, err := s.readPolicy(ps)
	if err != nil {
		var zero T
		return zero, err
	}
	switch p {
	case AwaitRemoteWhenNoneExist:
		v, err := s.getLocal(ctx, id)
		if !errors.Is(err, ErrNotFound) {
			return v, err
		}
		if ferr := s.fetch(ctx, id, false); ferr != nil {
			if !errors.Is(ferr, ErrNotFound) {
				s.fallback("get", ferr)
			}
			return v, err
		}
	case AlwaysHydrate:
		if ferr := s.fetch(ctx, id, false); ferr != nil && !errors.Is(ferr, ErrNotFound) {
			s.fallback("get", ferr)
		}
	case AwaitRemote:
		if err := s.fetch(ctx, id, false); err != nil {
			var zero T
			return zero, err
		}
	}
	return s.getLocal(ctx, id)
}

// Find returns the records matching q. The default policy, AwaitRemoteWhenNoneExist,
// hydrates from the remote only when nothing matches locally.
func (s *Store[T]) Find(ctx context.Context, q Query, ps ...Policy) ([]T, error) {
	p, err := s.readPolicy(ps)
	if err != nil {
		return nil, err
	}
	switch p {
	case AwaitRemoteWhenNoneExist:
		local, err := s.findLocal(ctx, q)
		if err != nil || len(local) > 0 {
			return local, err
		}
		if herr := s.hydrate(ctx, q, false); herr != nil {
			s.fallback("find", herr)
			return local, nil
		}
	case AlwaysHydrate:
		if herr := s.hydrate(ctx, q, false); herr != nil {
			s.fallback("find", herr)
		}
	case AwaitRemote:
		if err := s.hydrate(ctx, q, false); err != nil {
			return nil, err
		}
	}
	return s.findLocal(ctx, q)
}

// HydrateOption configures Hydrate.
type HydrateOption func(*hydrateOptions)

type hydrateOptions struct{ replace bool }

// Replace makes Hydrate also remove the local records that match the query and that the
// remote no longer has: it lists every page, then, in the transaction of the last one,
// removes the records it did not see, except those with queued writes or written after
// the listing began, and those the remote never had. Only for a query without Limit or
// Offset, whose listing is the whole of what it matches.
func Replace() HydrateOption {
	return func(o *hydrateOptions) { o.replace = true }
}

// Hydrate brings q's records from the remote into SQLite, every page, then answers q
// locally. Records with queued writes go through the model's resolver. Without a remote
// it only answers locally.
func (s *Store[T]) Hydrate(ctx context.Context, q Query, opts ...HydrateOption) ([]T, error) {
	var o hydrateOptions
	for _, opt := range opts {
		opt(&o)
	}
	switch {
	case s.tx != nil:
		return nil, fmt.Errorf("hydrate %s: not inside a transaction", s.s.Model)
	case o.replace && q.HasWindow():
		return nil, fmt.Errorf("hydrate %s: Replace needs a query without Limit or Offset: the remote's answer is then all it matches", s.s.Model)
	}
	if s.repo.remote != nil {
		if err := s.hydrate(ctx, q, o.replace); err != nil {
			return nil, err
		}
	}
	return s.findLocal(ctx, q)
}

// hydrate lists q's records page by page; each page is applied in its own transaction.
func (s *Store[T]) hydrate(ctx context.Context, q Query, replace bool) error {
	if err := s.repo.check(); err != nil {
		return err
	}
	if err := s.repo.list(ctx, s, listing{query: q, sweep: replace}, nil); err != nil {
		return fmt.Errorf("hydrate %s: %w", s.s.Model, err)
	}
	return nil
}

// Upsert writes v, stamping its updatedAt field in place. With RequireRemote the remote
// gets it first, and v takes the server's answer.
func (s *Store[T]) Upsert(ctx context.Context, v *T, ps ...Policy) error {
	if v == nil {
		return fmt.Errorf("upsert %s: nil record", s.s.Model)
	}
	return s.UpsertMany(ctx, []*T{v}, ps...)
}

// UpsertMany writes every record in one transaction: all or none. With RequireRemote each
// goes to the remote first; the records the remote took are written locally even when a
// later one fails, and the first failure is returned.
func (s *Store[T]) UpsertMany(ctx context.Context, vs []*T, ps ...Policy) error {
	p, err := s.writePolicy(ps)
	if err != nil {
		return err
	}
	if p == RequireRemote {
		return s.putAll(ctx, vs)
	}
	return s.upsertLocal(ctx, vs, p == OptimisticLocal)
}

// putAll writes records to the remote one by one, then stores what it answered.
func (s *Store[T]) putAll(ctx context.Context, vs []*T) error {
	var done []*T
	var bases [][]byte
	var versions []string
	var failed error
	for i, v := range vs {
		if v == nil {
			failed = fmt.Errorf("upsert %s: record %d is nil", s.s.Model, i)
			break
		}
		s.a.SetUpdatedAt(v, s.repo.clock.stamp())
		base, version, err := s.put(ctx, v)
		if err != nil {
			failed = err
			break
		}
		done = append(done, v)
		bases = append(bases, base)
		versions = append(versions, version)
	}
	if len(done) > 0 {
		err := s.write(ctx, func(tx *Tx) error {
			for i, v := range done {
				if err := tx.setBase(ctx, s.s.Table, s.a.ID(v), bases[i], versions[i]); err != nil {
					return err
				}
			}
			return s.exec(ctx, tx, s.sql.replace, done)
		})
		if err != nil {
			return errors.Join(failed, fmt.Errorf("store what the remote took: %w", err))
		}
	}
	return failed
}

// put sends one record and takes the server's answer into v. It returns what the remote
// now holds: its answer, else the body sent; and its version, from a versioned remote.
func (s *Store[T]) put(ctx context.Context, v *T) ([]byte, string, error) {
	id := s.a.ID(v)
	if _, err := s.bind(v); err != nil { // fail before the network on what SQLite refuses
		return nil, "", fmt.Errorf("upsert %w", err)
	}
	st, err := s.unqueued(ctx, id)
	if err != nil {
		return nil, "", fmt.Errorf("upsert %s %q: %w", s.s.Model, id, err)
	}
	body, err := s.body(v, st.base)
	if err != nil {
		return nil, "", fmt.Errorf("upsert %s %q: %w", s.s.Model, id, err)
	}
	key, err := s.repo.requireKey(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("upsert %s %q: %w", s.s.Model, id, err)
	}
	answer, version, err := s.repo.writeRemote(ctx, s.endpoint(), Write{ID: id, Body: body, Key: key, Version: st.version})
	if err != nil {
		return nil, "", fmt.Errorf("upsert %s %q on remote: %w", s.s.Model, id, err)
	}
	if answer == nil {
		return body, version, nil
	}
	if err := s.a.UnmarshalRemote(answer, v); err != nil {
		return nil, "", fmt.Errorf("upsert %s %q: decode answer: %w: %w", s.s.Model, id, ErrMalformedResponse, err)
	}
	return answer, version, nil
}

// requireKey is a RequireRemote write's idempotency key: the client id and a new UUID,
// apart from the outbox's "<clientID>:<seq>" keys. The write is not retried, so a key of
// its own per call is enough.
func (r *Repo) requireKey(ctx context.Context) (string, error) {
	client, err := r.clientID(ctx)
	if err != nil {
		return "", err
	}
	return client + ":now-" + NewID(), nil
}

// body encodes v for the remote. A readonly field is never changed by the client: it
// carries the value in base, the record as the remote last sent it, or is left out when
// there is none.
func (s *Store[T]) body(v *T, base []byte) (json.RawMessage, error) {
	data, err := s.a.MarshalRemote(v)
	if err != nil || !s.sql.readonly {
		return data, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return nil, err
	}
	var stored map[string]json.RawMessage
	if base != nil {
		if err := json.Unmarshal(base, &stored); err != nil {
			return nil, fmt.Errorf("read the record the remote last sent: %w", err)
		}
	}
	for _, c := range s.s.Columns {
		if !c.ReadOnly || c.JSON == "" {
			continue
		}
		if old, ok := stored[c.JSON]; ok {
			fields[c.JSON] = old
		} else {
			delete(fields, c.JSON)
		}
	}
	return json.Marshal(fields)
}

// Delete removes the record with id; deleting an absent record is not an error. A model
// with deletedAt keeps it as a tombstone, and with RequireRemote sends the tombstone as a
// write; other models send a DELETE. Refs declared onDelete=cascade delete the records
// that point to it in the same transaction, each queued as a delete (but with LocalOnly);
// onDelete=restrict refuses with a *RestrictError while live records point to it.
func (s *Store[T]) Delete(ctx context.Context, id string, ps ...Policy) error {
	p, err := s.writePolicy(ps)
	if err != nil {
		return err
	}
	if p == RequireRemote {
		// Refused by an onDelete=restrict ref: refuse before the remote deletes it.
		if err := s.repo.onDelete(ctx, s.repo.db.reader, nil, s.s, id, false); err != nil {
			return err
		}
		if err := s.deleteRemote(ctx, id); err != nil {
			return err
		}
	}
	return s.write(ctx, func(tx *Tx) error {
		// The records whose onDelete refs point here go first, queued as deletes of their own.
		if err := s.repo.onDelete(ctx, tx.q, tx, s.s, id, p != LocalOnly); err != nil {
			return err
		}
		if err := s.deleteTx(ctx, tx, id, p == OptimisticLocal); err != nil || p != RequireRemote || s.sql.deleted != nil {
			return err
		}
		return tx.setBase(ctx, s.s.Table, id, nil, "") // a tombstone's write set it already
	})
}

// deleteRemote deletes a record on the remote: with a DELETE, or for a model with
// deletedAt by writing its tombstone, which is then stored.
func (s *Store[T]) deleteRemote(ctx context.Context, id string) error {
	if s.sql.deleted != nil {
		v, err := s.stored(ctx, s.repo.db.reader, id)
		if err != nil {
			return fmt.Errorf("delete %s %q: %w", s.s.Model, id, err)
		}
		if v != nil {
			now := s.repo.clock.stamp()
			s.a.SetDeletedAt(v, &now)
			return s.putAll(ctx, []*T{v})
		}
	}
	st, err := s.unqueued(ctx, id)
	if err != nil {
		return fmt.Errorf("delete %s %q: %w", s.s.Model, id, err)
	}
	key, err := s.repo.requireKey(ctx)
	if err != nil {
		return fmt.Errorf("delete %s %q: %w", s.s.Model, id, err)
	}
	if _, _, err := s.repo.writeRemote(ctx, s.endpoint(), Write{ID: id, Key: key, Version: st.version}); err != nil {
		return fmt.Errorf("delete %s %q on remote: %w", s.s.Model, id, err)
	}
	return nil
}

// ErrQueuedWrites is returned by a RequireRemote write of a record that has writes
// queued in the outbox: sent later, they would undo it. Sync first, or write with
// OptimisticLocal, which queues behind them.
var ErrQueuedWrites = errors.New("the record has queued writes: sync them first, or write with OptimisticLocal")

// unqueued returns a record's sync state, or ErrQueuedWrites.
func (s *Store[T]) unqueued(ctx context.Context, id string) (recordState, error) {
	st, err := stateOf(ctx, s.repo.db.reader, s, id)
	if err == nil && st.hasWrites() {
		err = ErrQueuedWrites
	}
	return st, err
}
