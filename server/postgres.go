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

// DefaultPostgresConns is how many connections OpenPostgres's pool opens at most. It
// leaves room under PostgreSQL's default max_connections (100) for a few server
// processes, psql and maintenance.
const DefaultPostgresConns = 16

// PostgresOption configures OpenPostgres.
type PostgresOption func(*postgresOptions)

type postgresOptions struct {
	maxConns int
	idle     time.Duration
}

// WithMaxConns sets the most connections the pool opens (default DefaultPostgresConns).
// Keep the sum over every server process below the database's max_connections.
func WithMaxConns(n int) PostgresOption {
	return func(o *postgresOptions) { o.maxConns = n }
}

// WithConnMaxIdleTime closes a pooled connection idle for longer than d (default 5
// minutes).
func WithConnMaxIdleTime(d time.Duration) PostgresOption {
	return func(o *postgresOptions) { o.idle = d }
}

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
//
// The pool holds at most DefaultPostgresConns connections (WithMaxConns changes it): a
// request that finds them all busy waits for one, under its context, rather than opening
// more until PostgreSQL's max_connections refuses them, for this server and for every
// other client of the database.
func OpenPostgres(dsn string, opts ...PostgresOption) (*runtime.DB, error) {
	o := postgresOptions{maxConns: DefaultPostgresConns, idle: 5 * time.Minute}
	for _, opt := range opts {
		opt(&o)
	}
	if o.maxConns < 1 {
		return nil, fmt.Errorf("open postgres: max connections %d: want at least 1", o.maxConns)
	}
	pool, err := sqlx.Open("pgx", dsn)
	if err != nil {
		// pgx's parse errors leave the password out of the message.
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	pool.SetMaxOpenConns(o.maxConns)
	pool.SetMaxIdleConns(o.maxConns)
	pool.SetConnMaxIdleTime(o.idle)
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
