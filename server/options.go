package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"
)

// Option configures New.
type Option func(*options)

type options struct {
	now        func() time.Time
	skew       time.Duration
	tombstones time.Duration
	keys       time.Duration
	maxBody    int64
	maxRecord  int64
	maxPage    int64
	maxStreams int
	log        *slog.Logger
	validate   func(ctx context.Context, model string, record json.RawMessage) error
	auth       func(*http.Request) (string, error)
	scope      func(ctx context.Context, user, model string, record json.RawMessage) bool
	scopes     func(ctx context.Context, user, model string) ([]string, error)
	before     func(ctx context.Context, user, model string, record json.RawMessage) (json.RawMessage, error)
}

// WithAuthentication identifies the user of each request; an error is answered with 401.
// The other hooks get the user; User reads it from a request's context.
func WithAuthentication(f func(*http.Request) (user string, err error)) Option {
	return func(o *options) { o.auth = f }
}

// WithScope says whether user may see and write a record of model (its Go name). Records
// out of scope are neither listed nor readable nor writable: to the user they are absent;
// writing a new record out of scope is 403. It is called for every record a request
// reads, so it suits small tables; WithScopes, with a sync:"scope" field, filters in SQL.
func WithScope(f func(ctx context.Context, user, model string, record json.RawMessage) bool) Option {
	return func(o *options) { o.scope = f }
}

// WithBeforeWrite may change each record before it is stored, after validation: to set
// readonly fields, say. An error is answered with 422.
func WithBeforeWrite(f func(ctx context.Context, user, model string, record json.RawMessage) (json.RawMessage, error)) Option {
	return func(o *options) { o.before = f }
}

type userKey struct{}

// User returns the user WithAuthentication found for a request's context.
func User(ctx context.Context) string {
	u, _ := ctx.Value(userKey{}).(string)
	return u
}

// WithClock replaces time.Now for the server (tests).
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// WithSkew sets how far ahead of the server's clock an updatedAt may be before it
// is clamped (default 5 minutes).
func WithSkew(d time.Duration) Option {
	return func(o *options) { o.skew = d }
}

// WithTombstoneRetention sets how long deletes stay in the change feed (default 30
// days); a cursor older than the purged tombstones gets 410 and the client resyncs.
func WithTombstoneRetention(d time.Duration) Option {
	return func(o *options) { o.tombstones = d }
}

// WithKeyRetention sets how long idempotency keys and their answers are kept (default 7
// days).
func WithKeyRetention(d time.Duration) Option {
	return func(o *options) { o.keys = d }
}

// Defaults of the limits (docs/LIMITS.md).
const (
	DefaultMaxBodyBytes    = 1 << 20
	DefaultMaxRecordBytes  = 1 << 20
	DefaultMaxPageBytes    = 4 << 20
	DefaultMaxEventStreams = 1000
	defaultBatchBodyFactor = 8 // a batch body may be this many single bodies
)

// WithMaxBodyBytes limits the body of a single write (default 1 MiB), and a batch's to 8
// times that; larger ones get 413.
func WithMaxBodyBytes(n int64) Option {
	return func(o *options) { o.maxBody = n }
}

// WithMaxRecordBytes limits a record, written alone or in a batch (default 1 MiB); a
// larger one gets 413 too_large and is not stored.
func WithMaxRecordBytes(n int64) Option {
	return func(o *options) { o.maxRecord = n }
}

// WithMaxPageBytes bounds a change feed page by the bytes of its entries (default 4 MiB),
// besides its count (at most 1000): a page ends, with hasMore, before the entry that
// would pass the bound. A page always holds at least one entry, so keep it above
// WithMaxRecordBytes.
func WithMaxPageBytes(n int64) Option {
	return func(o *options) { o.maxPage = n }
}

// WithMaxEventStreams bounds the open /_events streams (default 1000); a stream over the
// bound gets 503 with Retry-After, and clients poll meanwhile.
func WithMaxEventStreams(n int) Option {
	return func(o *options) { o.maxStreams = n }
}

// WithLogger logs what clients are not told: database errors behind a 500, a hook's
// failure (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.log = l
		}
	}
}

// WithValidation checks every record before it is written; an error is answered with 422
// and its message. model is the model's Go name.
func WithValidation(f func(ctx context.Context, model string, record json.RawMessage) error) Option {
	return func(o *options) { o.validate = f }
}
