package runtime

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Stored is a record as a versioned remote holds it.
type Stored struct {
	Record  json.RawMessage // nil for a deleted record of a model without deletedAt
	Version string
	Deleted bool
}

// VersionedRemote is implemented by remotes whose records carry versions that writes
// check (the protocol remote); the sync machinery uses it when present.
type VersionedRemote interface {
	GetStored(ctx context.Context, e *Endpoint, id string) (Stored, error)
	PutStored(ctx context.Context, e *Endpoint, w Write) (Stored, error)
	DeleteStored(ctx context.Context, e *Endpoint, w Write) (Stored, error)
}

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
}

// Change is one record's latest change.
type Change struct {
	ID string
	Stored
}

// ErrCursorExpired is returned by a change feed whose server no longer keeps the deletes
// after the cursor; the client resyncs from the start.
var ErrCursorExpired = errors.New("the change feed's cursor expired")

// ProtocolRemote is a remote that speaks the syncgen protocol (docs/PROTOCOL.md), as the
// generated server does: pulls follow the server's change feed, writes carry their
// version and idempotency key, and deletes arrive as tombstones for every model.
type ProtocolRemote struct {
	rest *RESTRemote
}

// NewProtocolRemote returns a remote for the syncgen protocol server at baseURL. It takes
// the transport options of NewRESTRemote (WithHTTPClient, WithRequestHook,
// WithRequestTimeout, WithMaxPageBytes); the others do not apply.
func NewProtocolRemote(baseURL string, opts ...RESTOption) *ProtocolRemote {
	r := NewRESTRemote(baseURL, opts...)
	r.protocol = true
	return &ProtocolRemote{rest: r}
}

// Batcher is implemented by remotes that take several writes in one request (the
// protocol's _batch); pushes use it when more than one record is due.
type Batcher interface {
	// WriteBatch sends the writes (a delete where Body is nil) and returns one result
	// each, in order; an error means no result is known.
	WriteBatch(ctx context.Context, writes []BatchWrite) ([]BatchResult, error)
}

// BatchWrite is one write of a batch.
type BatchWrite struct {
	Endpoint *Endpoint
	Write
}

// BatchResult is the outcome of one write of a batch: what the remote stored, or the
// *HTTPError the write alone would have got.
type BatchResult struct {
	Stored Stored
	Err    error
}

// maxBatch is how many writes go in one batch (the protocol's limit).
const maxBatch = 100

var (
	_ Batcher         = (*ProtocolRemote)(nil)
	_ Remote          = (*ProtocolRemote)(nil)
	_ VersionedRemote = (*ProtocolRemote)(nil)
	_ ChangeFeed      = (*ProtocolRemote)(nil)
)

// Validate reports a bad base URL or option.
func (p *ProtocolRemote) Validate() error { return p.rest.Validate() }

// List lists records the plain way (Hydrate uses it); pulls use Changes.
func (p *ProtocolRemote) List(ctx context.Context, e *Endpoint, req ListRequest) (*Page, error) {
	return p.rest.List(ctx, e, req)
}

// Get fetches one record; errors.Is(err, ErrNotFound) when the server does not have it or
// it is deleted.
func (p *ProtocolRemote) Get(ctx context.Context, e *Endpoint, id string) (json.RawMessage, error) {
	s, err := p.GetStored(ctx, e, id)
	if err == nil && s.Deleted {
		err = fmt.Errorf("get %s: %w", id, ErrNotFound)
	}
	return s.Record, err
}

// Put writes one record with its key and version.
func (p *ProtocolRemote) Put(ctx context.Context, e *Endpoint, w Write) (json.RawMessage, error) {
	s, err := p.PutStored(ctx, e, w)
	return s.Record, err
}

// Delete deletes one record with its key and version; a record the server does not have
// is already deleted.
func (p *ProtocolRemote) Delete(ctx context.Context, e *Endpoint, w Write) error {
	_, err := p.DeleteStored(ctx, e, w)
	return err
}

// changeEntry is the protocol's JSON for a record (see server.go).
func (c changeEntry) stored() Stored {
	s := Stored{Version: c.Version, Deleted: c.Deleted}
	if len(c.Record) > 0 && string(c.Record) != "null" {
		s.Record = c.Record
	}
	return s
}

// GetStored fetches a record's entry; ErrNotFound when the server never had it.
func (p *ProtocolRemote) GetStored(ctx context.Context, e *Endpoint, id string) (Stored, error) {
	if err := p.Validate(); err != nil {
		return Stored{}, err
	}
	u, err := p.rest.itemURL(e, id)
	if err != nil {
		return Stored{}, err
	}
	s, err := p.entry(ctx, e, http.MethodGet, u, nil, nil)
	var he *HTTPError
	if errors.As(err, &he) && he.Status == http.StatusNotFound {
		err = fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return s, err
}

// PutStored writes a record: If-Match carries the version the client last saw (none for a
// create), Idempotency-Key the write's key.
func (p *ProtocolRemote) PutStored(ctx context.Context, e *Endpoint, w Write) (Stored, error) {
	if err := p.Validate(); err != nil {
		return Stored{}, err
	}
	u, err := p.rest.itemURL(e, w.ID)
	if err != nil {
		return Stored{}, err
	}
	h := http.Header{"Content-Type": {"application/json"}}
	writeHeaders(h, w)
	return p.entry(ctx, e, http.MethodPut, u, w.Body, h)
}

// DeleteStored deletes a record; a record the server does not have is already deleted.
func (p *ProtocolRemote) DeleteStored(ctx context.Context, e *Endpoint, w Write) (Stored, error) {
	if err := p.Validate(); err != nil {
		return Stored{}, err
	}
	u, err := p.rest.itemURL(e, w.ID)
	if err != nil {
		return Stored{}, err
	}
	h := http.Header{}
	writeHeaders(h, w)
	s, err := p.entry(ctx, e, http.MethodDelete, u, nil, h)
	var he *HTTPError
	if errors.As(err, &he) && he.Status == http.StatusNotFound {
		return Stored{Deleted: true}, nil
	}
	return s, err
}

func writeHeaders(h http.Header, w Write) {
	if w.Key != "" {
		h.Set("Idempotency-Key", w.Key)
	}
	if w.Version != "" {
		h.Set("If-Match", strconv.Quote(w.Version))
	}
}

// entry runs one request whose answer is a change entry.
func (p *ProtocolRemote) entry(ctx context.Context, e *Endpoint, method string, u *url.URL, body []byte, h http.Header) (Stored, error) {
	var c changeEntry
	err := p.rest.do(ctx, e, method, u, body, h, func(_ *http.Response, b io.Reader) error {
		if err := json.NewDecoder(b).Decode(&c); err != nil {
			return fmt.Errorf("%w: %w", ErrMalformedResponse, err)
		}
		if c.ID == "" {
			return fmt.Errorf("%w: the answer is not a change entry", ErrMalformedResponse)
		}
		return nil
	})
	return c.stored(), err
}

// Changes reads one page of a model's change feed.
func (p *ProtocolRemote) Changes(ctx context.Context, e *Endpoint, cursor string) (*Changes, error) {
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
	u.RawQuery = q.Encode()
	var page struct {
		Changes []changeEntry `json:"changes"`
		Cursor  *string       `json:"cursor"`
		HasMore bool          `json:"hasMore"`
	}
	err = p.rest.do(ctx, e, http.MethodGet, u, nil, nil, func(_ *http.Response, b io.Reader) error {
		if err := json.NewDecoder(b).Decode(&page); err != nil {
			return fmt.Errorf("%w: %w", ErrMalformedResponse, err)
		}
		if page.Cursor == nil {
			return fmt.Errorf("%w: the page has no cursor", ErrMalformedResponse)
		}
		return nil
	})
	var he *HTTPError
	if errors.As(err, &he) && he.Status == http.StatusGone {
		return nil, fmt.Errorf("%w: %w", ErrCursorExpired, err)
	}
	if err != nil {
		return nil, err
	}
	out := &Changes{Cursor: *page.Cursor, HasMore: page.HasMore}
	for _, c := range page.Changes {
		if c.ID == "" {
			return nil, fmt.Errorf("%w: a change without an id", ErrMalformedResponse)
		}
		out.Changes = append(out.Changes, Change{ID: c.ID, Stored: c.stored()})
	}
	return out, nil
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

// changeNotifier is implemented by remotes that announce changes (the protocol's
// _events stream): Run pulls as soon as one arrives.
type changeNotifier interface {
	// notify sends on the first channel when the remote announces a change, reconnecting
	// after failures, until ctx ends; then it closes the second.
	notify(ctx context.Context) (<-chan struct{}, <-chan struct{})
}

var _ changeNotifier = (*ProtocolRemote)(nil)

func (p *ProtocolRemote) notify(ctx context.Context) (<-chan struct{}, <-chan struct{}) {
	changes, done := make(chan struct{}, 1), make(chan struct{})
	go func() {
		defer close(done)
		wait := time.Second
		for ctx.Err() == nil {
			start := time.Now()
			err := p.stream(ctx, changes)
			if ctx.Err() != nil {
				return
			}
			if time.Since(start) > time.Minute {
				wait = time.Second // it had been working: reconnect soon
			}
			_ = err // the stream only hastens pulls: Run polls meanwhile
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			wait = min(2*wait, time.Minute)
		}
	}()
	return changes, done
}

// stream reads one connection to the events stream.
func (p *ProtocolRemote) stream(ctx context.Context, changes chan<- struct{}) error {
	r := p.rest
	if err := r.Validate(); err != nil {
		return err
	}
	u, err := r.join("_events")
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Syncgen-Protocol", "1")
	if r.hook != nil {
		if err := r.hook(req); err != nil {
			return err
		}
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("events: %s", resp.Status)
	}
	lines := bufio.NewScanner(resp.Body)
	for lines.Scan() {
		if strings.HasPrefix(lines.Text(), "event: changed") {
			select {
			case changes <- struct{}{}:
			default:
			}
		}
	}
	return lines.Err()
}

// WriteBatch sends writes in one POST {base}/_batch.
func (p *ProtocolRemote) WriteBatch(ctx context.Context, writes []BatchWrite) ([]BatchResult, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	u, err := p.rest.join("_batch")
	if err != nil {
		return nil, err
	}
	type op struct {
		Key     string          `json:"key"`
		Model   string          `json:"model"`
		Op      string          `json:"op"`
		ID      string          `json:"id"`
		Version string          `json:"version,omitempty"`
		Record  json.RawMessage `json:"record,omitempty"`
	}
	ops := make([]op, len(writes))
	for i, w := range writes {
		o := op{Key: w.Key, Model: strings.TrimPrefix(w.Endpoint.Path, "/"), Op: "put", ID: w.ID, Version: w.Version, Record: w.Body}
		if w.Body == nil {
			o.Op = "delete"
		}
		ops[i] = o
	}
	body, err := json.Marshal(map[string]any{"ops": ops})
	if err != nil {
		return nil, err
	}
	var answer struct {
		Results []struct {
			Status int             `json:"status"`
			Entry  *changeEntry    `json:"entry"`
			Error  json.RawMessage `json:"error"`
		} `json:"results"`
	}
	err = p.rest.do(ctx, &Endpoint{}, http.MethodPost, u, body, http.Header{"Content-Type": {"application/json"}},
		func(_ *http.Response, b io.Reader) error {
			if err := json.NewDecoder(b).Decode(&answer); err != nil {
				return fmt.Errorf("%w: %w", ErrMalformedResponse, err)
			}
			if len(answer.Results) != len(writes) {
				return fmt.Errorf("%w: %d results for %d writes", ErrMalformedResponse, len(answer.Results), len(writes))
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	out := make([]BatchResult, len(writes))
	for i, res := range answer.Results {
		switch {
		case res.Status >= 200 && res.Status < 300 && res.Entry != nil:
			out[i].Stored = res.Entry.stored()
		case res.Status == http.StatusNotFound && writes[i].Body == nil:
			out[i].Stored = Stored{Deleted: true} // already gone
		default:
			out[i].Err = &HTTPError{Method: "POST", URL: redactURL(u) + " (op " + strconv.Itoa(i) + ")",
				Status: res.Status, Body: []byte(res.Error)}
		}
	}
	return out, nil
}
