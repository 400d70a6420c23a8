package server

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/syncgen/syncgen/runtime"
	"github.com/syncgen/syncgen/wire"
)

const rowColumns = "id, version, seq, updated_at, deleted, deleted_at, data, scope"

func (s *Server) q(query string) string { return s.db.Writer().Rebind(query) }

func protocol(r *http.Request) bool { return r.Header.Get(wire.HeaderProtocol) != "" }

// internal logs a server failure, with the database's text, and returns the error body a
// client gets instead: no database text reaches a client.
func (s *Server) internal(ctx context.Context, step string, err error) []byte {
	s.opts.log.ErrorContext(ctx, "syncgen server: "+step, "err", err)
	return errorBody(wire.CodeInternal, "the server failed; try again later")
}

// fail answers a server failure with 500.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, step string, err error) {
	writeRaw(w, http.StatusInternalServerError, s.internal(r.Context(), step, err))
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeRaw(w, status, errorBody(code, msg))
}

func errorBody(code, msg string) []byte {
	b, _ := json.Marshal(wire.Error{Message: msg, Code: code})
	return b
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeRaw(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}

// formatTime is t as the server's tables store it (runtime.TimeLayout); a clock outside
// the years 0000-9999 is written as it is rather than failing the request.
func formatTime(t time.Time) string {
	s, err := runtime.FormatTime(t)
	if err != nil {
		return t.UTC().Format(runtime.TimeLayout)
	}
	return s
}
