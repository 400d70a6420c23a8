package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/syncgen/syncgen/wire"
)

// Remote is the server a repository syncs with: remote.NewREST for a plain REST API, or
// remote.NewProtocol for a server that speaks the syncgen protocol. It works on JSON
// bodies; the generated adapters turn records into bodies and back. A nil Remote makes a
// repository local only.
type Remote interface {
	// List fetches one page of an endpoint's records.
	List(ctx context.Context, e *Endpoint, req ListRequest) (*Page, error)
	// Get fetches one record; errors.Is(err, ErrNotFound) when the server does not have it.
	Get(ctx context.Context, e *Endpoint, id string) (json.RawMessage, error)
	// Put creates or replaces one record. It returns the record the server answered
	// with, or nil when the answer had no record.
	Put(ctx context.Context, e *Endpoint, w Write) (json.RawMessage, error)
	// Delete removes one record; a record the server does not have is already deleted.
	Delete(ctx context.Context, e *Endpoint, w Write) error
}

// Endpoint is one model as a remote sees it.
type Endpoint struct {
	Schema *Schema
	// Path is the model's path below the base URL: Schema.Path unless the model's REST
	// option set another.
	Path string
	// Params maps a query to URL parameters for List (nil: none: the remote lists every
	// record and the query is answered locally).
	Params func(Query) url.Values
	// Request rewrites every request for this model, after the remote's own hook (nil:
	// none). An error stops the request.
	Request func(*http.Request) error
}

// ListRequest asks for one page.
type ListRequest struct {
	Query Query
	// Since asks only for records changed after it (the remote's "since" parameter); the
	// zero time asks for everything.
	Since time.Time
	// Page continues a listing: the Next of the previous page; "" starts it.
	Page string
}

// Page is one page of records.
type Page struct {
	Records []json.RawMessage
	// Versions, when a versioned remote gives them, holds each record's version, in the
	// order of Records; nil otherwise.
	Versions []string
	// Next continues the listing in the next ListRequest.Page; "" means this was the last
	// page.
	Next string
}

// Write is one record's write.
type Write struct {
	ID   string
	Body json.RawMessage // the record as JSON (nil for a delete)
	// Key identifies the operation for idempotent replays ("<clientID>:<opSeq>"); remotes
	// that support it send it as Idempotency-Key.
	Key string
	// Version is the version of the record the client last saw, for If-Match; "" for a
	// create or when the remote has no versions.
	Version string
	// Fields lists the JSON keys the write changed since Version (fields.go); nil: the
	// whole record (a create, a delete, or a remote that lacks the base).
	Fields []string
}

// The capabilities below are optional: the sync machinery uses each one a remote
// implements (the protocol remote implements them all) and does without the others.

// Stored is a record as a versioned remote holds it.
type Stored struct {
	Record  json.RawMessage // nil for a deleted record of a model without deletedAt
	Version string
	Deleted bool
}

// VersionedRemote is implemented by remotes whose records carry versions that writes
// check; a write based on an older version fails with a *ConflictError.
type VersionedRemote interface {
	GetStored(ctx context.Context, e *Endpoint, id string) (Stored, error)
	PutStored(ctx context.Context, e *Endpoint, w Write) (Stored, error)
	DeleteStored(ctx context.Context, e *Endpoint, w Write) (Stored, error)
}

// ConflictError is a write refused because the record changed since the version it was
// based on (a 409), when the answer says what the remote holds now: the resolver then
// needs no second read, and no purge in between can make a tombstone look like a record
// the remote never had.
type ConflictError struct {
	*HTTPError
	// Current is the record as the remote holds it now; the zero Stored when it has none.
	Current Stored
}

func (e *ConflictError) Unwrap() error { return e.HTTPError }

// ChangeFeed is implemented by remotes with a change feed; pulls then go by its cursor.
type ChangeFeed interface {
	// Changes returns the changes after cursor ("" for all), or ErrCursorExpired.
	Changes(ctx context.Context, e *Endpoint, cursor string) (*Changes, error)
}

// Changes is one page of a change feed.
type Changes struct {
	Changes []Change
	Cursor  string
	HasMore bool
	// Scopes are the scope values the reader may see now, for a model with a scope field
	// on a server that filters by scope (non-nil, perhaps empty); nil otherwise.
	Scopes []string
}

// Change is one record's latest change.
type Change struct {
	ID string
	Stored
	// Left says the record moved out of the reader's scopes: the local copy goes.
	Left bool
	// Outside says the record changed and matches none of the subsets the reader asked
	// for: the local copy goes once nothing of it waits to be pushed.
	Outside bool
}

// FeedFilter narrows a change feed.
type FeedFilter struct {
	Scopes []string      // some of the scope values the reader may see; nil: all of them
	Where  []wire.Subset // the records of any of these subsets; nil: every record
}

// FilteredFeed is implemented by change feeds that can be narrowed: a client reads a
// newly granted scope's records, and syncs only its subsets, through it (scopes.go).
type FilteredFeed interface {
	// ChangesFiltered is Changes narrowed by f.
	ChangesFiltered(ctx context.Context, e *Endpoint, cursor string, f FeedFilter) (*Changes, error)
}

// ErrCursorExpired is returned by a change feed whose server no longer keeps the deletes
// after the cursor; the client resyncs from the start.
var ErrCursorExpired = errors.New("the change feed's cursor expired")

// ErrListingLoop is returned by a pull whose remote continues a listing with a page token
// or feed cursor it already gave in that listing, or moves a decimal feed cursor
// backwards: the listing would never end, or would save a cursor behind the one it
// started from. The pages before it stay applied; the saved cursor does not move back.
var ErrListingLoop = errors.New("the remote's listing does not advance")

// Batcher is implemented by remotes that take several writes in one request; pushes use
// it when more than one record is due.
type Batcher interface {
	// WriteBatch sends at most wire.MaxBatchOps writes (a delete where Body is nil) and
	// returns one result each, in order; an error means no result is known.
	WriteBatch(ctx context.Context, writes []BatchWrite) ([]BatchResult, error)
}

// BatchWrite is one write of a batch.
type BatchWrite struct {
	Endpoint *Endpoint
	Write
}

// BatchResult is the outcome of one write of a batch: what the remote stored, or the
// error the write alone would have got.
type BatchResult struct {
	Stored Stored
	Err    error
}

// Notifier is implemented by remotes that announce changes; Run pulls as soon as one
// arrives, and keeps polling on its interval besides.
type Notifier interface {
	// Notify sends on changes when the remote announces a change, reconnecting after
	// failures, until ctx ends; then it closes done.
	Notify(ctx context.Context) (changes <-chan struct{}, done <-chan struct{})
}

// getRemote reads one record, with its version from a versioned remote.
func (r *Repo) getRemote(ctx context.Context, e *Endpoint, id string) (remoteRecord, error) {
	if v, ok := r.remote.(VersionedRemote); ok {
		s, err := v.GetStored(ctx, e, id)
		return remoteRecord{id: id, raw: s.Record, version: s.Version}, err
	}
	raw, err := r.remote.Get(ctx, e, id)
	return remoteRecord{id: id, raw: raw}, err
}

// writeRemote sends a write (a DELETE when w.Body is nil) and returns the server's
// record and version.
func (r *Repo) writeRemote(ctx context.Context, e *Endpoint, w Write) (json.RawMessage, string, error) {
	if v, ok := r.remote.(VersionedRemote); ok {
		var s Stored
		var err error
		if w.Body == nil {
			s, err = v.DeleteStored(ctx, e, w)
		} else {
			s, err = v.PutStored(ctx, e, w)
		}
		return s.Record, s.Version, err
	}
	if w.Body == nil {
		return nil, "", r.remote.Delete(ctx, e, w)
	}
	answer, err := r.remote.Put(ctx, e, w)
	return answer, "", err
}
