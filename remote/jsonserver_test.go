package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncgen/syncgen/internal/testmod"
	"github.com/syncgen/syncgen/runtime"
)

// The plain REST remote against the real json-server 0.17, started
// by testmod.JSONServer.

// recordingTransport wraps the real transport: it records each request as "METHOD path"
// and can answer one chosen request with a 404 itself, the race a real json-server cannot
// be made to lose on demand.
type recordingTransport struct {
	mu      sync.Mutex
	reqs    []string
	fake404 string
}

func (rt *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	line := req.Method + " " + req.URL.EscapedPath()
	rt.mu.Lock()
	rt.reqs = append(rt.reqs, line)
	fake := rt.fake404 == line
	if fake {
		rt.fake404 = ""
	}
	rt.mu.Unlock()
	if fake {
		if req.Body != nil {
			req.Body.Close()
		}
		return &http.Response{
			StatusCode: http.StatusNotFound, Status: "404 Not Found", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{}, Body: io.NopCloser(strings.NewReader(`{}`)), ContentLength: 2, Request: req,
		}, nil
	}
	return http.DefaultTransport.RoundTrip(req)
}

func (rt *recordingTransport) take() []string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	out := rt.reqs
	rt.reqs = nil
	return out
}

type jsPizza struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	UpdatedAt time.Time `json:"updatedAt"`
}

func decodePizza(t *testing.T, rec json.RawMessage) jsPizza {
	t.Helper()
	var p jsPizza
	if err := json.Unmarshal(rec, &p); err != nil {
		t.Fatalf("decode %s: %v", rec, err)
	}
	return p
}

func pizzaBody(t *testing.T, p jsPizza) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestJSONServerRecords(t *testing.T) {
	base := testmod.JSONServer(t, "pizzas")
	rt := &recordingTransport{}
	r := NewREST(base, WithHTTPClient(&http.Client{Transport: rt}))
	ctx := context.Background()
	e := &runtime.Endpoint{Path: "/pizzas"}
	at := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

	put := func(p jsPizza, want ...string) {
		t.Helper()
		rt.take()
		rec, err := r.Put(ctx, e, runtime.Write{ID: p.ID, Body: pizzaBody(t, p), Key: "c:" + p.ID})
		if err != nil {
			t.Fatalf("Put %q: %v", p.ID, err)
		}
		if got := decodePizza(t, rec); got != p {
			t.Errorf("Put %q answered %+v", p.ID, got)
		}
		if got := rt.take(); !slices.Equal(got, want) {
			t.Errorf("Put %q sent %q, want %q", p.ID, got, want)
		}
		got, err := r.Get(ctx, e, p.ID)
		if err != nil {
			t.Fatalf("Get %q: %v", p.ID, err)
		}
		if got := decodePizza(t, got); got != p {
			t.Errorf("Get %q = %+v, want %+v", p.ID, got, p)
		}
	}

	// Create: json-server answers 404 to a PUT of a missing record.
	put(jsPizza{"p1", "Margherita", at}, "PUT /pizzas/p1", "POST /pizzas")
	// Update.
	put(jsPizza{"p1", "Marinara", at.Add(time.Second)}, "PUT /pizzas/p1")
	// An id that is a path and a query reaches its own record.
	odd := "a/../b?c#d e ü"
	escaped := "/pizzas/" + url.PathEscape(odd)
	put(jsPizza{odd, "Odd", at}, "PUT "+escaped, "POST /pizzas")
	put(jsPizza{odd, "Odder", at}, "PUT "+escaped)

	// A create that loses a race: the PUT saw no record, the POST finds one (json-server
	// answers 500 "Insert failed, duplicate id"), so GET and PUT again.
	rt.fake404 = "PUT /pizzas/p1"
	put(jsPizza{"p1", "Diavola", at.Add(2 * time.Second)}, "PUT /pizzas/p1", "POST /pizzas", "GET /pizzas/p1", "PUT /pizzas/p1")

	if _, err := r.Get(ctx, e, "missing"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("Get missing: %v, want ErrNotFound", err)
	}

	for _, id := range []string{"p1", odd} {
		if err := r.Delete(ctx, e, runtime.Write{ID: id, Key: "c:del"}); err != nil {
			t.Fatalf("Delete %q: %v", id, err)
		}
		if _, err := r.Get(ctx, e, id); !errors.Is(err, runtime.ErrNotFound) {
			t.Errorf("Get %q after Delete: %v, want ErrNotFound", id, err)
		}
		if err := r.Delete(ctx, e, runtime.Write{ID: id}); err != nil {
			t.Errorf("Delete %q again: %v", id, err)
		}
	}
	page, err := r.List(ctx, e, runtime.ListRequest{})
	if err != nil || len(page.Records) != 0 || page.Next != "" {
		t.Errorf("List after deleting everything: %+v, %v", page, err)
	}
}

func TestJSONServerList(t *testing.T) {
	base := testmod.JSONServer(t, "pizzas")
	ctx := context.Background()
	e := &runtime.Endpoint{Path: "/pizzas"}
	at := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	names := []string{"Margherita", "Marinara", "Diavola", "Margherita", "Funghi"}
	// Stored times of every width (encoding/json trims trailing zeros), as Go clients
	// write them; the since parameter must still compare right.
	offsets := []time.Duration{0, 500 * time.Millisecond, time.Second, time.Second + 123456789, 2 * time.Second}
	var all []string
	plain := NewREST(base)
	for i, name := range names {
		p := jsPizza{ID: fmt.Sprintf("p%d", i), Name: name, UpdatedAt: at.Add(offsets[i])}
		if _, err := plain.Put(ctx, e, runtime.Write{ID: p.ID, Body: pizzaBody(t, p)}); err != nil {
			t.Fatalf("Put: %v", err)
		}
		all = append(all, p.ID)
	}

	list := func(r *REST, e *runtime.Endpoint, req runtime.ListRequest) (ids []string, requests int) {
		t.Helper()
		for requests = 1; requests < 20; requests++ {
			page, err := r.List(ctx, e, req)
			if err != nil {
				t.Fatalf("List %+v: %v", req, err)
			}
			for _, rec := range page.Records {
				ids = append(ids, decodePizza(t, rec).ID)
			}
			if page.Next == "" {
				return ids, requests
			}
			req.Page = page.Next
		}
		t.Fatal("listing did not end")
		return nil, 0
	}

	for _, tc := range []struct {
		name     string
		r        *REST
		e        *runtime.Endpoint
		req      runtime.ListRequest
		want     []string
		requests int
	}{
		{name: "everything", r: plain, e: e, want: all, requests: 1},
		{name: "_page and _limit", r: NewREST(base, WithPagePagination("_page", "_limit", 2)), e: e, want: all, requests: 3},
		{name: "_start and _limit", r: NewREST(base, WithOffsetPagination("_start", "_limit", 2)), e: e, want: all, requests: 3},
		{name: "Link header", r: NewREST(base, WithNextLink()),
			e:    &runtime.Endpoint{Path: "/pizzas", Params: params("_page", "1", "_limit", "2")},
			want: all, requests: 3},
		{name: "filter", r: plain,
			e: &runtime.Endpoint{Path: "/pizzas", Params: func(runtime.Query) url.Values {
				return url.Values{"name": {"Margherita"}}
			}},
			want: []string{"p0", "p3"}, requests: 1},
		{name: "since", r: NewREST(base, WithSince("updatedAt_gte", SinceRFC3339)), e: e,
			req: runtime.ListRequest{Since: at.Add(time.Second)}, want: []string{"p2", "p3", "p4"}, requests: 1},
		// p3 (01.123456789) is after since (01.1) and must come; p2, stored as "…01Z", is
		// before it but sorts after as a string: fetched again, harmlessly.
		{name: "since between stored widths", r: NewREST(base, WithSince("updatedAt_gte", nil)), e: e,
			req: runtime.ListRequest{Since: at.Add(time.Second + 100*time.Millisecond)}, want: []string{"p2", "p3", "p4"}, requests: 1},
		{name: "since and pages", r: NewREST(base, WithSince("updatedAt_gte", nil), WithPagePagination("_page", "_limit", 2)), e: e,
			req: runtime.ListRequest{Since: at.Add(time.Second)}, want: []string{"p2", "p3", "p4"}, requests: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, requests := list(tc.r, tc.e, tc.req)
			if !slices.Equal(got, tc.want) {
				t.Errorf("ids %q, want %q", got, tc.want)
			}
			if requests != tc.requests {
				t.Errorf("%d requests, want %d", requests, tc.requests)
			}
		})
	}
}
