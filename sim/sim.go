// Package sim is syncgen's seeded multi-client fault simulation: the generated server and
// several clients, each with its own SQLite file, an injected clock, random source and
// transport, on a network a seeded PRNG owns. Run drives a random workload with faults,
// heals, syncs to quiescence and checks the sync guarantees (docs/ARCHITECTURE.md, "Sync
// rules"). A seed replays exactly.
package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/syncgen/syncgen/remote"
	"github.com/syncgen/syncgen/runtime"
	"github.com/syncgen/syncgen/server"
	"github.com/syncgen/syncgen/sim/model"
)

// Config is one simulation.
type Config struct {
	Seed     uint64
	Clients  int  // 2 to 8
	Steps    int  // workload steps before healing
	Protocol bool // the syncgen protocol remote; false: plain REST
	// Blind serves plain REST from a server that overwrites blindly, as json-server does
	// (blind.go), instead of the generated server; only without Protocol.
	Blind bool
	// Postgres, a DSN, puts the generated server's database on PostgreSQL instead of a
	// SQLite file in Dir, and Instances (default 1) runs that many servers on it, each
	// behind an httptest.Server: requests go to them in turn (roundRobin).
	Postgres  string
	Instances int
	Dir       string
	// Break disables a guarantee on purpose, to show the checks catch it: "" for none.
	Break string
}

// Run runs one simulation and returns the first violated guarantee, if any.
func Run(ctx context.Context, cfg Config) error {
	s, err := newSim(ctx, cfg)
	if err != nil {
		return err
	}
	defer s.close()
	for step := 0; step < cfg.Steps; step++ {
		if err := s.step(ctx, step); err != nil {
			return fmt.Errorf("step %d: %w", step, err)
		}
	}
	return s.settle(ctx)
}

type sim struct {
	cfg     Config
	rng     *rand.Rand
	now     time.Time // the server's clock; clients add their skew
	dbs     []*runtime.DB
	server  http.Handler // the first instance, for the checks
	servers []*server.Server
	https   []*httptest.Server
	network http.RoundTripper // to the instances in turn, when there are several
	clients []*client
	delayed []*delivery // requests held back, delivered later (reordered)
	faults  bool
	// What the checks need.
	written    map[string]time.Time // item id → newest stamp an acknowledged write gave it
	cursors    map[string][]int64   // client/model → cursors sent, in order, this reset epoch
	applied    map[string]string    // idempotency key → the seq of the server's first answer
	keyOf      map[string]string    // the other way: seq → the key whose write made it
	deliveries int                  // writes delivered, for Break "idempotency"
	problems   []string
}

type client struct {
	n       int
	name    string
	skew    time.Duration
	offline bool
	db      *runtime.DB
	repo    *model.Repository
	ids     []string // ids this client has written (to update, delete and re-create)
}

type delivery struct {
	client int
	req    *http.Request
	body   []byte
}

func newSim(ctx context.Context, cfg Config) (*sim, error) {
	s := &sim{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0x5eed)),
		now:     time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC),
		written: map[string]time.Time{}, cursors: map[string][]int64{}, applied: map[string]string{}, keyOf: map[string]string{}}
	if cfg.Blind {
		s.server = newBlindServer()
		return s, s.openClients(ctx)
	}
	for i := range max(1, cfg.Instances) {
		var db *runtime.DB
		var err error
		if cfg.Postgres != "" {
			db, err = server.OpenPostgres(cfg.Postgres)
		} else if i == 0 {
			db, err = runtime.OpenSQLite(filepath.Join(cfg.Dir, "server.db"))
		} else {
			err = errors.New("sim: several instances need a PostgreSQL database")
		}
		if err != nil {
			s.close()
			return nil, err
		}
		s.dbs = append(s.dbs, db)
		srv, err := model.NewServer(db, server.WithClock(func() time.Time { return s.now }),
			server.WithTombstoneRetention(30*time.Minute),
			server.WithValidation(func(_ context.Context, m string, rec json.RawMessage) error {
				var it model.Item
				if m == "Item" && json.Unmarshal(rec, &it) == nil && it.Name == "invalid" {
					return errors.New("the name is invalid")
				}
				return nil
			}))
		if err != nil {
			s.close()
			return nil, err
		}
		s.servers = append(s.servers, srv)
		if i == 0 {
			s.server = srv
		}
	}
	if len(s.servers) > 1 {
		rr := &roundRobin{base: http.DefaultTransport}
		for _, srv := range s.servers {
			hs := httptest.NewServer(srv)
			s.https = append(s.https, hs)
			u, _ := url.Parse(hs.URL)
			rr.to = append(rr.to, u)
		}
		s.network = rr
	}
	return s, s.openClients(ctx)
}

// roundRobin is a network to several server instances: each request goes to the next
// one in turn.
type roundRobin struct {
	base http.RoundTripper
	to   []*url.URL
	next int
}

func (rr *roundRobin) RoundTrip(req *http.Request) (*http.Response, error) {
	to := rr.to[rr.next%len(rr.to)]
	rr.next++
	r := req.Clone(req.Context())
	r.URL.Scheme, r.URL.Host, r.Host = to.Scheme, to.Host, ""
	return rr.base.RoundTrip(r)
}

func (s *sim) openClients(ctx context.Context) error {
	for i := range s.cfg.Clients {
		c := &client{n: i, name: fmt.Sprintf("c%d", i)}
		s.clients = append(s.clients, c)
		if err := s.open(ctx, c); err != nil {
			s.close()
			return err
		}
	}
	return nil
}

// open (re)opens a client's repository from its files.
func (s *sim) open(ctx context.Context, c *client) error {
	db, err := runtime.OpenSQLite(filepath.Join(s.cfg.Dir, c.name+".db"))
	if err != nil {
		return err
	}
	httpc := &http.Client{Transport: transport{s, c}}
	var server runtime.Remote = remote.NewREST("http://sim", remote.WithHTTPClient(httpc))
	if s.cfg.Protocol {
		server = remote.NewProtocol("http://sim", remote.WithHTTPClient(httpc))
	}
	// The app's resolver fails now and then, as user code can: the page it was called
	// for is not applied, and its cursor must not move.
	resolver := model.WithItemResolver(func(ctx context.Context, cf runtime.Conflict[model.Item]) (runtime.Resolution[model.Item], error) {
		if s.faults && s.rng.IntN(4) == 0 {
			return runtime.Resolution[model.Item]{}, errors.New("sim: the resolver failed")
		}
		return runtime.LastWriterWins(ctx, cf)
	})
	repo, err := model.NewRepository(db, server, resolver,
		runtime.WithClock(func() time.Time { return s.now.Add(c.skew) }),
		runtime.WithRand(rand.New(rand.NewPCG(s.cfg.Seed, uint64(c.n)))),
		runtime.WithClientID(fmt.Sprintf("seed%d-%s", s.cfg.Seed, c.name)),
		runtime.WithPushLimit(1), runtime.WithBackoff(time.Millisecond, 10*time.Millisecond),
		runtime.WithLogger(slog.New(slog.DiscardHandler)))
	if err == nil {
		err = repo.Migrate(ctx)
	}
	if err != nil {
		db.Close()
		return err
	}
	c.db, c.repo = db, repo
	return nil
}

func (s *sim) close() {
	for _, c := range s.clients {
		if c.repo != nil {
			c.repo.Close()
			c.db.Close()
		}
	}
	for _, hs := range s.https {
		hs.Close()
	}
	for _, srv := range s.servers {
		srv.Close()
	}
	for _, db := range s.dbs {
		db.Close()
	}
}

// transport is a client's network: it delivers to the in-process server, with the
// faults the sim's PRNG decides.
type transport struct {
	s *sim
	c *client
}

func (t transport) RoundTrip(req *http.Request) (*http.Response, error) {
	s := t.s
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
		req.Body.Close()
	}
	if t.c.offline {
		return nil, errors.New("sim: offline")
	}
	if req.URL.Path != "/_events" && strings.HasSuffix(req.URL.Path, "/_changes") {
		key := t.c.name + req.URL.Path
		c, _ := strconv.ParseInt(req.URL.Query().Get("cursor"), 10, 64)
		s.cursors[key] = append(s.cursors[key], c)
	}
	if !s.faults {
		return s.deliver(t.c, req, body), nil
	}
	switch r := s.rng.Float64(); {
	case r < 0.04:
		return nil, errors.New("sim: request dropped")
	case r < 0.08:
		s.deliver(t.c, req, body)
		return nil, errors.New("sim: response dropped after the server committed")
	case r < 0.11:
		s.delayed = append(s.delayed, &delivery{client: t.c.n, req: req, body: body})
		return nil, errors.New("sim: request delayed")
	case r < 0.14:
		s.deliver(t.c, req, body)
		return s.deliver(t.c, req, body), nil // duplicated
	case r < 0.16:
		return status(http.StatusServiceUnavailable, "1"), nil
	case r < 0.18:
		return status(http.StatusTooManyRequests, "1"), nil
	case r < 0.20:
		return status(http.StatusInternalServerError, ""), nil
	case r < 0.22:
		resp := s.deliver(t.c, req, body)
		b, _ := io.ReadAll(resp.Body)
		resp.Body = io.NopCloser(bytes.NewReader(b[:len(b)/2])) // truncated
		return resp, nil
	case r < 0.24:
		resp := s.deliver(t.c, req, body)
		resp.Body = io.NopCloser(strings.NewReader(`{"changes":[{"id":`)) // malformed
		return resp, nil
	}
	return s.deliver(t.c, req, body), nil
}

func status(code int, retryAfter string) *http.Response {
	rec := httptest.NewRecorder()
	if retryAfter != "" {
		rec.Header().Set("Retry-After", retryAfter)
	}
	rec.WriteHeader(code)
	io.WriteString(rec, `{"error":"sim","code":"sim"}`)
	return rec.Result()
}

// deliver runs a request on the server and checks each write's answer (one, or one per
// op of a batch) against what the keys did so far: a key applies at most once, so every
// success names the seq of its first; and a write is never refused as conflicting with
// itself (a 409 whose current entry is the seq this very key made), which is what a
// duplicate or a retry after a lost answer gets from a server that ignores keys.
func (s *sim) deliver(c *client, req *http.Request, body []byte) *http.Response {
	r := req.Clone(context.Background())
	if s.cfg.Break == "idempotency" {
		body = s.forgetKeys(r, body)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := s.serve(r)
	resp := rec.Result()
	if !s.cfg.Protocol {
		return resp
	}
	type entry struct{ Seq string }
	type answer struct {
		Key    string
		Status int
		Entry  *entry
	}
	var answers []answer
	if strings.HasSuffix(req.URL.Path, "/_batch") {
		var b struct{ Results []answer }
		if json.Unmarshal(rec.Body.Bytes(), &b) == nil {
			answers = b.Results
		}
	} else if key := req.Header.Get("Idempotency-Key"); key != "" {
		var e struct {
			entry
			Entry *entry // a 409's current entry
		}
		if json.Unmarshal(rec.Body.Bytes(), &e) == nil {
			a := answer{Key: key, Status: rec.Code, Entry: &e.entry}
			if rec.Code == http.StatusConflict {
				a.Entry = e.Entry
			}
			answers = []answer{a}
		}
	}
	for _, a := range answers {
		if a.Key == "" || a.Entry == nil || a.Entry.Seq == "" {
			continue
		}
		a.Key, _, _ = strings.Cut(a.Key, "~") // as the client sent it
		seq := a.Entry.Seq
		switch first, ok := s.applied[a.Key]; {
		case a.Status == http.StatusConflict && s.keyOf[seq] == a.Key:
			s.problems = append(s.problems, fmt.Sprintf("key %s refused as a conflict with its own write (seq %s)", a.Key, seq))
		case a.Status >= 300:
		case ok && first != seq:
			s.problems = append(s.problems, fmt.Sprintf("key %s applied twice: seq %s, then %s", a.Key, first, seq))
		case !ok:
			s.applied[a.Key], s.keyOf[seq] = seq, a.Key
		}
	}
	return resp
}

// serve runs a request on the server, or over the network on the next instance.
func (s *sim) serve(r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	if s.network == nil {
		s.server.ServeHTTP(rec, r)
		return rec
	}
	resp, err := s.network.RoundTrip(r)
	if err != nil { // the instances are in this process: this is a failure of the sim
		rec.WriteHeader(http.StatusBadGateway)
		fmt.Fprintf(rec, `{"error":%q,"code":"sim"}`, err.Error())
		return rec
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		rec.Header()[k] = v
	}
	rec.WriteHeader(resp.StatusCode)
	io.Copy(rec, resp.Body)
	return rec
}

// forgetKeys is the "idempotency" breakage: every delivery of a write goes with a key
// of its own, as if the server kept none, so duplicates and retries apply again.
func (s *sim) forgetKeys(r *http.Request, body []byte) []byte {
	s.deliveries++
	fresh := func(key string) string { return fmt.Sprintf("%s~%d", key, s.deliveries) }
	if key := r.Header.Get("Idempotency-Key"); key != "" {
		r.Header.Set("Idempotency-Key", fresh(key))
	}
	if !strings.HasSuffix(r.URL.Path, "/_batch") {
		return body
	}
	var b struct{ Ops []map[string]any }
	if json.Unmarshal(body, &b) != nil {
		return body
	}
	for _, op := range b.Ops {
		if key, ok := op["key"].(string); ok {
			op["key"] = fresh(key)
		}
	}
	out, _ := json.Marshal(b)
	return out
}

// step runs one random action of one client.
func (s *sim) step(ctx context.Context, step int) error {
	s.now = s.now.Add(time.Duration(1+s.rng.IntN(3000)) * time.Millisecond)
	s.faults = true
	for len(s.delayed) > 0 && s.rng.IntN(3) == 0 { // a held-back request arrives late
		i := s.rng.IntN(len(s.delayed))
		d := s.delayed[i]
		s.delayed = slices.Delete(s.delayed, i, i+1)
		s.deliver(s.clients[d.client], d.req, d.body)
	}
	c := s.clients[s.rng.IntN(len(s.clients))]
	r := c.repo
	switch a := s.rng.IntN(100); {
	case a < 20: // create
		it := model.Item{ID: fmt.Sprintf("i%d-%d", c.n, step), Name: s.word(), Count: s.rng.IntN(100)}
		if err := r.Items.Upsert(ctx, &it); err != nil {
			return err
		}
		s.wrote(c, it.ID, it.UpdatedAt)
	case a < 40: // update random fields of a known record (or re-create it)
		id := s.known(ctx, c)
		if id == "" {
			return nil
		}
		it, err := r.Items.Get(ctx, id, runtime.LocalOnly)
		if errors.Is(err, runtime.ErrNotFound) {
			it = model.Item{ID: id, Name: "re-created"}
		} else if err != nil {
			return err
		}
		if s.rng.IntN(2) == 0 {
			it.Name = s.word()
		}
		if s.rng.IntN(2) == 0 {
			it.Count = s.rng.IntN(100)
		}
		if s.rng.IntN(3) == 0 {
			it.Tags = append(it.Tags, s.word())
		}
		if err := r.Items.Upsert(ctx, &it); err != nil {
			return err
		}
		s.wrote(c, it.ID, it.UpdatedAt)
	case a < 48: // delete
		if id := s.known(ctx, c); id != "" {
			return r.Items.Delete(ctx, id)
		}
	case a < 56: // a note on an item, and an item, in one transaction
		it := model.Item{ID: fmt.Sprintf("t%d-%d", c.n, step), Name: s.word()}
		n := model.Note{ID: fmt.Sprintf("n%d-%d", c.n, step), ItemID: it.ID, Text: s.word()}
		err := r.Tx(ctx, func(tx *model.Tx) error {
			if err := tx.Notes.Upsert(ctx, &n); err != nil {
				return err
			}
			return tx.Items.Upsert(ctx, &it)
		})
		if err != nil {
			return err
		}
		s.wrote(c, it.ID, it.UpdatedAt)
	case a < 60: // delete a note
		ns, err := r.Notes.Find(ctx, model.NoteQuery{}.Limit(1), runtime.LocalOnly)
		if err == nil && len(ns) > 0 {
			return r.Notes.Delete(ctx, ns[0].ID)
		}
		return err
	case a < 62: // a write the server's validation rejects
		it := model.Item{ID: fmt.Sprintf("bad%d-%d", c.n, step), Name: "invalid"}
		return r.Items.Upsert(ctx, &it)
	case a < 80:
		r.Sync(ctx) // errors are the faults' doing: the next one retries
	case a < 85:
		c.offline = !c.offline
	case a < 90: // the device's clock: ±1 h, a jump back, or far in the future
		switch s.rng.IntN(4) {
		case 0:
			c.skew = time.Hour
		case 1:
			c.skew = -time.Hour
		case 2:
			c.skew -= 10 * time.Minute
		default:
			c.skew = 0
		}
		if c.n == 0 && s.rng.IntN(4) == 0 {
			c.skew = 48 * time.Hour
		}
	case a < 95: // crash and restart from the files, at a step boundary
		c.repo.Close()
		c.db.Close()
		return s.open(ctx, c)
	default: // time passes: tombstones expire, cursors may get 410
		s.now = s.now.Add(time.Duration(s.rng.IntN(40)) * time.Minute)
	}
	return nil
}

func (s *sim) word() string {
	words := []string{"apple", "basil", "cedar", "delta", "ember", "fjord", "grove", "harbor"}
	return words[s.rng.IntN(len(words))]
}

// known picks an id the client wrote before or, half the time, any item it holds (one
// another client made, say), so that clients edit and delete each other's records.
func (s *sim) known(ctx context.Context, c *client) string {
	if s.rng.IntN(2) == 0 {
		held, err := c.repo.Items.Find(ctx, model.ItemQuery{}.OrderBy(model.ItemFields.ID.Asc()), runtime.LocalOnly)
		if err == nil && len(held) > 0 {
			return held[s.rng.IntN(len(held))].ID
		}
	}
	if len(c.ids) == 0 {
		return ""
	}
	return c.ids[s.rng.IntN(len(c.ids))]
}

// wrote remembers an acknowledged write, for the no-lost-write check: only writes stamped
// no later than the server's clock (the server clamps stamps far ahead of it).
func (s *sim) wrote(c *client, id string, at time.Time) {
	if !slices.Contains(c.ids, id) {
		c.ids = append(c.ids, id)
	}
	if !at.After(s.now) && at.After(s.written[id]) {
		s.written[id] = at
	}
}
