package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// RESTRemote is a Remote for an existing REST API (DESIGN.md section 6, "Plain REST"):
//
//	GET    {base}{path}       lists (a JSON array, or an object holding it: WithListKey)
//	GET    {base}{path}/{id}  reads; 404 is ErrNotFound
//	PUT    {base}{path}/{id}  writes (WithWriteMethod); 404 or 405 falls back to
//	POST   {base}{path}       which, when it reports a duplicate, is followed by GET and PUT
//	DELETE {base}{path}/{id}  deletes; 404 and 410 mean already gone
//
// It holds transport settings only and never changes after NewRESTRemote, so one value is
// safe for concurrent use. A bad setting is reported by Validate and by every method.
type RESTRemote struct {
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

// RESTOption configures a RESTRemote.
type RESTOption func(*RESTRemote)

const (
	defaultRESTTimeout = 10 * time.Second
	defaultMaxPage     = 32 << 20
)

// NewRESTRemote returns a remote for the REST API at baseURL (scheme, host and an optional
// path prefix; query parameters in it are sent with every request). Errors in baseURL or
// the options are reported by Validate, which NewRepository calls.
func NewRESTRemote(baseURL string, opts ...RESTOption) *RESTRemote {
	r := &RESTRemote{
		client:      &http.Client{}, // no global timeout: WithRequestTimeout bounds each request
		sinceFormat: SinceRFC3339,
		writeMethod: http.MethodPut,
		timeout:     defaultRESTTimeout,
		maxBody:     defaultMaxPage,
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
func (r *RESTRemote) Validate() error {
	if len(r.errs) == 0 {
		return nil
	}
	if r.shown == "" {
		return fmt.Errorf("rest remote: %w", errors.Join(r.errs...))
	}
	return fmt.Errorf("rest remote %s: %w", r.shown, errors.Join(r.errs...))
}

// WithHTTPClient sends requests with c (default: a client with no global timeout over
// http.DefaultTransport). A Timeout on c applies on top of WithRequestTimeout.
func WithHTTPClient(c *http.Client) RESTOption {
	return func(r *RESTRemote) {
		if c != nil {
			r.client = c
		}
	}
}

// WithRequestHook calls hook on every request just before it is sent, before the
// endpoint's own Request hook: add auth headers here, so credentials are never stored
// and a refreshed token is used at once. An error stops the request.
func WithRequestHook(hook func(*http.Request) error) RESTOption {
	return func(r *RESTRemote) { r.hook = hook }
}

// WithListKey says the list answer is an object holding the array under key; a dotted
// key ("data.items") walks nested objects. Default: the answer is the array itself.
func WithListKey(key string) RESTOption {
	return func(r *RESTRemote) {
		path, err := keyPath(key)
		if err != nil {
			r.errs = append(r.errs, fmt.Errorf("list key: %w", err))
			return
		}
		r.listKey = path
	}
}

// WithSince sends ListRequest.Since as the query parameter param, rendered by format
// (nil: SinceRFC3339). Default: no since parameter; every pull lists everything.
func WithSince(param string, format func(time.Time) string) RESTOption {
	return func(r *RESTRemote) {
		if param == "" {
			r.errs = append(r.errs, errors.New("since: empty parameter name"))
			return
		}
		r.sinceParam = param
		if format != nil {
			r.sinceFormat = format
		}
	}
}

// SinceRFC3339 renders t as fixed-width UTC RFC 3339 with nanoseconds
// ("2006-01-02T15:04:05.000000000Z"). Servers that compare times as strings (json-server)
// then never leave out a later record, whatever the width of the stored times.
func SinceRFC3339(t time.Time) string { return t.UTC().Format(TimeLayout) }

// SinceUnix renders t as unix seconds, rounded down so nothing after t is left out.
func SinceUnix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// SinceUnixMilli renders t as unix milliseconds, rounded down.
func SinceUnixMilli(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// WithPagePagination lists page by page: pageParam counts from 1, limitParam asks for
// limit records; a page shorter than limit is the last. limit must not exceed the
// server's own maximum page size, or a capped page would look like the last one.
func WithPagePagination(pageParam, limitParam string, limit int) RESTOption {
	return numberedPaging(pagingPage, pageParam, limitParam, limit)
}

// WithOffsetPagination lists by offset: offsetParam counts records from 0, limitParam
// asks for limit records; a page shorter than limit is the last (see WithPagePagination).
func WithOffsetPagination(offsetParam, limitParam string, limit int) RESTOption {
	return numberedPaging(pagingOffset, offsetParam, limitParam, limit)
}

func numberedPaging(kind pagingKind, param, limitParam string, limit int) RESTOption {
	return func(r *RESTRemote) {
		r.pagingSet++
		if param == "" || limitParam == "" || limit <= 0 {
			r.errs = append(r.errs, fmt.Errorf("pagination: want parameter names and a positive limit, got %q, %q, %d", param, limitParam, limit))
			return
		}
		r.paging = restPaging{kind: kind, param: param, limitParam: limitParam, limit: limit}
	}
}

// WithNextLink follows the RFC 8288 `Link: <…>; rel="next"` header of each page (absolute
// or relative to the page's URL) until a page has none. The link must stay on the base
// URL's scheme and host, since the request hook adds credentials to it.
func WithNextLink() RESTOption {
	return func(r *RESTRemote) {
		r.pagingSet++
		r.paging = restPaging{kind: pagingLinkHeader}
	}
}

// WithNextLinkKey follows a next-page URL held in the list answer's object under bodyKey
// (dotted for nested objects, e.g. "links.next"), as Django REST framework and Laravel
// answer; null, "" or absent ends the listing. Needs WithListKey; same host as WithNextLink.
func WithNextLinkKey(bodyKey string) RESTOption {
	return func(r *RESTRemote) {
		r.pagingSet++
		path, err := keyPath(bodyKey)
		if err != nil {
			r.errs = append(r.errs, fmt.Errorf("next link key: %w", err))
			return
		}
		r.paging = restPaging{kind: pagingLinkBody, bodyKey: path}
	}
}

// WithNextCursor continues a listing with the cursor the answer's object holds under
// bodyKey (dotted for nested objects), sent back as the query parameter param with the
// same query and since parameters; null, "" or absent ends the listing. Needs WithListKey.
func WithNextCursor(bodyKey, param string) RESTOption {
	return func(r *RESTRemote) {
		r.pagingSet++
		path, err := keyPath(bodyKey)
		if err == nil && param == "" {
			err = errors.New("empty parameter name")
		}
		if err != nil {
			r.errs = append(r.errs, fmt.Errorf("next cursor: %w", err))
			return
		}
		r.paging = restPaging{kind: pagingCursor, param: param, bodyKey: path}
	}
}

// WithWriteMethod sets the method of the write to {path}/{id}: PUT (default), POST or
// PATCH. The create fallback is always POST {path}.
func WithWriteMethod(method string) RESTOption {
	return func(r *RESTRemote) {
		switch m := strings.ToUpper(method); m {
		case http.MethodPut, http.MethodPost, http.MethodPatch:
			r.writeMethod = m
		default:
			r.errs = append(r.errs, fmt.Errorf("write method %q: want PUT, POST or PATCH", method))
		}
	}
}

// WithRequestTimeout bounds each request, from sending it to reading its answer (default
// 10 s); d <= 0 leaves only the caller's context.
func WithRequestTimeout(d time.Duration) RESTOption {
	return func(r *RESTRemote) { r.timeout = d }
}

// WithMaxPageBytes caps the body of every answer (default 32 MiB); a larger list page or
// record is ErrPageTooLarge.
func WithMaxPageBytes(n int64) RESTOption {
	return func(r *RESTRemote) {
		if n <= 0 {
			r.errs = append(r.errs, fmt.Errorf("max page bytes %d: want a positive size", n))
			return
		}
		r.maxBody = n
	}
}

func keyPath(key string) ([]string, error) {
	path := strings.Split(key, ".")
	for _, p := range path {
		if p == "" {
			return nil, fmt.Errorf("key %q: empty segment", key)
		}
	}
	return path, nil
}

func hasPrefix(path, prefix []string) bool {
	return len(prefix) <= len(path) && slices.Equal(path[:len(prefix)], prefix)
}

// List fetches one page of e's records. With WithNextLink or WithNextLinkKey, a
// continuation (req.Page) is the server's URL, which already carries the query and since
// parameters.
func (r *RESTRemote) List(ctx context.Context, e *Endpoint, req ListRequest) (*Page, error) {
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
		body, err = decodePage(b, r.listKey, r.paging.bodyKey)
		return err
	})
	if err != nil {
		return nil, err
	}

	page := &Page{Records: body.records}
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
		if body.next != req.Page { // the same cursor again would loop forever
			page.Next = body.next
		}
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
			return nil, fmt.Errorf("get %s: %w: next link %s is not a URL on the base host", redactURL(u), ErrMalformedResponse, shownLink(next))
		}
		if s := nu.String(); s != u.String() && s != pageURL.String() {
			page.Next = s
		}
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
func (r *RESTRemote) Get(ctx context.Context, e *Endpoint, id string) (json.RawMessage, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	u, err := r.itemURL(e, id)
	if err != nil {
		return nil, err
	}
	return r.get(ctx, e, u)
}

func (r *RESTRemote) get(ctx context.Context, e *Endpoint, u *url.URL) (json.RawMessage, error) {
	var rec json.RawMessage
	err := r.do(ctx, e, http.MethodGet, u, nil, nil, func(_ *http.Response, b io.Reader) error {
		data, err := io.ReadAll(b)
		if err != nil {
			return err
		}
		if rec = jsonObject(data); rec == nil {
			if len(bytes.TrimSpace(data)) == 0 {
				return fmt.Errorf("%w: an empty body, not a JSON object", ErrMalformedResponse)
			}
			return fmt.Errorf("%w: the answer is not a JSON object: %s", ErrMalformedResponse, oneLine(data, 64))
		}
		return nil
	})
	var he *HTTPError
	if errors.As(err, &he) && he.Status == http.StatusNotFound {
		return nil, fmt.Errorf("%w: %w", ErrNotFound, err)
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
func (r *RESTRemote) Put(ctx context.Context, e *Endpoint, w Write) (json.RawMessage, error) {
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
	// Each step has its own idempotency key: servers that honour keys refuse one key
	// reused for another request, and a replayed attempt then replays each step's answer.
	rec, err := r.write(ctx, e, r.writeMethod, item, w, w.Key, true)
	// do returns *HTTPError unwrapped; a type assertion keeps an HTTPError that a request
	// hook returned (say from a token refresh) from looking like the server's answer.
	he, ok := err.(*HTTPError)
	if !ok || (he.Status != http.StatusNotFound && he.Status != http.StatusMethodNotAllowed) {
		return rec, err
	}
	rec, err = r.write(ctx, e, http.MethodPost, coll, w, stepKey(w.Key, "create"), false)
	he, ok = err.(*HTTPError)
	if !ok || !isDuplicate(he) {
		return rec, err
	}
	// Another writer created the record between our two requests, or the duplicate is
	// about another field: the GET tells them apart.
	if _, gerr := r.get(ctx, e, item); gerr != nil {
		if errors.Is(gerr, ErrNotFound) {
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

func (r *RESTRemote) write(ctx context.Context, e *Endpoint, method string, u *url.URL, w Write, key string, ifMatch bool) (json.RawMessage, error) {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	if key != "" {
		h.Set("Idempotency-Key", key)
	}
	if ifMatch && w.Version != "" {
		h.Set("If-Match", strconv.Quote(w.Version))
	}
	var rec json.RawMessage
	err := r.do(ctx, e, method, u, w.Body, h, func(_ *http.Response, b io.Reader) error {
		data, err := io.ReadAll(b)
		if errors.Is(err, errBodyTooLarge) {
			return nil // the write happened; an outsized answer only loses the echo
		}
		if err != nil {
			return err
		}
		if rec = jsonObject(data); rec == nil && len(bytes.TrimSpace(data)) > 0 && !json.Valid(data) {
			// Cut or garbled: the write may have happened, but what the server made of it
			// is unknown. The retry sends the same write.
			return fmt.Errorf("%w: the answer to a write is not JSON: %s", ErrMalformedResponse, oneLine(data, 64))
		}
		return nil
	})
	return rec, err
}

// isDuplicate reports whether a failed POST says the record already exists: 409; a 400
// or 422 whose body says "already exist", "already been taken" or "duplicate" (PocketBase,
// Rails, Django, Laravel); json-server 0.17's 500 "Insert failed, duplicate id". A false
// positive costs one GET, which finds nothing, and the POST's error is returned.
func isDuplicate(he *HTTPError) bool {
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
func (r *RESTRemote) Delete(ctx context.Context, e *Endpoint, w Write) error {
	if err := r.Validate(); err != nil {
		return err
	}
	u, err := r.itemURL(e, w.ID)
	if err != nil {
		return err
	}
	h := http.Header{}
	if w.Key != "" {
		h.Set("Idempotency-Key", w.Key)
	}
	if w.Version != "" {
		h.Set("If-Match", strconv.Quote(w.Version))
	}
	err = r.do(ctx, e, http.MethodDelete, u, nil, h, nil)
	if he, ok := err.(*HTTPError); ok && (he.Status == http.StatusNotFound || he.Status == http.StatusGone) {
		return nil
	}
	return err
}

// collectionURL is {base}{path}, with the base URL's query.
func (r *RESTRemote) collectionURL(e *Endpoint) (*url.URL, error) {
	path, err := endpointPath(e)
	if err != nil {
		return nil, err
	}
	return r.join(path)
}

// endpointPath is e's path without its outer slashes: Path, or Schema.Path when unset.
func endpointPath(e *Endpoint) (string, error) {
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
func (r *RESTRemote) itemURL(e *Endpoint, id string) (*url.URL, error) {
	path, err := endpointPath(e)
	if err != nil {
		return nil, err
	}
	if id == "" {
		return nil, fmt.Errorf("rest remote: %s: empty id", path)
	}
	seg := url.PathEscape(id)
	if id == "." || id == ".." {
		// PathEscape leaves dots, and servers resolve dot segments before routing.
		seg = strings.Repeat("%2E", len(id))
	}
	return r.join(path + "/" + seg)
}

// join appends an escaped relative path to the base URL.
func (r *RESTRemote) join(rel string) (*url.URL, error) {
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
func (r *RESTRemote) sameOrigin(u *url.URL) bool {
	return strings.EqualFold(u.Scheme, r.base.Scheme) && strings.EqualFold(u.Host, r.base.Host)
}

// do sends one request through the hooks under the per-request timeout. A 2xx answer's
// body, capped at maxBody, goes to read (nil: discarded); a non-2xx one is an *HTTPError,
// returned unwrapped. Every other error names the method and the redacted URL.
func (r *RESTRemote) do(ctx context.Context, e *Endpoint, method string, u *url.URL, body []byte, h http.Header, read func(*http.Response, io.Reader) error) error {
	op := strings.ToLower(method)
	reqCtx, cancel := ctx, context.CancelFunc(func() {})
	if r.timeout > 0 {
		reqCtx, cancel = context.WithTimeoutCause(ctx, r.timeout, ErrRequestTimeout)
	}
	defer cancel()

	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(reqCtx, method, u.String(), rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, redactURL(u), err)
	}
	req.Header.Set("Accept", "application/json")
	if r.protocol {
		req.Header.Set("Syncgen-Protocol", "1")
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	if r.hook != nil {
		if err := r.hook(req); err != nil {
			return fmt.Errorf("%s %s: request hook: %w", op, redactURL(u), err)
		}
	}
	if e.Request != nil {
		if err := e.Request(req); err != nil {
			return fmt.Errorf("%s %s: endpoint request hook: %w", op, redactURL(u), err)
		}
	}
	shown := redactURL(req.URL) // what was sent, after the hooks
	resp, err := r.client.Do(req)
	if err != nil {
		return r.failure(ctx, reqCtx, op, shown, "", err)
	}
	defer func() {
		// Read a small rest of known length so the connection can be reused; an unknown
		// or large rest is cheaper to drop with the connection.
		if resp.ContentLength >= 0 && resp.ContentLength <= 4<<10 {
			_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
		}
		resp.Body.Close()
	}()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return &HTTPError{
			Method:     method,
			URL:        shown,
			Status:     resp.StatusCode,
			Body:       data,
			RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
		}
	}
	if read == nil {
		return nil
	}
	// A Content-Length above the cap fails at the first read, not after maxBody bytes.
	br := &bodyReader{r: resp.Body, left: r.maxBody, tooLarge: resp.ContentLength > r.maxBody}
	err = read(resp, br)
	switch {
	case err == nil:
		return nil
	case br.tooLarge:
		return fmt.Errorf("%s %s: %w: over the limit of %d bytes", op, shown, ErrPageTooLarge, r.maxBody)
	case br.err != nil:
		return r.failure(ctx, reqCtx, op, shown, "read body: ", br.err)
	}
	return fmt.Errorf("%s %s: %w", op, shown, err)
}

// failure describes a request that got no complete answer: the caller's context ended
// (not retryable), the request's own timeout fired, or the transport failed.
func (r *RESTRemote) failure(parent, reqCtx context.Context, op, shown, what string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // url.Error repeats the URL, query secrets included
	}
	if perr := parent.Err(); perr != nil {
		if cause := context.Cause(parent); cause != perr {
			return fmt.Errorf("%s %s: %s%w: %w", op, shown, what, perr, cause)
		}
		return fmt.Errorf("%s %s: %s%w", op, shown, what, perr)
	}
	if errors.Is(context.Cause(reqCtx), ErrRequestTimeout) {
		// Wrapping DeadlineExceeded too keeps errors.Is working for callers who check it.
		return fmt.Errorf("%s %s: %s%w after %s: %w", op, shown, what, ErrRequestTimeout, r.timeout, context.DeadlineExceeded)
	}
	return fmt.Errorf("%s %s: %s%w", op, shown, what, &transportError{err})
}

var errBodyTooLarge = errors.New("body above the cap")

// bodyReader caps an answer's body and remembers why reading stopped, so a cut
// connection, an oversized body and bad JSON are told apart.
type bodyReader struct {
	r        io.Reader
	left     int64
	tooLarge bool
	err      error // a read error other than io.EOF
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.tooLarge {
		return 0, errBodyTooLarge
	}
	if b.left <= 0 {
		// At the cap: one more byte means the body is too large.
		var one [1]byte
		n, err := b.r.Read(one[:])
		if n > 0 {
			b.tooLarge = true
			return 0, errBodyTooLarge
		}
		return 0, b.note(err)
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, b.note(err)
}

func (b *bodyReader) note(err error) error {
	if err != nil && err != io.EOF {
		b.err = err
	}
	return err
}

// jsonObject returns data when it is one JSON object, else nil.
func jsonObject(data []byte) json.RawMessage {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' || !json.Valid(data) {
		return nil
	}
	return json.RawMessage(data)
}

// nextLink finds the rel="next" target in RFC 8288 Link header values.
func nextLink(values []string) string {
	for _, v := range values {
		for v != "" {
			v = strings.TrimLeft(v, " \t,")
			if !strings.HasPrefix(v, "<") {
				break
			}
			end := strings.IndexByte(v, '>')
			if end < 0 {
				break
			}
			target := v[1:end]
			v = v[end+1:]
			// Parameters up to the next comma outside quotes.
			var params []string
			for {
				v = strings.TrimLeft(v, " \t")
				if !strings.HasPrefix(v, ";") {
					break
				}
				v = strings.TrimLeft(v[1:], " \t")
				i := 0
				for i < len(v) && v[i] != ';' && v[i] != ',' {
					if v[i] == '"' {
						if j := strings.IndexByte(v[i+1:], '"'); j >= 0 {
							i += j + 1
						}
					}
					i++
				}
				params = append(params, v[:i])
				v = v[i:]
			}
			for _, p := range params {
				name, val, _ := strings.Cut(p, "=")
				if !strings.EqualFold(strings.TrimSpace(name), "rel") {
					continue
				}
				for _, rel := range strings.Fields(strings.Trim(strings.TrimSpace(val), `"`)) {
					if strings.EqualFold(rel, "next") {
						return target
					}
				}
			}
		}
	}
	return ""
}

// pageBody is what a list answer holds.
type pageBody struct {
	records []json.RawMessage
	next    string // the cursor or next link under the next key; "" when absent or null
}

// decodePage reads a list answer as a stream, one record at a time: the array at the top
// or under listKey, and the value under nextKey. A null list is empty (Go servers encode
// a nil slice so); anything else that is not an array of objects is malformed.
func decodePage(r io.Reader, listKey, nextKey []string) (pageBody, error) {
	d := &pageDecoder{dec: json.NewDecoder(r), list: listKey, next: nextKey}
	d.dec.UseNumber() // a numeric cursor keeps its exact digits
	if err := d.decode(); err != nil {
		return pageBody{}, fmt.Errorf("%w: %w", ErrMalformedResponse, err)
	}
	return d.out, nil
}

type pageDecoder struct {
	dec        *json.Decoder
	list, next []string
	listFound  bool
	out        pageBody
}

func (d *pageDecoder) decode() error {
	if len(d.list) == 0 {
		if err := d.array("the answer"); err != nil {
			return err
		}
	} else {
		tok, err := d.token()
		if err != nil {
			return err
		}
		if tok != json.Delim('{') {
			return fmt.Errorf("the answer is %s, not an object holding %q", describe(tok), strings.Join(d.list, "."))
		}
		if err := d.object(0, true, len(d.next) > 0); err != nil {
			return err
		}
		if !d.listFound {
			return fmt.Errorf("no %q in the answer", strings.Join(d.list, "."))
		}
	}
	if _, err := d.dec.Token(); err != io.EOF {
		if err != nil {
			return err
		}
		return errors.New("data after the answer's JSON value")
	}
	return nil
}

// token is dec.Token with a clean end of input mid-value reported as such.
func (d *pageDecoder) token() (json.Token, error) {
	tok, err := d.dec.Token()
	if err == io.EOF {
		return nil, io.ErrUnexpectedEOF
	}
	return tok, err
}

// object reads the members of an object whose '{' was read, at depth in the key paths;
// list and next say whether the list and next paths lead through it.
func (d *pageDecoder) object(depth int, list, next bool) error {
	for d.dec.More() {
		tok, err := d.token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		inList := list && d.list[depth] == key
		inNext := next && d.next[depth] == key
		switch {
		case inList && depth == len(d.list)-1:
			if d.listFound {
				return fmt.Errorf("%q twice in the answer", strings.Join(d.list, "."))
			}
			d.listFound = true
			err = d.array(strconv.Quote(strings.Join(d.list, ".")))
		case inNext && depth == len(d.next)-1:
			err = d.nextValue()
		case inList || inNext:
			tok, err = d.token()
			if err != nil {
				return err
			}
			switch tok {
			case nil: // null: nothing below it
			case json.Delim('{'):
				err = d.object(depth+1, inList, inNext)
			default:
				path := d.next
				if inList {
					path = d.list
				}
				return fmt.Errorf("%q is %s, not an object", strings.Join(path[:depth+1], "."), describe(tok))
			}
		default:
			var skip json.RawMessage
			err = d.dec.Decode(&skip)
		}
		if err != nil {
			return err
		}
	}
	_, err := d.token() // '}'
	return err
}

func (d *pageDecoder) array(where string) error {
	tok, err := d.token()
	if err != nil {
		return err
	}
	if tok == nil {
		return nil
	}
	if tok != json.Delim('[') {
		return fmt.Errorf("%s is %s, not an array", where, describe(tok))
	}
	for d.dec.More() {
		var rec json.RawMessage
		if err := d.dec.Decode(&rec); err != nil {
			return err
		}
		if len(rec) == 0 || rec[0] != '{' {
			return fmt.Errorf("record %d of %s is not an object: %s", len(d.out.records), where, oneLine(rec, 64))
		}
		d.out.records = append(d.out.records, rec)
	}
	_, err = d.token() // ']'
	return err
}

func (d *pageDecoder) nextValue() error {
	tok, err := d.token()
	if err != nil {
		return err
	}
	switch v := tok.(type) {
	case nil:
		d.out.next = ""
	case string:
		d.out.next = v
	case json.Number:
		d.out.next = v.String()
	default:
		return fmt.Errorf("%q is %s, not a string", strings.Join(d.next, "."), describe(tok))
	}
	return nil
}

func describe(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		switch v {
		case '{':
			return "an object"
		case '[':
			return "an array"
		}
		return strconv.Quote(v.String())
	case string:
		return "a string"
	case json.Number, float64:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", tok)
}
