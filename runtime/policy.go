package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrNoOutbox is returned by a write with the OptimisticLocal policy (the default) on a
// repository with a remote: queuing writes for the remote needs the outbox, which is not
// built yet. Use RequireRemote to write through, or LocalOnly.
var ErrNoOutbox = errors.New("queued writes to the remote are not supported yet: write with runtime.RequireRemote or runtime.LocalOnly")

var policyNames = map[Policy]string{
	AwaitRemoteWhenNoneExist: "AwaitRemoteWhenNoneExist", AlwaysHydrate: "AlwaysHydrate",
	AwaitRemote: "AwaitRemote", LocalOnly: "LocalOnly", OptimisticLocal: "OptimisticLocal",
	RequireRemote: "RequireRemote",
}

func (p Policy) String() string {
	if n, ok := policyNames[p]; ok {
		return n
	}
	return fmt.Sprintf("Policy(%d)", int(p))
}

// policy picks the call's policy: the last one given, else def. Without a remote, or
// inside a transaction, every policy is LocalOnly.
func (s *Store[T]) policy(ps []Policy, def Policy, valid ...Policy) (Policy, error) {
	p := def
	if len(ps) > 0 {
		p = ps[len(ps)-1]
	}
	ok := p == LocalOnly
	for _, v := range valid {
		ok = ok || p == v
	}
	if !ok {
		return p, fmt.Errorf("%s: policy %s does not apply here (use one of %v or LocalOnly)", s.s.Model, p, valid)
	}
	if s.repo.remote == nil || s.tx != nil {
		return LocalOnly, nil
	}
	return p, nil
}

func (s *Store[T]) readPolicy(ps []Policy) (Policy, error) {
	return s.policy(ps, AwaitRemoteWhenNoneExist, AwaitRemoteWhenNoneExist, AlwaysHydrate, AwaitRemote)
}

func (s *Store[T]) writePolicy(ps []Policy) (Policy, error) {
	return s.policy(ps, OptimisticLocal, OptimisticLocal, RequireRemote)
}

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
		if ferr := s.fetch(ctx, id); ferr != nil {
			if !errors.Is(ferr, ErrNotFound) {
				s.fallback("get", ferr)
			}
			return v, err
		}
	case AlwaysHydrate:
		if ferr := s.fetch(ctx, id); ferr != nil && !errors.Is(ferr, ErrNotFound) {
			s.fallback("get", ferr)
		}
	case AwaitRemote:
		if err := s.fetch(ctx, id); err != nil {
			var zero T
			return zero, err
		}
	}
	return s.getLocal(ctx, id)
}

// fetch reads one record from the remote into SQLite.
func (s *Store[T]) fetch(ctx context.Context, id string) error {
	raw, err := s.repo.remote.Get(ctx, s.endpoint(), id)
	if err != nil {
		return fmt.Errorf("get %s %q from remote: %w", s.s.Model, id, err)
	}
	return s.apply(ctx, []json.RawMessage{raw})
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
		if herr := s.hydrate(ctx, q); herr != nil {
			s.fallback("find", herr)
			return local, nil
		}
	case AlwaysHydrate:
		if herr := s.hydrate(ctx, q); herr != nil {
			s.fallback("find", herr)
		}
	case AwaitRemote:
		if err := s.hydrate(ctx, q); err != nil {
			return nil, err
		}
	}
	return s.findLocal(ctx, q)
}

// HydrateOption configures Hydrate.
type HydrateOption func(*hydrateOptions)

type hydrateOptions struct{}

// Hydrate brings q's records from the remote into SQLite, every page, then answers q
// locally. Without a remote it only answers locally.
func (s *Store[T]) Hydrate(ctx context.Context, q Query, _ ...HydrateOption) ([]T, error) {
	if s.tx != nil {
		return nil, fmt.Errorf("hydrate %s: not inside a transaction", s.s.Model)
	}
	if s.repo.remote != nil {
		if err := s.hydrate(ctx, q); err != nil {
			return nil, err
		}
	}
	return s.findLocal(ctx, q)
}

// hydrate lists q's records page by page; each page is applied in its own transaction.
func (s *Store[T]) hydrate(ctx context.Context, q Query) error {
	if err := s.repo.check(); err != nil {
		return err
	}
	req := ListRequest{Query: q}
	for {
		page, err := s.repo.remote.List(ctx, s.endpoint(), req)
		if err != nil {
			return fmt.Errorf("hydrate %s: %w", s.s.Model, err)
		}
		if err := s.apply(ctx, page.Records); err != nil {
			return fmt.Errorf("hydrate %s: %w", s.s.Model, err)
		}
		if page.Next == "" {
			return nil
		}
		req.Page = page.Next
	}
}

// apply writes records received from the remote, in one transaction: all of them or,
// when one does not decode or fit, none. Local columns of stored records are kept.
func (s *Store[T]) apply(ctx context.Context, raws []json.RawMessage) error {
	if len(raws) == 0 {
		return nil
	}
	vs := make([]*T, len(raws))
	for i, raw := range raws {
		vs[i] = new(T)
		if err := s.a.UnmarshalRemote(raw, vs[i]); err != nil {
			return fmt.Errorf("decode %s record %d: %w: %w", s.s.Model, i, ErrMalformedResponse, err)
		}
	}
	return s.write(ctx, func(tx *Tx) error { return s.exec(ctx, tx, s.sql.apply, vs) })
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
	switch p {
	case OptimisticLocal:
		return fmt.Errorf("upsert %s: %w", s.s.Model, ErrNoOutbox)
	case RequireRemote:
		return s.putAll(ctx, vs)
	}
	return s.upsertLocal(ctx, vs)
}

// putAll writes records to the remote one by one, then stores what it answered.
func (s *Store[T]) putAll(ctx context.Context, vs []*T) error {
	var done []*T
	var failed error
	for i, v := range vs {
		if v == nil {
			failed = fmt.Errorf("upsert %s: record %d is nil", s.s.Model, i)
			break
		}
		s.a.SetUpdatedAt(v, s.repo.clock.stamp())
		if err := s.put(ctx, v); err != nil {
			failed = err
			break
		}
		done = append(done, v)
	}
	if len(done) > 0 {
		err := s.write(ctx, func(tx *Tx) error { return s.exec(ctx, tx, s.sql.replace, done) })
		if err != nil {
			return errors.Join(failed, fmt.Errorf("store what the remote took: %w", err))
		}
	}
	return failed
}

// put sends one record and takes the server's answer into v.
func (s *Store[T]) put(ctx context.Context, v *T) error {
	id := s.a.ID(v)
	if _, err := s.bind(v); err != nil { // fail before the network on what SQLite refuses
		return fmt.Errorf("upsert %w", err)
	}
	body, err := s.body(ctx, v)
	if err != nil {
		return fmt.Errorf("upsert %s %q: %w", s.s.Model, id, err)
	}
	answer, err := s.repo.remote.Put(ctx, s.endpoint(), Write{ID: id, Body: body})
	if err != nil {
		return fmt.Errorf("upsert %s %q on remote: %w", s.s.Model, id, err)
	}
	if answer != nil {
		if err := s.a.UnmarshalRemote(answer, v); err != nil {
			return fmt.Errorf("upsert %s %q: decode answer: %w: %w", s.s.Model, id, ErrMalformedResponse, err)
		}
	}
	return nil
}

// body encodes v for the remote. A readonly field is never changed by the client: it
// carries the value stored from the server, or is left out for a record not stored yet.
func (s *Store[T]) body(ctx context.Context, v *T) (json.RawMessage, error) {
	data, err := s.a.MarshalRemote(v)
	if err != nil || !s.sql.readonly {
		return data, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return nil, err
	}
	var stored map[string]json.RawMessage
	if old, err := s.getStored(ctx, s.a.ID(v)); err == nil {
		b, err := s.a.MarshalRemote(&old)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, &stored); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
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

// getStored reads a record whether or not it is a tombstone.
func (s *Store[T]) getStored(ctx context.Context, id string) (T, error) {
	var v T
	db, err := s.reader()
	if err != nil {
		return v, err
	}
	query := "SELECT " + s.sql.columns + " FROM " + quoteIdent(s.s.Table) + " WHERE " + s.sql.idCol + " = ?"
	rows, err := db.QueryContext(ctx, query, id)
	if err != nil {
		return v, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return v, err
		}
		return v, ErrNotFound
	}
	if err := rows.Scan(s.a.Pointers(&v)...); err != nil {
		return v, err
	}
	return v, rows.Close()
}

// Delete removes the record with id; deleting an absent record is not an error. A model
// with deletedAt keeps it as a tombstone, and with RequireRemote sends the tombstone as a
// write; other models send a DELETE.
func (s *Store[T]) Delete(ctx context.Context, id string, ps ...Policy) error {
	p, err := s.writePolicy(ps)
	if err != nil {
		return err
	}
	switch p {
	case OptimisticLocal:
		return fmt.Errorf("delete %s %q: %w", s.s.Model, id, ErrNoOutbox)
	case RequireRemote:
		if s.sql.deleted != nil {
			v, err := s.getStored(ctx, id)
			if err == nil {
				now := s.repo.clock.stamp()
				s.a.SetDeletedAt(&v, &now)
				return s.putAll(ctx, []*T{&v})
			}
			if !errors.Is(err, ErrNotFound) {
				return fmt.Errorf("delete %s %q: %w", s.s.Model, id, err)
			}
		}
		if err := s.repo.remote.Delete(ctx, s.endpoint(), Write{ID: id}); err != nil {
			return fmt.Errorf("delete %s %q on remote: %w", s.s.Model, id, err)
		}
	}
	return s.deleteLocal(ctx, id)
}
