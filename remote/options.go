package remote

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/syncgen/syncgen/runtime"
)

// Option configures a REST.
type Option func(*REST)

// WithHTTPClient sends requests with c (default: a client with no global timeout over
// http.DefaultTransport). A Timeout on c applies on top of WithRequestTimeout.
func WithHTTPClient(c *http.Client) Option {
	return func(r *REST) {
		if c != nil {
			r.client = c
		}
	}
}

// WithRequestHook calls hook on every request just before it is sent, before the
// endpoint's own Request hook: add auth headers here, so credentials are never stored
// and a refreshed token is used at once. An error stops the request.
func WithRequestHook(hook func(*http.Request) error) Option {
	return func(r *REST) { r.hook = hook }
}

// WithListKey says the list answer is an object holding the array under key; a dotted
// key ("data.items") walks nested objects. Default: the answer is the array itself.
func WithListKey(key string) Option {
	return func(r *REST) {
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
func WithSince(param string, format func(time.Time) string) Option {
	return func(r *REST) {
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
func SinceRFC3339(t time.Time) string { return t.UTC().Format(runtime.TimeLayout) }

// SinceUnix renders t as unix seconds, rounded down so nothing after t is left out.
func SinceUnix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// SinceUnixMilli renders t as unix milliseconds, rounded down.
func SinceUnixMilli(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// WithPagePagination lists page by page: pageParam counts from 1, limitParam asks for
// limit records; a page shorter than limit is the last. limit must not exceed the
// server's own maximum page size, or a capped page would look like the last one.
func WithPagePagination(pageParam, limitParam string, limit int) Option {
	return numberedPaging(pagingPage, pageParam, limitParam, limit)
}

// WithOffsetPagination lists by offset: offsetParam counts records from 0, limitParam
// asks for limit records; a page shorter than limit is the last (see WithPagePagination).
func WithOffsetPagination(offsetParam, limitParam string, limit int) Option {
	return numberedPaging(pagingOffset, offsetParam, limitParam, limit)
}

func numberedPaging(kind pagingKind, param, limitParam string, limit int) Option {
	return func(r *REST) {
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
func WithNextLink() Option {
	return func(r *REST) {
		r.pagingSet++
		r.paging = restPaging{kind: pagingLinkHeader}
	}
}

// WithNextLinkKey follows a next-page URL held in the list answer's object under bodyKey
// (dotted for nested objects, e.g. "links.next"), as Django REST framework and Laravel
// answer; null, "" or absent ends the listing. Needs WithListKey; same host as WithNextLink.
func WithNextLinkKey(bodyKey string) Option {
	return func(r *REST) {
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
func WithNextCursor(bodyKey, param string) Option {
	return func(r *REST) {
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
func WithWriteMethod(method string) Option {
	return func(r *REST) {
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
func WithRequestTimeout(d time.Duration) Option {
	return func(r *REST) { r.timeout = d }
}

// WithMaxPageBytes caps the body of every answer (default 32 MiB); a larger list page or
// record is ErrPageTooLarge.
func WithMaxPageBytes(n int64) Option {
	return func(r *REST) {
		if n <= 0 {
			r.errs = append(r.errs, fmt.Errorf("max page bytes %d: want a positive size", n))
			return
		}
		r.maxBody = n
	}
}

// WithMaxPageRecords caps the records of one list page or change feed page (default
// 10,000); a page with more is ErrPageTooLarge, found while it is read, so a page of
// millions of tiny records costs no more than this many.
func WithMaxPageRecords(n int) Option {
	return func(r *REST) {
		if n <= 0 {
			r.errs = append(r.errs, fmt.Errorf("max page records %d: want a positive count", n))
			return
		}
		r.maxRecords = n
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
