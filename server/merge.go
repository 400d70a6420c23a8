package server

import (
	"encoding/json"
	"errors"

	"github.com/syncgen/syncgen/runtime"
	"github.com/syncgen/syncgen/wire"
)

// Field changes (PROTOCOL.md section 7): a put is merged into the stored record key by
// key, so keys this server's model does not know (fields of a newer app) and keys the
// write did not change (fields another device changed) stay as they are stored.

// shape is a model's JSON keys as this server knows them.
type shape struct {
	idKey   string
	known   map[string]bool // keys of the model's fields that travel
	was     wire.Renames    // declared renames
	aliases [][2]string     // (key now, its latest earlier name): stored records carry both, so older apps read it
}

func shapeOf(s *runtime.Schema) shape {
	sh := shape{known: map[string]bool{}, was: wire.Renames{}}
	for _, c := range s.Columns {
		if c.JSON == "" || c.Local {
			continue
		}
		sh.known[c.JSON] = true
		if c.Unique {
			sh.idKey = c.JSON
		}
		for _, old := range c.JSONWas {
			sh.was[old] = c.JSON
		}
		if n := len(c.JSONWas); n > 0 {
			sh.aliases = append(sh.aliases, [2]string{c.JSON, c.JSONWas[n-1]})
		}
	}
	return sh
}

var errNotObject = errors.New("not a JSON object")

// upgrade renames a record's earlier keys to the keys now (a key now that is present
// wins over its earlier name), and returns fields with the same renames.
func (sh shape) upgrade(rec map[string]json.RawMessage, fields []string) []string {
	sh.was.Record(rec)
	return sh.was.Keys(fields)
}

// merge is the record a put stores before stamps and hooks: stored (nil: none) with the
// body's changes. With fields, only those keys change: taken from the body, or removed
// when the body lacks them. Without (an older client, a plain PUT), the body's keys
// replace the stored ones, keys of the model the body lacks are removed, and keys the
// model does not know are kept.
func (sh shape) merge(stored, body []byte, fields []string) ([]byte, error) {
	var in map[string]json.RawMessage
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	if in == nil {
		return nil, errNotObject
	}
	fields = sh.upgrade(in, fields)
	var out map[string]json.RawMessage
	if len(stored) > 0 && string(stored) != "null" {
		if err := json.Unmarshal(stored, &out); err != nil {
			return nil, err
		}
	}
	if out == nil {
		return json.Marshal(in) // a create: the body as it is
	}
	sh.upgrade(out, nil)
	if fields == nil {
		for k := range sh.known {
			if _, ok := in[k]; !ok {
				delete(out, k)
			}
		}
		for k, v := range in {
			out[k] = v
		}
	} else {
		for _, k := range fields {
			if v, ok := in[k]; ok {
				out[k] = v
			} else {
				delete(out, k)
			}
		}
		if id, ok := in[sh.idKey]; ok {
			out[sh.idKey] = id
		}
	}
	return json.Marshal(out)
}

// keep is encoded, the model's encoding of src, with the keys of src the model does not
// know and the aliases of renamed keys: what the server stores.
func (sh shape) keep(src, encoded []byte) ([]byte, error) {
	var extra map[string]json.RawMessage
	if err := json.Unmarshal(src, &extra); err != nil {
		return nil, err
	}
	sh.upgrade(extra, nil)
	for k := range extra {
		if sh.known[k] {
			delete(extra, k)
		}
	}
	if len(extra) == 0 && len(sh.aliases) == 0 {
		return encoded, nil
	}
	var out map[string]json.RawMessage
	if err := json.Unmarshal(encoded, &out); err != nil {
		return nil, err
	}
	for k, v := range extra {
		out[k] = v
	}
	for _, a := range sh.aliases {
		if v, ok := out[a[0]]; ok {
			out[a[1]] = v
		}
	}
	return json.Marshal(out)
}

// upgraded is a body with its earlier keys renamed, for the idempotency hash: a write
// queued by an older app and rewritten at the client's Migrate is the same request.
func (sh shape) upgraded(body []byte) []byte {
	if len(sh.was) == 0 {
		return body
	}
	var rec map[string]json.RawMessage
	if json.Unmarshal(body, &rec) != nil || rec == nil {
		return body
	}
	sh.upgrade(rec, nil)
	b, err := json.Marshal(rec)
	if err != nil {
		return body
	}
	return b
}
