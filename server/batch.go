package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/syncgen/syncgen/wire"
)

// batch applies several writes, each judged and committed on its own, in order.
func (s *Server) batch(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 8*s.opts.maxBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, wire.CodeTooLarge, "the batch is too large")
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, wire.CodeBadRequest, err.Error())
		return
	}
	var req wire.Batch
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, wire.CodeBadRequest, "the batch is not JSON: "+err.Error())
		return
	}
	if len(req.Ops) > wire.MaxBatchOps {
		writeError(w, http.StatusRequestEntityTooLarge, wire.CodeBatchTooLarge, fmt.Sprintf("at most %d ops in a batch", wire.MaxBatchOps))
		return
	}
	results := make([]wire.BatchResult, len(req.Ops))
	answer := func(i, status int, body []byte) {
		res := wire.BatchResult{Key: req.Ops[i].Key, Status: status}
		if status < 300 {
			res.Entry = body
		} else {
			var e wire.Error
			json.Unmarshal(body, &e)
			res.Entry, res.Error = e.Entry, body
		}
		results[i] = res
	}
	var writes []writeReq
	var at []int
	for i, op := range req.Ops {
		m := s.byName[op.Model]
		switch {
		case m == nil:
			answer(i, http.StatusNotFound, errorBody(wire.CodeNotFound, "no model "+strconv.Quote(op.Model)))
		case op.Op != wire.OpPut && op.Op != wire.OpDelete:
			answer(i, http.StatusBadRequest, errorBody(wire.CodeBadRequest, `op must be "put" or "delete"`))
		case op.Key == "":
			answer(i, http.StatusBadRequest, errorBody(wire.CodeMissingKey, "every op needs a key"))
		case int64(len(op.Record)) > s.opts.maxBody:
			answer(i, http.StatusRequestEntityTooLarge, errorBody(wire.CodeTooLarge, fmt.Sprintf("a record may have at most %d bytes", s.opts.maxBody)))
		default:
			writes = append(writes, writeReq{model: m, id: op.ID, del: op.Op == wire.OpDelete,
				body: op.Record, protocol: true, ifMatch: op.Version, key: op.Key, fields: op.Fields})
			at = append(at, i)
		}
	}
	if len(writes) > 0 {
		ws, err := s.writeAll(r.Context(), writes)
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, wire.CodeInternal, err.Error())
			return
		}
		for k, w := range ws {
			answer(at[k], w.status, w.answer)
		}
	}
	writeJSON(w, http.StatusOK, wire.BatchAnswer{Results: results})
}
