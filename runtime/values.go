package runtime

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"time"
)

// TimeLayout is how a time.Time is stored in SQLite: fixed-width UTC, so string order is
// time order and comparisons and indexes are exact.
const TimeLayout = "2006-01-02T15:04:05.000000000Z"

// FormatTime renders t in TimeLayout; years outside 0000–9999 are an error, since they
// would break the fixed width.
func FormatTime(t time.Time) (string, error) {
	t = t.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return "", fmt.Errorf("time %s: year %d outside 0000-9999", t.Format(time.RFC3339Nano), y)
	}
	return t.Format(TimeLayout), nil
}

// ParseTime reads a time written by FormatTime.
func ParseTime(s string) (time.Time, error) {
	if t, ok := parseFixed(s); ok {
		return t, nil
	}
	t, err := time.Parse(TimeLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse stored time %q: %w", s, err)
	}
	return t, nil
}

// parseFixed reads TimeLayout by position, several times faster than time.Parse, which
// every read of a row pays for each time column; anything else (or out of range) is left
// to time.Parse and its errors.
func parseFixed(s string) (time.Time, bool) {
	if len(s) != len(TimeLayout) || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != '.' || s[29] != 'Z' {
		return time.Time{}, false
	}
	num := func(from, to int) int {
		n := 0
		for i := from; i < to; i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return -1
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	y, mo, d, h, mi, sec, ns := num(0, 4), num(5, 7), num(8, 10), num(11, 13), num(14, 16), num(17, 19), num(20, 29)
	if y < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59 || ns < 0 {
		return time.Time{}, false
	}
	t := time.Date(y, time.Month(mo), d, h, mi, sec, ns, time.UTC)
	if t.Day() != d { // the day does not exist in that month: time.Date moved it
		return time.Time{}, false
	}
	return t, true
}

// Time binds a time.Time column.
type Time time.Time

func (t Time) Value() (driver.Value, error) { return FormatTime(time.Time(t)) }

// NullTime binds a *time.Time column (nil is NULL).
type NullTime struct{ T *time.Time }

func (t NullTime) Value() (driver.Value, error) {
	if t.T == nil {
		return nil, nil
	}
	return FormatTime(*t.T)
}

// JSON binds a column stored as JSON text; a nil pointer, slice or map is NULL.
type JSON struct{ V any }

func (j JSON) Value() (driver.Value, error) {
	b, err := json.Marshal(j.V)
	if err != nil {
		return nil, err
	}
	if string(b) == "null" {
		return nil, nil
	}
	return string(b), nil
}

// ScanTime is the scan destination of a time.Time column.
type ScanTime struct{ T *time.Time }

func (s ScanTime) Scan(src any) error {
	switch v := src.(type) {
	case string:
		t, err := ParseTime(v)
		*s.T = t
		return err
	case []byte:
		t, err := ParseTime(string(v))
		*s.T = t
		return err
	case time.Time:
		*s.T = v.UTC()
		return nil
	}
	return fmt.Errorf("scan time: unexpected %T", src)
}

// ScanNullTime is the scan destination of a *time.Time column.
type ScanNullTime struct{ T **time.Time }

func (s ScanNullTime) Scan(src any) error {
	if src == nil {
		*s.T = nil
		return nil
	}
	var t time.Time
	if err := (ScanTime{&t}).Scan(src); err != nil {
		return err
	}
	*s.T = &t
	return nil
}

// ScanJSON is the scan destination of a JSON column; V points at the field.
type ScanJSON struct{ V any }

func (s ScanJSON) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		return json.Unmarshal([]byte("null"), s.V)
	case string:
		return json.Unmarshal([]byte(v), s.V)
	case []byte:
		return json.Unmarshal(v, s.V)
	}
	return fmt.Errorf("scan json: unexpected %T", src)
}
