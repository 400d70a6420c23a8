package wire

import (
	"encoding/json"
	"fmt"
	"slices"
)

// Field changes (PROTOCOL.md section 7, "Field changes"; revision 1.1 of version 1): a put
// may list the JSON keys it changed since the version in If-Match. The server then merges
// those keys into the stored record and keeps every other key, those it does not know
// included, so writes of apps that know different fields, or that changed different
// fields, do not undo each other.

// Revision is the protocol's revision within Version: compatible additions only. Servers
// and clients of every revision of one version talk to each other.
const Revision = "1.1"

// HeaderFields carries a single put's changed keys: a JSON array of strings. A batch op
// carries them in BatchOp.Fields.
const HeaderFields = "Syncgen-Fields"

// EncodeFields is the value of HeaderFields for keys.
func EncodeFields(keys []string) string {
	if keys == nil {
		keys = []string{}
	}
	b, _ := json.Marshal(keys) // strings always encode
	return string(b)
}

// DecodeFields parses a HeaderFields value; "" is no list (nil: the whole record).
func DecodeFields(v string) ([]string, error) {
	if v == "" {
		return nil, nil
	}
	var keys []string
	if err := json.Unmarshal([]byte(v), &keys); err != nil {
		return nil, fmt.Errorf("%s is not a JSON array of strings: %w", HeaderFields, err)
	}
	if keys == nil {
		keys = []string{}
	}
	return keys, nil
}

// Renames maps a JSON key's earlier names to the key now, for fields declared renamed
// (`sync:"was=…"`): both sides read a record or a list of changed keys written under an
// earlier name as written under the name now.
type Renames map[string]string

// Record renames rec's earlier keys in place; a key now that is present wins over its
// earlier name. It reports whether rec changed.
func (rn Renames) Record(rec map[string]json.RawMessage) bool {
	changed := false
	for old, now := range rn {
		if v, ok := rec[old]; ok {
			if _, has := rec[now]; !has {
				rec[now] = v
			}
			delete(rec, old)
			changed = true
		}
	}
	return changed
}

// Keys is keys with earlier names renamed, each key once; nil stays nil (the whole
// record).
func (rn Renames) Keys(keys []string) []string {
	if len(rn) == 0 || keys == nil {
		return keys
	}
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		if now, ok := rn[k]; ok {
			k = now
		}
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}
