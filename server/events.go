package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/syncgen/syncgen/wire"
)

// announce tells the event streams that a model changed.
func (s *Server) announce(model string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.listeners {
		select {
		case ch <- model:
		default: // the stream has a backlog; its next event names every model
			select {
			case ch <- "":
			default:
			}
		}
	}
}

// events streams which models changed (server-sent events): one event per 100 ms at most,
// a ping every 25 s, until the client leaves or the server closes.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	ch := make(chan string, 64)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		writeError(w, http.StatusServiceUnavailable, wire.CodeInternal, "the server is closing")
		return
	}
	s.listeners[ch] = struct{}{}
	s.streams.Add(1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ch)
		s.mu.Unlock()
		s.streams.Done()
	}()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if c := r.URL.Query().Get("cursor"); c != "" { // changes since the client's cursor first
		ch <- ""
	}
	rc.Flush()
	ping := time.NewTicker(25 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		case <-ping.C:
			io.WriteString(w, ": ping\n\n")
		case model := <-ch:
			changed := map[string]bool{model: true}
			coalesce := time.After(100 * time.Millisecond)
		gather:
			for {
				select {
				case m := <-ch:
					changed[m] = true
				case <-coalesce:
					break gather
				}
			}
			var models []string
			for _, m := range s.models {
				if name := strings.TrimPrefix(m.schema.Path, "/"); changed[name] || changed[""] {
					models = append(models, name)
				}
			}
			var seq int64
			s.db.Reader().QueryRowxContext(r.Context(), s.q(`SELECT value FROM syncgen_server_counters WHERE name = 'seq'`)).Scan(&seq)
			data, _ := json.Marshal(map[string]any{"models": models, "seq": strconv.FormatInt(seq, 10)})
			fmt.Fprintf(w, "event: changed\ndata: %s\n\n", data)
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}
