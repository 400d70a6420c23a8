package runtime

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

var (
	// ErrMalformedResponse is wrapped by the error of an answer that is not the JSON a
	// remote expects: bad syntax, a record that is not an object, a list that is not an
	// array. The decoder's error is wrapped next to it.
	ErrMalformedResponse = errors.New("malformed response")
	// ErrPageTooLarge is wrapped by the error of an answer whose body is above the
	// remote's cap (WithMaxPageBytes).
	ErrPageTooLarge = errors.New("response body too large")
	// ErrRequestTimeout is wrapped when the remote's own per-request timeout
	// (WithRequestTimeout) ended a request; the caller's context ending is not this.
	ErrRequestTimeout = errors.New("request timed out")
)

// maxErrorBody is how much of a non-2xx answer an HTTPError keeps.
const maxErrorBody = 4 << 10

// HTTPError is a non-2xx answer from a remote.
type HTTPError struct {
	Method string
	// URL is the request's URL without userinfo and with the values of secret-looking
	// query parameters replaced (see redactURL), so the error can be logged.
	URL    string
	Status int
	// Body holds the first 4 KiB of the answer's body.
	Body []byte
	// RetryAfter is the server's Retry-After (seconds or an HTTP date), 0 when absent.
	RetryAfter time.Duration
}

// Error reads like `PUT http://host/pizzas/x: 422 Unprocessable Entity: {"error":"…"}`;
// the body is cut to one line of 256 bytes, the full 4 KiB stay in Body.
func (e *HTTPError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d", e.Method, e.URL, e.Status)
	if text := http.StatusText(e.Status); text != "" {
		b.WriteString(" " + text)
	}
	if body := oneLine(e.Body, 256); body != "" {
		b.WriteString(": " + body)
	}
	return b.String()
}

// oneLine makes a body fit in an error message: valid UTF-8, whitespace runs collapsed
// (json-server answers a stack trace), at most n bytes.
func oneLine(body []byte, n int) string {
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(body), "\uFFFD")), " ")
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
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

// transportError marks a failure to exchange a request: the connection, TLS, a cut body.
// IsRetryable treats it as worth another attempt.
type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// IsRetryable reports whether a remote's error is worth another attempt later: network
// failures, a cut body, the remote's per-request timeout, 5xx, 408, 425 and 429. Other
// 4xx, malformed or oversized answers, and the end of the caller's context are not.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	// Checked before the context errors: a request timeout wraps DeadlineExceeded too.
	if errors.Is(err, ErrRequestTimeout) {
		return true
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var he *HTTPError
	if errors.As(err, &he) {
		switch {
		case he.Status >= 500,
			he.Status == http.StatusRequestTimeout,
			he.Status == http.StatusTooEarly,
			he.Status == http.StatusTooManyRequests:
			return true
		}
		return false
	}
	var te *transportError
	return errors.As(err, &te)
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
