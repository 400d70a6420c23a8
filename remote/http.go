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

	"github.com/syncgen/syncgen/runtime"
	"github.com/syncgen/syncgen/wire"
)

// maxErrorBody is how much of a non-2xx answer an HTTPError keeps.
const maxErrorBody = 4 << 10

// do sends one request through the hooks under the per-request timeout. A 2xx answer's
// body, capped at maxBody, goes to read (nil: discarded); a non-2xx one is an *HTTPError,
// returned unwrapped. Every other error names the method and the redacted URL.
func (r *REST) do(ctx context.Context, e *runtime.Endpoint, method string, u *url.URL, body []byte, h http.Header, read func(*http.Response, io.Reader) error) error {
	op := strings.ToLower(method)
	reqCtx, cancel := ctx, context.CancelFunc(func() {})
	if r.timeout > 0 {
		reqCtx, cancel = context.WithTimeoutCause(ctx, r.timeout, runtime.ErrRequestTimeout)
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
		req.Header.Set(wire.HeaderProtocol, wire.Version)
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
		return &runtime.HTTPError{
			Method:         method,
			URL:            shown,
			Status:         resp.StatusCode,
			Body:           data,
			RetryAfter:     parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
			Reauthenticate: r.shape.auth[resp.StatusCode],
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
		return fmt.Errorf("%s %s: %w: over the limit of %d bytes", op, shown, runtime.ErrPageTooLarge, r.maxBody)
	case br.err != nil:
		return r.failure(ctx, reqCtx, op, shown, "read body: ", br.err)
	}
	return fmt.Errorf("%s %s: %w", op, shown, err)
}

// failure describes a request that got no complete answer: the caller's context ended
// (not retryable), the request's own timeout fired, or the transport failed.
func (r *REST) failure(parent, reqCtx context.Context, op, shown, what string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // url.Error repeats the URL, query secrets included
	}
	if errors.Is(err, ErrCrossOriginRedirect) {
		return fmt.Errorf("%s %s: %s%w", op, shown, what, err) // not a transport failure: not retryable
	}
	if perr := parent.Err(); perr != nil {
		if cause := context.Cause(parent); cause != perr {
			return fmt.Errorf("%s %s: %s%w: %w", op, shown, what, perr, cause)
		}
		return fmt.Errorf("%s %s: %s%w", op, shown, what, perr)
	}
	if errors.Is(context.Cause(reqCtx), runtime.ErrRequestTimeout) {
		// Wrapping DeadlineExceeded too keeps errors.Is working for callers who check it.
		return fmt.Errorf("%s %s: %s%w after %s: %w", op, shown, what, runtime.ErrRequestTimeout, r.timeout, context.DeadlineExceeded)
	}
	return fmt.Errorf("%s %s: %s%w", op, shown, what, &runtime.TransportError{Err: err})
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

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date; 0 when absent
// or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(365*24*time.Hour/time.Second) { // an absurd value; avoid overflow
			secs = int64(365 * 24 * time.Hour / time.Second)
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// redactURL renders u for errors: no userinfo, no fragment, and the values of query
// parameters whose names look secret replaced by REDACTED. Secrets in the path cannot be
// told apart and stay; put them in a header with WithRequestHook instead.
func redactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	c.User = nil
	c.Fragment, c.RawFragment = "", ""
	if c.RawQuery != "" {
		parts := strings.Split(c.RawQuery, "&")
		for i, p := range parts {
			name, _, hasValue := strings.Cut(p, "=")
			if !hasValue {
				continue
			}
			if unescaped, err := url.QueryUnescape(name); err == nil {
				name = unescaped
			}
			if secretParam(name) {
				parts[i] = p[:strings.IndexByte(p, '=')+1] + "REDACTED"
			}
		}
		c.RawQuery = strings.Join(parts, "&")
	}
	return c.String()
}

// secretParam reports whether a query parameter's name looks like it carries a secret;
// redacting a harmless one costs only a less useful log line.
func secretParam(name string) bool {
	n := strings.ToLower(name)
	for _, s := range []string{"token", "key", "secret", "pass", "auth", "sig", "credential", "session", "jwt"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}
