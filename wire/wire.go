// Package wire is the syncgen protocol (docs/PROTOCOL.md) as Go: its headers, the change
// entry, the change feed's page, batches, error bodies and their codes, its limits, and the
// canonical JSON that last-writer-wins orders by. The protocol client (package remote) and
// the generated server (package server) both speak it through this package, so the two
// sides cannot drift apart.
package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Version is the protocol's major version, the value of HeaderProtocol.
const Version = "1"

// Headers of protocol requests and answers (PROTOCOL.md section 2).
const (
	// HeaderProtocol marks a protocol request and every answer to one.
	HeaderProtocol = "Syncgen-Protocol"
	// HeaderIdempotencyKey identifies a write: "<clientID>:<opSeq>".
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderIfMatch carries the version a write was based on, quoted.
	HeaderIfMatch = "If-Match"
)

// Limits of the protocol.
const (
	// MaxBatchOps is how many ops one POST /_batch may carry.
	MaxBatchOps = 100
	// MaxIDBytes is the longest id, in bytes of UTF-8.
	MaxIDBytes = 255
	// MaxKeyBytes is the longest idempotency key.
	MaxKeyBytes = 255
	// MaxFeedLimit is the most changes one feed page holds, whatever limit asks.
	MaxFeedLimit = 1000
	// MaxSubsetTerms is the most conditions and operands the subsets of one feed request
	// may hold together (QueryWhere).
	MaxSubsetTerms = 1000
	// ReservedPrefix begins the names of protocol routes; no id may begin with it.
	ReservedPrefix = "_"
)

// TimeLayout is how an entry shows updatedAt: UTC, fixed-width microseconds, what
// updatedAt stamps hold.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// Entry is a record as the server keeps it: in the change feed, in the answer to a
// protocol read or write, and in a 409 (PROTOCOL.md section 4).
type Entry struct {
	ID        string          `json:"id"`
	Version   string          `json:"version"`
	Seq       string          `json:"seq"`
	UpdatedAt string          `json:"updatedAt"`
	Deleted   bool            `json:"deleted"`
	Record    json.RawMessage `json:"record"` // null for a deleted record of a model without deletedAt
	// Left says the record moved out of the scopes the reader may see (PROTOCOL.md section
	// 18): it is not deleted, but the reader's copy goes. Record is then null.
	Left bool `json:"left,omitempty"`
	// Outside says the record changed and is now in none of the subsets the reader asked
	// for (QueryWhere, PROTOCOL.md section 19): the reader may still see it, but does not
	// sync it, so its copy goes once nothing of it waits to be pushed. Record is then null.
	Outside bool `json:"outside,omitempty"`
}

// Changes is one page of a model's change feed (PROTOCOL.md section 5). Cursor is a
// pointer so that a page without one is told apart from an empty cursor.
type Changes struct {
	Changes []Entry `json:"changes"`
	Cursor  *string `json:"cursor"`
	HasMore bool    `json:"hasMore"`
	// Scopes, for a model with a scope field on a server that filters by scope, are the
	// scope values the reader may see now (within the ones asked for, if any), sorted;
	// nil otherwise. A client that held records of a value no longer listed drops them,
	// and reads a newly listed value's records from the start (PROTOCOL.md section 18).
	// An empty list ([]) says the reader may see none; null or absent, that the model is
	// not filtered by scope.
	Scopes []string `json:"scopes"`
}

// QueryScope is the change feed's parameter that narrows it to some scope values (repeat
// it for several); the server intersects them with the ones the reader may see.
const QueryScope = "scope"

// QueryWhere is the change feed's parameter that narrows it to the records of some
// subsets, a JSON array of Subset (PROTOCOL.md section 19): a record is sent when it
// matches any of them. After a cursor, a change to a record that matches none is sent as
// an Outside entry; from the start, such records are left out.
const QueryWhere = "where"

// A Subset is conditions on a model's fields, all of which must hold.
type Subset []Cond

// Cond is one condition of a subset: Key's value compared with Value by Op (eq, ne, lt,
// le, gt, ge, hasPrefix), or with Values (in, notIn), or tested (isNull, notNull); or,
// with Op "or", true when any of Any holds. Values are as the record's JSON holds them;
// the server compares them by the field's type (times as times, numbers as numbers).
type Cond struct {
	Key    string            `json:"key,omitempty"`
	Op     string            `json:"op"`
	Value  json.RawMessage   `json:"value,omitempty"`
	Values []json.RawMessage `json:"values,omitempty"`
	Any    []Cond            `json:"any,omitempty"`
}

// Batch is the body of POST /_batch (PROTOCOL.md section 9).
type Batch struct {
	Ops []BatchOp `json:"ops"`
}

// Ops of a batch.
const (
	OpPut    = "put"
	OpDelete = "delete"
)

// BatchOp is one write of a batch.
type BatchOp struct {
	Key     string          `json:"key"`
	Model   string          `json:"model"` // the model's path without the leading slash
	Op      string          `json:"op"`    // OpPut or OpDelete
	ID      string          `json:"id"`
	Version *string         `json:"version,omitempty"` // the If-Match version; absent for a create
	Record  json.RawMessage `json:"record,omitempty"`  // the body of a put
	// Fields lists the keys the put changed since Version (fields.go); absent: the whole
	// record; [] is none but the stamps the server makes. Added in revision 1.1.
	Fields []string `json:"fields,omitzero"`
}

// BatchAnswer is the answer to a batch: one result per op, in op order.
type BatchAnswer struct {
	Results []BatchResult `json:"results"`
}

// BatchResult is one op's outcome: Status is what the op alone would have got; Entry is
// the stored entry on success and the current one (or null) on a 409; Error is the error
// body on failure.
type BatchResult struct {
	Key    string          `json:"key"`
	Status int             `json:"status"`
	Entry  json.RawMessage `json:"entry"`
	Error  json.RawMessage `json:"error"`
}

// Error is every error's body (PROTOCOL.md section 13). Clients act on the status and
// Code, never on Message. A 409 adds Entry: the record as the server holds it now, or
// null when it has none.
type Error struct {
	Message string          `json:"error"`
	Code    string          `json:"code"`
	Entry   json.RawMessage `json:"entry,omitempty"`
}

// Error codes.
const (
	CodeBadRequest          = "bad_request"
	CodeUnsupportedProtocol = "unsupported_protocol"
	CodeReservedID          = "reserved_id"
	CodeIDMismatch          = "id_mismatch"
	CodeMissingKey          = "missing_key"
	CodeUnauthorized        = "unauthorized"
	CodeForbidden           = "forbidden"
	CodeOutOfScope          = "out_of_scope"
	CodeNotFound            = "not_found"
	CodeMethodNotAllowed    = "method_not_allowed"
	CodeConflict            = "conflict"
	CodeCursorExpired       = "cursor_expired"
	CodeTooLarge            = "too_large"
	CodeBatchTooLarge       = "batch_too_large"
	CodeValidation          = "validation"
	CodeKeyReused           = "key_reused"
	CodeInternal            = "internal"
	CodeUnavailable         = "unavailable"
)

// ErrBadID is wrapped by CheckID's error for an id no record may have; ErrReservedID by
// its error for an id beginning with ReservedPrefix.
var (
	ErrBadID      = errors.New("bad id")
	ErrReservedID = errors.New("reserved id")
	ErrBadKey     = errors.New("bad idempotency key")
)

// CheckID reports why id cannot be a record's id (PROTOCOL.md section 2), or nil: it must
// be non-empty UTF-8 of at most MaxIDBytes bytes, without NUL, and not begin with
// ReservedPrefix. Servers answer an error with 400 and IDCode(err); clients can check ids
// before they send them.
func CheckID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty", ErrBadID)
	case len(id) > MaxIDBytes:
		return fmt.Errorf("%w: %d bytes, at most %d", ErrBadID, len(id), MaxIDBytes)
	case !utf8.ValidString(id):
		return fmt.Errorf("%w: not valid UTF-8", ErrBadID)
	case strings.IndexByte(id, 0) >= 0:
		return fmt.Errorf("%w: holds NUL", ErrBadID)
	case strings.HasPrefix(id, ReservedPrefix):
		return fmt.Errorf("%w: ids beginning with %s are reserved for protocol routes", ErrReservedID, ReservedPrefix)
	}
	return nil
}

// IDCode is the error code of a CheckID error: CodeReservedID or CodeBadRequest.
func IDCode(err error) string {
	if errors.Is(err, ErrReservedID) {
		return CodeReservedID
	}
	return CodeBadRequest
}

// CheckKey reports why key cannot be an idempotency key (PROTOCOL.md section 8), or nil:
// 1 to MaxKeyBytes visible ASCII characters.
func CheckKey(key string) error {
	if key == "" || len(key) > MaxKeyBytes {
		return fmt.Errorf("%w: want 1 to %d characters, got %d", ErrBadKey, MaxKeyBytes, len(key))
	}
	for i := 0; i < len(key); i++ {
		if key[i] <= ' ' || key[i] > '~' {
			return fmt.Errorf("%w: byte %d is not visible ASCII", ErrBadKey, i)
		}
	}
	return nil
}

// Canonical re-encodes a JSON value with object keys sorted and no spaces, keeping
// numbers as written, so replicas in any language compute the same bytes: last-writer-wins
// breaks a tie of updatedAt by comparing them (PROTOCOL.md section 11).
func Canonical(data []byte) ([]byte, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
