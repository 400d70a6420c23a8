package remote

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/syncgen/syncgen/internal/text"
	"github.com/syncgen/syncgen/runtime"
	"github.com/syncgen/syncgen/wire"
)

// nextLink finds the rel="next" target in RFC 8288 Link header values.
func nextLink(values []string) string {
	for _, v := range values {
		for v != "" {
			v = strings.TrimLeft(v, " \t,")
			if !strings.HasPrefix(v, "<") {
				break
			}
			end := strings.IndexByte(v, '>')
			if end < 0 {
				break
			}
			target := v[1:end]
			v = v[end+1:]
			// Parameters up to the next comma outside quotes.
			var params []string
			for {
				v = strings.TrimLeft(v, " \t")
				if !strings.HasPrefix(v, ";") {
					break
				}
				v = strings.TrimLeft(v[1:], " \t")
				i := 0
				for i < len(v) && v[i] != ';' && v[i] != ',' {
					if v[i] == '"' {
						if j := strings.IndexByte(v[i+1:], '"'); j >= 0 {
							i += j + 1
						}
					}
					i++
				}
				params = append(params, v[:i])
				v = v[i:]
			}
			for _, p := range params {
				name, val, _ := strings.Cut(p, "=")
				if !strings.EqualFold(strings.TrimSpace(name), "rel") {
					continue
				}
				for _, rel := range strings.Fields(strings.Trim(strings.TrimSpace(val), `"`)) {
					if strings.EqualFold(rel, "next") {
						return target
					}
				}
			}
		}
	}
	return ""
}

// pageBody is what a list answer holds.
type pageBody struct {
	records []json.RawMessage
	next    string // the cursor or next link under the next key; "" when absent or null
}

// decodePage reads a list answer as a stream, one record at a time: the array at the top
// or under listKey, and the value under nextKey. A null list is empty (Go servers encode
// a nil slice so); anything else that is not an array of objects is malformed.
func decodePage(r io.Reader, listKey, nextKey []string, maxRecords int) (pageBody, error) {
	d := &pageDecoder{dec: json.NewDecoder(r), list: listKey, next: nextKey, max: maxRecords}
	d.dec.UseNumber() // a numeric cursor keeps its exact digits
	if err := d.decode(); err != nil {
		if errors.Is(err, runtime.ErrPageTooLarge) {
			return pageBody{}, err
		}
		return pageBody{}, fmt.Errorf("%w: %w", runtime.ErrMalformedResponse, err)
	}
	return d.out, nil
}

type pageDecoder struct {
	dec        *json.Decoder
	list, next []string
	max        int // records at most
	listFound  bool
	out        pageBody
}

func (d *pageDecoder) decode() error {
	if len(d.list) == 0 {
		if err := d.array("the answer"); err != nil {
			return err
		}
	} else {
		tok, err := d.token()
		if err != nil {
			return err
		}
		if tok != json.Delim('{') {
			return fmt.Errorf("the answer is %s, not an object holding %q", describe(tok), strings.Join(d.list, "."))
		}
		if err := d.object(0, true, len(d.next) > 0); err != nil {
			return err
		}
		if !d.listFound {
			return fmt.Errorf("no %q in the answer", strings.Join(d.list, "."))
		}
	}
	if _, err := d.dec.Token(); err != io.EOF {
		if err != nil {
			return err
		}
		return errors.New("data after the answer's JSON value")
	}
	return nil
}

// token is dec.Token with a clean end of input mid-value reported as such.
func (d *pageDecoder) token() (json.Token, error) {
	tok, err := d.dec.Token()
	if err == io.EOF {
		return nil, io.ErrUnexpectedEOF
	}
	return tok, err
}

// object reads the members of an object whose '{' was read, at depth in the key paths;
// list and next say whether the list and next paths lead through it.
func (d *pageDecoder) object(depth int, list, next bool) error {
	for d.dec.More() {
		tok, err := d.token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		inList := list && d.list[depth] == key
		inNext := next && d.next[depth] == key
		switch {
		case inList && depth == len(d.list)-1:
			if d.listFound {
				return fmt.Errorf("%q twice in the answer", strings.Join(d.list, "."))
			}
			d.listFound = true
			err = d.array(strconv.Quote(strings.Join(d.list, ".")))
		case inNext && depth == len(d.next)-1:
			err = d.nextValue()
		case inList || inNext:
			tok, err = d.token()
			if err != nil {
				return err
			}
			switch tok {
			case nil: // null: nothing below it
			case json.Delim('{'):
				err = d.object(depth+1, inList, inNext)
			default:
				path := d.next
				if inList {
					path = d.list
				}
				return fmt.Errorf("%q is %s, not an object", strings.Join(path[:depth+1], "."), describe(tok))
			}
		default:
			var skip json.RawMessage
			err = d.dec.Decode(&skip)
		}
		if err != nil {
			return err
		}
	}
	_, err := d.token() // '}'
	return err
}

func (d *pageDecoder) array(where string) error {
	tok, err := d.token()
	if err != nil {
		return err
	}
	if tok == nil {
		return nil
	}
	if tok != json.Delim('[') {
		return fmt.Errorf("%s is %s, not an array", where, describe(tok))
	}
	for d.dec.More() {
		if len(d.out.records) == d.max {
			return tooManyRecords(d.max)
		}
		var rec json.RawMessage
		if err := d.dec.Decode(&rec); err != nil {
			return err
		}
		if len(rec) == 0 || rec[0] != '{' {
			return fmt.Errorf("record %d of %s is not an object: %s", len(d.out.records), where, text.OneLine(rec, 64))
		}
		d.out.records = append(d.out.records, rec)
	}
	_, err = d.token() // ']'
	return err
}

func (d *pageDecoder) nextValue() error {
	tok, err := d.token()
	if err != nil {
		return err
	}
	switch v := tok.(type) {
	case nil:
		d.out.next = ""
	case string:
		d.out.next = v
	case json.Number:
		d.out.next = v.String()
	default:
		return fmt.Errorf("%q is %s, not a string", strings.Join(d.next, "."), describe(tok))
	}
	return nil
}

func describe(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		switch v {
		case '{':
			return "an object"
		case '[':
			return "an array"
		}
		return strconv.Quote(v.String())
	case string:
		return "a string"
	case json.Number, float64:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", tok)
}

// tooManyRecords is the error of a page with more than max records.
func tooManyRecords(max int) error {
	return fmt.Errorf("%w: more than %d records in one page (remote.WithMaxPageRecords)", runtime.ErrPageTooLarge, max)
}

// decodeChanges reads a change feed page as a stream, counting its changes as they come.
func decodeChanges(r io.Reader, maxRecords int) (wire.Changes, error) {
	var page wire.Changes
	d := json.NewDecoder(r)
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		if err == nil {
			err = fmt.Errorf("the answer is %s, not an object", describe(tok))
		}
		return page, err
	}
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return page, err
		}
		switch tok {
		case "changes":
			if tok, err := d.Token(); err != nil || tok != json.Delim('[') {
				if err == nil && tok != nil {
					err = fmt.Errorf(`"changes" is %s, not an array`, describe(tok))
				}
				if err != nil {
					return page, err
				}
				continue // null: no changes
			}
			for d.More() {
				if len(page.Changes) == maxRecords {
					return page, tooManyRecords(maxRecords)
				}
				var e wire.Entry
				if err := d.Decode(&e); err != nil {
					return page, err
				}
				page.Changes = append(page.Changes, e)
			}
			if _, err := d.Token(); err != nil {
				return page, err
			}
		case "cursor":
			if err := d.Decode(&page.Cursor); err != nil {
				return page, err
			}
		case "hasMore":
			if err := d.Decode(&page.HasMore); err != nil {
				return page, err
			}
		case "scopes":
			if err := d.Decode(&page.Scopes); err != nil {
				return page, fmt.Errorf(`"scopes": %w`, err)
			}
		default:
			var skip json.RawMessage
			if err := d.Decode(&skip); err != nil {
				return page, err
			}
		}
	}
	if _, err := d.Token(); err != nil {
		return page, err
	}
	return page, nil
}
