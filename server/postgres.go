package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/jmoiron/sqlx"
	"github.com/syncgen/syncgen/runtime"
)

// postgresPingTimeout bounds the first connection of OpenPostgres, so a
// server that does not answer fails the open instead of hanging it.
const postgresPingTimeout = 10 * time.Second

// OpenPostgres opens a pool of connections to the PostgreSQL database of dsn,
// a URL (postgres://user:password@host:5432/db?sslmode=disable) or
// keyword/value string (host=/run/postgresql dbname=app) as pgx reads it,
// environment variables (PGHOST, PGPASSWORD, …) filling what it leaves out.
// Databases that speak PostgreSQL's wire protocol work too, as far as they
// support the SQL syncgen runs.
//
// Writer and Reader return the same pool: PostgreSQL runs concurrent writers
// itself (row locks, MVCC), so writes need not queue on one connection as they
// do on SQLite, and a transaction held on Writer does not block other calls
// on Writer. Transactions start with the server's default isolation (READ
// COMMITTED). The pool uses the pgx driver, which sqlx knows to take $1-style
// placeholders: queries written with ? go through Writer().Rebind.
//
// OpenPostgres connects before it returns (within 10 s): a malformed dsn, an
// unreachable server, a wrong password or a missing database is an error.
// Close closes the pool.
func OpenPostgres(dsn string) (*runtime.DB, error) {
	pool, err := sqlx.Open("pgx", dsn)
	if err != nil {
		// pgx's parse errors leave the password out of the message.
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), postgresPingTimeout)
	defer cancel()
	if err := pool.PingContext(ctx); err != nil {
		pool.Close()
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no answer within %v: %w", postgresPingTimeout, err)
		}
		return nil, fmt.Errorf("open postgres: connect: %w", err)
	}
	// Close closes reader and writer; closing one *sql.DB twice is a no-op.
	return runtime.PostgresDB(pool), nil
}
