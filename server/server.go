// Package server is the generated server's runtime: syncgen -server writes a New
// for a package's models that calls New here. A Server serves the models over the plain
// REST routes and the syncgen protocol (docs/PROTOCOL.md), storing each record as JSON
// with its sync metadata in tables of its own, on SQLite (runtime.OpenSQLite) or
// PostgreSQL (OpenPostgres). Client programs never import it.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/syncgen/syncgen/runtime"
	"github.com/syncgen/syncgen/wire"
)

// Server serves a package's models: an http.Handler. Close it when done.
type Server struct {
	db     *runtime.DB
	opts   options
	models []*Model
	byName map[string]*Model // by path without the leading slash, for batches
	mux    *http.ServeMux
	done   chan struct{} // closed by Close: ends event streams

	mu        sync.Mutex
	purgedAt  time.Time
	listeners map[*listener]struct{} // the open event streams
	closed    bool
	streams   sync.WaitGroup

	cross   *crossInstance // PostgreSQL: events to and from the other instances
	waiting pgWaiting      // PostgreSQL: single writes waiting for a connection (pipeline.go)
}

// New migrates the server's tables in db and returns the handler of models.
func New(db *runtime.DB, models []Model, opts ...Option) (*Server, error) {
	if db == nil || db.Writer() == nil {
		return nil, errors.New("new server: nil or unopened DB: open one with runtime.OpenSQLite or runtime.OpenPostgres")
	}
	o := options{now: time.Now, skew: 5 * time.Minute, tombstones: 30 * 24 * time.Hour,
		keys: 7 * 24 * time.Hour, maxBody: DefaultMaxBodyBytes, maxRecord: DefaultMaxRecordBytes,
		maxPage: DefaultMaxPageBytes, maxStreams: DefaultMaxEventStreams, log: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	if err := migrate(context.Background(), db); err != nil {
		return nil, fmt.Errorf("new server: %w", err)
	}
	s := &Server{db: db, opts: o, mux: http.NewServeMux(), byName: map[string]*Model{},
		done: make(chan struct{}), listeners: map[*listener]struct{}{},
		waiting: pgWaiting{groups: make(chan struct{}, maxGroups)}}
	s.mux.HandleFunc("POST /_batch", s.batch)
	s.mux.HandleFunc("GET /_events", s.events)
	for i := range models {
		m := &models[i]
		s.models = append(s.models, m)
		s.byName[strings.TrimPrefix(m.schema.Path, "/")] = m
		if m.scopeKey != "" && o.scopes == nil && o.scope == nil {
			o.log.Warn("syncgen server: a model has a scope field but no WithScopes: every user sees all of its records", "model", m.schema.Model)
		}
		p := m.schema.Path
		s.mux.HandleFunc("GET "+p, func(w http.ResponseWriter, r *http.Request) { s.list(w, r, m) })
		s.mux.HandleFunc("POST "+p, func(w http.ResponseWriter, r *http.Request) { s.writeHTTP(w, r, m, "") })
		s.mux.HandleFunc("GET "+p+"/_changes", func(w http.ResponseWriter, r *http.Request) { s.changes(w, r, m) })
		s.mux.HandleFunc("GET "+p+"/{id}", func(w http.ResponseWriter, r *http.Request) { s.get(w, r, m) })
		for _, method := range []string{"PUT", "PATCH", "DELETE"} {
			s.mux.HandleFunc(method+" "+p+"/{id}", func(w http.ResponseWriter, r *http.Request) {
				s.writeHTTP(w, r, m, r.PathValue("id"))
			})
		}
	}
	if err := s.backfillScopes(context.Background()); err != nil {
		return nil, fmt.Errorf("new server: fill in the scope column: %w", err)
	}
	if s.postgres() {
		if err := s.postgresSeqSetup(context.Background()); err != nil {
			return nil, fmt.Errorf("new server: seqs from transaction ids: %w", err)
		}
		if err := s.startCrossInstance(context.Background()); err != nil {
			return nil, fmt.Errorf("new server: events across instances: %w", err)
		}
	}
	return s, nil
}

// ServeHTTP serves the plain REST routes and the protocol.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if v := r.Header.Get(wire.HeaderProtocol); v != "" {
		if v != "1" {
			writeError(w, http.StatusBadRequest, wire.CodeUnsupportedProtocol, "this server speaks syncgen protocol 1")
			return
		}
		w.Header().Set(wire.HeaderProtocol, wire.Version)
	}
	if s.opts.auth != nil {
		user, err := s.opts.auth(r)
		if err != nil {
			writeError(w, http.StatusUnauthorized, wire.CodeUnauthorized, err.Error())
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), userKey{}, user))
	}
	r = r.WithContext(withScopeCache(r.Context()))
	h, pattern := s.mux.Handler(r)
	if pattern == "" {
		// No route: the mux's own answer (404, 405, a redirect to a clean path), with the
		// protocol's JSON error body instead of its plain text.
		rec := &routeAnswer{header: http.Header{}}
		h.ServeHTTP(rec, r)
		switch rec.status {
		case http.StatusNotFound:
			writeError(w, http.StatusNotFound, wire.CodeNotFound, "no such route")
			return
		case http.StatusMethodNotAllowed:
			w.Header().Set("Allow", rec.header.Get("Allow"))
			writeError(w, http.StatusMethodNotAllowed, wire.CodeMethodNotAllowed, r.Method+" is not served here")
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

// routeAnswer records the status and headers of the mux's answer to a request it has no
// route for; the body is dropped.
type routeAnswer struct {
	header http.Header
	status int
}

func (a *routeAnswer) Header() http.Header { return a.header }
func (a *routeAnswer) WriteHeader(status int) {
	if a.status == 0 {
		a.status = status
	}
}
func (a *routeAnswer) Write(b []byte) (int, error) {
	a.WriteHeader(http.StatusOK)
	return len(b), nil
}

// Close ends the event streams and waits for them. It does not close the DB.
func (s *Server) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.done)
	}
	s.mu.Unlock()
	if s.cross != nil {
		s.cross.stop()
	}
	s.streams.Wait()
	return nil
}
