package remote

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/syncgen/syncgen/runtime"
)

// shape is how a preset makes requests differ from plain REST's. The zero shape changes
// nothing.
type shape struct {
	// item builds a record's URL from the collection's (nil: {collection}/{id}).
	item func(e *runtime.Endpoint, coll *url.URL, id string) *url.URL
	// list adjusts a listing's query parameters after the endpoint's Params: since in the
	// server's syntax, a stable order for paging.
	list func(e *runtime.Endpoint, q url.Values, since time.Time)
	// upsert, when set, makes every write one POST {collection} with these headers,
	// which creates or replaces.
	upsert http.Header
	// accept is the Accept header of reads of one record and of writes ("": JSON).
	accept string
	// notFound is a status that, besides 404, says a record is absent.
	notFound int
	// auth holds statuses that, like 401, mean a missing or expired credential.
	auth map[int]bool
}

func (s shape) itemHeader() http.Header {
	h := http.Header{}
	if s.accept != "" {
		h.Set("Accept", s.accept)
	}
	return h
}

func (s shape) writeHeader() http.Header {
	h := s.itemHeader()
	for k, vs := range s.upsert {
		h[k] = slices.Clone(vs)
	}
	return h
}

// WithAuthFailureStatus marks statuses that the server answers, like 401, when a
// credential is missing or expired (PocketBase answers 403). A write that gets one is
// retried with backoff rather than dead-lettered, and the request hook's fresh token
// fixes it; the status stays in the *runtime.HTTPError, with Reauthenticate set.
func WithAuthFailureStatus(statuses ...int) Option {
	return func(r *REST) {
		if r.shape.auth == nil {
			r.shape.auth = map[int]bool{}
		}
		for _, s := range statuses {
			if s < 400 || s > 499 {
				r.errs = append(r.errs, fmt.Errorf("auth failure status %d: want a 4xx", s))
				continue
			}
			r.shape.auth[s] = true
		}
	}
}

// soleObject returns the object of a JSON array holding exactly one object, else nil.
func soleObject(data []byte) json.RawMessage {
	var arr []json.RawMessage
	if json.Unmarshal(data, &arr) != nil || len(arr) != 1 {
		return nil
	}
	return jsonObject(arr[0])
}

// column finds the endpoint's column with the given role; nil when it has none.
func column(e *runtime.Endpoint, is func(runtime.Column) bool) *runtime.Column {
	if e == nil || e.Schema == nil {
		return nil
	}
	for i, c := range e.Schema.Columns {
		if is(c) && c.JSON != "" {
			return &e.Schema.Columns[i]
		}
	}
	return nil
}

func idKey(e *runtime.Endpoint) string {
	if c := column(e, func(c runtime.Column) bool { return c.Unique }); c != nil {
		return c.JSON
	}
	return "id"
}

func updatedKey(e *runtime.Endpoint) string {
	if c := column(e, func(c runtime.Column) bool { return c.UpdatedAt }); c != nil {
		return c.JSON
	}
	return ""
}

// and joins conditions of a filter expression with sep, leaving out empty ones.
func and(sep string, conds ...string) string {
	var out []string
	for _, c := range conds {
		if c != "" {
			out = append(out, c)
		}
	}
	if len(out) > 1 {
		for i, c := range out {
			out[i] = "(" + c + ")"
		}
	}
	return strings.Join(out, sep)
}

// sentOrders is the leading terms of q's order that travel, which a preset sends: after
// a term that does not, the remote's order would not be the query's.
func sentOrders(q runtime.Query) []runtime.OrderTerm {
	terms := q.Orders()
	for i, o := range terms {
		if o.JSON == "" {
			return terms[:i]
		}
	}
	return terms
}
