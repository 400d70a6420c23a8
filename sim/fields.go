package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/syncgen/syncgen/remote"
	"github.com/syncgen/syncgen/runtime"
	cardsv1 "github.com/syncgen/syncgen/sim/cards/v1"
	cardsv2 "github.com/syncgen/syncgen/sim/cards/v2"
	"github.com/syncgen/syncgen/wire"
)

// FieldsConfig is one field simulation: clients of two app versions of one table (v2
// renames v1's title to heading and adds a colour) edit random subsets of fields of
// shared records through the generated server (v2), syncing in a random order.
type FieldsConfig struct {
	Seed    uint64
	Clients int // 2 to 8; even ones run v1, odd ones v2
	Steps   int
	Dir     string
}

// fieldChange is a value a client set on purpose; values are unique, so a value names
// its change.
type fieldChange struct {
	record, key, value string
}

// RunFields runs one field simulation and checks: every field change the server
// acknowledged holds, unless a later acknowledged change of the same field overrode it;
// and every client ends with the server's values.
func RunFields(ctx context.Context, cfg FieldsConfig) error {
	rng := rand.New(rand.NewPCG(cfg.Seed, 0xf1e1d5))
	db, err := runtime.OpenSQLite(filepath.Join(cfg.Dir, "server.db"))
	if err != nil {
		return err
	}
	defer db.Close()
	srv, err := cardsv2.NewServer(db)
	if err != nil {
		return err
	}
	defer srv.Close()
	acks := &ackLog{first: map[string]int64{}}
	hs := httptest.NewServer(acks.wrap(srv))
	defer hs.Close()

	type client struct {
		v1 *cardsv1.Repository
		v2 *cardsv2.Repository
	}
	var clients []client
	for i := range cfg.Clients {
		cdb, err := runtime.OpenSQLite(filepath.Join(cfg.Dir, fmt.Sprintf("c%d.db", i)))
		if err != nil {
			return err
		}
		defer cdb.Close()
		var c client
		var m interface{ Migrate(context.Context) error }
		if i%2 == 0 {
			c.v1, err = cardsv1.NewRepository(cdb, remote.NewProtocol(hs.URL), runtime.WithPushLimit(1))
			m = c.v1
		} else {
			c.v2, err = cardsv2.NewRepository(cdb, remote.NewProtocol(hs.URL), runtime.WithPushLimit(1))
			m = c.v2
		}
		if err != nil {
			return err
		}
		if err := m.Migrate(ctx); err != nil {
			return err
		}
		clients = append(clients, c)
	}
	sync := func(c client) error {
		var err error
		if c.v1 != nil {
			_, err = c.v1.Sync(ctx)
		} else {
			_, err = c.v2.Sync(ctx)
		}
		return err
	}
	ids := []string{"k0", "k1", "k2"}
	intended := map[string]bool{} // record/key/value of every change made on purpose
	n := 0
	for step := range cfg.Steps {
		i := rng.IntN(len(clients))
		c := clients[i]
		if rng.IntN(3) == 0 {
			if err := sync(c); err != nil {
				return fmt.Errorf("step %d: sync c%d: %w", step, i, err)
			}
			continue
		}
		id := ids[rng.IntN(len(ids))]
		change := func(key string) (string, bool) {
			if rng.IntN(2) == 0 {
				return "", false
			}
			n++
			v := fmt.Sprintf("c%d-%d", i, n)
			if key == "title" {
				key = "heading"
			}
			intended[id+"/"+key+"/"+v] = true
			return v, true
		}
		var err error
		if c.v1 != nil {
			card, gerr := c.v1.Cards.Get(ctx, id, runtime.LocalOnly)
			if gerr != nil {
				card = cardsv1.Card{ID: id}
			}
			if v, ok := change("title"); ok {
				card.Title = v
			}
			if v, ok := change("body"); ok {
				card.Body = v
			}
			err = c.v1.Cards.Upsert(ctx, &card)
		} else {
			card, gerr := c.v2.Cards.Get(ctx, id, runtime.LocalOnly)
			if gerr != nil {
				card = cardsv2.Card{ID: id}
			}
			if v, ok := change("heading"); ok {
				card.Heading = v
			}
			if v, ok := change("body"); ok {
				card.Body = v
			}
			if v, ok := change("color"); ok {
				card.Color = v
			}
			err = c.v2.Cards.Upsert(ctx, &card)
		}
		if err != nil {
			return fmt.Errorf("step %d: write c%d: %w", step, i, err)
		}
	}
	for range 6 { // settle: every client pushes and pulls until all agree
		for i, c := range clients {
			if err := sync(c); err != nil {
				return fmt.Errorf("settle: sync c%d: %w", i, err)
			}
		}
	}

	var rows []struct {
		ID   string `db:"id"`
		Data string `db:"data"`
	}
	if err := db.Reader().SelectContext(ctx, &rows, `SELECT id, data FROM syncgen_server_records WHERE model = 'cards'`); err != nil {
		return err
	}
	var problems []string
	final := map[string]map[string]string{}
	for _, row := range rows {
		var rec map[string]any
		if err := json.Unmarshal([]byte(row.Data), &rec); err != nil {
			return err
		}
		final[row.ID] = map[string]string{}
		for _, k := range []string{"heading", "body", "color"} {
			s, _ := rec[k].(string)
			final[row.ID][k] = s
		}
		// The older app's key stays beside the new one, for older apps to read.
		if t, _ := rec["title"].(string); t != final[row.ID]["heading"] {
			problems = append(problems, fmt.Sprintf("%s: title %q is not heading %q", row.ID, t, final[row.ID]["heading"]))
		}
	}
	// The last acknowledged change of each field, by the seq of its first acknowledgement.
	last := map[string]fieldChange{}
	lastSeq := map[string]int64{}
	for k, seq := range acks.first {
		parts := strings.SplitN(k, "/", 3)
		if !intended[k] {
			continue
		}
		f := parts[0] + "/" + parts[1]
		if seq > lastSeq[f] {
			lastSeq[f], last[f] = seq, fieldChange{record: parts[0], key: parts[1], value: parts[2]}
		}
	}
	fields := make([]string, 0, len(last))
	for f := range last {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	for _, f := range fields {
		ch := last[f]
		if got := final[ch.record][ch.key]; got != ch.value {
			problems = append(problems, fmt.Sprintf("%s: the server acknowledged %s = %q (seq %d) and nothing later changed it, but it holds %q",
				ch.record, ch.key, ch.value, lastSeq[f], got))
		}
	}
	for i, c := range clients {
		for id, want := range final {
			var got map[string]string
			if c.v1 != nil {
				card, err := c.v1.Cards.Get(ctx, id, runtime.LocalOnly)
				if err != nil {
					return err
				}
				got = map[string]string{"heading": card.Title, "body": card.Body, "color": want["color"]}
			} else {
				card, err := c.v2.Cards.Get(ctx, id, runtime.LocalOnly)
				if err != nil {
					return err
				}
				got = map[string]string{"heading": card.Heading, "body": card.Body, "color": card.Color}
			}
			for _, k := range []string{"heading", "body", "color"} {
				if got[k] != want[k] {
					problems = append(problems, fmt.Sprintf("c%d holds %s %s = %q; the server %q", i, id, k, got[k], want[k]))
				}
			}
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return fmt.Errorf("%d problems: %s", len(problems), strings.Join(problems, "; "))
	}
	return nil
}

// ackLog records, from the server's traffic, when the server first acknowledged each
// value of each field: the seq of the write that stored it.
type ackLog struct {
	first map[string]int64 // record/key/value → seq
}

func (a *ackLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
		switch {
		case r.Method == http.MethodPut && rec.Code < 300:
			fields, _ := wire.DecodeFields(r.Header.Get(wire.HeaderFields))
			a.ack(body, fields, rec.Body.Bytes())
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/_batch") && rec.Code == http.StatusOK:
			var req wire.Batch
			var ans wire.BatchAnswer
			if json.Unmarshal(body, &req) != nil || json.Unmarshal(rec.Body.Bytes(), &ans) != nil || len(ans.Results) != len(req.Ops) {
				return
			}
			for i, op := range req.Ops {
				if op.Op == wire.OpPut && ans.Results[i].Status < 300 {
					a.ack(op.Record, op.Fields, ans.Results[i].Entry)
				}
			}
		}
	})
}

// ack notes the changed fields of one acknowledged put (every key when fields is nil).
func (a *ackLog) ack(body []byte, fields []string, entry []byte) {
	var e wire.Entry
	var rec map[string]json.RawMessage
	if json.Unmarshal(entry, &e) != nil || json.Unmarshal(body, &rec) != nil {
		return
	}
	seq, err := strconv.ParseInt(e.Seq, 10, 64)
	if err != nil {
		return
	}
	if fields == nil {
		for k := range rec {
			fields = append(fields, k)
		}
	}
	for _, k := range fields {
		var v string
		if json.Unmarshal(rec[k], &v) != nil {
			continue
		}
		if k == "title" {
			k = "heading"
		}
		key := e.ID + "/" + k + "/" + v
		if _, seen := a.first[key]; !seen {
			a.first[key] = seq
		}
	}
}
