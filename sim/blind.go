package sim

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
)

// blindServer is a plain REST server with json-server 0.17's semantics, the kind of server
// syncgen's plain clients must converge against: PUT replaces a record it has (404 when
// it has none), PATCH merges into it, POST creates (500 "Insert failed, duplicate id"
// when the id is taken), DELETE removes it (404 when absent). It keeps no versions, no
// idempotency keys and no order of its own: the last request to arrive wins, whatever
// its updatedAt says. Its validation refuses items named "invalid" with 422, as the
// generated server's hook in the simulation does.
type blindServer struct {
	mu    sync.Mutex
	ids   map[string][]string                   // collection → ids in insertion order
	items map[string]map[string]json.RawMessage // collection → id → record
}

func newBlindServer() *blindServer {
	return &blindServer{ids: map[string][]string{}, items: map[string]map[string]json.RawMessage{}}
}

func (b *blindServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	defer b.mu.Unlock()
	coll, id, _ := strings.Cut(strings.Trim(r.URL.Path, "/"), "/")
	if coll != "items" && coll != "notes" {
		blindAnswer(w, http.StatusNotFound, "{}")
		return
	}
	recs := b.items[coll]
	if recs == nil {
		recs = map[string]json.RawMessage{}
		b.items[coll] = recs
	}
	body, _ := io.ReadAll(r.Body)
	var rec map[string]json.RawMessage
	if len(body) > 0 && json.Unmarshal(body, &rec) != nil {
		blindAnswer(w, http.StatusBadRequest, `{"error":"bad json"}`)
		return
	}
	if coll == "items" && string(rec["name"]) == `"invalid"` {
		blindAnswer(w, http.StatusUnprocessableEntity, `{"error":"the name is invalid"}`)
		return
	}
	switch {
	case r.Method == http.MethodGet && id == "":
		out := []json.RawMessage{}
		for _, id := range b.ids[coll] {
			out = append(out, recs[id])
		}
		data, _ := json.Marshal(out)
		blindAnswer(w, http.StatusOK, string(data))
	case r.Method == http.MethodGet:
		if cur, ok := recs[id]; ok {
			blindAnswer(w, http.StatusOK, string(cur))
		} else {
			blindAnswer(w, http.StatusNotFound, "{}")
		}
	case r.Method == http.MethodPost && id == "":
		var newID string
		if json.Unmarshal(rec["id"], &newID) != nil || newID == "" {
			blindAnswer(w, http.StatusBadRequest, `{"error":"no id"}`)
			return
		}
		if _, ok := recs[newID]; ok {
			blindAnswer(w, http.StatusInternalServerError, `Error: Insert failed, duplicate id`)
			return
		}
		recs[newID] = body
		b.ids[coll] = append(b.ids[coll], newID)
		blindAnswer(w, http.StatusCreated, string(body))
	case r.Method == http.MethodPut || r.Method == http.MethodPatch:
		cur, ok := recs[id]
		if !ok {
			blindAnswer(w, http.StatusNotFound, "{}")
			return
		}
		if r.Method == http.MethodPatch {
			var merged map[string]json.RawMessage
			json.Unmarshal(cur, &merged)
			for k, v := range rec {
				merged[k] = v
			}
			body, _ = json.Marshal(merged)
		}
		recs[id] = body
		blindAnswer(w, http.StatusOK, string(body))
	case r.Method == http.MethodDelete:
		if _, ok := recs[id]; !ok {
			blindAnswer(w, http.StatusNotFound, "{}")
			return
		}
		delete(recs, id)
		b.ids[coll] = slices.DeleteFunc(b.ids[coll], func(x string) bool { return x == id })
		blindAnswer(w, http.StatusOK, "{}")
	default:
		blindAnswer(w, http.StatusNotFound, "{}")
	}
}

func blindAnswer(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}
