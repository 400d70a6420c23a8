package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Events across server instances on one PostgreSQL database: every instance publishes
// the changes it committed with NOTIFY and LISTENs for the others', which it hands to
// its own event streams as if it had made them. Each instance holds two connections of
// its own for this, outside the pool: one listening, one notifying.

// notifyChannel is the channel of the instances' notifications.
const notifyChannel = "syncgen_changes"

// maxNotifyBytes keeps a notification's payload under PostgreSQL's limit (8000 bytes).
const maxNotifyBytes = 7000

// notifyEvery is the least time between two NOTIFYs of one instance: the changes
// committed meanwhile go together. Each NOTIFY is a transaction of its own and wakes every
// listening backend; sent as soon as a change was pending, under load they cost about
// one for every two writes. The other instances hear of a change this much later at
// most, against the pulls it hastens.
const notifyEvery = 10 * time.Millisecond

// notifyRetry is how long an instance waits before it connects again after losing a
// connection of its own.
const notifyRetry = time.Second

// notice is one notification's payload: the changes an instance committed, by model
// table and seq; or, when more piled up than a stream may fall behind, that any model may
// have changed.
type notice struct {
	From    string          `json:"from"` // the instance, which ignores its own
	Changes []noticedChange `json:"changes,omitempty"`
	All     bool            `json:"all,omitempty"`
}

// noticedChange names a change by its model's table and its seq, which is one record's.
type noticedChange struct {
	Table string `json:"t"`
	Seq   int64  `json:"s"`
}

// crossInstance carries changes between the instances on one PostgreSQL database.
type crossInstance struct {
	s      *Server
	id     string
	config *pgx.ConnConfig
	cancel context.CancelFunc
	done   sync.WaitGroup

	mu       sync.Mutex
	pending  []change
	overflow bool          // more than maxPending piled up: they go as one notice with All
	wake     chan struct{} // cap 1
}

// startCrossInstance starts the LISTEN and NOTIFY loops on PostgreSQL through pgx; on
// another driver the events stay within the instance.
func (s *Server) startCrossInstance(ctx context.Context) error {
	conn, err := s.db.Writer().Conn(ctx)
	if err != nil {
		return err
	}
	var config *pgx.ConnConfig
	err = conn.Raw(func(dc any) error {
		if c, ok := dc.(*stdlib.Conn); ok {
			config = c.Conn().Config().Copy()
			// The copy would hand notifications to the pooled connection it came from.
			config.OnNotification = nil
		}
		return nil
	})
	conn.Close()
	if err != nil {
		return err
	}
	if config == nil {
		s.opts.log.Warn("syncgen server: the PostgreSQL driver is not pgx: /_events hears of this instance's writes only")
		return nil
	}
	var id [8]byte
	rand.Read(id[:])
	ci := &crossInstance{s: s, id: hex.EncodeToString(id[:]), config: config, wake: make(chan struct{}, 1)}
	ctx, ci.cancel = context.WithCancel(context.Background())
	ready := make(chan struct{})
	ci.done.Go(func() { ci.listen(ctx, ready) })
	ci.done.Go(func() { ci.notify(ctx) })
	// Listening before New returns: a write on another instance right after is heard.
	select {
	case <-ready:
	case <-time.After(postgresPingTimeout):
	}
	s.cross = ci
	return nil
}

// publish hands committed changes to the other instances.
func (s *Server) publish(changes []change) {
	ci := s.cross
	if ci == nil || len(changes) == 0 {
		return
	}
	ci.mu.Lock()
	if len(ci.pending)+len(changes) > maxPending {
		ci.pending, ci.overflow = nil, true
	} else if !ci.overflow {
		ci.pending = append(ci.pending, changes...)
	}
	ci.mu.Unlock()
	select {
	case ci.wake <- struct{}{}:
	default:
	}
}

// stop ends the loops and waits for them.
func (ci *crossInstance) stop() {
	ci.cancel()
	ci.done.Wait()
}

// connect opens a connection of the instance's own, retrying until ctx ends.
func (ci *crossInstance) connect(ctx context.Context, setup string) (*pgx.Conn, error) {
	for {
		conn, err := pgx.ConnectConfig(ctx, ci.config)
		if err == nil {
			if _, err = conn.Exec(ctx, setup); err == nil {
				return conn, nil
			}
			conn.Close(context.Background())
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		ci.s.opts.log.Error("syncgen server: events across instances: connect", "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(notifyRetry):
		}
	}
}

// notify sends the pending changes, all that piled up since the last NOTIFY (at least
// notifyEvery before), in as few notifications as fit. Its session commits without
// waiting for the WAL flush: a notification lost to a crash of the database is a lost
// hint, which clients survive.
func (ci *crossInstance) notify(ctx context.Context) {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	var last time.Time // of the last NOTIFY
	for {
		select {
		case <-ctx.Done():
			return
		case <-ci.wake:
		}
		if d := notifyEvery - time.Since(last); d > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(d):
			}
		}
		ci.mu.Lock()
		pending, overflow := ci.pending, ci.overflow
		ci.pending, ci.overflow = nil, false
		ci.mu.Unlock()
		payloads := ci.payloads(pending)
		if overflow {
			b, _ := json.Marshal(notice{From: ci.id, All: true})
			payloads = []string{string(b)}
		}
		if len(payloads) == 0 { // taken by the NOTIFY before, which woke this one too
			continue
		}
		if conn == nil {
			var err error
			if conn, err = ci.connect(ctx, "SET synchronous_commit = off"); err != nil {
				return
			}
		}
		last = time.Now()
		if _, err := conn.Exec(ctx, `SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`, notifyChannel, payloads); err != nil {
			if ctx.Err() != nil {
				return
			}
			ci.s.opts.log.Error("syncgen server: events across instances: notify", "err", err)
			conn.Close(context.Background())
			conn = nil
		}
	}
}

// payloads splits changes into notification payloads under maxNotifyBytes each.
func (ci *crossInstance) payloads(changes []change) []string {
	var out []string
	n := notice{From: ci.id}
	size := 0
	flush := func() {
		if len(n.Changes) > 0 {
			b, _ := json.Marshal(n)
			out = append(out, string(b))
		}
		n.Changes, size = nil, 0
	}
	for _, c := range changes {
		e := noticedChange{Table: c.model.schema.Table, Seq: c.seq}
		l := len(e.Table) + 32
		if size+l > maxNotifyBytes {
			flush()
		}
		n.Changes = append(n.Changes, e)
		size += l
	}
	flush()
	return out
}

// listen hears the other instances' changes and announces them on this instance's
// streams. A stream may have missed changes while the connection was down: after a
// reconnection every stream is told every model may have changed.
func (ci *crossInstance) listen(ctx context.Context, ready chan struct{}) {
	first := true
	for {
		conn, err := ci.connect(ctx, "LISTEN "+notifyChannel)
		if err != nil {
			return
		}
		if first {
			close(ready)
			first = false
		} else {
			ci.s.announceAll()
		}
		for {
			n, err := conn.WaitForNotification(ctx)
			if err != nil {
				conn.Close(context.Background())
				if ctx.Err() != nil {
					return
				}
				ci.s.opts.log.Error("syncgen server: events across instances: listen", "err", err)
				break
			}
			var msg notice
			if n == nil || json.Unmarshal([]byte(n.Payload), &msg) != nil || msg.From == ci.id {
				continue
			}
			if msg.All {
				ci.s.announceAll()
				continue
			}
			if err := ci.heard(ctx, msg.Changes); err != nil && ctx.Err() == nil {
				ci.s.opts.log.Error("syncgen server: events across instances: read the changes", "err", err)
				ci.s.announceAll()
			}
		}
	}
}

// heard announces another instance's changes. Scopes need each record, its scope and the
// scope it left, to decide who may hear of it: those are read in one query, at their
// current version (a record changed again since is announced with that change).
func (ci *crossInstance) heard(ctx context.Context, noticed []noticedChange) error {
	s := ci.s
	s.mu.Lock()
	idle := len(s.listeners) == 0
	s.mu.Unlock()
	if idle {
		return nil
	}
	byTable := map[string]*Model{}
	for _, m := range s.models {
		byTable[m.schema.Table] = m
	}
	var changes []change
	if s.opts.scope == nil && s.opts.scopes == nil {
		for _, c := range noticed {
			if m := byTable[c.Table]; m != nil {
				changes = append(changes, change{model: m, seq: c.Seq})
			}
		}
		s.announce(changes)
		return nil
	}
	tables := make([]string, len(noticed))
	seqs := make([]int64, len(noticed))
	for i, c := range noticed {
		tables[i], seqs[i] = c.Table, c.Seq
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rows, err := s.db.Reader().QueryxContext(ctx, `SELECT r.model, r.seq, r.data, r.scope, COALESCE(l.scope, '')
		FROM syncgen_server_records r
		JOIN unnest($1::text[], $2::bigint[]) AS n(model, seq) ON r.model = n.model AND r.seq = n.seq
		LEFT JOIN syncgen_server_leaves l ON l.model = r.model AND l.id = r.id AND l.seq = r.seq`, tables, seqs)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var table string
		var c change
		if err := rows.Scan(&table, &c.seq, &c.data, &c.scope, &c.left); err != nil {
			return err
		}
		if c.model = byTable[table]; c.model != nil {
			changes = append(changes, c)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	s.announce(changes)
	return nil
}

// announceAll tells every stream of this instance that any model may have changed.
func (s *Server) announceAll() { s.announceAllTo(func(*listener) bool { return true }) }

// announceAllTo tells the streams of this instance that match that any model may have
// changed.
func (s *Server) announceAllTo(match func(*listener) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for l := range s.listeners {
		if !match(l) {
			continue
		}
		l.mu.Lock()
		l.pending, l.overflow = nil, true
		l.mu.Unlock()
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
}
