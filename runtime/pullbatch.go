package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// A pulled page's common case, a record with no queued writes that the remote sent newer
// (or first), is two row writes: the record, and its base in syncgen_records. pageBatch
// gathers them and writes each kind with multi-row statements, a few a page instead of
// two a record. It holds only records whose writes depend on nothing else written in the
// page; applyPage flushes it before anything that reads or writes otherwise.

// batchRows is the most rows one multi-row statement writes; a statement binds at most
// batchVars values (SQLite's smallest limit, of versions before 3.32).
const (
	batchRows = 64
	batchVars = 999
)

type pageBatch struct {
	table  string
	ids    []string // the records, in order
	rows   [][]any  // their bound values, for the table's apply upsert
	bases  []any    // id, base, version of each changed base stored as JSON, flat
	nbases int
	// id and version of each changed base stored as the row (rowbase.go): one statement
	// writes them all
	rowBases [][2]string
}

func (b *pageBatch) base(id string, base any, version string) {
	b.bases = append(b.bases, id, base, version)
	b.nbases++
}

// multiRow is an INSERT of n rows, each row's values placeholders: head + n × row + tail.
type multiRow struct {
	head, tail string
	row        func(i int) string // the placeholders of row i (0-based)
	mu         sync.Mutex
	byN        map[int]string
}

func (m *multiRow) sql(n int) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if q, ok := m.byN[n]; ok {
		return q
	}
	var sb strings.Builder
	sb.WriteString(m.head)
	for i := range n {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(m.row(i))
	}
	sb.WriteString(m.tail)
	if m.byN == nil {
		m.byN = map[int]string{}
	}
	m.byN[n] = sb.String()
	return m.byN[n]
}

// chunks splits n rows into statements of at most per rows: full ones, then the rest in
// halving sizes, so that a table needs only a few distinct statements.
func chunks(n, per int, each func(lo, hi int) error) error {
	lo := 0
	for size := per; lo < n; {
		if n-lo < size {
			size = max(1, size/2)
			continue
		}
		if err := each(lo, lo+size); err != nil {
			return err
		}
		lo += size
	}
	return nil
}

// baseRows is setBase for many records: ?1 the model, ?2 synced_at, then three values a
// row.
var baseRows = &multiRow{
	head: `INSERT INTO syncgen_records (model, record_id, base, version, synced_at) VALUES `,
	tail: ` ON CONFLICT (model, record_id)
		DO UPDATE SET base = excluded.base, version = excluded.version, synced_at = excluded.synced_at`,
	row: func(i int) string {
		n := 3 + 3*i
		return "(?1, ?" + strconv.Itoa(n) + ", ?" + strconv.Itoa(n+1) + ", ?" + strconv.Itoa(n+2) + ", ?2)"
	},
}

// rowBaseRows is setBase of bases stored as rows: ?1 the model, ?2 synced_at, ?3 a JSON
// array of [id, version] pairs.
const rowBaseRows = `INSERT INTO syncgen_records (model, record_id, base, version, synced_at)
	SELECT ?1, value ->> 0, '', value ->> 1, ?2 FROM json_each(?3) WHERE true
	ON CONFLICT (model, record_id)
	DO UPDATE SET base = excluded.base, version = excluded.version, synced_at = excluded.synced_at`

// flush writes the batch's bases and records, and empties it.
func (s *Store[T]) flush(ctx context.Context, tx *Tx, b *pageBatch) error {
	if len(b.rowBases) > 0 {
		pairs, err := json.Marshal(b.rowBases)
		if err == nil {
			_, err = tx.q.ExecContext(ctx, rowBaseRows, b.table, tx.repo.clock.markString(), string(pairs))
		}
		if err != nil {
			return fmt.Errorf("record sync state: %w", err)
		}
	}
	if b.nbases > 0 {
		mark := tx.repo.clock.markString()
		err := chunks(b.nbases, batchRows, func(lo, hi int) error {
			args := append([]any{b.table, mark}, b.bases[3*lo:3*hi]...)
			if _, err := tx.q.ExecContext(ctx, baseRows.sql(hi-lo), args...); err != nil {
				return fmt.Errorf("record sync state: %w", err)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if len(b.rows) > 0 {
		tx.touch(s.s.Table)
		per := max(1, min(batchRows, batchVars/len(s.s.Columns)))
		err := chunks(len(b.rows), per, func(lo, hi int) error {
			args := make([]any, 0, (hi-lo)*len(s.s.Columns))
			for _, r := range b.rows[lo:hi] {
				args = append(args, r...)
			}
			if _, err := tx.q.ExecContext(ctx, s.sql.applyRows.sql(hi-lo), args...); err != nil {
				// Name the record: SQLite undid the statement, so each row again alone.
				for i, r := range b.rows[lo:hi] {
					if _, err := tx.q.ExecContext(ctx, s.sql.apply, r...); err != nil {
						return fmt.Errorf("upsert %s %q: %w", s.s.Model, b.ids[lo+i], err)
					}
				}
				return fmt.Errorf("upsert %s: %w", s.s.Model, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	b.ids, b.rows, b.bases, b.nbases, b.rowBases = b.ids[:0], b.rows[:0], b.bases[:0], 0, b.rowBases[:0]
	return nil
}

// applyQuick is reconcileWith for the common case, a record with no queued writes that
// the remote sent newer, or the same: its writes go into b. It reports false, having
// done nothing, for a record reconcileWith must take.
func (s *Store[T]) applyQuick(x *incoming[T], st recordState, local *T, b *pageBatch) (handled, changed bool) {
	if x.v == nil || st.hasWrites() || x.rowErr != nil {
		return false, false
	}
	cmp, err := s.compare(x.v, local, st.deletedAt)
	if err != nil || cmp < 0 { // cmp < 0: read repair, which may queue a write
		return false, false
	}
	store := cmp > 0 || newerVersion(x.version, st.version)
	row := x.row
	if store && row == nil {
		var err error
		if row, err = s.bind(x.v); err != nil {
			return false, false
		}
	}
	if t, _ := s.a.Stamps(x.v); !t.IsZero() {
		s.repo.clock.observe(t)
	}
	switch {
	case x.rowBase && st.rowBase && st.version == x.version:
		// The base stays the row, which is x if stored.
	case x.rowBase:
		b.rowBases = append(b.rowBases, [2]string{x.id, x.version})
	case st.rowBase || !sameBytes(st.base, x.raw) || st.version != x.version:
		b.base(x.id, x.rawString(), x.version)
	}
	if !store {
		return true, false
	}
	b.ids = append(b.ids, x.id)
	b.rows = append(b.rows, row)
	return true, true
}

// sameBytes is reconcileWith's test of an unchanged base: equal bytes, nil apart.
func sameBytes(a, b []byte) bool {
	return string(a) == string(b) && (a == nil) == (b == nil)
}
