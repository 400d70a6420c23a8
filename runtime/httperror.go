package runtime

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/syncgen/syncgen/internal/text"
)

var (
	// ErrMalformedResponse is wrapped by the error of an answer that is not the JSON a
	// remote expects: bad syntax, a record that is not an object, a list that is not an
	// array. The decoder's error is wrapped next to it.
	ErrMalformedResponse = errors.New("malformed response")
	// ErrPageTooLarge is wrapped by the error of an answer whose body is above the
	// remote's cap (remote.WithMaxPageBytes).
	ErrPageTooLarge = errors.New("response body too large")
	// ErrRequestTimeout is wrapped when the remote's own per-request timeout
	// (remote.WithRequestTimeout) ended a request; the caller's context ending is not this.
	ErrRequestTimeout = errors.New("request timed out")
)

// HTTPError is a non-2xx answer from a remote.
type HTTPError struct {
	Method string
	// URL is the request's URL without userinfo and with the values of secret-looking
	// query parameters replaced, so the error can be logged.
	URL    string
	Status int
	// Body holds the first 4 KiB of the answer's body.
	Body []byte
	// RetryAfter is the server's Retry-After (seconds or an HTTP date), 0 when absent.
	RetryAfter time.Duration
	// Reauthenticate says the remote takes this status, like a 401, for a missing or
	// expired credential (remote.WithAuthFailureStatus): a write that gets it is retried
	// with backoff, not dead-lettered, since a refreshed credential fixes it.
	Reauthenticate bool
}

// Error reads like `PUT http://host/pizzas/x: 422 Unprocessable Entity: {"error":"…"}`;
// the body is cut to one line of 256 bytes, the full 4 KiB stay in Body.
func (e *HTTPError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d", e.Method, e.URL, e.Status)
	if text := http.StatusText(e.Status); text != "" {
		b.WriteString(" " + text)
	}
	if body := text.OneLine(e.Body, 256); body != "" {
		b.WriteString(": " + body)
	}
	return b.String()
}

// TransportError is a failure to exchange a request with a remote: the connection, TLS, a
// cut body. IsRetryable treats it as worth another attempt.
type TransportError struct{ Err error }

func (e *TransportError) Error() string { return e.Err.Error() }
func (e *TransportError) Unwrap() error { return e.Err }

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
	var te *TransportError
	return errors.As(err, &te)
}
