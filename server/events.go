package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/syncgen/syncgen/wire"
)

// change is one committed write, as the event streams hear of it: each stream shows its
// user only the changes in the user's scope, with no database read.
type change struct {
	model *Model
	seq   int64
	data  string // the stored record (a tombstone's last record)
	scope string // its scope value (scopes.go)
	left  string // the scope value it moved out of, "" when it did not move
}

// maxPending is how many changes a stream may fall behind before it loses them; it then
// names every model in its next event, which reveals nothing, since that is a hint any
// client may get.
const maxPending = 1024

// listener is one events stream's mailbox.
type listener struct {
	wake chan struct{} // cap 1: something is pending
	user string        // the stream's user, for ScopesChanged

	mu       sync.Mutex
	pending  []change
	overflow bool
}

func (l *listener) take() ([]change, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, o := l.pending, l.overflow
	l.pending, l.overflow = nil, false
	return p, o
}

// announce hands committed changes to the event streams.
func (s *Server) announce(changes []change) {
	if len(changes) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for l := range s.listeners {
		l.mu.Lock()
		if len(l.pending)+len(changes) > maxPending {
			l.pending, l.overflow = nil, true
		} else {
			l.pending = append(l.pending, changes...)
		}
		l.mu.Unlock()
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
}

// eventWriteTimeout bounds each write to an events stream, which the http.Server's
// WriteTimeout does not: that would end every stream after it.
const eventWriteTimeout = 30 * time.Second

// events streams which models changed (server-sent events): one event per 100 ms at most,
// a ping every 25 s, until the client leaves or the server closes. A user hears only of
// changes to records in their scope, and the seq of those.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	l := &listener{wake: make(chan struct{}, 1), user: User(r.Context())}
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		writeError(w, http.StatusServiceUnavailable, wire.CodeUnavailable, "the server is closing")
		return
	case len(s.listeners) >= s.opts.maxStreams:
		s.mu.Unlock()
		w.Header().Set("Retry-After", "30")
		writeError(w, http.StatusServiceUnavailable, wire.CodeUnavailable, "too many event streams; poll the feed meanwhile")
		return
	}
	s.listeners[l] = struct{}{}
	s.streams.Add(1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		s.streams.Done()
	}()
	// The stream outlives any WriteTimeout of the http.Server; each write has its own.
	_ = rc.SetWriteDeadline(time.Time{})
	write := func(f func()) error {
		_ = rc.SetWriteDeadline(time.Now().Add(eventWriteTimeout))
		f()
		return rc.Flush()
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// A client with a cursor may have missed changes: every model is named once, at the
	// client's own cursor, which tells it nothing it did not know.
	lastSeq, err := strconv.ParseInt(r.URL.Query().Get("cursor"), 10, 64)
	if err != nil || lastSeq < 0 {
		lastSeq = 0
	}
	send := func(models []string, seq int64) error {
		data, _ := json.Marshal(map[string]any{"models": models, "seq": strconv.FormatInt(seq, 10)})
		return write(func() { fmt.Fprintf(w, "event: changed\ndata: %s\n\n", data) })
	}
	all := func() []string {
		var models []string
		for _, m := range s.models {
			models = append(models, strings.TrimPrefix(m.schema.Path, "/"))
		}
		return models
	}
	if r.URL.Query().Get("cursor") != "" {
		if send(all(), lastSeq) != nil {
			return
		}
	} else if write(func() {}) != nil {
		return
	}
	ping := time.NewTicker(25 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		case <-ping.C:
			if write(func() { io.WriteString(w, ": ping\n\n") }) != nil {
				return
			}
		case <-l.wake:
			select { // coalesce the commits of the next 100 ms
			case <-time.After(100 * time.Millisecond):
			case <-r.Context().Done():
				return
			case <-s.done:
				return
			}
			pending, overflow := l.take()
			if overflow {
				if send(all(), lastSeq) != nil {
					return
				}
				continue
			}
			changed := map[*Model]bool{}
			top := int64(0)
			// The user's scopes are asked afresh for each event: a stream lasts long, and
			// grants and revocations happen meanwhile.
			ctx := withScopeCache(r.Context())
			for _, c := range pending {
				seen, err := s.inScope(ctx, c.model, c.scope)
				if err == nil && !seen && c.left != "" {
					seen, err = s.inScope(ctx, c.model, c.left) // it left the user's scope
				}
				if err != nil {
					s.opts.log.ErrorContext(ctx, "syncgen server: events", "err", err)
					continue
				}
				if seen && s.visible(r.Context(), c.model, c.data) {
					changed[c.model] = true
					top = max(top, c.seq)
				}
			}
			if len(changed) == 0 {
				continue // nothing this user may see
			}
			var models []string
			for _, m := range s.models {
				if changed[m] {
					models = append(models, strings.TrimPrefix(m.schema.Path, "/"))
				}
			}
			lastSeq = max(lastSeq, top)
			if send(models, lastSeq) != nil {
				return
			}
		}
	}
}
