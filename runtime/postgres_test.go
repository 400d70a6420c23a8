package runtime

import (
	"context"
	"errors"
	"sync"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/jmoiron/sqlx"

	"github.com/syncgen/syncgen/internal/testmod"
)

func openTestPostgres(t *testing.T) *DB {
	t.Helper()
	db, err := openPostgres(testmod.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Two processes starting at once both succeed; one applies, the other waits on the
// advisory lock and then finds nothing pending.
func TestPostgresConcurrentMigrate(t *testing.T) {
	dsn := testmod.Postgres(t)
	var dbs [2]*DB
	for i := range dbs {
		db, err := openPostgres(dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs[i] = db
	}
	var wg sync.WaitGroup
	errs := make([]error, len(dbs))
	for i, db := range dbs {
		wg.Go(func() {
			errs[i] = ApplyMigrations(context.Background(), db, menu(map[string]string{"0001_t.sql": "CREATE TABLE t (id TEXT PRIMARY KEY);"}))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("migrateServer #%d: %v", i+1, err)
		}
	}
	if rows := appliedRows(t, dbs[0]); len(rows) != 1 {
		t.Fatalf("syncgen_migrations = %+v, want one row", rows)
	}
	var n int
	if err := dbs[1].Reader().Get(&n, "SELECT count(*) FROM information_schema.tables WHERE table_name = 't'"); err != nil || n != 1 {
		t.Fatalf("tables named t: %d, %v; want 1", n, err)
	}
}

// PostgreSQL's DDL is transactional: a migration failing half-way leaves nothing.
func TestPostgresMigrationFailureRollsBack(t *testing.T) {
	db := openTestPostgres(t)
	err := ApplyMigrations(context.Background(), db, menu(map[string]string{
		"0001_t.sql": "CREATE TABLE t (id TEXT PRIMARY KEY);\nINSERT INTO nowhere VALUES (1);",
	}))
	var merr *MigrationError
	if !errors.As(err, &merr) || merr.File != "0001_t.sql" || merr.Line != 3 {
		t.Fatalf("err = %v, want a MigrationError at 0001_t.sql line 3", err)
	}
	var n int
	if err := db.Reader().Get(&n, "SELECT count(*) FROM information_schema.tables WHERE table_name IN ('t', 'syncgen_migrations')"); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d tables left after the failed migration, want 0", n)
	}
}

func TestPostgresRefusesNoTransaction(t *testing.T) {
	db := openTestPostgres(t)
	for name, sql := range map[string]string{
		"NO TRANSACTION": rebuildSQL,
		"COMMIT":         "CREATE TABLE t (id TEXT);\nCOMMIT;",
	} {
		err := ApplyMigrations(context.Background(), db, menu(map[string]string{"0001_t.sql": sql}))
		if !errors.Is(err, ErrInvalidMigration) {
			t.Errorf("%s: err = %v, want ErrInvalidMigration", name, err)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	// Refused before anything ran.
	var n int
	if err := db.Reader().Get(&n, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d tables after refused migrations, want 0", n)
	}
}

// openPostgres opens a pool as server.OpenPostgres does; the runtime links no driver of
// its own, so its tests bring pgx.
func openPostgres(dsn string) (*DB, error) {
	pool, err := sqlx.Connect("pgx", dsn)
	if err != nil {
		return nil, err
	}
	return PostgresDB(pool), nil
}
