package schema_test

import (
	"strings"
	"testing"

	"github.com/syncgen/syncgen/generator/model"
	"github.com/syncgen/syncgen/generator/schema"
)

func TestColumnOf(t *testing.T) {
	scanner := func(nullable bool) func(*model.Field) {
		return func(f *model.Field) { f.Type.Nullable = nullable }
	}
	slice := func(f *model.Field) { f.Type.Nullable = true }
	tests := []struct {
		f    *model.Field
		want string
	}{
		{field("ID", "id", model.KindString, unique), `TEXT NOT NULL PRIMARY KEY`},
		{field("S", "s", model.KindString), `TEXT NOT NULL DEFAULT ''`},
		{field("B", "b", model.KindBool), `INTEGER NOT NULL DEFAULT 0`},
		{field("I", "i", model.KindInt), `INTEGER NOT NULL DEFAULT 0`},
		{field("U", "u", model.KindUint), `INTEGER NOT NULL DEFAULT 0`},
		{field("F", "f", model.KindFloat), `REAL NOT NULL DEFAULT 0.0`},
		{field("T", "t", model.KindTime), `TEXT NOT NULL DEFAULT '0001-01-01T00:00:00.000000000Z'`},
		{field("J", "j", model.KindJSON), `TEXT NOT NULL DEFAULT 'null'`},
		{field("JS", "js", model.KindJSON, slice), `TEXT`},
		{field("Raw", "raw", model.KindBytes, slice), `BLOB`},
		{field("P", "p", model.KindInt, nullable), `INTEGER`},
		{field("PT", "pt", model.KindTime, nullable), `TEXT`},
		{field("Sc", "sc", model.KindScanner, scanner(false)), `BLOB`},
		{field("NS", "ns", model.KindScanner, scanner(true)), `BLOB`},
		{field("L", "l", model.KindString, func(f *model.Field) { f.Local = true }), `TEXT NOT NULL DEFAULT ''`},
	}
	for _, tt := range tests {
		c := schema.ColumnOf(tt.f)
		got := c.Type
		if c.NotNull {
			got += " NOT NULL"
		}
		if c.Default != "" {
			got += " DEFAULT " + c.Default
		}
		if c.PrimaryKey {
			got += " PRIMARY KEY"
		}
		if got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.f.Name, got, tt.want)
		}
	}
}

func TestTableOf(t *testing.T) {
	m := newModel("Order", "orders",
		field("ID", "id", model.KindString, unique, index),
		field("CustomerID", "customer_id", model.KindString, ref("Customer")),
		field("Status", "status", model.KindString, index),
		field("Skip", "skip", model.KindString, skip, index),
		field("Local", "local", model.KindInt, func(f *model.Field) { f.Local = true }),
	)
	tb := schema.TableOf(m)
	var cols, idx []string
	for _, c := range tb.Columns {
		cols = append(cols, c.Name)
	}
	for _, ix := range tb.Indexes {
		idx = append(idx, ix.Name+"("+strings.Join(ix.Columns, ",")+")")
	}
	if got := strings.Join(cols, " "); got != "id customer_id status local" {
		t.Errorf("columns: %s", got)
	}
	if got := strings.Join(idx, " "); got != "orders_customer_id_idx(customer_id) orders_status_idx(status)" {
		t.Errorf("indexes: %s", got)
	}
}

// migrate runs Files over ex and records what it wrote, as the generator would.
func migrate(t *testing.T, ex *schema.Existing, allow bool, models ...*model.Model) (string, []schema.Problem) {
	t.Helper()
	if ex.SQL == nil {
		ex.Dir, ex.Show, ex.SQL = "/pkg/migrations", "migrations", map[string][]byte{}
	}
	pkg := &model.Package{Name: "shop", Path: "example.com/shop", Dir: "/pkg", Models: models}
	out, problems, err := schema.Files(pkg, *ex, schema.Options{AllowDestructive: allow})
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) > 0 {
		return "", problems
	}
	var name string
	for n, data := range out {
		if n == schema.SnapshotFile {
			ex.Snapshot = data
			continue
		}
		if name != "" {
			t.Fatalf("two new files: %s, %s", name, n)
		}
		name = n
		ex.SQL[n] = data
	}
	return name, nil
}

func TestRenames(t *testing.T) {
	base := func(fields ...*model.Field) *model.Model {
		return newModel("Pie", "pies", append([]*model.Field{field("ID", "id", model.KindString, unique)}, fields...)...)
	}
	var ex schema.Existing
	if name, p := migrate(t, &ex, false, base(field("A", "a", model.KindString), field("B", "b", model.KindString))); name != "0001_init.sql" || p != nil {
		t.Fatalf("init: %s %v", name, p)
	}
	// renamed=old names a column the table never had: the field is a new column.
	if name, p := migrate(t, &ex, false, base(field("A", "a", model.KindString), field("B", "b", model.KindString), field("C", "c", model.KindInt, renamed("zzz")))); name != "0002_add_pies_c.sql" || p != nil {
		t.Fatalf("rename of nothing: %s %v", name, p)
	}
	// renamed=a while a is still another field's column: no rename.
	_, p := migrate(t, &ex, false, base(field("A", "a", model.KindString), field("B", "b", model.KindString, renamed("a")), field("C", "c", model.KindInt)))
	if p != nil {
		t.Fatalf("rename onto an existing column: %v", p)
	}
	// A declared rename, then the same tag again: harmless.
	for i, want := range []string{"0003_rename_pies_b_to_bee.sql", ""} {
		name, p := migrate(t, &ex, false, base(field("A", "a", model.KindString), field("Bee", "bee", model.KindString, renamed("b")), field("C", "c", model.KindInt)))
		if name != want || p != nil {
			t.Fatalf("run %d: %s %v", i, name, p)
		}
	}
	// A model removed, with another in its place: its table would be dropped. Declared as
	// a table rename, it is renamed, once.
	other := newModel("Tart", "tarts", field("ID", "id", model.KindString, unique))
	renamedPie := base(field("A", "a", model.KindString), field("Bee", "bee", model.KindString), field("C", "c", model.KindInt))
	renamedPie.Table, renamedPie.TableRenamed = "tarts", "pies"
	if _, p := migrate(t, &ex, false, other); len(p) != 1 || !strings.Contains(p[0].Msg, `table "pies" has no model any more`) || !strings.Contains(p[0].Msg, "-allow-destructive") {
		t.Fatalf("dropped table: %v", p)
	}
	if name, p := migrate(t, &ex, false, renamedPie); name != "0004_rename_pies_to_tarts.sql" || p != nil {
		t.Fatalf("table rename: %s %v", name, p)
	}
	if name, p := migrate(t, &ex, false, renamedPie); name != "" || p != nil {
		t.Fatalf("table rename again: %s %v", name, p)
	}
}

func TestRefusals(t *testing.T) {
	pie := func(fields ...*model.Field) *model.Model {
		return newModel("Pie", "pies", fields...)
	}
	var ex schema.Existing
	migrate(t, &ex, false, pie(field("ID", "id", model.KindString, unique), field("Code", "code", model.KindString)))
	tests := []struct {
		name  string
		allow bool
		model *model.Model
		want  string // "" for no problem
	}{
		{"unique moved", true, pie(field("ID", "id", model.KindString), field("Code", "code", model.KindString, unique)),
			`Pie.Code: sync:"unique" moves the primary key of table "pies" from column "id" to "code"`},
		{"unique renamed", false, pie(field("Key", "key", model.KindString, unique, renamed("id")), field("Code", "code", model.KindString)), ""},
		{"type", false, pie(field("ID", "id", model.KindString, unique), field("Code", "code", model.KindInt)),
			`Pie.Code: column "code" of table "pies" changes type from TEXT to INTEGER`},
		{"type allowed", true, pie(field("ID", "id", model.KindString, unique), field("Code", "code", model.KindInt)), ""},
		{"drop", false, pie(field("ID", "id", model.KindString, unique)),
			`Pie: no field stores column "code" of table "pies" any more`},
		{"loosen", false, pie(field("ID", "id", model.KindString, unique), field("Code", "code", model.KindString, nullable)), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := schema.Existing{Dir: ex.Dir, Show: ex.Show, Snapshot: ex.Snapshot, SQL: map[string][]byte{}}
			for k, v := range ex.SQL {
				e.SQL[k] = v
			}
			_, p := migrate(t, &e, tt.allow, tt.model)
			switch {
			case tt.want == "" && p != nil:
				t.Fatalf("want no problem, got %v", p)
			case tt.want != "" && (len(p) != 1 || !strings.HasPrefix(p[0].Msg, tt.want)):
				t.Fatalf("want %q, got %v", tt.want, p)
			case tt.want != "" && tt.name != "unique moved" && !strings.Contains(p[0].Msg, "-allow-destructive"):
				t.Fatalf("the message does not name the flag: %s", p[0].Msg)
			}
		})
	}
}

func TestIndexClash(t *testing.T) {
	var ex schema.Existing
	_, p := migrate(t, &ex, false,
		newModel("AB", "a_b", field("ID", "id", model.KindString, unique), field("C", "c", model.KindString, index)),
		newModel("A", "a", field("ID", "id", model.KindString, unique), field("BC", "b_c", model.KindString, index)),
	)
	if len(p) != 1 || !strings.Contains(p[0].Msg, `index "a_b_c_idx"`) {
		t.Fatalf("got %v", p)
	}
}

func TestSummary(t *testing.T) {
	var ex schema.Existing
	migrate(t, &ex, false, newModel("Pie", "pies", field("ID", "id", model.KindString, unique)))
	var fields []*model.Field
	fields = append(fields, field("ID", "id", model.KindString, unique))
	for _, c := range []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf"} {
		fields = append(fields, field(strings.ToUpper(c[:1])+c[1:], c, model.KindString))
	}
	name, _ := migrate(t, &ex, false, newModel("Pie", "pies", fields...))
	if name != "0002_add_pies_alpha_add_pies_bravo_add_pies_charlie_add_pies.sql" {
		t.Fatalf("got %s", name)
	}
	if summary := strings.TrimSuffix(name[5:], ".sql"); len(summary) > 60 {
		t.Fatalf("summary of %d characters", len(summary))
	}
	name, _ = migrate(t, &ex, false, newModel("Pie", "pies", append(fields, field("Hotel", "hotel", model.KindString, index))...))
	if name != "0003_add_pies_hotel.sql" {
		t.Fatalf("got %s", name)
	}
}

func TestSnapshotChecks(t *testing.T) {
	var ex schema.Existing
	migrate(t, &ex, false, newModel("Pie", "pies", field("ID", "id", model.KindString, unique)))
	good := ex.Snapshot
	tests := []struct {
		name string
		edit func(ex *schema.Existing)
		want string
	}{
		{"newer format", func(ex *schema.Existing) {
			ex.Snapshot = []byte(strings.Replace(string(good), `"format": 2`, `"format": 9`, 1))
		}, "format 9 is newer than this syncgen knows (2): upgrade syncgen"},
		{"unknown field", func(ex *schema.Existing) {
			ex.Snapshot = []byte(strings.Replace(string(good), `"format": 2`, `"format": 2, "extra": true`, 1))
		}, `unknown field "extra"`},
		{"empty", func(ex *schema.Existing) { ex.Snapshot = []byte{} }, "restore it from version control (git checkout -- migrations/schema.json)"},
		{"no primary key", func(ex *schema.Existing) {
			ex.Snapshot = []byte(strings.Replace(string(good), `,"primaryKey":true`, ``, 1))
		}, "table pies: no primary key column"},
		{"stray file", func(ex *schema.Existing) { ex.SQL["notes.sql"] = []byte("--") }, "not a migration syncgen wrote"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := schema.Existing{Dir: ex.Dir, Show: ex.Show, Snapshot: good, SQL: map[string][]byte{}}
			for k, v := range ex.SQL {
				e.SQL[k] = v
			}
			tt.edit(&e)
			_, p := migrate(t, &e, false, newModel("Pie", "pies", field("ID", "id", model.KindString, unique)))
			if len(p) != 1 || !strings.Contains(p[0].Msg, tt.want) {
				t.Fatalf("want %q, got %v", tt.want, p)
			}
		})
	}
}

func TestSnapshotEncodeStable(t *testing.T) {
	s := schema.Snapshot{Tables: []schema.Table{
		{Name: "b", Columns: []schema.Column{{Name: "id", Type: "TEXT", NotNull: true, PrimaryKey: true}},
			Indexes: []schema.Index{{Name: "z", Columns: []string{"id"}}, {Name: "y", Columns: []string{"id"}}}},
		{Name: "a", Columns: []schema.Column{{Name: "id", Type: "TEXT", NotNull: true, PrimaryKey: true}}},
	}}
	one, err := s.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if i, j := strings.Index(string(one), `"name": "a"`), strings.Index(string(one), `"name": "b"`); i < 0 || j < i {
		t.Errorf("tables not sorted:\n%s", one)
	}
	if i, j := strings.Index(string(one), `"name":"y"`), strings.Index(string(one), `"name":"z"`); i < 0 || j < i {
		t.Errorf("indexes not sorted:\n%s", one)
	}
	if strings.Contains(string(one), "null") {
		t.Errorf("null in snapshot:\n%s", one)
	}
}
