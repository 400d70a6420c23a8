package runtime

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/syncgen/syncgen/wire"
)

// The server tests a record's JSON (Match), the client its row (sql): for every subset
// and record the two must agree, or a device would keep what the server says it does not
// sync, or lose what it does.
func TestSubsetsMatchAgreesWithSQL(t *testing.T) {
	s := &Schema{Model: "Thing", Table: "things", Columns: []Column{
		{Field: "ID", Name: "id", JSON: "id", Kind: KindString, Unique: true},
		{Field: "Name", Name: "name", JSON: "name", Kind: KindString},
		{Field: "N", Name: "n", JSON: "n", Kind: KindInt},
		{Field: "F", Name: "f", JSON: "f", Kind: KindFloat},
		{Field: "Done", Name: "done", JSON: "done", Kind: KindBool},
		{Field: "At", Name: "at", JSON: "at", Kind: KindTime},
		{Field: "Due", Name: "due", JSON: "due", Kind: KindTime, Nullable: true},
		{Field: "Tag", Name: "tag", JSON: "tag", Kind: KindString, Nullable: true, JSONWas: []string{"label"}},
	}}
	db, err := OpenSQLite(filepath.Join(t.TempDir(), "things.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Writer().Exec(`CREATE TABLE things (id TEXT PRIMARY KEY, name TEXT NOT NULL, n INTEGER NOT NULL,
		f REAL NOT NULL, done INTEGER NOT NULL, at TEXT NOT NULL, due TEXT, tag TEXT)`); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(17, 4))
	names := []string{"", "a", "ab", "abc", "b", "B", "é", "éa"}
	base := time.Date(2026, 11, 4, 10, 0, 0, 0, time.UTC)
	times := []time.Time{{}, base, base.Add(time.Nanosecond), base.Add(500 * time.Millisecond), base.Add(time.Hour).In(time.FixedZone("x", 3600)), base.AddDate(0, 0, -30)}
	// Records as the JSON an app of this version or an older one sends: keys may be
	// absent or null, and tag may come under its old name.
	records := map[string]string{}
	for i := range 300 {
		id := fmt.Sprintf("t%d", i)
		fields := map[string]any{"id": id}
		row := struct {
			name string
			n    int64
			f    float64
			done bool
			at   time.Time
			due  *time.Time
			tag  *string
		}{}
		if rng.IntN(8) > 0 {
			row.name = names[rng.IntN(len(names))]
			fields["name"] = row.name
		}
		if rng.IntN(8) > 0 {
			row.n = int64(rng.IntN(7) - 3)
			fields["n"] = row.n
		}
		if rng.IntN(8) > 0 {
			row.f = float64(rng.IntN(7)-3) / 2
			fields["f"] = row.f
		}
		if rng.IntN(8) > 0 {
			row.done = rng.IntN(2) == 0
			fields["done"] = row.done
		}
		if rng.IntN(8) > 0 {
			row.at = times[rng.IntN(len(times))]
			fields["at"] = row.at
		}
		if k := rng.IntN(3); k > 0 {
			d := times[rng.IntN(len(times))]
			row.due = &d
			fields["due"] = d
		} else if rng.IntN(2) == 0 {
			fields["due"] = nil
		}
		if k := rng.IntN(4); k > 0 {
			tag := names[rng.IntN(len(names))]
			row.tag = &tag
			fields[[]string{"tag", "tag", "label"}[k-1]] = tag
		}
		b, _ := json.Marshal(fields)
		records[id] = string(b)
		at, _ := FormatTime(row.at)
		if _, err := db.Writer().Exec(`INSERT INTO things VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			id, row.name, row.n, row.f, row.done, at, NullTime{row.due}, row.tag); err != nil {
			t.Fatal(err)
		}
	}
	value := func(key string) json.RawMessage {
		var v any
		switch key {
		case "name", "tag":
			v = names[rng.IntN(len(names))]
		case "n":
			v = rng.IntN(7) - 3
		case "f":
			v = float64(rng.IntN(7)-3) / 2
		case "done":
			v = rng.IntN(2) == 0
		case "at", "due":
			v = times[rng.IntN(len(times))]
		}
		b, _ := json.Marshal(v)
		return b
	}
	keys := []string{"name", "n", "f", "done", "at", "due", "tag"}
	ops := []Op{OpEq, OpNe, OpLt, OpLe, OpGt, OpGe, OpIn, OpNotIn, OpHasPrefix, OpIsNull, OpNotNull, OpOr}
	var cond func(depth int) wire.Cond
	cond = func(depth int) wire.Cond {
		op := ops[rng.IntN(len(ops))]
		if op == OpOr && depth > 0 {
			op = OpEq
		}
		key := keys[rng.IntN(len(keys))]
		switch op {
		case OpOr:
			c := wire.Cond{Op: string(op), Any: []wire.Cond{}}
			for range rng.IntN(3) {
				c.Any = append(c.Any, cond(depth+1))
			}
			return c
		case OpHasPrefix:
			key = []string{"name", "tag"}[rng.IntN(2)]
			return wire.Cond{Key: key, Op: string(op), Value: value(key)}
		case OpIsNull, OpNotNull:
			return wire.Cond{Key: key, Op: string(op)}
		case OpIn, OpNotIn:
			c := wire.Cond{Key: key, Op: string(op)}
			for range rng.IntN(4) {
				c.Values = append(c.Values, value(key))
			}
			return c
		}
		return wire.Cond{Key: key, Op: string(op), Value: value(key)}
	}
	mixed := 0 // cases that keep some records and drop others
	for i := range 400 {
		subs := make([]wire.Subset, 1+rng.IntN(2))
		for j := range subs {
			subs[j] = wire.Subset{}
			for range rng.IntN(3) {
				subs[j] = append(subs[j], cond(0))
			}
		}
		ss, err := CompileSubsets(s, subs)
		if err != nil {
			t.Fatalf("subsets %s: %v", jsonText(subs), err)
		}
		where, args := ss.sql()
		var got []string
		if err := db.Reader().Select(&got, `SELECT id FROM things WHERE `+where+` ORDER BY id`, args...); err != nil {
			t.Fatalf("subsets %s: %s: %v", jsonText(subs), where, err)
		}
		var want []string
		for id, rec := range records {
			if ss.Match([]byte(rec)) {
				want = append(want, id)
			}
		}
		slices.Sort(want)
		if len(want) > 0 && len(want) < len(records) {
			mixed++
		}
		if !slices.Equal(got, want) {
			for _, id := range symmetricDiff(got, want) {
				t.Errorf("case %d, subsets %s: record %s: SQL says %v, Match %v", i, jsonText(subs), records[id], slices.Contains(got, id), slices.Contains(want, id))
			}
			t.FailNow()
		}
	}
	if mixed < 120 {
		t.Fatalf("only %d of 400 cases tell records apart", mixed)
	}
}

func symmetricDiff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			out = append(out, x)
		}
	}
	return out
}

func TestCompileSubsetsRefuses(t *testing.T) {
	s := &Schema{Model: "Thing", Columns: []Column{
		{Field: "ID", Name: "id", JSON: "id", Kind: KindString},
		{Field: "N", Name: "n", JSON: "n", Kind: KindInt},
		{Field: "Blob", Name: "blob", JSON: "blob", Kind: KindBytes},
		{Field: "Secret", Name: "secret", Kind: KindString, Local: true},
	}}
	many := wire.Cond{Key: "n", Op: "in"}
	for range wire.MaxSubsetTerms {
		many.Values = append(many.Values, json.RawMessage("1"))
	}
	for _, tc := range []struct {
		cond wire.Cond
		want string
	}{
		{wire.Cond{Key: "nope", Op: "eq", Value: json.RawMessage(`1`)}, `no field with the key "nope"`},
		{wire.Cond{Key: "n", Op: "like", Value: json.RawMessage(`1`)}, `"like": not an operator`},
		{wire.Cond{Key: "n", Op: "hasPrefix", Value: json.RawMessage(`1`)}, `"hasPrefix": not an operator`},
		{wire.Cond{Key: "n", Op: "eq", Value: json.RawMessage(`"1"`)}, `is not a value of the field`},
		{wire.Cond{Key: "n", Op: "eq", Value: json.RawMessage(`null`)}, `is not a value of the field`},
		{wire.Cond{Key: "n", Op: "eq"}, `wrong operands`},
		{wire.Cond{Key: "n", Op: "in", Value: json.RawMessage(`1`)}, `wrong operands`},
		{wire.Cond{Key: "blob", Op: "isNull"}, `holds bytes, JSON or a type of its own`},
		{wire.Cond{Key: "", Op: "eq", Value: json.RawMessage(`1`)}, `no field with the key ""`},
		{many, fmt.Sprintf("more than %d conditions", wire.MaxSubsetTerms)},
	} {
		_, err := CompileSubsets(s, []wire.Subset{{tc.cond}})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want an error with %q", tc.cond, err, tc.want)
		}
	}
}
