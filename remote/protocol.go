package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/syncgen/syncgen/runtime"
	"github.com/syncgen/syncgen/wire"
)

// Protocol is a remote that speaks the syncgen protocol (docs/PROTOCOL.md), as the
// generated server does: pulls follow the server's change feed, writes carry their
// version and idempotency key, several writes go in one batch, deletes arrive as
// tombstones for every model, and the server's events hasten pulls.
type Protocol struct {
	rest *REST
}

// NewProtocol returns a remote for the syncgen protocol server at baseURL. It takes the
// transport options (WithHTTPClient, WithRequestHook, WithRequestTimeout,
// WithMaxPageBytes); the others do not apply.
func NewProtocol(baseURL string, opts ...Option) *Protocol {
	r := NewREST(baseURL, opts...)
	r.protocol = true
	return &Protocol{rest: r}
}

var (
	_ runtime.Remote          = (*Protocol)(nil)
	_ runtime.VersionedRemote = (*Protocol)(nil)
	_ runtime.ChangeFeed      = (*Protocol)(nil)
	_ runtime.FilteredFeed    = (*Protocol)(nil)
	_ runtime.Batcher         = (*Protocol)(nil)
	_ runtime.Notifier        = (*Protocol)(nil)
)

// Validate reports a bad base URL or option.
func (p *Protocol) Validate() error { return p.rest.Validate() }

// List lists the records Hydrate asks for: the change feed's records with their
// versions, page by page (req.Page is the feed's cursor), so that a write after a Hydrate
// carries the version it is based on. The server filters by no query, so neither does
// List; the query is answered locally. Deletes of models without deletedAt are left out.
func (p *Protocol) List(ctx context.Context, e *runtime.Endpoint, req runtime.ListRequest) (*runtime.Page, error) {
	c, err := p.Changes(ctx, e, req.Page)
	if err != nil {
		return nil, err
	}
	if c.HasMore && (c.Cursor == "" || c.Cursor == req.Page) {
		return nil, fmt.Errorf("list %s: %w: more changes after cursor %q", e.Path, runtime.ErrMalformedResponse, c.Cursor)
	}
	page := &runtime.Page{Records: []json.RawMessage{}, Versions: []string{}}
	for _, ch := range c.Changes {
		if ch.Record != nil {
			page.Records = append(page.Records, ch.Record)
			page.Versions = append(page.Versions, ch.Version)
		}
	}
	if c.HasMore {
		page.Next = c.Cursor
	}
	return page, nil
}

// Get fetches one record; errors.Is(err, runtime.ErrNotFound) when the server does not
// have it or it is deleted.
func (p *Protocol) Get(ctx context.Context, e *runtime.Endpoint, id string) (json.RawMessage, error) {
	s, err := p.GetStored(ctx, e, id)
	if err == nil && s.Deleted {
		err = fmt.Errorf("get %s: %w", id, runtime.ErrNotFound)
	}
	return s.Record, err
}

// Put writes one record with its key and version.
func (p *Protocol) Put(ctx context.Context, e *runtime.Endpoint, w runtime.Write) (json.RawMessage, error) {
	s, err := p.PutStored(ctx, e, w)
	return s.Record, err
}

// Delete deletes one record with its key and version; a record the server does not have
// is already deleted.
func (p *Protocol) Delete(ctx context.Context, e *runtime.Endpoint, w runtime.Write) error {
	_, err := p.DeleteStored(ctx, e, w)
	return err
}

// stored reads an entry as the runtime keeps it.
func stored(c wire.Entry) runtime.Stored {
	s := runtime.Stored{Version: c.Version, Deleted: c.Deleted}
	if len(c.Record) > 0 && string(c.Record) != "null" {
		s.Record = c.Record
	}
	return s
}

// GetStored fetches a record's entry; runtime.ErrNotFound when the server never had it.
func (p *Protocol) GetStored(ctx context.Context, e *runtime.Endpoint, id string) (runtime.Stored, error) {
	if err := p.Validate(); err != nil {
		return runtime.Stored{}, err
	}
	u, err := p.rest.itemURL(e, id)
	if err != nil {
		return runtime.Stored{}, err
	}
	s, err := p.entry(ctx, e, http.MethodGet, u, nil, nil)
	var he *runtime.HTTPError
	if errors.As(err, &he) && he.Status == http.StatusNotFound {
		err = fmt.Errorf("%w: %w", runtime.ErrNotFound, err)
	}
	return s, err
}

// PutStored writes a record: If-Match carries the version the client last saw (none for a
// create), Idempotency-Key the write's key. A stale version is a *runtime.ConflictError.
func (p *Protocol) PutStored(ctx context.Context, e *runtime.Endpoint, w runtime.Write) (runtime.Stored, error) {
	if err := p.Validate(); err != nil {
		return runtime.Stored{}, err
	}
	u, err := p.rest.itemURL(e, w.ID)
	if err != nil {
		return runtime.Stored{}, err
	}
	h := http.Header{"Content-Type": {"application/json"}}
	writeHeaders(h, w)
	s, err := p.entry(ctx, e, http.MethodPut, u, w.Body, h)
	return s, conflict(err, w.ID)
}

// DeleteStored deletes a record; a record the server does not have is already deleted.
func (p *Protocol) DeleteStored(ctx context.Context, e *runtime.Endpoint, w runtime.Write) (runtime.Stored, error) {
	if err := p.Validate(); err != nil {
		return runtime.Stored{}, err
	}
	u, err := p.rest.itemURL(e, w.ID)
	if err != nil {
		return runtime.Stored{}, err
	}
	h := http.Header{}
	writeHeaders(h, w)
	s, err := p.entry(ctx, e, http.MethodDelete, u, nil, h)
	var he *runtime.HTTPError
	if errors.As(err, &he) && he.Status == http.StatusNotFound {
		return runtime.Stored{Deleted: true}, nil
	}
	return s, conflict(err, w.ID)
}

func writeHeaders(h http.Header, w runtime.Write) {
	if w.Key != "" {
		h.Set(wire.HeaderIdempotencyKey, w.Key)
	}
	if w.Version != "" {
		h.Set(wire.HeaderIfMatch, strconv.Quote(w.Version))
	}
	if w.Fields != nil && w.Body != nil { // field changes (wire/fields.go)
		h.Set(wire.HeaderFields, wire.EncodeFields(w.Fields))
	}
}

// conflict turns a 409 whose body carries the current entry (PROTOCOL.md section 7) into
// a *runtime.ConflictError; other errors, and a 409 without a usable entry, stay as
// they are, and the client reads the record instead.
func conflict(err error, id string) error {
	he, ok := err.(*runtime.HTTPError)
	if !ok || he.Status != http.StatusConflict {
		return err
	}
	var body wire.Error
	if json.Unmarshal(he.Body, &body) != nil || body.Code != wire.CodeConflict || len(body.Entry) == 0 {
		return err
	}
	if string(body.Entry) == "null" {
		return &runtime.ConflictError{HTTPError: he}
	}
	var e wire.Entry
	if json.Unmarshal(body.Entry, &e) != nil || e.ID != id || e.Version == "" {
		return err
	}
	return &runtime.ConflictError{HTTPError: he, Current: stored(e)}
}

// entry runs one request whose answer is a change entry.
func (p *Protocol) entry(ctx context.Context, e *runtime.Endpoint, method string, u *url.URL, body []byte, h http.Header) (runtime.Stored, error) {
	var c wire.Entry
	err := p.rest.do(ctx, e, method, u, body, h, func(_ *http.Response, b io.Reader) error {
		if err := json.NewDecoder(b).Decode(&c); err != nil {
			return fmt.Errorf("%w: %w", runtime.ErrMalformedResponse, err)
		}
		if c.ID == "" {
			return fmt.Errorf("%w: the answer is not a change entry", runtime.ErrMalformedResponse)
		}
		return nil
	})
	return stored(c), err
}

// Changes reads one page of a model's change feed.
func (p *Protocol) Changes(ctx context.Context, e *runtime.Endpoint, cursor string) (*runtime.Changes, error) {
	return p.ChangesFiltered(ctx, e, cursor, runtime.FeedFilter{})
}

// ChangesFiltered reads one page of a model's change feed narrowed to some scope values
// and to the records of some subsets.
func (p *Protocol) ChangesFiltered(ctx context.Context, e *runtime.Endpoint, cursor string, f runtime.FeedFilter) (*runtime.Changes, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	u, err := p.rest.itemURL(e, "_changes")
	if err != nil {
		return nil, err
	}
	q := u.Query()
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	for _, s := range f.Scopes {
		q.Add(wire.QueryScope, s)
	}
	if f.Where != nil {
		where, err := json.Marshal(f.Where)
		if err != nil {
			return nil, err
		}
		q.Set(wire.QueryWhere, string(where))
	}
	u.RawQuery = q.Encode()
	var page wire.Changes
	err = p.rest.do(ctx, e, http.MethodGet, u, nil, nil, func(_ *http.Response, b io.Reader) error {
		var err error
		if page, err = decodeChanges(b, p.rest.maxRecords); err != nil {
			if errors.Is(err, runtime.ErrPageTooLarge) {
				return err
			}
			return fmt.Errorf("%w: %w", runtime.ErrMalformedResponse, err)
		}
		if page.Cursor == nil {
			return fmt.Errorf("%w: the page has no cursor", runtime.ErrMalformedResponse)
		}
		return nil
	})
	var he *runtime.HTTPError
	if errors.As(err, &he) && he.Status == http.StatusGone {
		return nil, fmt.Errorf("%w: %w", runtime.ErrCursorExpired, err)
	}
	if err != nil {
		return nil, err
	}
	out := &runtime.Changes{Cursor: *page.Cursor, HasMore: page.HasMore, Scopes: page.Scopes}
	for _, c := range page.Changes {
		// A change without an id goes on too: the pull skips it with an error event and
		// keeps the rest of the page.
		ch := runtime.Change{ID: c.ID, Stored: stored(c), Left: c.Left, Outside: c.Outside}
		if c.Left || c.Outside {
			ch.Stored = runtime.Stored{Version: c.Version}
		}
		out.Changes = append(out.Changes, ch)
	}
	return out, nil
}

// WriteBatch sends writes in one POST {base}/_batch.
func (p *Protocol) WriteBatch(ctx context.Context, writes []runtime.BatchWrite) ([]runtime.BatchResult, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	u, err := p.rest.join("_batch")
	if err != nil {
		return nil, err
	}
	batch := wire.Batch{Ops: make([]wire.BatchOp, len(writes))}
	for i, w := range writes {
		op := wire.BatchOp{Key: w.Key, Model: strings.TrimPrefix(w.Endpoint.Path, "/"), Op: wire.OpPut, ID: w.ID, Record: w.Body}
		if w.Body == nil {
			op.Op = wire.OpDelete
		} else {
			op.Fields = w.Fields // field changes (wire/fields.go)
		}
		if w.Version != "" {
			op.Version = &w.Version
		}
		batch.Ops[i] = op
	}
	body, err := json.Marshal(batch)
	if err != nil {
		return nil, err
	}
	var answer wire.BatchAnswer
	err = p.rest.do(ctx, &runtime.Endpoint{}, http.MethodPost, u, body, http.Header{"Content-Type": {"application/json"}},
		func(_ *http.Response, b io.Reader) error {
			if err := json.NewDecoder(b).Decode(&answer); err != nil {
				return fmt.Errorf("%w: %w", runtime.ErrMalformedResponse, err)
			}
			if len(answer.Results) != len(writes) {
				return fmt.Errorf("%w: %d results for %d writes", runtime.ErrMalformedResponse, len(answer.Results), len(writes))
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	out := make([]runtime.BatchResult, len(writes))
	for i, res := range answer.Results {
		var entry wire.Entry
		ok := len(res.Entry) > 0 && json.Unmarshal(res.Entry, &entry) == nil && entry.ID != ""
		switch {
		case res.Status >= 200 && res.Status < 300 && ok:
			out[i].Stored = stored(entry)
		case res.Status == http.StatusNotFound && writes[i].Body == nil:
			out[i].Stored = runtime.Stored{Deleted: true} // already gone
		default:
			he := &runtime.HTTPError{Method: "POST", URL: redactURL(u) + " (op " + strconv.Itoa(i) + ")",
				Status: res.Status, Body: []byte(res.Error)}
			out[i].Err = conflict(he, writes[i].ID)
		}
	}
	return out, nil
}
