package server

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/syncgen/syncgen/runtime"
)

// On PostgreSQL New renames the counter every write of an earlier version locked, so such
// a server fails its writes instead of giving seqs the feed would skip; and a database
// whose stored seqs are ahead of the cluster's transaction ids (restored into a new
// cluster) gets an offset that puts new seqs after them, kept by later starts.
func TestPostgresSeqSetup(t *testing.T) {
	db := openTestPostgres(t)
	ctx := context.Background()
	if err := migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	const restored = int64(1) << 50 // far past this cluster's transaction ids << 10
	if _, err := db.Writer().ExecContext(ctx, `INSERT INTO syncgen_server_counters (name, value) VALUES ('horizon:things', $1)`, restored); err != nil {
		t.Fatal(err)
	}
	next := func(s *Server) int64 {
		t.Helper()
		tx, err := db.Writer().BeginTxx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		q := &seqs{s: s, tx: tx}
		if err := s.lockWrites(ctx, tx, nil, q); err != nil {
			t.Fatal(err)
		}
		a, err := q.next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		b, err := q.next(ctx)
		if err != nil || b != a+1 {
			t.Fatalf("the second seq of a transaction: %d, %v; the first %d", b, err, a)
		}
		return a
	}
	var offsets []int64
	for start := range 2 {
		s, err := New(db, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if seq := next(s); seq <= restored {
			t.Fatalf("start %d: seq %d, not after the stored %d", start+1, seq, restored)
		}
		var offset int64
		if err := db.Reader().GetContext(ctx, &offset, `SELECT value FROM syncgen_server_counters WHERE name = $1`, counterXidOffset); err != nil {
			t.Fatal(err)
		}
		offsets = append(offsets, offset)
		// The feed's head is below the seqs of transactions in flight, and past those ended.
		tx, err := db.Reader().BeginTxx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		horizon, head, err := s.feedHead(ctx, tx, &Model{schema: &runtime.Schema{Table: "things"}})
		tx.Rollback()
		if err != nil || horizon != restored {
			t.Fatalf("start %d: horizon %d, %v; want %d", start+1, horizon, err, restored)
		}
		if head <= restored {
			t.Fatalf("start %d: head %d, not after the stored %d", start+1, head, restored)
		}
	}
	if offsets[0] <= 0 || offsets[1] != offsets[0] {
		t.Fatalf("offsets %v: want one positive offset, kept by the second start", offsets)
	}
	var old int64
	err := db.Writer().QueryRowxContext(ctx, `UPDATE syncgen_server_counters SET value = value + 1 WHERE name = 'seq' RETURNING value`).Scan(&old)
	if !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("an earlier version's seq: %d, %v; want no row", old, err)
	}
}
