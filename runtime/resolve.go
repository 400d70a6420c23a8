package runtime

import (
	"context"
	"fmt"
)

// Conflict is a record that changed on the remote while it had local writes not yet
// acknowledged. Local, Remote and Base are nil when that version is absent: never
// written, or deleted in a model without deletedAt (a model with deletedAt shows its
// deletes as records with DeletedAt set).
type Conflict[T any] struct {
	Model string // the model's Go name
	ID    string
	// Local is the record as stored locally, with its pending writes.
	Local *T
	// Remote is the record the remote holds now.
	Remote *T
	// Base is the version the remote last acknowledged or sent before the local writes.
	Base *T
	// RemoteLater reports whether Remote wins the order of last-writer-wins:
	// (updatedAt, canonical JSON), a delete ordered by its time. Always true for a model
	// without updatedAt.
	RemoteLater bool
	// LocalFields and RemoteFields are the JSON keys each side changed since Base
	// (updatedAt among them when both stamped it); nil when Base, Local or Remote is nil.
	LocalFields, RemoteFields []string
	// Merged is the three-way merge (fields.go): Remote with the keys only Local changed,
	// and of the keys both changed, the later writer's. nil when LocalFields is.
	Merged *T

	mergedIs int // -1: Merged is Local; 1: it is Remote; 0: neither
}

// Action is what a Resolution does.
type Action int

const (
	// KeepLocal keeps the local record; its pending writes go on to the remote.
	KeepLocal Action = iota
	// TakeRemote stores the remote record and drops the pending writes, which are
	// reported as overruled.
	TakeRemote
	// WriteMerged stores Resolution.Merged as a new local write, pushed like any other.
	WriteMerged
	// DeleteRecord deletes the record locally, a write pushed like any other.
	DeleteRecord
)

var actionNames = [...]string{KeepLocal: "KeepLocal", TakeRemote: "TakeRemote", WriteMerged: "WriteMerged", DeleteRecord: "DeleteRecord"}

// String is the action's Go name.
func (a Action) String() string {
	if a >= 0 && int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// Resolution is a resolver's decision.
type Resolution[T any] struct {
	Action Action
	Merged *T // the record to write, for WriteMerged
}

// Resolver decides a conflict; generated code takes one per model (WithPizzaResolver). An
// error stops the pull of the page holding the record; nothing of it is applied, and the
// next sync asks again. It runs inside the pull's transaction and must not use the
// repository.
type Resolver[T any] func(context.Context, Conflict[T]) (Resolution[T], error)

// LastWriterWins keeps whichever of local and remote wins the order (updatedAt, canonical
// JSON): the default for a model with updatedAt.
func LastWriterWins[T any](_ context.Context, c Conflict[T]) (Resolution[T], error) {
	if c.RemoteLater {
		return Resolution[T]{Action: TakeRemote}, nil
	}
	return Resolution[T]{Action: KeepLocal}, nil
}

// MergeFields merges field by field (Conflict.Merged): a key changed on one side only
// keeps that change; a key changed on both goes to the later writer (the remote, for a
// model without updatedAt). A delete on either side, or a record the remote never
// acknowledged, goes by LastWriterWins. The default resolver.
func MergeFields[T any](ctx context.Context, c Conflict[T]) (Resolution[T], error) {
	switch {
	case c.Merged == nil:
		return LastWriterWins(ctx, c)
	case c.mergedIs > 0:
		return Resolution[T]{Action: TakeRemote}, nil
	case c.mergedIs < 0:
		return Resolution[T]{Action: KeepLocal}, nil
	}
	return Resolution[T]{Action: WriteMerged, Merged: c.Merged}, nil
}

// RemoteWins always takes the remote record: the default for a model without updatedAt,
// whose remote is the single source of truth.
func RemoteWins[T any](context.Context, Conflict[T]) (Resolution[T], error) {
	return Resolution[T]{Action: TakeRemote}, nil
}

// LocalWins always keeps the local record. When the remote's is later, the local record is
// written again with a new stamp, so that every replica orders it after the remote's.
func LocalWins[T any](context.Context, Conflict[T]) (Resolution[T], error) {
	return Resolution[T]{Action: KeepLocal}, nil
}

// WithResolver is used by generated code (WithPizzaResolver).
func WithResolver[T any](s *Schema, f Resolver[T]) Option {
	return func(o *repoOptions) { o.resolvers[s.Model] = f }
}
