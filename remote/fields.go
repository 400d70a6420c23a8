package remote

import (
	"encoding/json"
)

// Field changes over plain REST: a PATCH update carries only the keys the write changed
// (runtime.Write.Fields), so the server keeps what other devices and other app versions
// wrote to the record's other fields. A key the write removed is sent as null, as JSON
// Merge Patch (RFC 7396) has it. PUT and POST send the whole record.

// patchBody is the body of a PATCH update: the changed keys of body; body itself when the
// write has no list (a create) or the body is not an object.
func patchBody(body json.RawMessage, fields []string) json.RawMessage {
	if fields == nil {
		return body
	}
	var rec map[string]json.RawMessage
	if json.Unmarshal(body, &rec) != nil || rec == nil {
		return body
	}
	out := make(map[string]json.RawMessage, len(fields))
	for _, k := range fields {
		if v, ok := rec[k]; ok {
			out[k] = v
		} else {
			out[k] = json.RawMessage("null")
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return body
	}
	return b
}
