package runtime

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// PostgresDB wraps a pool opened with a PostgreSQL driver, for the generated server
// (server.OpenPostgres opens one): Writer and Reader both return pool, and Migrate and
// ApplyMigrations use PostgreSQL's transactional DDL and an advisory lock. The runtime
// itself links no PostgreSQL driver, so client programs carry none.
func PostgresDB(pool *sqlx.DB) *DB {
	return &DB{writer: pool, reader: pool, dialect: postgresDialect{}}
}

// postgresMigrateLock is the key of the transaction-level advisory lock
// Migrate holds on PostgreSQL: the bytes of "syncgen" (0x73796e6367656e).
// Every syncgen process migrating the same database takes the same lock.
const postgresMigrateLock int64 = 0x73796e6367656e

// postgresDialect applies migrations on PostgreSQL, whose DDL is
// transactional: a migration that fails leaves nothing behind.
type postgresDialect struct{}

// validate refuses NO TRANSACTION migrations, which are SQLite table
// rebuilds (PostgreSQL alters tables in place), and the control statements
// of such files (BEGIN, COMMIT, PRAGMA) anywhere: COMMIT would end Migrate's
// transaction and its lock half-way.
func (postgresDialect) validate(m migration) error {
	if m.file.NoTransaction {
		return m.error(errPostgresNoTransaction)
	}
	for _, st := range m.file.Up {
		if kind, ok := sqliteControl(st); ok {
			return m.errorAt(st, fmt.Errorf("%w: %s is not supported on PostgreSQL: the migration runs inside Migrate's transaction", ErrInvalidMigration, kind))
		}
	}
	return nil
}

var errPostgresNoTransaction = fmt.Errorf("%w: -- +goose NO TRANSACTION migrations are SQLite table rebuilds and are not supported on PostgreSQL", ErrInvalidMigration)

// begin starts a transaction and takes the migration lock in it, waiting for
// any other process that holds it; the lock ends with the transaction.
func (postgresDialect) begin(ctx context.Context, conn *sqlx.Conn) (*sqlx.Tx, error) {
	tx, err := conn.BeginTxx(ctx, nil)
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, postgresMigrateLock); err != nil {
		tx.Rollback()
		return nil, fmt.Errorf("lock: %w", err)
	}
	return tx, nil
}

// createTable makes the same table as on SQLite; applied_at holds the time
// in TimeLayout, as there.
func (postgresDialect) createTable(ctx context.Context, tx *sqlx.Tx) error {
	_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS syncgen_migrations (
	package TEXT NOT NULL,
	version BIGINT NOT NULL,
	name TEXT NOT NULL,
	applied_at TEXT NOT NULL,
	PRIMARY KEY (package, version)
)`)
	return err
}

// applied runs the same portable query as on SQLite.
func (postgresDialect) applied(ctx context.Context, tx *sqlx.Tx) (map[string]map[int64]string, error) {
	return sqliteDialect{}.applied(ctx, tx)
}

func (postgresDialect) record(ctx context.Context, tx *sqlx.Tx, m migration, at time.Time) error {
	_, err := tx.ExecContext(ctx,
		`INSERT INTO syncgen_migrations (package, version, name, applied_at) VALUES ($1, $2, $3, $4)`,
		m.pkg, m.version, m.name, at.UTC().Format(TimeLayout))
	return err
}

// runNoTransaction is never reached, as validate refuses such migrations
// before anything runs.
func (postgresDialect) runNoTransaction(_ context.Context, _ *sqlx.Conn, m migration) error {
	return m.error(errPostgresNoTransaction)
}
