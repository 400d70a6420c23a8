package remote

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncgen/syncgen/runtime"
)

var pizzas = &runtime.Endpoint{Path: "/pizzas"}

// restServer serves h and returns a remote on it with opts.
func restServer(t *testing.T, h http.HandlerFunc, opts ...Option) (*httptest.Server, *REST) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	r := NewREST(srv.URL, opts...)
	if err := r.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	return srv, r
}

// answer writes status with a body.
func answer(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func TestRESTValidate(t *testing.T) {
	bad := map[string]*REST{
		"unparsable":         NewREST("http://[::1"),
		"scheme":             NewREST("ftp://example.com"),
		"no host":            NewREST("http:///path"),
		"relative":           NewREST("/api"),
		"fragment":           NewREST("http://example.com/#x"),
		"write method":       NewREST("http://example.com", WithWriteMethod("GET")),
		"two paginations":    NewREST("http://example.com", WithNextLink(), WithPagePagination("page", "limit", 10)),
		"zero limit":         NewREST("http://example.com", WithOffsetPagination("offset", "limit", 0)),
		"cursor no list key": NewREST("http://example.com", WithNextCursor("next", "cursor")),
		"overlapping keys":   NewREST("http://example.com", WithListKey("data"), WithNextCursor("data.next", "cursor")),
		"empty key segment":  NewREST("http://example.com", WithListKey("data..items")),
		"max page bytes":     NewREST("http://example.com", WithMaxPageBytes(0)),
		"since":              NewREST("http://example.com", WithSince("", nil)),
	}
	ctx := context.Background()
	for name, r := range bad {
		t.Run(name, func(t *testing.T) {
			err := r.Validate()
			if err == nil {
				t.Fatal("Validate: nil error")
			}
			t.Log(err)
			if _, lerr := r.List(ctx, pizzas, runtime.ListRequest{}); lerr == nil || lerr.Error() != err.Error() {
				t.Errorf("List: %v, want %v", lerr, err)
			}
			if _, gerr := r.Get(ctx, pizzas, "x"); gerr == nil || gerr.Error() != err.Error() {
				t.Errorf("Get: %v, want %v", gerr, err)
			}
			if _, perr := r.Put(ctx, pizzas, runtime.Write{ID: "x", Body: json.RawMessage(`{}`)}); perr == nil || perr.Error() != err.Error() {
				t.Errorf("Put: %v, want %v", perr, err)
			}
			if derr := r.Delete(ctx, pizzas, runtime.Write{ID: "x"}); derr == nil || derr.Error() != err.Error() {
				t.Errorf("Delete: %v, want %v", derr, err)
			}
		})
	}
	good := NewREST("https://user:pw@api.example.com/v1/?key=k",
		WithListKey("data.items"), WithNextCursor("meta.next", "cursor"), WithWriteMethod("patch"),
		WithSince("since", SinceUnix), WithRequestTimeout(0), WithMaxPageBytes(1))
	if err := good.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestRESTEndpointPath(t *testing.T) {
	_, r := restServer(t, func(w http.ResponseWriter, _ *http.Request) { answer(w, 200, `{}`) })
	ctx := context.Background()
	for _, e := range []*runtime.Endpoint{nil, {}, {Path: "/"}, {Path: "/pizzas?x=1"}} {
		if _, err := r.Get(ctx, e, "x"); err == nil {
			t.Errorf("Get with endpoint %+v: nil error", e)
		}
	}
	if _, err := r.Get(ctx, pizzas, ""); err == nil {
		t.Error("Get with an empty id: nil error")
	}
	if _, err := r.Put(ctx, pizzas, runtime.Write{ID: "x"}); err == nil {
		t.Error("Put with an empty body: nil error")
	}
	if _, err := r.Get(ctx, &runtime.Endpoint{Schema: &runtime.Schema{Path: "/pizzas"}}, "x"); err != nil {
		t.Errorf("Get with Schema.Path: %v", err)
	}
}

func TestRESTURLs(t *testing.T) {
	var got []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		got = append(got, req.Method+" "+req.URL.RequestURI())
		mu.Unlock()
		answer(w, 200, `[]`)
	}))
	t.Cleanup(srv.Close)
	ctx := context.Background()
	for _, tc := range []struct{ base, path, want string }{
		{srv.URL, "/pizzas", "GET /pizzas"},
		{srv.URL + "/", "pizzas/", "GET /pizzas"},
		{srv.URL + "/api/v1/", "/pizzas", "GET /api/v1/pizzas"},
		{srv.URL + "/api?key=k", "/collections/pizzas/records", "GET /api/collections/pizzas/records?key=k"},
	} {
		got = nil
		r := NewREST(tc.base)
		if _, err := r.List(ctx, &runtime.Endpoint{Path: tc.path}, runtime.ListRequest{}); err != nil {
			t.Fatalf("List: %v", err)
		}
		if len(got) != 1 || got[0] != tc.want {
			t.Errorf("base %q path %q: requests %q, want %q", tc.base, tc.path, got, tc.want)
		}
	}
}

func TestRESTGetStatuses(t *testing.T) {
	for _, tc := range []struct {
		status     int
		body       string
		wantRecord string
		notFound   bool
		malformed  bool
		retryable  bool
	}{
		{status: 200, body: `{"id":"x","name":"Margherita"}`, wantRecord: `{"id":"x","name":"Margherita"}`},
		{status: 201, body: " \n{\"id\":\"x\"}\n", wantRecord: `{"id":"x"}`},
		{status: 204, malformed: true},
		{status: 200, body: `[{"id":"x"}]`, malformed: true},
		{status: 200, body: `{"id":`, malformed: true},
		{status: 200, body: `{"id":"x"} {}`, malformed: true},
		{status: 200, body: `<html>hello</html>`, malformed: true},
		{status: 404, body: `{}`, notFound: true},
		{status: 405, body: `method`},
		{status: 409, body: `conflict`},
		{status: 422, body: `{"error":"bad"}`},
		{status: 429, body: `slow down`, retryable: true},
		{status: 500, body: `boom`, retryable: true},
		{status: 503, body: `later`, retryable: true},
	} {
		t.Run(fmt.Sprintf("%d %s", tc.status, tc.body), func(t *testing.T) {
			_, r := restServer(t, func(w http.ResponseWriter, req *http.Request) {
				if req.Method != http.MethodGet || req.URL.Path != "/pizzas/x" || req.Header.Get("Accept") != "application/json" {
					t.Errorf("request %s %s Accept %q", req.Method, req.URL, req.Header.Get("Accept"))
				}
				answer(w, tc.status, tc.body)
			})
			rec, err := r.Get(context.Background(), pizzas, "x")
			if tc.wantRecord != "" {
				if err != nil || string(rec) != tc.wantRecord {
					t.Fatalf("Get = %s, %v; want %s", rec, err, tc.wantRecord)
				}
				return
			}
			if err == nil {
				t.Fatalf("Get = %s, nil error", rec)
			}
			t.Log(err)
			if !strings.Contains(err.Error(), "/pizzas/x") {
				t.Errorf("error %q does not name the URL", err)
			}
			if got := errors.Is(err, runtime.ErrNotFound); got != tc.notFound {
				t.Errorf("errors.Is(err, ErrNotFound) = %v", got)
			}
			if got := errors.Is(err, runtime.ErrMalformedResponse); got != tc.malformed {
				t.Errorf("errors.Is(err, ErrMalformedResponse) = %v", got)
			}
			if got := runtime.IsRetryable(err); got != tc.retryable {
				t.Errorf("IsRetryable = %v", got)
			}
			var he *runtime.HTTPError
			if isHTTP := errors.As(err, &he); isHTTP != (tc.status >= 300) {
				t.Fatalf("errors.As(err, *HTTPError) = %v", isHTTP)
			} else if isHTTP && (he.Status != tc.status || string(he.Body) != tc.body || he.Method != "GET") {
				t.Errorf("HTTPError = %+v", he)
			}
		})
	}
}

func TestRESTHTTPError(t *testing.T) {
	big := strings.Repeat("é", 3000) // 6000 bytes
	_, r := restServer(t, func(w http.ResponseWriter, req *http.Request) {
		switch req.URL.Path {
		case "/pizzas/big":
			answer(w, 500, big)
		case "/pizzas/seconds":
			w.Header().Set("Retry-After", "120")
			answer(w, 429, `{"error":"too many"}`)
		case "/pizzas/date":
			w.Header().Set("Retry-After", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
			answer(w, 503, "")
		case "/pizzas/garbage":
			w.Header().Set("Retry-After", "soon")
			answer(w, 503, "")
		default:
			answer(w, 422, "{\"error\":\n  \"name is required\"}")
		}
	})
	ctx := context.Background()
	httpErr := func(id string) *runtime.HTTPError {
		t.Helper()
		_, err := r.Put(ctx, pizzas, runtime.Write{ID: id, Body: json.RawMessage(`{}`)})
		var he *runtime.HTTPError
		if !errors.As(err, &he) {
			t.Fatalf("Put %s: %v, want an *HTTPError", id, err)
		}
		return he
	}

	he := httpErr("x")
	if want := fmt.Sprintf(`PUT %s/pizzas/x: 422 Unprocessable Entity: {"error": "name is required"}`, r.base); he.Error() != want {
		t.Errorf("Error() = %q, want %q", he.Error(), want)
	}
	he = httpErr("big")
	if len(he.Body) != 4096 || string(he.Body) != big[:4096] {
		t.Errorf("Body has %d bytes, want the first 4096", len(he.Body))
	}
	if msg := he.Error(); len(msg) > 400 || !strings.HasSuffix(msg, "…") {
		t.Errorf("Error() is %d bytes: %q", len(msg), msg)
	}
	if he = httpErr("seconds"); he.RetryAfter != 120*time.Second || !runtime.IsRetryable(he) {
		t.Errorf("Retry-After 120: RetryAfter %v", he.RetryAfter)
	}
	if he = httpErr("date"); he.RetryAfter < 58*time.Minute || he.RetryAfter > time.Hour {
		t.Errorf("Retry-After in an hour: RetryAfter %v", he.RetryAfter)
	}
	if he = httpErr("garbage"); he.RetryAfter != 0 {
		t.Errorf("Retry-After soon: RetryAfter %v", he.RetryAfter)
	}
}

func TestRESTErrorsHideSecrets(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		answer(w, 500, "boom")
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	base := "http://admin:hunter2@" + u.Host + "/api?api_key=s3cret&tenant=acme"
	r := NewREST(base,
		WithRequestHook(func(req *http.Request) error {
			q := req.URL.Query()
			q.Set("access_token", "t0ken")
			q.Set("X-Amz-Signature", "sig1")
			req.URL.RawQuery = q.Encode()
			req.Header.Set("Authorization", "Bearer b3arer")
			return nil
		}))
	_, err := r.Get(context.Background(), pizzas, "x")
	if err == nil {
		t.Fatal("nil error")
	}
	msg := err.Error()
	for _, secret := range []string{"hunter2", "admin", "s3cret", "t0ken", "sig1", "b3arer"} {
		if strings.Contains(msg, secret) {
			t.Errorf("error %q holds %q", msg, secret)
		}
	}
	if !strings.Contains(msg, "tenant=acme") || !strings.Contains(msg, "api_key=REDACTED") {
		t.Errorf("error %q lost the harmless parameters or the redacted names", msg)
	}

	// A transport error names the URL too, redacted the same way.
	srv.Close()
	_, err = r.Get(context.Background(), pizzas, "x")
	if err == nil || strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "t0ken") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("transport error %v", err)
	}
	if v := r.Validate(); v != nil {
		t.Errorf("Validate: %v", v)
	}
	if msg := NewREST(base, WithWriteMethod("GET")).Validate().Error(); strings.Contains(msg, "s3cret") || strings.Contains(msg, "hunter2") {
		t.Errorf("Validate error %q holds a secret", msg)
	}
}

func TestRESTDelete(t *testing.T) {
	for _, tc := range []struct {
		status int
		ok     bool
	}{{200, true}, {204, true}, {404, true}, {410, true}, {405, false}, {409, false}, {500, false}} {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			_, r := restServer(t, func(w http.ResponseWriter, req *http.Request) {
				if req.Method != http.MethodDelete || req.URL.Path != "/pizzas/x" ||
					req.Header.Get("Idempotency-Key") != "c:1" || req.Header.Get("If-Match") != `"v3"` {
					t.Errorf("request %s %s %v", req.Method, req.URL, req.Header)
				}
				answer(w, tc.status, `{}`)
			})
			err := r.Delete(context.Background(), pizzas, runtime.Write{ID: "x", Key: "c:1", Version: "v3"})
			if (err == nil) != tc.ok {
				t.Errorf("Delete: %v", err)
			}
		})
	}
}

// writeLog records a fake API's requests as "METHOD path" with their headers.
type writeLog struct {
	mu   sync.Mutex
	reqs []string
	keys []string
}

func (l *writeLog) add(req *http.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reqs = append(l.reqs, req.Method+" "+req.URL.EscapedPath())
	l.keys = append(l.keys, req.Header.Get("Idempotency-Key")+"|"+req.Header.Get("If-Match"))
}

func TestRESTPut(t *testing.T) {
	type step struct {
		status int
		body   string
	}
	for _, tc := range []struct {
		name     string
		method   string
		answers  []step // in order
		want     []string
		wantKeys []string
		record   string // "" nil
		status   int    // the HTTPError status, 0 for success
	}{
		{
			name:    "update",
			answers: []step{{200, `{"id":"x","name":"A","createdBy":"server"}`}},
			want:    []string{"PUT /pizzas/x"},
			record:  `{"id":"x","name":"A","createdBy":"server"}`,
		},
		{
			name:    "no content",
			answers: []step{{204, ``}},
			want:    []string{"PUT /pizzas/x"},
		},
		{
			name:    "answer not a record",
			answers: []step{{200, `"ok"`}},
			want:    []string{"PUT /pizzas/x"},
		},
		{
			name:     "create after 404",
			answers:  []step{{404, `{}`}, {201, `{"id":"x","name":"A"}`}},
			want:     []string{"PUT /pizzas/x", "POST /pizzas"},
			wantKeys: []string{`c:7|"v1"`, `c:7:create|`},
			record:   `{"id":"x","name":"A"}`,
		},
		{
			name:    "create after 405",
			answers: []step{{405, ``}, {200, `{"id":"x"}`}},
			want:    []string{"PUT /pizzas/x", "POST /pizzas"},
			record:  `{"id":"x"}`,
		},
		{
			name:     "duplicate 409",
			answers:  []step{{404, `{}`}, {409, `{"error":"exists"}`}, {200, `{"id":"x"}`}, {200, `{"id":"x","v":2}`}},
			want:     []string{"PUT /pizzas/x", "POST /pizzas", "GET /pizzas/x", "PUT /pizzas/x"},
			wantKeys: []string{`c:7|"v1"`, `c:7:create|`, `|`, `c:7:update|"v1"`},
			record:   `{"id":"x","v":2}`,
		},
		{
			name:    "duplicate 422 already exists",
			answers: []step{{404, `{}`}, {422, `{"id":["pizza with this id already exists."]}`}, {200, `{"id":"x"}`}, {204, ``}},
			want:    []string{"PUT /pizzas/x", "POST /pizzas", "GET /pizzas/x", "PUT /pizzas/x"},
		},
		{
			name:    "duplicate 400 pocketbase",
			answers: []step{{404, `{}`}, {400, `{"data":{"id":{"code":"validation_invalid_id","message":"The model id is invalid or already exists."}}}`}, {200, `{"id":"x"}`}, {200, `{"id":"x"}`}},
			want:    []string{"PUT /pizzas/x", "POST /pizzas", "GET /pizzas/x", "PUT /pizzas/x"},
			record:  `{"id":"x"}`,
		},
		{
			name:    "duplicate json-server 500",
			answers: []step{{404, `{}`}, {500, "Error: Insert failed, duplicate id\n    at Function.insert (lodash-id/src/index.js:49:18)"}, {200, `{"id":"x"}`}, {200, `{"id":"x"}`}},
			want:    []string{"PUT /pizzas/x", "POST /pizzas", "GET /pizzas/x", "PUT /pizzas/x"},
			record:  `{"id":"x"}`,
		},
		{
			name:    "duplicate but the record is gone again",
			answers: []step{{404, `{}`}, {409, `{"error":"exists"}`}, {404, `{}`}},
			want:    []string{"PUT /pizzas/x", "POST /pizzas", "GET /pizzas/x"},
			status:  409,
		},
		{
			name:    "duplicate then the retried PUT fails",
			answers: []step{{404, `{}`}, {409, ``}, {200, `{"id":"x"}`}, {404, `{}`}},
			want:    []string{"PUT /pizzas/x", "POST /pizzas", "GET /pizzas/x", "PUT /pizzas/x"},
			status:  404,
		},
		{
			name:    "POST refused for another reason",
			answers: []step{{404, `{}`}, {422, `{"error":"name is required"}`}},
			want:    []string{"PUT /pizzas/x", "POST /pizzas"},
			status:  422,
		},
		{
			name:    "json-server 500 that is not a duplicate",
			answers: []step{{404, `{}`}, {500, `Error: boom`}},
			want:    []string{"PUT /pizzas/x", "POST /pizzas"},
			status:  500,
		},
		{
			name:    "server error on PUT",
			answers: []step{{500, `boom`}},
			want:    []string{"PUT /pizzas/x"},
			status:  500,
		},
		{
			name:    "422 on PUT",
			answers: []step{{422, `{"error":"bad"}`}},
			want:    []string{"PUT /pizzas/x"},
			status:  422,
		},
		{
			name:    "PATCH",
			method:  "PATCH",
			answers: []step{{404, `{}`}, {201, `{"id":"x"}`}},
			want:    []string{"PATCH /pizzas/x", "POST /pizzas"},
			record:  `{"id":"x"}`,
		},
		{
			name:    "POST to the item",
			method:  "POST",
			answers: []step{{200, `{"id":"x"}`}},
			want:    []string{"POST /pizzas/x"},
			record:  `{"id":"x"}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log writeLog
			_, r := restServer(t, func(w http.ResponseWriter, req *http.Request) {
				log.mu.Lock()
				n := len(log.reqs)
				log.mu.Unlock()
				log.add(req)
				if req.Method != http.MethodGet {
					body, _ := io.ReadAll(req.Body)
					if string(body) != `{"id":"x","name":"A"}` || req.Header.Get("Content-Type") != "application/json" {
						t.Errorf("%s: body %q, Content-Type %q", req.Method, body, req.Header.Get("Content-Type"))
					}
				}
				if n >= len(tc.answers) {
					t.Errorf("unexpected request %d: %s %s", n, req.Method, req.URL)
					answer(w, 500, "")
					return
				}
				answer(w, tc.answers[n].status, tc.answers[n].body)
			}, WithWriteMethod(orDefault(tc.method, "PUT")))
			rec, err := r.Put(context.Background(), pizzas, runtime.Write{ID: "x", Body: json.RawMessage(`{"id":"x","name":"A"}`), Key: "c:7", Version: "v1"})
			if !slices.Equal(log.reqs, tc.want) {
				t.Errorf("requests %q, want %q", log.reqs, tc.want)
			}
			if tc.wantKeys != nil && !slices.Equal(log.keys, tc.wantKeys) {
				t.Errorf("Idempotency-Key|If-Match %q, want %q", log.keys, tc.wantKeys)
			}
			if tc.status != 0 {
				var he *runtime.HTTPError
				if !errors.As(err, &he) || he.Status != tc.status {
					t.Fatalf("Put: %v, want an HTTPError %d", err, tc.status)
				}
				return
			}
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			if string(rec) != tc.record {
				t.Errorf("record %q, want %q", rec, tc.record)
			}
		})
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func TestRESTIDEscaping(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	_, r := restServer(t, func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		seen = append(seen, req.RequestURI)
		mu.Unlock()
		seg, ok := strings.CutPrefix(req.URL.EscapedPath(), "/pizzas/")
		if !ok || strings.Contains(seg, "/") || req.URL.RawQuery != "" {
			t.Errorf("request %q is not one segment below /pizzas", req.RequestURI)
		}
		id, err := url.PathUnescape(seg)
		if err != nil {
			t.Errorf("unescape %q: %v", seg, err)
		}
		answer(w, 200, fmt.Sprintf(`{"id":%q}`, id))
	})
	ctx := context.Background()
	for _, id := range []string{"a/b", "a?b", "a#b", "a b", "a%2Fb", "ünïcødé 🍕", "a/../b?c", "..", ".", "a+b&c=d;e"} {
		rec, err := r.Get(ctx, pizzas, id)
		if err != nil {
			t.Fatalf("Get %q: %v", id, err)
		}
		var got struct{ ID string }
		if err := json.Unmarshal(rec, &got); err != nil || got.ID != id {
			t.Errorf("Get %q reached %q (%v)", id, got.ID, err)
		}
		if _, err := r.Put(ctx, pizzas, runtime.Write{ID: id, Body: json.RawMessage(`{}`)}); err != nil {
			t.Errorf("Put %q: %v", id, err)
		}
		if err := r.Delete(ctx, pizzas, runtime.Write{ID: id}); err != nil {
			t.Errorf("Delete %q: %v", id, err)
		}
	}
	t.Logf("request URIs: %q", seen)
}

func TestRESTRequestHooks(t *testing.T) {
	var log writeLog
	answers := []int{404, 409, 200, 200}
	_, r := restServer(t, func(w http.ResponseWriter, req *http.Request) {
		if got := req.Header.Get("Authorization"); got != "Bearer t1" || req.Header.Get("X-Model") != "pizzas" {
			t.Errorf("%s %s: Authorization %q, X-Model %q", req.Method, req.URL, got, req.Header.Get("X-Model"))
		}
		log.mu.Lock()
		n := len(log.reqs)
		log.mu.Unlock()
		log.add(req)
		answer(w, answers[n%len(answers)], `{"id":"x"}`)
	})
	var order []string
	r = NewREST(r.base.String(), WithRequestHook(func(req *http.Request) error {
		order = append(order, "remote "+req.Method)
		req.Header.Set("Authorization", "Bearer t1")
		req.Header.Set("X-Model", "remote")
		return nil
	}))
	e := &runtime.Endpoint{Path: "/pizzas", Request: func(req *http.Request) error {
		order = append(order, "endpoint "+req.Method)
		if req.Header.Get("Authorization") == "" {
			t.Error("endpoint hook ran before the remote's")
		}
		req.Header.Set("X-Model", "pizzas")
		return nil
	}}
	if _, err := r.Put(context.Background(), e, runtime.Write{ID: "x", Body: json.RawMessage(`{}`)}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	want := []string{"remote PUT", "endpoint PUT", "remote POST", "endpoint POST", "remote GET", "endpoint GET", "remote PUT", "endpoint PUT"}
	if !slices.Equal(order, want) {
		t.Errorf("hook calls %q, want %q", order, want)
	}
	if len(log.reqs) != 4 {
		t.Errorf("server saw %q", log.reqs)
	}

	// An error from a hook stops the request before it is sent.
	hookErr := errors.New("token refresh failed")
	failing := NewREST(r.base.String(), WithRequestHook(func(*http.Request) error { return hookErr }))
	before := len(log.reqs)
	if _, err := failing.Get(context.Background(), e, "x"); !errors.Is(err, hookErr) {
		t.Errorf("Get with a failing hook: %v", err)
	}
	e.Request = func(*http.Request) error { return hookErr }
	if err := r.Delete(context.Background(), e, runtime.Write{ID: "x"}); !errors.Is(err, hookErr) {
		t.Errorf("Delete with a failing endpoint hook: %v", err)
	}
	if len(log.reqs) != before {
		t.Errorf("a request was sent after a hook failed: %q", log.reqs[before:])
	}
}

// pagedAPI serves n records at /pizzas in every paging style, chosen by the query.
func pagedAPI(t *testing.T, n int, opts ...Option) (*httptest.Server, *REST, *writeLog) {
	t.Helper()
	recs := make([]string, n)
	for i := range recs {
		recs[i] = fmt.Sprintf(`{"id":"%d"}`, i)
	}
	slice := func(from, count int) string {
		from, to := min(from, n), min(from+count, n)
		return "[" + strings.Join(recs[from:to], ",") + "]"
	}
	var log writeLog
	var srvURL string
	srv, r := restServer(t, func(w http.ResponseWriter, req *http.Request) {
		log.mu.Lock()
		log.reqs = append(log.reqs, req.URL.RequestURI())
		log.mu.Unlock()
		q := req.URL.Query()
		limit, _ := strconv.Atoi(q.Get("limit"))
		if limit == 0 {
			limit = 2
		}
		switch {
		case q.Has("page"):
			p, _ := strconv.Atoi(q.Get("page"))
			answer(w, 200, slice((p-1)*limit, limit))
		case q.Has("offset"):
			o, _ := strconv.Atoi(q.Get("offset"))
			answer(w, 200, slice(o, limit))
		case q.Get("style") == "link":
			at, _ := strconv.Atoi(q.Get("at"))
			if at+limit < n {
				next := fmt.Sprintf("/pizzas?style=link&at=%d", at+limit)
				if at == 0 { // an absolute link, then relative ones
					next = srvURL + next
				}
				w.Header().Add("Link", fmt.Sprintf(`<%s/pizzas?style=link&at=0>; rel="first", <%s>; rel="next"`, srvURL, next))
			}
			answer(w, 200, slice(at, limit))
		case q.Get("style") == "body":
			at, _ := strconv.Atoi(q.Get("at"))
			next := "null"
			if at+limit < n {
				next = strconv.Quote(fmt.Sprintf("%s/pizzas?style=body&at=%d", srvURL, at+limit))
			}
			answer(w, 200, fmt.Sprintf(`{"count":%d,"next":%s,"results":%s}`, n, next, slice(at, limit)))
		case q.Get("style") == "cursor":
			at, _ := strconv.Atoi(q.Get("after"))
			next := `""`
			if at+limit < n {
				next = strconv.Itoa(at + limit) // a numeric cursor
			}
			answer(w, 200, fmt.Sprintf(`{"data":{"items":%s},"meta":{"next_cursor":%s}}`, slice(at, limit), next))
		default:
			answer(w, 200, slice(0, n))
		}
	}, opts...)
	srvURL = srv.URL
	return srv, r, &log
}

// listAll follows a listing to its end and returns the records' ids and the Next values.
func listAll(t *testing.T, r *REST, e *runtime.Endpoint, req runtime.ListRequest) (ids, nexts []string) {
	t.Helper()
	for range 50 {
		page, err := r.List(context.Background(), e, req)
		if err != nil {
			t.Fatalf("List %+v: %v", req, err)
		}
		for _, rec := range page.Records {
			var v struct{ ID string }
			if err := json.Unmarshal(rec, &v); err != nil {
				t.Fatalf("record %s: %v", rec, err)
			}
			ids = append(ids, v.ID)
		}
		nexts = append(nexts, page.Next)
		if page.Next == "" {
			return ids, nexts
		}
		req.Page = page.Next
	}
	t.Fatal("listing did not end")
	return nil, nil
}

func params(kv ...string) func(runtime.Query) url.Values {
	return func(runtime.Query) url.Values {
		v := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v
	}
}

func TestRESTPagination(t *testing.T) {
	ids := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = strconv.Itoa(i)
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		n      int
		opts   []Option
		style  string
		nexts  []string
		nreqs  int
		prefix string // of every request after the first, when it matters
	}{
		{name: "none", n: 5, nexts: []string{""}, nreqs: 1},
		{name: "page", n: 5, opts: []Option{WithPagePagination("page", "limit", 2)}, nexts: []string{"2", "3", ""}, nreqs: 3},
		{name: "page exact", n: 4, opts: []Option{WithPagePagination("page", "limit", 2)}, nexts: []string{"2", "3", ""}, nreqs: 3},
		{name: "page empty", n: 0, opts: []Option{WithPagePagination("page", "limit", 2)}, nexts: []string{""}, nreqs: 1},
		{name: "offset", n: 5, opts: []Option{WithOffsetPagination("offset", "limit", 2)}, nexts: []string{"2", "4", ""}, nreqs: 3},
		{name: "link header", n: 5, style: "link", opts: []Option{WithNextLink()}, nexts: []string{"/pizzas?style=link&at=2", "/pizzas?style=link&at=4", ""}, nreqs: 3},
		{name: "link in body", n: 5, style: "body", opts: []Option{WithListKey("results"), WithNextLinkKey("next")}, nexts: []string{"/pizzas?style=body&at=2", "/pizzas?style=body&at=4", ""}, nreqs: 3},
		{name: "cursor", n: 5, style: "cursor", opts: []Option{WithListKey("data.items"), WithNextCursor("meta.next_cursor", "after")}, nexts: []string{"2", "4", ""}, nreqs: 3, prefix: "/pizzas?after="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, r, log := pagedAPI(t, tc.n, tc.opts...)
			e := &runtime.Endpoint{Path: "/pizzas"}
			if tc.style != "" {
				e.Params = params("style", tc.style)
			}
			got, nexts := listAll(t, r, e, runtime.ListRequest{})
			if !slices.Equal(got, ids(tc.n)) && !(tc.n == 0 && len(got) == 0) {
				t.Errorf("ids %q", got)
			}
			for i := range nexts {
				nexts[i] = strings.TrimPrefix(nexts[i], srv.URL)
			}
			if !slices.Equal(nexts, tc.nexts) {
				t.Errorf("Next values %q, want %q", nexts, tc.nexts)
			}
			if len(log.reqs) != tc.nreqs {
				t.Errorf("requests %q", log.reqs)
			}
			for _, req := range log.reqs[1:] {
				if !strings.HasPrefix(req, tc.prefix) || (tc.style == "cursor" && !strings.Contains(req, "style=cursor")) {
					t.Errorf("request %q", req)
				}
			}
		})
	}
}

func TestRESTPaginationEdges(t *testing.T) {
	ctx := context.Background()
	_, r, _ := pagedAPI(t, 5, WithPagePagination("page", "limit", 2))
	for _, bad := range []string{"x", "0", "-1"} {
		if _, err := r.List(ctx, pizzas, runtime.ListRequest{Page: bad}); err == nil {
			t.Errorf("List with page %q: nil error", bad)
		}
	}

	_, r, _ = pagedAPI(t, 5, WithNextLink())
	if _, err := r.List(ctx, pizzas, runtime.ListRequest{Page: "http://elsewhere.example/pizzas?at=2"}); err == nil {
		t.Error("List continued on another host")
	}

	// A next link to another host is not followed: the hook would send it credentials.
	for _, link := range []string{`<http://elsewhere.example/pizzas?p=2>; rel="next"`, `<https://` + r.base.Host + `/pizzas?p=2>; rel="next"`} {
		_, r := restServer(t, func(w http.ResponseWriter, req *http.Request) {
			w.Header().Set("Link", link)
			answer(w, 200, `[]`)
		}, WithNextLink())
		if _, err := r.List(ctx, pizzas, runtime.ListRequest{}); !errors.Is(err, runtime.ErrMalformedResponse) {
			t.Errorf("Link %s: %v", link, err)
		}
	}

	// The same cursor or link again is a loop, an error, not an end that would look
	// like a complete listing.
	_, r = restServer(t, func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Link", `</pizzas?c=same>; rel="next"`)
		answer(w, 200, `{"items":[{"id":"1"}],"next":"same"}`)
	}, WithListKey("items"), WithNextCursor("next", "c"))
	if page, err := r.List(ctx, pizzas, runtime.ListRequest{Page: "same"}); !errors.Is(err, runtime.ErrListingLoop) {
		t.Errorf("same cursor: %+v, %v", page, err)
	}
	r = NewREST(r.base.String(), WithNextLink(), WithListKey("items"))
	if page, err := r.List(ctx, pizzas, runtime.ListRequest{Page: r.base.String() + "/pizzas?c=same"}); !errors.Is(err, runtime.ErrListingLoop) {
		t.Errorf("same link: %+v, %v", page, err)
	}
}

func TestNextLink(t *testing.T) {
	for _, tc := range []struct {
		values []string
		want   string
	}{
		{nil, ""},
		{[]string{""}, ""},
		{[]string{`<https://a/x?page=2>; rel="next"`}, "https://a/x?page=2"},
		{[]string{`<https://a/x?page=1>; rel="first", <https://a/x?page=3>; rel="next", <https://a/x?page=9>; rel="last"`}, "https://a/x?page=3"},
		{[]string{`<https://a/x?page=1>; rel="prev"`, `<https://a/x?a=1,2>; title="a, b; c"; REL=next`}, "https://a/x?a=1,2"},
		{[]string{`</x?page=2>; rel="next last"`}, "/x?page=2"},
		{[]string{`<https://a/next-door>; rel="nextish"`}, ""},
		{[]string{`garbage`}, ""},
	} {
		if got := nextLink(tc.values); got != tc.want {
			t.Errorf("nextLink(%q) = %q, want %q", tc.values, got, tc.want)
		}
	}
}

func TestRESTListBodies(t *testing.T) {
	for _, tc := range []struct {
		name      string
		key       string
		status    int
		body      string
		want      int // records
		malformed bool
	}{
		{name: "array", body: ` [{"id":"1"}, {"id":"2"}] `, want: 2},
		{name: "empty array", body: `[]`},
		{name: "null", body: `null`},
		{name: "no content", status: 204},
		{name: "key", key: "data", body: `{"total":2,"data":[{"id":"1"},{"id":"2"}],"extra":{"a":[1,2,{"b":null}]}}`, want: 2},
		{name: "key after other members", key: "items", body: `{"a":[[[]]],"b":"x","items":[{"id":"1"}]}`, want: 1},
		{name: "dotted key", key: "data.items", body: `{"data":{"count":1,"items":[{"id":"1"}]}}`, want: 1},
		{name: "null under key", key: "items", body: `{"items":null}`},
		{name: "empty body", body: ``, malformed: true},
		{name: "object instead of array", body: `{"items":[]}`, malformed: true},
		{name: "string", body: `"hello"`, malformed: true},
		{name: "html", body: `<html>502 Bad Gateway</html>`, malformed: true},
		{name: "record not an object", body: `[{"id":"1"}, 2]`, malformed: true},
		{name: "syntax", body: `[{"id":"1"},, {"id":"2"}]`, malformed: true},
		{name: "unterminated", body: `[{"id":"1"}`, malformed: true},
		{name: "trailing data", body: `[{"id":"1"}] [{"id":"2"}]`, malformed: true},
		{name: "array where an object is expected", key: "items", body: `[{"id":"1"}]`, malformed: true},
		{name: "missing key", key: "items", body: `{"data":[{"id":"1"}]}`, malformed: true},
		{name: "key not an array", key: "items", body: `{"items":{"id":"1"}}`, malformed: true},
		{name: "dotted key through a string", key: "data.items", body: `{"data":"items"}`, malformed: true},
		{name: "key twice", key: "items", body: `{"items":[],"items":[]}`, malformed: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts []Option
			if tc.key != "" {
				opts = append(opts, WithListKey(tc.key))
			}
			_, r := restServer(t, func(w http.ResponseWriter, _ *http.Request) {
				answer(w, cmpInt(tc.status, 200), tc.body)
			}, opts...)
			page, err := r.List(context.Background(), pizzas, runtime.ListRequest{})
			if tc.malformed {
				if !errors.Is(err, runtime.ErrMalformedResponse) || runtime.IsRetryable(err) || !strings.Contains(err.Error(), r.base.Host+"/pizzas") {
					t.Fatalf("List: %v, want a malformed response error naming the URL", err)
				}
				t.Log(err)
				return
			}
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if len(page.Records) != tc.want || page.Next != "" {
				t.Errorf("page %+v", page)
			}
		})
	}
}

func cmpInt(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func TestRESTPageTooLarge(t *testing.T) {
	body := "[" + strings.Repeat(`{"id":"0123456789"},`, 100) + `{"id":"last"}]`
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
			_, r := restServer(t, func(w http.ResponseWriter, _ *http.Request) {
				if !chunked {
					w.Header().Set("Content-Length", strconv.Itoa(len(body)))
				}
				w.WriteHeader(200)
				for i := 0; i < len(body); i += 100 {
					io.WriteString(w, body[i:min(i+100, len(body))])
					w.(http.Flusher).Flush()
				}
			}, WithMaxPageBytes(1024))
			_, err := r.List(context.Background(), pizzas, runtime.ListRequest{})
			if !errors.Is(err, runtime.ErrPageTooLarge) || errors.Is(err, runtime.ErrMalformedResponse) || runtime.IsRetryable(err) {
				t.Fatalf("List: %v, want ErrPageTooLarge", err)
			}
			t.Log(err)
			_, err = r.Get(context.Background(), pizzas, "x")
			if !errors.Is(err, runtime.ErrPageTooLarge) {
				t.Errorf("Get: %v, want ErrPageTooLarge", err)
			}
			// The write happened; only the echo is lost.
			if rec, err := r.Put(context.Background(), pizzas, runtime.Write{ID: "x", Body: json.RawMessage(`{}`)}); err != nil || rec != nil {
				t.Errorf("Put: %s, %v", rec, err)
			}
		})
	}
	// A body exactly at the cap is fine.
	_, r := restServer(t, func(w http.ResponseWriter, _ *http.Request) { answer(w, 200, body) }, WithMaxPageBytes(int64(len(body))))
	if page, err := r.List(context.Background(), pizzas, runtime.ListRequest{}); err != nil || len(page.Records) != 101 {
		t.Errorf("List at the cap: %v", err)
	}
}

// cutServer answers with a header promising more body than it sends, then closes the
// connection.
func cutServer(t *testing.T, header, body string) *REST {
	_, r := restServer(t, func(w http.ResponseWriter, _ *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer conn.Close()
		buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + header + "\r\n\r\n" + body)
		buf.Flush()
	})
	return r
}

func TestRESTTruncatedBody(t *testing.T) {
	part := `[{"id":"1"},{"id":"2"},{"id":`
	for name, r := range map[string]*REST{
		"content-length": cutServer(t, "Content-Length: 1000", part),
		"chunked":        cutServer(t, "Transfer-Encoding: chunked", fmt.Sprintf("%x\r\n%s\r\n", len(part), part)),
	} {
		t.Run(name, func(t *testing.T) {
			for op, call := range map[string]func() error{
				"list": func() error { _, err := r.List(context.Background(), pizzas, runtime.ListRequest{}); return err },
				"get":  func() error { _, err := r.Get(context.Background(), pizzas, "x"); return err },
				"put": func() error {
					_, err := r.Put(context.Background(), pizzas, runtime.Write{ID: "x", Body: json.RawMessage(`{}`)})
					return err
				},
			} {
				err := call()
				var he *runtime.HTTPError
				if err == nil || errors.Is(err, runtime.ErrMalformedResponse) || errors.As(err, &he) || !runtime.IsRetryable(err) {
					t.Errorf("%s: %v, want a retryable transport error", op, err)
				}
				if !strings.Contains(err.Error(), "read body") {
					t.Errorf("%s: %v", op, err)
				}
			}
		})
	}
}

func TestRESTSinceAndParams(t *testing.T) {
	var got []url.Values
	_, r := restServer(t, func(w http.ResponseWriter, req *http.Request) {
		got = append(got, req.URL.Query())
		answer(w, 200, `[]`)
	})
	since := time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.FixedZone("X", 3600))
	ctx := context.Background()
	e := &runtime.Endpoint{Path: "/pizzas", Params: params("name", "Margherita", "tag", "a", "tag", "b")}
	for _, tc := range []struct {
		opts []Option
		req  runtime.ListRequest
		want string
	}{
		{nil, runtime.ListRequest{Since: since}, "name=Margherita&tag=a&tag=b"},
		{[]Option{WithSince("updatedAt_gte", nil)}, runtime.ListRequest{}, "name=Margherita&tag=a&tag=b"},
		{[]Option{WithSince("updatedAt_gte", nil)}, runtime.ListRequest{Since: since}, "name=Margherita&tag=a&tag=b&updatedAt_gte=2024-05-06T06%3A08%3A09.123456000Z"},
		{[]Option{WithSince("since", SinceUnix)}, runtime.ListRequest{Since: since}, "name=Margherita&since=1714975689&tag=a&tag=b"},
		{[]Option{WithSince("since", SinceUnixMilli), WithPagePagination("_page", "_limit", 50)}, runtime.ListRequest{Since: since, Page: "3"}, "_limit=50&_page=3&name=Margherita&since=1714975689123&tag=a&tag=b"},
	} {
		got = nil
		r := NewREST(r.base.String(), tc.opts...)
		if _, err := r.List(ctx, e, runtime.ListRequest{Since: tc.req.Since, Page: tc.req.Page}); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Encode() != tc.want {
			t.Errorf("query %v, want %s", got, tc.want)
		}
	}
	// The query reaches Params.
	var seen runtime.Query
	e.Params = func(q runtime.Query) url.Values { seen = q; return nil }
	if _, err := r.List(ctx, e, runtime.ListRequest{Query: runtime.Query{}.Limit(7)}); err != nil || seen.Key() != (runtime.Query{}.Limit(7)).Key() {
		t.Errorf("Params saw %+v (%v)", seen, err)
	}
}

func TestSinceFormats(t *testing.T) {
	// Fixed width: a string comparison agrees with the time order for stored times of any
	// width, as json-server's updatedAt_gte compares strings.
	since := time.Date(2024, 1, 2, 3, 4, 5, 123000000, time.UTC)
	s := SinceRFC3339(since)
	if s != "2024-01-02T03:04:05.123000000Z" {
		t.Errorf("SinceRFC3339 = %s", s)
	}
	for _, later := range []string{"2024-01-02T03:04:05.1231Z", "2024-01-02T03:04:05.123Z", "2024-01-02T03:04:06Z", "2024-01-02T03:04:05.2Z"} {
		if !(later >= s) {
			t.Errorf("%s < %s as strings", later, s)
		}
	}
	if got := SinceUnix(time.Unix(100, 999999999)); got != "100" {
		t.Errorf("SinceUnix = %s", got)
	}
	if got := SinceUnixMilli(time.UnixMilli(1234).Add(999 * time.Microsecond)); got != "1234" {
		t.Errorf("SinceUnixMilli = %s", got)
	}
}

// blockingServer holds every request until the client goes away or the test ends.
func blockingServer(t *testing.T, sendHeader bool, opts ...Option) *REST {
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if sendHeader {
			w.WriteHeader(200)
			io.WriteString(w, `[{"id":"1"},`)
			w.(http.Flusher).Flush()
		}
		select {
		case <-req.Context().Done():
		case <-done:
		}
	}))
	t.Cleanup(func() { close(done); srv.Close() })
	return NewREST(srv.URL, opts...)
}

func TestRESTTimeouts(t *testing.T) {
	const generous = 20 * time.Second // only catches a hang; never asserts on speed
	for _, sendHeader := range []bool{false, true} {
		t.Run(fmt.Sprintf("header=%v", sendHeader), func(t *testing.T) {
			r := blockingServer(t, sendHeader, WithRequestTimeout(50*time.Millisecond))
			start := time.Now()
			_, err := r.List(context.Background(), pizzas, runtime.ListRequest{})
			if !errors.Is(err, runtime.ErrRequestTimeout) || !errors.Is(err, context.DeadlineExceeded) || !runtime.IsRetryable(err) {
				t.Errorf("List: %v, want a retryable ErrRequestTimeout", err)
			}
			if time.Since(start) > generous {
				t.Errorf("List took %v", time.Since(start))
			}
			t.Log(err)

			// The caller's own deadline or cancellation is not retryable.
			r = blockingServer(t, sendHeader)
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			_, err = r.List(ctx, pizzas, runtime.ListRequest{})
			if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, runtime.ErrRequestTimeout) || runtime.IsRetryable(err) {
				t.Errorf("List under a caller deadline: %v", err)
			}
			ctx, cancel = context.WithCancel(context.Background())
			time.AfterFunc(50*time.Millisecond, cancel)
			_, err = r.Get(ctx, pizzas, "x")
			if !errors.Is(err, context.Canceled) || runtime.IsRetryable(err) {
				t.Errorf("Get cancelled: %v", err)
			}
		})
	}
}

func TestRESTNetworkError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	r := NewREST(srv.URL)
	srv.Close()
	_, err := r.Get(context.Background(), pizzas, "x")
	var he *runtime.HTTPError
	if err == nil || errors.As(err, &he) || errors.Is(err, runtime.ErrNotFound) || !runtime.IsRetryable(err) {
		t.Fatalf("Get from a closed server: %v", err)
	}
	if want := "get " + srv.URL + "/pizzas/x: "; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q does not start with %q", err, want)
	}
}

func TestIsRetryable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("other"), false},
		{runtime.ErrNotFound, false},
		{fmt.Errorf("get x: %w", &runtime.TransportError{Err: io.ErrUnexpectedEOF}), true},
		{fmt.Errorf("get x: %w: %w", runtime.ErrRequestTimeout, context.DeadlineExceeded), true},
		{fmt.Errorf("get x: %w", context.DeadlineExceeded), false},
		{fmt.Errorf("get x: %w", context.Canceled), false},
		{fmt.Errorf("get x: %w: %w", context.Canceled, &runtime.TransportError{Err: io.EOF}), false},
		{fmt.Errorf("get x: %w: boom", runtime.ErrMalformedResponse), false},
		{fmt.Errorf("get x: %w", runtime.ErrPageTooLarge), false},
		{&runtime.HTTPError{Status: 400}, false},
		{&runtime.HTTPError{Status: 401}, false},
		{&runtime.HTTPError{Status: 404}, false},
		{&runtime.HTTPError{Status: 409}, false},
		{&runtime.HTTPError{Status: 422}, false},
		{&runtime.HTTPError{Status: 408}, true},
		{&runtime.HTTPError{Status: 425}, true},
		{&runtime.HTTPError{Status: 429}, true},
		{&runtime.HTTPError{Status: 500}, true},
		{fmt.Errorf("push: %w", &runtime.HTTPError{Status: 503}), true},
	} {
		if got := runtime.IsRetryable(tc.err); got != tc.want {
			t.Errorf("IsRetryable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestBodyReader(t *testing.T) {
	// A read error other than EOF is remembered; EOF is not.
	br := &bodyReader{r: iotestErrReader{}, left: 10}
	if _, err := io.ReadAll(br); err == nil || br.err == nil || br.tooLarge {
		t.Errorf("bodyReader %+v, %v", br, err)
	}
	br = &bodyReader{r: bufio.NewReader(strings.NewReader("12345")), left: 5}
	if data, err := io.ReadAll(br); err != nil || string(data) != "12345" || br.err != nil || br.tooLarge {
		t.Errorf("at the cap: %q, %v, %+v", data, err, br)
	}
	br = &bodyReader{r: strings.NewReader("123456"), left: 5}
	if _, err := io.ReadAll(br); !errors.Is(err, errBodyTooLarge) || !br.tooLarge {
		t.Errorf("over the cap: %v, %+v", err, br)
	}
}

type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }
