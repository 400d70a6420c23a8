package schema_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/syncgen/syncgen/generator/model"
	"github.com/syncgen/syncgen/generator/schema"
	"github.com/syncgen/syncgen/runtime"
)

// step is one version of a package's models: the migration it gets is applied to a real
// database, then check looks at the data.
type step struct {
	name             string
	models           []*model.Model
	allowDestructive bool
	wantFile         string // the new migration's name
	check            func(t *testing.T, db *sql.Conn)
}

// migrationSteps are the versions of one package the SQLite tests go through.
func migrationSteps() []step {
	customer := func(opts ...func(*model.Model)) *model.Model {
		m := newModel("Customer", "customers",
			field("ID", "id", model.KindString, unique),
			field("Name", "name", model.KindString),
			field("Email", "email", model.KindString, index),
		)
		for _, o := range opts {
			o(m)
		}
		return m
	}
	order := func(fields ...*model.Field) *model.Model {
		return newModel("Order", "orders", append([]*model.Field{
			field("ID", "id", model.KindString, unique),
			field("CustomerID", "customer_id", model.KindString, ref("Customer")),
		}, fields...)...)
	}

	return []step{{
		name: "init",
		models: []*model.Model{customer(), order(
			field("Total", "total", model.KindFloat),
			field("Note", "note", model.KindString, nullable),
			field("Legacy", "legacy", model.KindString),
			field("At", "at", model.KindTime),
			field("Ship", "ship", model.KindJSON),
			field("Blob", "blob", model.KindScanner),
			field("Skipped", "skipped", model.KindString, skip),
		)},
		wantFile: "0001_init.sql",
		check: func(t *testing.T, db *sql.Conn) {
			exec(t, db,
				`INSERT INTO customers (id, name, email) VALUES ('c1', 'Ann', 'ann@example.com'), ('c2', 'Bob', 'bob@example.com')`,
				`INSERT INTO orders (id, customer_id, total, note, legacy) VALUES ('o1', 'c1', 12.5, NULL, 'old one'), ('o2', 'c2', 7, 'ring twice', 'old two')`,
				// Not syncgen's: a user's table that points to a model's table.
				`CREATE TABLE invoices (id TEXT PRIMARY KEY, order_id TEXT NOT NULL REFERENCES orders (id))`,
				`INSERT INTO invoices VALUES ('i1', 'o1'), ('i2', 'o2')`,
			)
			// The defaults of the zero values, as the runtime reads them.
			want(t, db, `SELECT at, ship, blob IS NULL FROM orders WHERE id = 'o1'`,
				"0001-01-01T00:00:00.000000000Z|null|1")
		},
	}, {
		name: "automatic: add, rename column, rename table, index",
		models: []*model.Model{
			customer(func(m *model.Model) {
				m.Table, m.TableRenamed = "clients", "customers"
				m.Fields = append(m.Fields, field("Phone", "phone", model.KindString, nullable, index))
			}),
			order(
				field("Total", "total", model.KindFloat),
				field("Note", "note", model.KindString, nullable),
				field("Comment", "comment", model.KindString, renamed("legacy")),
				field("At", "at", model.KindTime),
				field("Ship", "ship", model.KindJSON),
				field("Blob", "blob", model.KindScanner),
				field("Paid", "paid", model.KindBool),
			),
		},
		wantFile: "0002_rename_customers_to_clients_rename_orders_legacy_to_comment.sql",
		check: func(t *testing.T, db *sql.Conn) {
			want(t, db, `SELECT id, name, phone IS NULL FROM clients ORDER BY id`, "c1|Ann|1", "c2|Bob|1")
			want(t, db, `SELECT id, comment, paid FROM orders ORDER BY id`, "o1|old one|0", "o2|old two|0")
		},
	}, {
		name: "destructive rebuild: type, NOT NULL, dropped column, new column",
		models: []*model.Model{
			customer(func(m *model.Model) {
				m.Table, m.TableRenamed = "clients", "customers"
				m.Fields = append(m.Fields, field("Phone", "phone", model.KindString, nullable, index))
			}),
			order(
				field("Total", "total", model.KindInt),
				field("Note", "note", model.KindString),
				field("At", "at", model.KindTime),
				field("Ship", "ship", model.KindJSON),
				field("Blob", "blob", model.KindScanner),
				field("Paid", "paid", model.KindBool, index),
				field("Status", "status", model.KindString),
			),
		},
		allowDestructive: true,
		wantFile:         "0003_rebuild_orders.sql",
		check: func(t *testing.T, db *sql.Conn) {
			want(t, db, `SELECT id, customer_id, total, typeof(total), note, paid, status FROM orders ORDER BY id`,
				"o1|c1|12|integer||0|", "o2|c2|7|integer|ring twice|0|")
			// The user's table still points to orders, and its foreign key works.
			want(t, db, `SELECT i.id, o.customer_id FROM invoices i JOIN orders o ON o.id = i.order_id ORDER BY i.id`, "i1|c1", "i2|c2")
			want(t, db, `PRAGMA foreign_key_check`)
			if _, err := db.ExecContext(context.Background(), `INSERT INTO invoices VALUES ('i3', 'nope')`); err == nil {
				t.Error("foreign key to the rebuilt table is not enforced")
			}
		},
	}, {
		name: "loosening NOT NULL rebuilds without the flag",
		models: []*model.Model{
			customer(func(m *model.Model) {
				m.Table, m.TableRenamed = "clients", "customers"
				m.Fields[1] = field("Name", "name", model.KindString, nullable)
				m.Fields = append(m.Fields, field("Phone", "phone", model.KindString, nullable, index))
			}),
			order(
				field("Total", "total", model.KindInt),
				field("Note", "note", model.KindString),
				field("At", "at", model.KindTime),
				field("Ship", "ship", model.KindJSON),
				field("Blob", "blob", model.KindScanner),
				field("Paid", "paid", model.KindBool, index),
				field("Status", "status", model.KindString),
			),
		},
		wantFile: "0004_rebuild_clients.sql",
		check: func(t *testing.T, db *sql.Conn) {
			exec(t, db, `INSERT INTO clients (id) VALUES ('c3')`)
			want(t, db, `SELECT id, name IS NULL, email FROM clients ORDER BY id`, "c1|0|ann@example.com", "c2|0|bob@example.com", "c3|1|")
			exec(t, db, `DELETE FROM clients WHERE id = 'c3'`,
				// Another user's table, pointing to the table the next step renames.
				`CREATE TABLE cards (id TEXT PRIMARY KEY, client_id TEXT NOT NULL REFERENCES clients (id))`,
				`INSERT INTO cards VALUES ('k1', 'c1')`)
		},
	}, {
		name: "a table rename and a rebuild, with a renamed column",
		models: []*model.Model{
			customer(func(m *model.Model) {
				m.Table, m.TableRenamed = "people", "clients"
				m.Fields[1] = field("Name", "name", model.KindString, nullable)
				m.Fields[2] = field("Mail", "mail", model.KindString, nullable, index, renamed("email"))
				m.Fields = append(m.Fields, field("Phone", "phone", model.KindString, nullable, index))
			}),
			order(
				field("Total", "total", model.KindInt),
				field("Note", "note", model.KindString),
				field("At", "at", model.KindTime),
				field("Ship", "ship", model.KindJSON),
				field("Blob", "blob", model.KindScanner),
				field("Paid", "paid", model.KindBool, index),
				field("Status", "status", model.KindString),
			),
		},
		wantFile: "0005_rename_clients_to_people_rebuild_people.sql",
		check: func(t *testing.T, db *sql.Conn) {
			want(t, db, `SELECT id, name, mail FROM people ORDER BY id`, "c1|Ann|ann@example.com", "c2|Bob|bob@example.com")
			want(t, db, `SELECT p.name FROM cards c JOIN people p ON p.id = c.client_id`, "Ann")
			if _, err := db.ExecContext(context.Background(), `INSERT INTO cards VALUES ('k2', 'nobody')`); err == nil {
				t.Error("foreign key to the renamed and rebuilt table is not enforced")
			}
		},
	}}
}

// TestMigrationsOnSQLite applies every migration the package writes, version after
// version, to a real SQLite database as goose would (statement by statement, failing on
// rows from PRAGMA foreign_key_check), and checks after each that the database is exactly
// schema.json and that the data survived. A hand-made table holds a FOREIGN KEY to the
// rebuilt table throughout. Then the Down sections take it back, step by step, to each
// earlier snapshot.
func TestMigrationsOnSQLite(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(t.TempDir(), "app.db")+"?_foreign_keys=on")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx) // one connection: PRAGMA foreign_keys is per connection
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	ex := schema.Existing{Dir: "/pkg/migrations", Show: "migrations", SQL: map[string][]byte{}}
	var files []string
	snapshots := [][]byte{nil}
	for _, s := range migrationSteps() {
		pkg := &model.Package{Name: "shop", Path: "example.com/shop", Dir: "/pkg", Models: s.models}
		out, problems, err := schema.Files(pkg, ex, schema.Options{AllowDestructive: s.allowDestructive})
		if err != nil || len(problems) > 0 {
			t.Fatalf("%s: %v %v", s.name, err, problems)
		}
		data, ok := out[s.wantFile]
		if !ok || len(out) != 2 {
			t.Fatalf("%s: want %s and schema.json, got %v", s.name, s.wantFile, keys(out))
		}
		ex.SQL[s.wantFile], ex.Snapshot = data, out[schema.SnapshotFile]
		files = append(files, s.wantFile)
		snapshots = append(snapshots, ex.Snapshot)

		up, _ := sections(t, data)
		run(t, conn, s.wantFile, up)
		sameSchema(t, s.name, conn, ex.Snapshot)
		s.check(t, conn)

		// Once written, the same models want nothing more: no phantom migration, and a
		// declared rename that has been applied does nothing.
		again, problems, err := schema.Files(pkg, ex, schema.Options{})
		if err != nil || len(problems) > 0 || len(again) != 1 || string(again[schema.SnapshotFile]) != string(ex.Snapshot) {
			t.Fatalf("%s: rerun: %v %v %v", s.name, err, problems, keys(again))
		}
	}

	exec(t, conn, `DELETE FROM invoices`, `DELETE FROM cards`) // the init's Down drops their tables
	for i := len(files) - 1; i >= 0; i-- {
		_, down := sections(t, ex.SQL[files[i]])
		run(t, conn, files[i]+" (Down)", down)
		sameSchema(t, files[i]+" Down", conn, snapshots[i])
	}
	want(t, conn, `SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name`, "cards", "invoices")
}

// sections splits a migration file at its goose annotations.
func sections(t *testing.T, data []byte) (up, down string) {
	t.Helper()
	text := string(data)
	_, rest, ok := strings.Cut(text, "\n-- +goose Up\n")
	if !ok {
		t.Fatalf("no Up section:\n%s", text)
	}
	up, down, ok = strings.Cut(rest, "\n-- +goose Down\n")
	if !ok {
		t.Fatalf("no Down section:\n%s", text)
	}
	noTx := strings.Contains(text, "\n-- +goose NO TRANSACTION\n")
	if rebuilds := strings.Contains(up, "BEGIN;"); rebuilds != noTx {
		t.Fatalf("NO TRANSACTION is %v but the Up section rebuilds: %v", noTx, rebuilds)
	}
	return up, down
}

// run executes a section statement by statement, splitting them as goose does (a line
// ending with ;), and fails when PRAGMA foreign_key_check reports a row, as the runtime does.
func run(t *testing.T, db *sql.Conn, name, section string) {
	t.Helper()
	ctx := context.Background()
	var stmt []string
	for _, line := range strings.Split(section, "\n") {
		if trimmed := strings.TrimSpace(line); trimmed == "" || strings.HasPrefix(trimmed, "--") {
			continue
		}
		stmt = append(stmt, line)
		if !strings.HasSuffix(strings.TrimSpace(line), ";") {
			continue
		}
		q := strings.Join(stmt, "\n")
		stmt = nil
		if q == "PRAGMA foreign_key_check;" {
			if rows := query(t, db, q); len(rows) > 0 {
				t.Fatalf("%s: foreign_key_check: %v", name, rows)
			}
			continue
		}
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, q)
		}
	}
	if len(stmt) > 0 {
		t.Fatalf("%s: unfinished statement %q", name, stmt)
	}
	want(t, db, `PRAGMA foreign_keys`, "1")
}

// sameSchema compares the database's model tables with a snapshot: every table but the
// test's own (invoices, cards), the runtime's (syncgen_*) and SQLite's.
func sameSchema(t *testing.T, name string, db *sql.Conn, snapshot []byte) {
	t.Helper()
	var snap schema.Snapshot
	if snapshot != nil {
		if err := json.Unmarshal(snapshot, &snap); err != nil {
			t.Fatal(err)
		}
	}
	var wantTables []schema.Table
	for _, tb := range snap.Tables {
		tb.Indexes = append([]schema.Index{}, tb.Indexes...)
		tb.JSON = nil // the JSON shape is not SQLite's
		wantTables = append(wantTables, tb)
	}
	var got []schema.Table
	for _, name := range query(t, db, `SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT IN ('invoices', 'cards')
		AND name NOT LIKE 'syncgen\_%' ESCAPE '\' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`) {
		tb := schema.Table{Name: name, Indexes: []schema.Index{}}
		for _, row := range query(t, db, fmt.Sprintf(`SELECT name, type, "notnull", coalesce(dflt_value, ''), pk FROM pragma_table_info('%s')`, name)) {
			f := strings.Split(row, "|")
			tb.Columns = append(tb.Columns, schema.Column{Name: f[0], Type: f[1], NotNull: f[2] == "1", Default: f[3], PrimaryKey: f[4] == "1"})
		}
		for _, ix := range query(t, db, fmt.Sprintf(`SELECT name FROM pragma_index_list('%s') WHERE origin = 'c' ORDER BY name`, name)) {
			cols := query(t, db, fmt.Sprintf(`SELECT name FROM pragma_index_info('%s') ORDER BY seqno`, ix))
			tb.Indexes = append(tb.Indexes, schema.Index{Name: ix, Columns: cols})
		}
		got = append(got, tb)
	}
	if !reflect.DeepEqual(got, wantTables) {
		t.Fatalf("%s: database\n%+v\nschema.json\n%+v", name, got, wantTables)
	}
	// Nothing left behind by a rebuild.
	want(t, db, `SELECT name FROM sqlite_schema WHERE name LIKE '%__syncgen_new%'`)
}

func exec(t *testing.T, db *sql.Conn, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.ExecContext(context.Background(), s); err != nil {
			t.Fatalf("%v\n%s", err, s)
		}
	}
}

// query returns each row as its columns joined by |.
func query(t *testing.T, db *sql.Conn, q string) []string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), q)
	if err != nil {
		t.Fatalf("%v\n%s", err, q)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		parts := make([]string, len(cols))
		for i, v := range vals {
			parts[i] = v.String
		}
		out = append(out, strings.Join(parts, "|"))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func want(t *testing.T, db *sql.Conn, q string, rows ...string) {
	t.Helper()
	if got := query(t, db, q); strings.Join(got, "\n") != strings.Join(rows, "\n") {
		t.Fatalf("%s:\ngot  %q\nwant %q", q, got, rows)
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// IR builders: the loader's output, written by hand.

func newModel(name, table string, fields ...*model.Field) *model.Model {
	return &model.Model{Name: name, Table: table, Path: "/" + table, RepoName: name + "s",
		Pos: model.Pos{File: "/pkg/models.go", Line: 1, Col: 6}, Fields: fields}
}

func field(name, column string, kind model.Kind, opts ...func(*model.Field)) *model.Field {
	f := &model.Field{Name: name, Path: []string{name}, Column: column, JSONKey: column,
		Pos: model.Pos{File: "/pkg/models.go", Line: 2, Col: 2}, Type: model.Type{Kind: kind}}
	for _, o := range opts {
		o(f)
	}
	return f
}

func unique(f *model.Field)   { f.Unique = true }
func index(f *model.Field)    { f.Index = true }
func skip(f *model.Field)     { f.Skip = true }
func nullable(f *model.Field) { f.Type.Nullable, f.Type.Pointer = true, true }
func ref(m string) func(*model.Field) {
	return func(f *model.Field) { f.Ref = m }
}
func renamed(old string) func(*model.Field) {
	return func(f *model.Field) { f.Renamed = old }
}

// TestMigrationsWithRuntimeMigrate applies the same files with runtime.Migrate, the
// runner generated repositories use, one more file per call, with data and a table
// holding a FOREIGN KEY to the rebuilt one: the runtime must accept every file the
// generator writes and end at the last snapshot.
func TestMigrationsWithRuntimeMigrate(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "app.db")
	ex := schema.Existing{Dir: "/pkg/migrations", Show: "migrations", SQL: map[string][]byte{}}
	fsys := fstest.MapFS{}
	for i, s := range migrationSteps() {
		pkg := &model.Package{Name: "shop", Path: "example.com/shop", Dir: "/pkg", Models: s.models}
		out, problems, err := schema.Files(pkg, ex, schema.Options{AllowDestructive: s.allowDestructive})
		if err != nil || len(problems) > 0 {
			t.Fatalf("%s: %v %v", s.name, err, problems)
		}
		for name, data := range out {
			fsys["migrations/"+name] = &fstest.MapFile{Data: data}
			if name == schema.SnapshotFile {
				ex.Snapshot = data
			} else {
				ex.SQL[name] = data
			}
		}

		rdb, err := runtime.OpenSQLite(path)
		if err != nil {
			t.Fatal(err)
		}
		err = runtime.Migrate(ctx, rdb, runtime.Migrations{Package: pkg.Path, FS: fsys, Dir: "migrations"})
		if cerr := rdb.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}

		db, err := sql.Open("sqlite3", "file:"+path+"?_foreign_keys=on")
		if err != nil {
			t.Fatal(err)
		}
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sameSchema(t, s.name, conn, ex.Snapshot)
		s.check(t, conn)
		if i == 0 {
			want(t, conn, `SELECT count(*) FROM invoices`, "2")
		}
		conn.Close()
		db.Close()
	}
}
