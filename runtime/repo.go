package runtime

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrClosed is returned by a repository used after Close.
var ErrClosed = errors.New("repository is closed")

// Option configures a repository. Generated code offers typed options per model.
type Option func(*repoOptions)

type repoOptions struct {
	now       func() time.Time
	rand      *rand.Rand
	clientID  string
	log       *slog.Logger
	endpoints map[string]*Endpoint // by model name, from the typed REST options
	resolvers map[string]any       // by model name: Resolver[T], from the typed options
	sync      syncOptions
}

// WithLogger sets where the repository logs (default: slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(o *repoOptions) { o.log = l }
}

// RESTModel is one model's REST settings; generated code takes it in WithPizzaREST and
// friends, with Q the model's query type.
type RESTModel[Q any] struct {
	// Path is the model's path below the remote's base URL (default: the model's
	// //syncgen:path, else "/" + its table).
	Path string
	// Params turns a query into URL parameters for listing (default: none: the remote
	// lists every record and the query is answered locally). JSONServerParams is one.
	Params func(Q) url.Values
	// Request rewrites each of the model's requests, after the remote's own hook.
	Request func(*http.Request) error
}

// WithREST is used by generated code: wrap turns a Query into the model's query type.
func WithREST[Q any](s *Schema, m RESTModel[Q], wrap func(Query) Q) Option {
	return func(o *repoOptions) {
		e := &Endpoint{Schema: s, Path: m.Path, Request: m.Request}
		if m.Params != nil {
			e.Params = func(q Query) url.Values { return m.Params(wrap(q)) }
		}
		o.endpoints[s.Model] = e
	}
}

// WithClock replaces time.Now for the repository's stamps, backoff and sync state (tests
// and simulations).
func WithClock(now func() time.Time) Option {
	return func(o *repoOptions) { o.now = now }
}

// WithRand sets the random source of the backoff's jitter (tests and simulations). With
// WithClock, WithRand, WithPushLimit(1) and a remote whose HTTP client is the caller's,
// Sync is deterministic.
func WithRand(r *rand.Rand) Option {
	return func(o *repoOptions) { o.rand = r }
}

// WithClientID sets the client id a new database takes on its first sync (default: a new
// UUIDv7); a database that has one keeps it. The id and each write's sequence number make
// the write's idempotency key, so ids must be unique among a server's clients: this is
// for tests and simulations that replay a run.
func WithClientID(id string) Option {
	return func(o *repoOptions) { o.clientID = id }
}

// Package is what generated code tells the runtime about its package.
type Package struct {
	Path       string    // import path of the models' package
	Schemas    []*Schema // the package's models
	Migrations fs.FS     // holds migrations/NNNN_<summary>.sql
}

// Repo is the model-independent core of a generated Repository.
type Repo struct {
	db        *DB
	pkg       Package
	clock     *clock
	remote    Remote               // nil: local only
	endpoints map[string]*Endpoint // by model name
	log       *slog.Logger

	resolvers map[string]any // by model name
	sync      syncOptions
	models    []syncModel // in the package's order
	byTable   map[string]syncModel
	byModel   map[string]syncModel

	ctx    context.Context // ends at Close: background work and subscriptions
	cancel context.CancelFunc

	syncMu  sync.Mutex     // one sync round at a time
	bg      sync.WaitGroup // subscriptions' and event subscribers' goroutines
	running atomic.Bool
	kick    chan struct{} // a commit queued writes: Run pushes
	rechose chan struct{} // the app chose what to sync (SyncOnly): Run pulls

	mu          sync.Mutex
	rand        *rand.Rand
	closed      bool
	client      string                                // this database's client id, once read
	newClient   string                                // the client id to store when the database has none
	watchers    map[string]map[chan struct{}]struct{} // table → subscribers' wake-up channels
	subscribers map[chan Event]struct{}
	notify      chan struct{} // closed and replaced when the outbox or the status changes
	status      Status
}

// NewRepo makes the core of a generated repository over db.
func NewRepo(db *DB, remote Remote, pkg Package, opts ...Option) (*Repo, error) {
	if db == nil || db.writer == nil {
		return nil, fmt.Errorf("new repository %s: nil or unopened DB: open one with runtime.OpenSQLite", pkg.Path)
	}
	if v, ok := remote.(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			return nil, fmt.Errorf("new repository %s: %w", pkg.Path, err)
		}
	}
	o := repoOptions{now: time.Now, log: slog.Default(), endpoints: map[string]*Endpoint{},
		resolvers: map[string]any{}, sync: defaultSyncOptions}
	for _, opt := range opts {
		opt(&o)
	}
	endpoints := map[string]*Endpoint{}
	for _, s := range pkg.Schemas {
		e := o.endpoints[s.Model]
		if e == nil {
			e = &Endpoint{Schema: s}
		}
		if e.Path == "" {
			e.Path = s.Path
		}
		endpoints[s.Model] = e
	}
	if o.rand == nil {
		o.rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Repo{
		db: db, pkg: pkg, clock: &clock{now: o.now, skew: o.sync.skew},
		remote: remote, endpoints: endpoints, resolvers: o.resolvers, log: o.log,
		sync: o.sync, rand: o.rand, newClient: o.clientID,
		byTable: map[string]syncModel{}, byModel: map[string]syncModel{},
		ctx: ctx, cancel: cancel,
		watchers:    map[string]map[chan struct{}]struct{}{},
		subscribers: map[chan Event]struct{}{},
		kick:        make(chan struct{}, 1),
		rechose:     make(chan struct{}, 1),
		notify:      make(chan struct{}),
	}, nil
}

// register adds a model's store; NewStore calls it.
func (r *Repo) register(m syncModel) {
	r.models = append(r.models, m)
	r.byTable[m.schema().Table] = m
	r.byModel[m.schema().Model] = m
}

func (r *Repo) check() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	return nil
}

// Migrate applies the runtime's and the package's pending migrations (see Migrate).
func (r *Repo) Migrate(ctx context.Context) error {
	if err := r.check(); err != nil {
		return err
	}
	err := Migrate(ctx, r.db, Migrations{Package: r.pkg.Path, FS: r.pkg.Migrations, Dir: "migrations"})
	if err != nil {
		return err
	}
	if err := r.upgradeQueued(ctx); err != nil { // renamed JSON keys (fields.go)
		return err
	}
	// The clock resumes from the newest stamp it had seen.
	var mark string
	err = r.db.reader.QueryRowxContext(ctx, `SELECT value FROM syncgen_meta WHERE key = 'clock'`).Scan(&mark)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the clock: %w", err)
	}
	if t, err := ParseTime(mark); err == nil {
		r.clock.restore(t)
	}
	return nil
}

// Close ends the repository's background work and subscriptions, and waits for them. It
// does not close the DB, which the caller opened and may share with other repositories.
func (r *Repo) Close() error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	r.broadcast()
	r.syncMu.Lock() // a round in progress ends at its next step
	r.syncMu.Unlock()
	r.bg.Wait()
	return nil
}

// background counts a goroutine that Close waits for; false when the repository is
// closed, and the goroutine must not start.
func (r *Repo) background() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.bg.Add(1)
	return true
}

// ownTables is a condition on syncgen_outbox.model that keeps this repository's models:
// other packages may share the database and its outbox.
func (r *Repo) ownTables() (string, []any) {
	if len(r.models) == 0 {
		return "0", nil
	}
	args := make([]any, len(r.models))
	for i, m := range r.models {
		args[i] = m.schema().Table
	}
	return "model IN (?" + strings.Repeat(", ?", len(args)-1) + ")", args
}

// watchTables registers one wake-up channel for committed writes to any of tables.
func (r *Repo) watchTables(tables []string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	r.mu.Lock()
	for _, t := range tables {
		if r.watchers[t] == nil {
			r.watchers[t] = map[chan struct{}]struct{}{}
		}
		r.watchers[t][ch] = struct{}{}
	}
	r.mu.Unlock()
	return ch, func() {
		r.mu.Lock()
		for _, t := range tables {
			delete(r.watchers[t], ch)
		}
		r.mu.Unlock()
	}
}

// changed wakes the subscribers of the tables a commit touched. It never blocks: a
// subscriber that has not yet caught up has a wake-up pending already.
func (r *Repo) changed(tables map[string]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for table := range tables {
		for ch := range r.watchers[table] {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}
