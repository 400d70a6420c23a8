package runtime

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"
)

// Remote is the server a repository syncs with: NewRESTRemote for a plain REST API, or
// NewProtocolRemote for a server that speaks the syncgen protocol. It works on JSON
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
}
