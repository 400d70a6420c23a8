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

// errTooManyOps stops a batch's decoding at the op past wire.MaxBatchOps.
var errTooManyOps = errors.New("too many ops")

// decodeBatch reads a batch op by op, so that the ops are counted as they come: an op past
// wire.MaxBatchOps stops the reading, whatever the rest of the body holds.
func decodeBatch(r io.Reader) (wire.Batch, error) {
	var b wire.Batch
	d := json.NewDecoder(r)
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		return b, errors.New("want a JSON object")
	}
	seen := false
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return b, err
		}
		if tok != "ops" {
			var skip json.RawMessage
			if err := d.Decode(&skip); err != nil {
				return b, err
			}
			continue
		}
		if seen {
			return b, errors.New(`"ops" twice`)
		}
		seen = true
		if tok, err := d.Token(); err != nil || tok != json.Delim('[') {
			return b, errors.New(`"ops" is not an array`)
		}
		b.Ops = []wire.BatchOp{}
		for d.More() {
			if len(b.Ops) == wire.MaxBatchOps {
				return b, errTooManyOps
			}
			var op wire.BatchOp
			if err := d.Decode(&op); err != nil {
				return b, fmt.Errorf("op %d: %w", len(b.Ops), err)
			}
			b.Ops = append(b.Ops, op)
		}
		if _, err := d.Token(); err != nil { // ']'
			return b, err
		}
	}
	if _, err := d.Token(); err != nil { // '}'
		return b, err
	}
	if !seen {
		return b, errors.New(`no "ops" array`)
	}
	if _, err := d.Token(); err != io.EOF {
		return b, errors.New("data after the batch")
	}
	return b, nil
}

// batch applies several writes, each judged and committed on its own, in order.
func (s *Server) batch(w http.ResponseWriter, r *http.Request) {
	req, err := decodeBatch(http.MaxBytesReader(w, r.Body, defaultBatchBodyFactor*s.opts.maxBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.Is(err, errTooManyOps):
		// The rest of the body is not read: the connection closes after the answer,
		// instead of the server reading on first.
		w.Header().Set("Connection", "close")
		writeError(w, http.StatusRequestEntityTooLarge, wire.CodeBatchTooLarge, fmt.Sprintf("at most %d ops in a batch", wire.MaxBatchOps))
		return
	case errors.As(err, &tooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, wire.CodeTooLarge, "the batch is too large")
		return
	case err != nil:
		msg := err.Error()
		var typeErr *json.UnmarshalTypeError
		var syntaxErr *json.SyntaxError
		if errors.As(err, &typeErr) || errors.As(err, &syntaxErr) {
			msg = bodyError(err)
		}
		writeError(w, http.StatusBadRequest, wire.CodeBadRequest, "the batch is not a batch: "+msg)
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
		default:
			writes = append(writes, writeReq{model: m, id: op.ID, del: op.Op == wire.OpDelete,
				body: op.Record, protocol: true, ifMatch: op.Version, key: op.Key, fields: op.Fields})
			at = append(at, i)
		}
	}
	if len(writes) > 0 {
		ws, err := s.writeAll(r.Context(), writes)
		if err != nil {
			writeRaw(w, http.StatusServiceUnavailable, s.internal(r.Context(), "batch", err))
			return
		}
		for k, w := range ws {
			answer(at[k], w.status, w.answer)
		}
	}
	writeJSON(w, http.StatusOK, wire.BatchAnswer{Results: results})
}
