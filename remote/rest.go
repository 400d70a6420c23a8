package remote

import (
	"bytes"
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

	"github.com/syncgen/syncgen/internal/text"
	"github.com/syncgen/syncgen/runtime"
	"github.com/syncgen/syncgen/wire"
)

// REST is a runtime.Remote for an existing REST API:
//
//	GET    {base}{path}       lists (a JSON array, or an object holding it: WithListKey)
//	GET    {base}{path}/{id}  reads; 404 is runtime.ErrNotFound
//	PUT    {base}{path}/{id}  writes (WithWriteMethod); 404 or 405 falls back to
//	POST   {base}{path}       which, when it reports a duplicate, is followed by GET and PUT
//	DELETE {base}{path}/{id}  deletes; 404 and 410 mean already gone
//
// It holds transport settings only and never changes after NewREST, so one value is
// safe for concurrent use. A bad setting is reported by Validate and by every method.
type REST struct {
	protocol bool // send Syncgen-Protocol: 1 (the protocol remote's transport)
	base     *url.URL
	shown    string  // base for messages, redacted
	errs     []error // bad settings, reported by Validate
	client   *http.Client
	hook     func(*http.Request) error

	listKey     []string // nil: the answer is the array
	sinceParam  string   // "": no since parameter
	sinceFormat func(time.Time) string
	paging      restPaging
	pagingSet   int
	writeMethod string
	timeout     time.Duration
	maxBody     int64
	maxRecords  int
	shape       shape // how a preset shapes requests (preset.go)
}

// restPaging is how a listing continues.
type restPaging struct {
	kind       pagingKind
	param      string   // page, offset or cursor parameter
	limitParam string   // page and offset
	limit      int      // page and offset
	bodyKey    []string // cursor or next link in the body
}

type pagingKind int

const (
	pagingNone       pagingKind = iota
	pagingPage                  // ?page=1&limit=N, 2, 3… until a short page
	pagingOffset                // ?offset=0&limit=N, N, 2N… until a short page
	pagingLinkHeader            // Link: <…>; rel="next"
	pagingLinkBody              // {"next": "https://…"}
	pagingCursor                // {"next_cursor": "…"} sent back as ?cursor=…
)

const (
	defaultRESTTimeout = 10 * time.Second
	defaultMaxPage     = 32 << 20
	// DefaultMaxPageRecords is how many records one page may hold (WithMaxPageRecords).
	DefaultMaxPageRecords = 10000
)

// NewREST returns a remote for the REST API at baseURL (scheme, host and an optional
// path prefix; query parameters in it are sent with every request). Errors in baseURL or
// the options are reported by Validate, which NewRepository calls.
func NewREST(baseURL string, opts ...Option) *REST {
	r := &REST{
		client:      &http.Client{}, // no global timeout: WithRequestTimeout bounds each request
		sinceFormat: SinceRFC3339,
		writeMethod: http.MethodPut,
		timeout:     defaultRESTTimeout,
		maxBody:     defaultMaxPage,
		maxRecords:  DefaultMaxPageRecords,
	}
	u, err := url.Parse(baseURL)
	if u != nil {
		r.shown = redactURL(u)
	}
	switch {
	case err != nil:
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // ue repeats the URL, password included
		}
		r.errs = append(r.errs, fmt.Errorf("base URL: %w", err))
	case u.Scheme != "http" && u.Scheme != "https":
		r.errs = append(r.errs, fmt.Errorf("scheme %q: want http or https", u.Scheme))
	case u.Host == "":
		r.errs = append(r.errs, errors.New("no host"))
	case u.Fragment != "":
		r.errs = append(r.errs, errors.New("a fragment is never sent: remove it"))
	default:
		r.base = u
	}
	for _, opt := range opts {
		opt(r)
	}
	r.client = sameOriginRedirects(r.client)
	if r.pagingSet > 1 {
		r.errs = append(r.errs, fmt.Errorf("%d pagination options: choose one", r.pagingSet))
	}
	if k := r.paging.kind; (k == pagingCursor || k == pagingLinkBody) && r.listKey == nil {
		r.errs = append(r.errs, errors.New("a cursor or next link in the body needs WithListKey: the answer must be an object"))
	}
	if b := r.paging.bodyKey; b != nil && r.listKey != nil && (hasPrefix(b, r.listKey) || hasPrefix(r.listKey, b)) {
		r.errs = append(r.errs, fmt.Errorf("list key %q and next key %q overlap", strings.Join(r.listKey, "."), strings.Join(b, ".")))
	}
	return r
}

// Validate reports a bad base URL or option. Every method returns the same error.
func (r *REST) Validate() error {
	if len(r.errs) == 0 {
		return nil
	}
	if r.shown == "" {
		return fmt.Errorf("rest remote: %w", errors.Join(r.errs...))
	}
	return fmt.Errorf("rest remote %s: %w", r.shown, errors.Join(r.errs...))
}

// List fetches one page of e's records. With WithNextLink or WithNextLinkKey, a
// continuation (req.Page) is the server's URL, which already carries the query and since
// parameters.
func (r *REST) List(ctx context.Context, e *runtime.Endpoint, req runtime.ListRequest) (*runtime.Page, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	coll, err := r.collectionURL(e)
	if err != nil {
		return nil, err
	}
	var (
		u      *url.URL
		number int // page number or offset
	)
	if k := r.paging.kind; (k == pagingLinkHeader || k == pagingLinkBody) && req.Page != "" {
		if u, err = url.Parse(req.Page); err != nil || !r.sameOrigin(u) {
			return nil, fmt.Errorf("get %s: continuation %s is not a URL on the base host", redactURL(coll), shownLink(req.Page))
		}
	} else {
		q := coll.Query()
		if e.Params != nil {
			for k, vs := range e.Params(req.Query) {
				q[k] = append(q[k], vs...)
			}
		}
		if r.sinceParam != "" && !req.Since.IsZero() {
			q.Set(r.sinceParam, r.sinceFormat(req.Since))
		}
		if r.shape.list != nil {
			r.shape.list(e, q, req.Since)
		}
		switch r.paging.kind {
		case pagingPage, pagingOffset:
			number = 1
			if r.paging.kind == pagingOffset {
				number = 0
			}
			if req.Page != "" {
				n, err := strconv.Atoi(req.Page)
				if err != nil || n < number {
					return nil, fmt.Errorf("get %s: continuation %q is not a page number or offset", redactURL(coll), req.Page)
				}
				number = n
			}
			q.Set(r.paging.param, strconv.Itoa(number))
			q.Set(r.paging.limitParam, strconv.Itoa(r.paging.limit))
		case pagingCursor:
			if req.Page != "" {
				q.Set(r.paging.param, req.Page)
			}
		}
		u = coll
		u.RawQuery = q.Encode()
	}

	var (
		body    pageBody
		links   []string
		pageURL = u
	)
	err = r.do(ctx, e, http.MethodGet, u, nil, nil, func(resp *http.Response, b io.Reader) error {
		links = resp.Header.Values("Link")
		if resp.Request != nil && resp.Request.URL != nil {
			pageURL = resp.Request.URL // after redirects: relative links resolve against it
		}
		if resp.StatusCode == http.StatusNoContent {
			return nil // an empty list, as some servers answer it
		}
		var err error
		body, err = decodePage(b, r.listKey, r.paging.bodyKey, r.maxRecords)
		return err
	})
	if err != nil {
		return nil, err
	}

	page := &runtime.Page{Records: body.records}
	switch r.paging.kind {
	case pagingPage:
		if len(body.records) >= r.paging.limit {
			page.Next = strconv.Itoa(number + 1)
		}
	case pagingOffset:
		if len(body.records) >= r.paging.limit {
			page.Next = strconv.Itoa(number + len(body.records))
		}
	case pagingCursor:
		if body.next != "" && body.next == req.Page {
			return nil, fmt.Errorf("get %s: %w: the next cursor is the one just sent", redactURL(u), runtime.ErrListingLoop)
		}
		page.Next = body.next
	case pagingLinkHeader, pagingLinkBody:
		next := body.next
		if r.paging.kind == pagingLinkHeader {
			next = nextLink(links)
		}
		if next == "" {
			break
		}
		nu, err := pageURL.Parse(next)
		if err != nil || !r.sameOrigin(nu) {
			return nil, fmt.Errorf("get %s: %w: next link %s is not a URL on the base host", redactURL(u), runtime.ErrMalformedResponse, shownLink(next))
		}
		if s := nu.String(); s == u.String() || s == pageURL.String() {
			return nil, fmt.Errorf("get %s: %w: the next link is the page just read", redactURL(u), runtime.ErrListingLoop)
		}
		page.Next = nu.String()
	}
	return page, nil
}

// shownLink renders a link from a server or a caller for an error, redacted.
func shownLink(link string) string {
	u, err := url.Parse(link)
	if err != nil {
		return "(not a URL)"
	}
	return strconv.Quote(redactURL(u))
}

// Get fetches one record; errors.Is(err, ErrNotFound) on 404.
func (r *REST) Get(ctx context.Context, e *runtime.Endpoint, id string) (json.RawMessage, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	u, err := r.itemURL(e, id)
	if err != nil {
		return nil, err
	}
	return r.get(ctx, e, u)
}

func (r *REST) get(ctx context.Context, e *runtime.Endpoint, u *url.URL) (json.RawMessage, error) {
	var rec json.RawMessage
	err := r.do(ctx, e, http.MethodGet, u, nil, r.shape.itemHeader(), func(_ *http.Response, b io.Reader) error {
		data, err := io.ReadAll(b)
		if err != nil {
			return err
		}
		if rec = jsonObject(data); rec == nil {
			if len(bytes.TrimSpace(data)) == 0 {
				return fmt.Errorf("%w: an empty body, not a JSON object", runtime.ErrMalformedResponse)
			}
			return fmt.Errorf("%w: the answer is not a JSON object: %s", runtime.ErrMalformedResponse, text.OneLine(data, 64))
		}
		return nil
	})
	var he *runtime.HTTPError
	if errors.As(err, &he) && (he.Status == http.StatusNotFound || he.Status == r.shape.notFound && r.shape.notFound != 0) {
		return nil, fmt.Errorf("%w: %w", runtime.ErrNotFound, err)
	}
	if err != nil {
		return nil, err
	}
	return rec, nil
}

// Put writes one record: the write method to {path}/{id} first; on 404 or 405 (the
// server does not have the record) POST {path}; when that POST reports a duplicate
// (isDuplicate) and a GET finds the record, the write method again. It returns the record
// the last answer held, or nil when that answer was not a JSON object.
func (r *REST) Put(ctx context.Context, e *runtime.Endpoint, w runtime.Write) (json.RawMessage, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	item, err := r.itemURL(e, w.ID)
	if err != nil {
		return nil, err
	}
	coll, err := r.collectionURL(e)
	if err != nil {
		return nil, err
	}
	if len(w.Body) == 0 {
		return nil, fmt.Errorf("put %s: empty body", redactURL(item))
	}
	if r.shape.upsert != nil { // one request creates or replaces
		return r.write(ctx, e, http.MethodPost, coll, w, w.Key, false)
	}
	// Each step has its own idempotency key: servers that honour keys refuse one key
	// reused for another request, and a replayed attempt then replays each step's answer.
	rec, err := r.write(ctx, e, r.writeMethod, item, w, w.Key, true)
	// do returns *HTTPError unwrapped; a type assertion keeps an HTTPError that a request
	// hook returned (say from a token refresh) from looking like the server's answer.
	he, ok := err.(*runtime.HTTPError)
	if !ok || (he.Status != http.StatusNotFound && he.Status != http.StatusMethodNotAllowed) {
		return rec, err
	}
	rec, err = r.write(ctx, e, http.MethodPost, coll, w, stepKey(w.Key, "create"), false)
	he, ok = err.(*runtime.HTTPError)
	if !ok || !isDuplicate(he) {
		return rec, err
	}
	// Another writer created the record between our two requests, or the duplicate is
	// about another field: the GET tells them apart.
	if _, gerr := r.get(ctx, e, item); gerr != nil {
		if errors.Is(gerr, runtime.ErrNotFound) {
			return nil, err
		}
		return nil, gerr
	}
	return r.write(ctx, e, r.writeMethod, item, w, stepKey(w.Key, "update"), true)
}

func stepKey(key, step string) string {
	if key == "" {
		return ""
	}
	return key + ":" + step
}

func (r *REST) write(ctx context.Context, e *runtime.Endpoint, method string, u *url.URL, w runtime.Write, key string, ifMatch bool) (json.RawMessage, error) {
	h := r.shape.writeHeader()
	h.Set("Content-Type", "application/json")
	if key != "" {
		h.Set(wire.HeaderIdempotencyKey, key)
	}
	if ifMatch && w.Version != "" {
		h.Set(wire.HeaderIfMatch, strconv.Quote(w.Version))
	}
	body := w.Body
	if method == http.MethodPatch && ifMatch { // an update sends only the changed fields (fields.go)
		body = patchBody(w.Body, w.Fields)
	}
	var rec json.RawMessage
	err := r.do(ctx, e, method, u, body, h, func(_ *http.Response, b io.Reader) error {
		data, err := io.ReadAll(b)
		if errors.Is(err, errBodyTooLarge) {
			return nil // the write happened; an outsized answer only loses the echo
		}
		if err != nil {
			return err
		}
		if rec = jsonObject(data); rec == nil {
			rec = soleObject(data) // a representation of one row, as an array
		}
		if rec == nil && len(bytes.TrimSpace(data)) > 0 && !json.Valid(data) {
			// Cut or garbled: the write may have happened, but what the server made of it
			// is unknown. The retry sends the same write.
			return fmt.Errorf("%w: the answer to a write is not JSON: %s", runtime.ErrMalformedResponse, text.OneLine(data, 64))
		}
		return nil
	})
	return rec, err
}

// isDuplicate reports whether a failed POST says the record already exists: 409; a 400
// or 422 whose body says "already exist", "already been taken" or "duplicate" (PocketBase,
// Rails, Django, Laravel); json-server 0.17's 500 "Insert failed, duplicate id". A false
// positive costs one GET, which finds nothing, and the POST's error is returned.
func isDuplicate(he *runtime.HTTPError) bool {
	body := strings.ToLower(string(he.Body))
	switch he.Status {
	case http.StatusConflict:
		return true
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		for _, s := range []string{"already exist", "already been taken", "duplicate"} {
			if strings.Contains(body, s) {
				return true
			}
		}
	case http.StatusInternalServerError:
		return strings.Contains(body, "insert failed, duplicate id")
	}
	return false
}

// Delete removes one record; 404 and 410 mean it is already gone.
func (r *REST) Delete(ctx context.Context, e *runtime.Endpoint, w runtime.Write) error {
	if err := r.Validate(); err != nil {
		return err
	}
	u, err := r.itemURL(e, w.ID)
	if err != nil {
		return err
	}
	h := http.Header{}
	if w.Key != "" {
		h.Set(wire.HeaderIdempotencyKey, w.Key)
	}
	if w.Version != "" {
		h.Set(wire.HeaderIfMatch, strconv.Quote(w.Version))
	}
	err = r.do(ctx, e, http.MethodDelete, u, nil, h, nil)
	if he, ok := err.(*runtime.HTTPError); ok && (he.Status == http.StatusNotFound || he.Status == http.StatusGone) {
		return nil
	}
	return err
}

// collectionURL is {base}{path}, with the base URL's query.
func (r *REST) collectionURL(e *runtime.Endpoint) (*url.URL, error) {
	path, err := endpointPath(e)
	if err != nil {
		return nil, err
	}
	return r.join(path)
}

// endpointPath is e's path without its outer slashes: Path, or Schema.Path when unset.
func endpointPath(e *runtime.Endpoint) (string, error) {
	if e == nil {
		return "", errors.New("rest remote: nil endpoint")
	}
	path := e.Path
	if path == "" && e.Schema != nil {
		path = e.Schema.Path
	}
	if strings.Trim(path, "/") == "" || strings.ContainsAny(path, "?#") {
		return "", fmt.Errorf("rest remote: endpoint path %q: want a path like /pizzas", path)
	}
	return strings.Trim(path, "/"), nil
}

// itemURL is {base}{path}/{id}, the id path-escaped: "a/../b?c" stays one segment.
func (r *REST) itemURL(e *runtime.Endpoint, id string) (*url.URL, error) {
	path, err := endpointPath(e)
	if err != nil {
		return nil, err
	}
	if id == "" {
		return nil, fmt.Errorf("rest remote: %s: empty id", path)
	}
	if r.shape.item != nil {
		coll, err := r.join(path)
		if err != nil {
			return nil, err
		}
		return r.shape.item(e, coll, id), nil
	}
	seg := url.PathEscape(id)
	if id == "." || id == ".." {
		// PathEscape leaves dots, and servers resolve dot segments before routing.
		seg = strings.Repeat("%2E", len(id))
	}
	return r.join(path + "/" + seg)
}

// join appends an escaped relative path to the base URL.
func (r *REST) join(rel string) (*url.URL, error) {
	b := *r.base
	b.RawQuery = ""
	s := strings.TrimSuffix(b.String(), "/") + "/" + rel
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("rest remote: build url: %w", err)
	}
	u.RawQuery = r.base.RawQuery
	return u, nil
}

// sameOrigin reports whether u is on the base URL's scheme and host, where the request
// hook may send credentials.
func (r *REST) sameOrigin(u *url.URL) bool {
	return strings.EqualFold(u.Scheme, r.base.Scheme) && strings.EqualFold(u.Host, r.base.Host)
}

// ErrCrossOriginRedirect is wrapped by the error of a request the server redirected to
// another scheme, host or port: the request hook's credentials would go with it, so it
// is not followed.
var ErrCrossOriginRedirect = errors.New("redirect to another origin not followed")

// sameOriginRedirects returns a copy of c that follows redirects only within the origin
// (scheme, host and port) of the first request, then as c's own CheckRedirect says. The
// caller's client is not changed.
func sameOriginRedirects(c *http.Client) *http.Client {
	cc := *c
	next := c.CheckRedirect
	cc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		from := via[0].URL
		if !strings.EqualFold(req.URL.Scheme, from.Scheme) || !strings.EqualFold(req.URL.Host, from.Host) ||
			req.URL.Port() != from.Port() {
			return fmt.Errorf("%w: %s", ErrCrossOriginRedirect, redactURL(req.URL))
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &cc
}
