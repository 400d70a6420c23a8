package runtime

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"
)

const menuPkg = "example.com/app/menu"

// migrationFS builds a migration directory from name → Up SQL (Down is
// irrelevant to the runtime). A value starting with "-- +goose" is taken as
// the whole file.
func migrationFS(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for name, sql := range files {
		if !strings.HasPrefix(sql, "-- +goose") {
			sql = "-- +goose Up\n" + sql + "\n-- +goose Down\nSELECT 1;\n"
		}
		fsys[name] = &fstest.MapFile{Data: []byte(sql)}
	}
	return fsys
}

func menu(files map[string]string) Migrations {
	return Migrations{Package: menuPkg, FS: migrationFS(files)}
}

type appliedRow struct {
	Package   string `db:"package"`
	Version   int64  `db:"version"`
	Name      string `db:"name"`
	AppliedAt string `db:"applied_at"`
}

func appliedRows(t *testing.T, db *DB) []appliedRow {
	t.Helper()
	var rows []appliedRow
	if err := db.Reader().Select(&rows, "SELECT package, version, name, applied_at FROM syncgen_migrations ORDER BY package, version"); err != nil {
		if strings.Contains(err.Error(), "no such table") {
			return nil
		}
		t.Fatalf("read syncgen_migrations: %v", err)
	}
	return rows
}

// schema is the database's whole schema, to compare before and after.
func schema(t *testing.T, db *DB) string {
	t.Helper()
	var sqls []string
	if err := db.Reader().Select(&sqls, "SELECT type || ' ' || name || ': ' || coalesce(sql, '') FROM sqlite_master ORDER BY type, name"); err != nil {
		t.Fatalf("read schema: %v", err)
	}
	return strings.Join(sqls, "\n")
}

func versions(rows []appliedRow) []string {
	var out []string
	for _, r := range rows {
		out = append(out, fmt.Sprintf("%s %d %s", r.Package, r.Version, r.Name))
	}
	return out
}

func TestMigrateAppliesInOrder(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t, filepath.Join(t.TempDir(), "app.db"))
	other := Migrations{Package: "example.com/app/orders", FS: migrationFS(map[string]string{
		"0001_orders.sql": "CREATE TABLE orders (id TEXT PRIMARY KEY, pizza_id TEXT NOT NULL REFERENCES pizzas (id));",
	})}
	sets := []Migrations{
		menu(map[string]string{
			// Each file depends on the one before it.
			"0001_pizzas.sql":     "CREATE TABLE pizzas (id TEXT PRIMARY KEY);",
			"0002_add_name.sql":   "ALTER TABLE pizzas ADD COLUMN name TEXT NOT NULL DEFAULT '';",
			"0003_seed.sql":       "INSERT INTO pizzas (id, name) VALUES ('1', 'margherita');\nINSERT INTO pizzas (id, name) VALUES ('2', 'marinara');",
			"0004_trigger.sql":    "-- +goose Up\nCREATE TABLE log (msg TEXT);\n-- +goose StatementBegin\nCREATE TRIGGER pizzas_log AFTER INSERT ON pizzas BEGIN\n  INSERT INTO log VALUES (NEW.name);\n  INSERT INTO log VALUES ('again');\nEND;\n-- +goose StatementEnd\n",
			"schema.json":         "{}",
			"0005_trigger_ok.sql": "INSERT INTO pizzas (id, name) VALUES ('3', 'diavola');",
		}),
		other, // refers to pizzas: it must run after the menu set
	}
	start := time.Now().UTC().Add(-time.Second)
	if err := Migrate(ctx, db, sets...); err != nil {
		t.Fatalf("Migrate: %v", err)
	}

	rows := appliedRows(t, db)
	want := []string{
		"example.com/app/menu 1 0001_pizzas.sql",
		"example.com/app/menu 2 0002_add_name.sql",
		"example.com/app/menu 3 0003_seed.sql",
		"example.com/app/menu 4 0004_trigger.sql",
		"example.com/app/menu 5 0005_trigger_ok.sql",
		"example.com/app/orders 1 0001_orders.sql",
	}
	want = append(want, runtimeVersions(t)...)
	if got := versions(rows); !reflect.DeepEqual(got, want) {
		t.Fatalf("syncgen_migrations =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, r := range rows {
		at, err := time.Parse(TimeLayout, r.AppliedAt)
		if err != nil || len(r.AppliedAt) != len(TimeLayout) || at.Before(start) || at.After(time.Now().Add(time.Second)) {
			t.Errorf("applied_at %q of %s %d: not a fixed-width UTC time of this run (%v)", r.AppliedAt, r.Package, r.Version, err)
		}
	}
	var logged []string
	if err := db.Reader().Select(&logged, "SELECT msg FROM log"); err != nil || !reflect.DeepEqual(logged, []string{"diavola", "again"}) {
		t.Errorf("trigger log = %q, %v; want the trigger's two statements", logged, err)
	}
	var n int
	if err := db.Reader().Get(&n, "SELECT count(*) FROM syncgen_meta"); err != nil {
		t.Errorf("runtime table syncgen_meta: %v", err)
	}

	// Rerunning changes nothing, not even applied_at.
	before := schema(t, db)
	if err := Migrate(ctx, db, sets...); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if got := appliedRows(t, db); !reflect.DeepEqual(got, rows) {
		t.Errorf("second Migrate changed syncgen_migrations:\n%v\nwant\n%v", got, rows)
	}
	if got := schema(t, db); got != before {
		t.Errorf("second Migrate changed the schema")
	}

	// A later file is applied on its own.
	sets[0].FS.(fstest.MapFS)["0006_index.sql"] = &fstest.MapFile{Data: []byte("-- +goose Up\nCREATE INDEX pizzas_name ON pizzas (name);\n")}
	if err := Migrate(ctx, db, sets...); err != nil {
		t.Fatalf("Migrate with 0006: %v", err)
	}
	if got := len(appliedRows(t, db)); got != len(rows)+1 {
		t.Errorf("after 0006: %d rows, want %d", got, len(rows)+1)
	}
}

func TestMigrateFailureLeavesDatabaseUnchanged(t *testing.T) {
	ctx := context.Background()
	files := map[string]string{
		"0001_pizzas.sql": "CREATE TABLE pizzas (id TEXT PRIMARY KEY);",
	}

	t.Run("first run", func(t *testing.T) {
		db := openTestDB(t, filepath.Join(t.TempDir(), "app.db"))
		bad := map[string]string{
			"0001_pizzas.sql": "CREATE TABLE pizzas (id TEXT PRIMARY KEY);\nINSERT INTO nowhere VALUES (1);",
		}
		if err := Migrate(ctx, db, menu(bad)); err == nil {
			t.Fatal("Migrate succeeded")
		}
		// Even the runtime's own migration and the bookkeeping table are
		// rolled back: they were in the same transaction.
		if got := schema(t, db); got != "" {
			t.Errorf("schema after failed first Migrate:\n%s", got)
		}
	})

	t.Run("later run", func(t *testing.T) {
		db := openTestDB(t, filepath.Join(t.TempDir(), "app.db"))
		if err := Migrate(ctx, db, menu(files)); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Writer().Exec("INSERT INTO pizzas (id) VALUES ('1')"); err != nil {
			t.Fatal(err)
		}
		beforeSchema, beforeRows := schema(t, db), appliedRows(t, db)

		files["0002_sizes.sql"] = "CREATE TABLE sizes (id TEXT PRIMARY KEY);"
		files["0003_add_price.sql"] = "ALTER TABLE pizzas ADD COLUMN price REAL;\nDELETE FROM pizzas;\nUPDATE pizzas SET\n  nope = 1;\nCREATE TABLE never (id TEXT);"
		err := Migrate(ctx, db, menu(files))
		if err == nil {
			t.Fatal("Migrate succeeded")
		}
		// The driver's message ends it; the pure-Go driver puts the code's name first.
		const want, cause = "migrate example.com/app/menu: 0003_add_price.sql: line 4: UPDATE pizzas SET: ", "no such column: nope"
		if !strings.HasPrefix(err.Error(), want) || !strings.HasSuffix(err.Error(), cause) {
			t.Errorf("error = %q\nwant    %q", err, want+cause)
		}
		var me *MigrationError
		if !errors.As(err, &me) || me.Package != menuPkg || me.File != "0003_add_price.sql" || me.Line != 4 || me.Statement != "UPDATE pizzas SET" {
			t.Errorf("MigrationError = %+v", me)
		}
		if got := schema(t, db); got != beforeSchema {
			t.Errorf("schema changed by failed Migrate:\n%s\nwant\n%s", got, beforeSchema)
		}
		if got := appliedRows(t, db); !reflect.DeepEqual(got, beforeRows) {
			t.Errorf("syncgen_migrations changed by failed Migrate: %v", versions(got))
		}
		var n int
		if err := db.Reader().Get(&n, "SELECT count(*) FROM pizzas"); err != nil || n != 1 {
			t.Errorf("pizzas rows = %d, %v; want the row back", n, err)
		}
	})
}

func TestMigrateRefusals(t *testing.T) {
	ctx := context.Background()
	five := map[string]string{}
	for v := 1; v <= 5; v++ {
		five[fmt.Sprintf("%04d_t%d.sql", v, v)] = fmt.Sprintf("CREATE TABLE t%d (id TEXT);", v)
	}
	subset := func(names ...string) map[string]string {
		m := map[string]string{}
		for _, n := range names {
			m[n] = five[n]
		}
		return m
	}
	pending := Migrations{Package: "example.com/app/other", FS: migrationFS(map[string]string{
		"0001_other.sql": "CREATE TABLE other (id TEXT);",
	})}

	tests := []struct {
		name    string
		applied map[string]string // applied first, with the menu package
		tamper  string            // SQL run after applying
		files   map[string]string
		want    error
		msg     string
	}{
		{
			name:    "database newer",
			applied: five,
			files:   subset("0001_t1.sql", "0002_t2.sql", "0003_t3.sql"),
			want:    ErrDatabaseNewer,
			msg:     "migrate example.com/app/menu: database is at version 5 of example.com/app/menu but this code knows only up to 3: upgrade the app",
		},
		{
			name:  "file gap",
			files: subset("0001_t1.sql", "0002_t2.sql", "0004_t4.sql"),
			want:  ErrMigrationGap,
			msg:   "migrate example.com/app/menu: 0004_t4.sql: migration gap: no file for version 3: 0002_t2.sql is followed by 0004_t4.sql",
		},
		{
			name:  "no version 1",
			files: subset("0002_t2.sql"),
			want:  ErrMigrationGap,
			msg:   "no file for version 1: the first file is 0002_t2.sql",
		},
		{
			name:    "database gap",
			applied: subset("0001_t1.sql", "0002_t2.sql", "0003_t3.sql"),
			tamper:  "DELETE FROM syncgen_migrations WHERE package = 'example.com/app/menu' AND version = 2",
			files:   subset("0001_t1.sql", "0002_t2.sql", "0003_t3.sql", "0004_t4.sql"),
			want:    ErrMigrationGap,
			msg:     "migrate example.com/app/menu: 0002_t2.sql: migration gap: version 2 was never applied but version 3 was",
		},
		{
			name:  "duplicate version",
			files: map[string]string{"0001_t1.sql": five["0001_t1.sql"], "1_again.sql": "SELECT 1;"},
			want:  ErrDuplicateMigration,
			msg:   "duplicate migration version: ",
		},
		{
			name:  "bad name",
			files: map[string]string{"0001_t1.sql": five["0001_t1.sql"], "0002-t2.sql": "SELECT 1;"},
			want:  ErrBadMigrationName,
			msg:   "migrate example.com/app/menu: 0002-t2.sql: bad migration file name: want NNNN_<summary>.sql",
		},
		{
			name:  "version zero",
			files: map[string]string{"0000_t0.sql": "SELECT 1;"},
			want:  ErrBadMigrationName,
		},
		{
			name:    "applied under another name",
			applied: subset("0001_t1.sql"),
			files:   map[string]string{"0001_other_branch.sql": "SELECT 1;"},
			want:    ErrMigrationMismatch,
			msg:     "the database applied version 1 as 0001_t1.sql",
		},
		{
			name:  "unparsable",
			files: map[string]string{"0001_t1.sql": "-- +goose Up\nCREATE TABLE t1 (id TEXT)\n"},
			want:  ErrInvalidMigration,
			msg:   "0001_t1.sql: invalid migration: line 2: unfinished statement",
		},
		{
			name:  "BEGIN without NO TRANSACTION",
			files: map[string]string{"0001_t1.sql": "BEGIN;\nCREATE TABLE t1 (id TEXT);\nCOMMIT;"},
			want:  ErrInvalidMigration,
			msg:   "0001_t1.sql: line 2: BEGIN;: invalid migration: BEGIN needs -- +goose NO TRANSACTION",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openTestDB(t, filepath.Join(t.TempDir(), "app.db"))
			if tt.applied != nil {
				if err := Migrate(ctx, db, menu(tt.applied)); err != nil {
					t.Fatal(err)
				}
			}
			if tt.tamper != "" {
				if _, err := db.Writer().Exec(tt.tamper); err != nil {
					t.Fatal(err)
				}
			}
			beforeSchema, beforeRows := schema(t, db), appliedRows(t, db)

			// The other set comes first and has a pending migration: the
			// refusal must keep it from being applied too.
			err := Migrate(ctx, db, pending, menu(tt.files))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Migrate error = %v, want %v", err, tt.want)
			}
			var me *MigrationError
			if !errors.As(err, &me) || me.Package != menuPkg {
				t.Errorf("error %v is not a *MigrationError of %s", err, menuPkg)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error = %q\nwant it to contain %q", err, tt.msg)
			}
			if got := schema(t, db); got != beforeSchema {
				t.Errorf("refused Migrate changed the schema:\n%s\nwas\n%s", got, beforeSchema)
			}
			if got := appliedRows(t, db); !reflect.DeepEqual(got, beforeRows) {
				t.Errorf("refused Migrate changed syncgen_migrations: %v", versions(got))
			}
		})
	}

	t.Run("DatabaseNewerError", func(t *testing.T) {
		db := openTestDB(t, filepath.Join(t.TempDir(), "app.db"))
		if err := Migrate(ctx, db, menu(five)); err != nil {
			t.Fatal(err)
		}
		err := Migrate(ctx, db, menu(nil))
		var dn *DatabaseNewerError
		if !errors.As(err, &dn) || *dn != (DatabaseNewerError{Package: menuPkg, DatabaseVersion: 5, CodeVersion: 0}) {
			t.Fatalf("error %v: DatabaseNewerError = %+v", err, dn)
		}
	})

	t.Run("bad sets", func(t *testing.T) {
		db := openTestDB(t, ":memory:")
		for _, sets := range [][]Migrations{
			{{Package: "", FS: migrationFS(nil)}},
			{{Package: menuPkg}},
			{menu(nil), menu(nil)},
			{{Package: runtimePackage, FS: migrationFS(nil)}},
			{{Package: menuPkg, FS: migrationFS(nil), Dir: "missing"}},
		} {
			if err := Migrate(ctx, db, sets...); err == nil {
				t.Errorf("Migrate(%+v) succeeded", sets)
			}
		}
		if err := Migrate(ctx, nil); err == nil {
			t.Error("Migrate(nil DB) succeeded")
		}
		if err := Migrate(ctx, new(DB)); err == nil {
			t.Error("Migrate(zero DB) succeeded")
		}
	})
}

func TestMigrateDir(t *testing.T) {
	db := openTestDB(t, ":memory:")
	fsys := fstest.MapFS{
		"migrations/0001_a.sql":  &fstest.MapFile{Data: []byte("-- +goose Up\nCREATE TABLE a (id TEXT);\n")},
		"migrations/schema.json": &fstest.MapFile{Data: []byte("{}")},
		"0001_ignored.sql":       &fstest.MapFile{Data: []byte("not sql at all")},
	}
	if err := Migrate(context.Background(), db, Migrations{Package: menuPkg, FS: fsys, Dir: "migrations"}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Reader().Exec("SELECT * FROM a"); err != nil {
		t.Fatalf("table a: %v", err)
	}
}

// rebuildSQL is the shape the generator writes to drop a column: goose runs
// it as it stands; Migrate replaces the control statements.
const rebuildSQL = `-- +goose NO TRANSACTION
-- +goose Up
PRAGMA foreign_keys=OFF;
BEGIN;
CREATE TABLE pizzas_new (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL
);
INSERT INTO pizzas_new (id, name) SELECT id, name FROM pizzas %s;
DROP TABLE pizzas;
ALTER TABLE pizzas_new RENAME TO pizzas;
CREATE INDEX pizzas_name ON pizzas (name);
PRAGMA foreign_key_check;
COMMIT;
PRAGMA foreign_keys = on;

-- +goose Down
SELECT 1;
`

func rebuildFiles(where string) map[string]string {
	return map[string]string{
		"0001_init.sql": `CREATE TABLE pizzas (id TEXT PRIMARY KEY, name TEXT NOT NULL, legacy TEXT);
CREATE TABLE orders (id TEXT PRIMARY KEY, pizza_id TEXT NOT NULL REFERENCES pizzas (id));
INSERT INTO pizzas VALUES ('p1', 'margherita', 'x'), ('p2', 'marinara', 'y');
INSERT INTO orders VALUES ('o1', 'p1'), ('o2', 'p2');`,
		"0002_drop_legacy.sql": fmt.Sprintf(rebuildSQL, where),
		"0003_after.sql":       "CREATE TABLE after_rebuild (id TEXT);",
	}
}

func foreignKeysOn(t *testing.T, db *DB) int {
	t.Helper()
	var on int
	if err := db.Writer().Get(&on, "PRAGMA foreign_keys"); err != nil {
		t.Fatal(err)
	}
	return on
}

func TestMigrateNoTransactionRebuild(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t, filepath.Join(t.TempDir(), "app.db"))
	if err := Migrate(ctx, db, menu(rebuildFiles(""))); err != nil {
		t.Fatalf("Migrate: %v", err)
	}

	var cols []string
	if err := db.Reader().Select(&cols, "SELECT name FROM pragma_table_info('pizzas') ORDER BY cid"); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cols, []string{"id", "name"}) {
		t.Errorf("pizzas columns = %v, want [id name]", cols)
	}
	var names []string
	if err := db.Reader().Select(&names, "SELECT p.name FROM orders o JOIN pizzas p ON p.id = o.pizza_id ORDER BY o.id"); err != nil || !reflect.DeepEqual(names, []string{"margherita", "marinara"}) {
		t.Errorf("orders joined to rebuilt pizzas = %v, %v", names, err)
	}
	if got := versions(appliedRows(t, db)); len(got) != 3+len(runtimeVersions(t)) {
		t.Errorf("syncgen_migrations = %v, want the runtime's and menu 1..3", got)
	}
	if foreignKeysOn(t, db) != 1 {
		t.Error("foreign keys off after the rebuild")
	}
	// The reference from orders still holds against the rebuilt table.
	if _, err := db.Writer().Exec("INSERT INTO orders VALUES ('o3', 'nope')"); err == nil || !strings.Contains(err.Error(), "FOREIGN KEY") {
		t.Errorf("order of a missing pizza: err = %v, want a foreign key failure", err)
	}
	if err := Migrate(ctx, db, menu(rebuildFiles(""))); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
}

func TestMigrateNoTransactionForeignKeyCheckFails(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t, filepath.Join(t.TempDir(), "app.db"))
	files := rebuildFiles("")
	delete(files, "0002_drop_legacy.sql")
	delete(files, "0003_after.sql")
	if err := Migrate(ctx, db, menu(files)); err != nil {
		t.Fatal(err)
	}
	beforeSchema, beforeRows := schema(t, db), appliedRows(t, db)

	// The rebuild loses pizza p2, which order o2 points to.
	err := Migrate(ctx, db, menu(rebuildFiles("WHERE id = 'p1'")))
	if !errors.Is(err, ErrForeignKeyCheck) {
		t.Fatalf("Migrate error = %v, want ErrForeignKeyCheck", err)
	}
	if want := "migrate example.com/app/menu: 0002_drop_legacy.sql: foreign key check failed: 1 rows violate foreign keys, first rowid 2 of orders that references pizzas"; err.Error() != want {
		t.Errorf("error = %q\nwant    %q", err, want)
	}
	if got := schema(t, db); got != beforeSchema {
		t.Errorf("schema changed:\n%s\nwant\n%s", got, beforeSchema)
	}
	if got := appliedRows(t, db); !reflect.DeepEqual(got, beforeRows) {
		t.Errorf("syncgen_migrations changed: %v", versions(got))
	}
	var n int
	if err := db.Reader().Get(&n, "SELECT count(*) FROM pizzas WHERE legacy IS NOT NULL"); err != nil || n != 2 {
		t.Errorf("pizzas with legacy = %d, %v; want 2", n, err)
	}
	if foreignKeysOn(t, db) != 1 {
		t.Error("foreign keys left off after the failed rebuild")
	}

	// A statement failing inside the rebuild also rolls back and restores.
	files = rebuildFiles("")
	files["0002_drop_legacy.sql"] = strings.Replace(files["0002_drop_legacy.sql"], "DROP TABLE pizzas;", "DROP TABLE pizzas;\nSELECT nope FROM pizzas_new;", 1)
	err = Migrate(ctx, db, menu(files))
	if err == nil || !strings.Contains(err.Error(), "0002_drop_legacy.sql: line 11: SELECT nope FROM pizzas_new;: ") || !strings.HasSuffix(err.Error(), "no such column: nope") {
		t.Fatalf("Migrate error = %v", err)
	}
	if got := schema(t, db); got != beforeSchema {
		t.Errorf("schema changed:\n%s\nwant\n%s", got, beforeSchema)
	}
	if foreignKeysOn(t, db) != 1 {
		t.Error("foreign keys left off after the failed statement")
	}
}

func TestMigrateConcurrent(t *testing.T) {
	ctx := context.Background()
	files := rebuildFiles("")
	files["0004_more.sql"] = "CREATE TABLE more (id TEXT);\nINSERT INTO more VALUES ('m');"
	set := menu(files)
	for round := range 5 {
		path := filepath.Join(t.TempDir(), "app.db")
		dbs := []*DB{openTestDB(t, path), openTestDB(t, path)}
		var wg sync.WaitGroup
		errs := make([]error, len(dbs))
		start := make(chan struct{})
		for i, db := range dbs {
			wg.Go(func() {
				<-start
				errs[i] = Migrate(ctx, db, set)
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d: Migrate of DB %d: %v", round, i, err)
			}
		}
		want := []string{
			"example.com/app/menu 1 0001_init.sql",
			"example.com/app/menu 2 0002_drop_legacy.sql",
			"example.com/app/menu 3 0003_after.sql",
			"example.com/app/menu 4 0004_more.sql",
		}
		want = append(want, runtimeVersions(t)...)
		if got := versions(appliedRows(t, dbs[0])); !reflect.DeepEqual(got, want) {
			t.Fatalf("round %d: syncgen_migrations = %v", round, got)
		}
		var n int
		if err := dbs[1].Reader().Get(&n, "SELECT count(*) FROM more"); err != nil || n != 1 {
			t.Fatalf("round %d: rows of more = %d, %v; want 1", round, n, err)
		}
		for _, db := range dbs {
			if foreignKeysOn(t, db) != 1 {
				t.Fatalf("round %d: foreign keys off", round)
			}
		}
	}
}

// TestMigrateNoTransactionRechecks plays the race the concurrent test can
// only hope to hit: this process planned the NO TRANSACTION migration, and
// another one applied it before this one took the lock.
func TestMigrateNoTransactionRechecks(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t, filepath.Join(t.TempDir(), "app.db"))
	set := menu(rebuildFiles(""))
	if err := Migrate(ctx, db, set); err != nil {
		t.Fatal(err)
	}
	beforeSchema, beforeRows := schema(t, db), appliedRows(t, db)

	loaded, err := loadMigrations(set)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Writer().Connx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := db.dialect.runNoTransaction(ctx, conn, loaded.migrations[1]); err != nil {
		t.Fatalf("runNoTransaction of an applied version: %v", err)
	}
	if got := schema(t, db); got != beforeSchema {
		t.Errorf("schema changed:\n%s\nwant\n%s", got, beforeSchema)
	}
	if got := appliedRows(t, db); !reflect.DeepEqual(got, beforeRows) {
		t.Errorf("syncgen_migrations changed: %v", versions(got))
	}
}

// runtimeVersions lists the runtime's own migrations as versions() prints them.
func runtimeVersions(t *testing.T) []string {
	t.Helper()
	set, err := loadMigrations(Migrations{Package: runtimePackage, FS: ownMigrations, Dir: "migrations"})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range set.migrations {
		out = append(out, fmt.Sprintf("%s %d %s", runtimePackage, m.version, m.name))
	}
	return out
}
