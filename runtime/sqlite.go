package runtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
)

// memoryPath is the path that asks OpenSQLite for a private in-memory database.
const memoryPath = ":memory:"

// DB is a database opened for syncgen: a writer pool of exactly one
// connection and a pool of read-only connections, both on the same database.
//
// SQLite allows one writer at a time, so funnelling every write through one
// connection makes writers queue in Go instead of failing with SQLITE_BUSY,
// while readers keep reading the last committed state (WAL). A caller that
// holds a transaction on Writer must not use Writer again until it ends: the
// second call would wait for the only connection forever.
type DB struct {
	writer  *sqlx.DB
	reader  *sqlx.DB
	dialect migrationDialect
	// borrowed: the pools are the app's (AdoptSQLite), and the app closes them.
	borrowed bool

	closeOnce sync.Once
	closeErr  error
}

// Writer returns the single-connection pool for writes. Its transactions
// begin with BEGIN IMMEDIATE: they take the write lock at the start, so a
// transaction that reads and then writes never fails half-way on a lock held
// by another process.
func (db *DB) Writer() *sqlx.DB { return db.writer }

// Reader returns the pool of read-only connections (PRAGMA query_only).
func (db *DB) Reader() *sqlx.DB { return db.reader }

// Close closes both pools, unless they came from AdoptSQLite: the app that
// opened those closes them. Calling it again returns the first result.
func (db *DB) Close() error {
	if db.writer == nil || db.borrowed {
		return nil // a zero DB holds nothing
	}
	db.closeOnce.Do(func() {
		db.closeErr = errors.Join(db.reader.Close(), db.writer.Close())
		if db.closeErr != nil {
			db.closeErr = fmt.Errorf("close sqlite: %w", db.closeErr)
		}
	})
	return db.closeErr
}

// SQLiteOption configures OpenSQLite.
type SQLiteOption func(*sqliteConfig)

type sqliteConfig struct {
	synchronous string
	busyTimeout time.Duration
	readers     int
	key         KeyFunc
	// The options given, for AdoptSQLite to refuse those that cannot apply to
	// pools the app opened.
	busyTimeoutSet, readersSet bool
}

// WithSynchronousNormal sets PRAGMA synchronous=NORMAL instead of FULL. In WAL
// mode NORMAL never corrupts the database, and a crash of the program loses
// nothing, but a power loss or OS crash may lose the last transactions that
// had already committed: a write that returned nil may be gone after reboot.
// In exchange commits skip an fsync and are faster.
func WithSynchronousNormal() SQLiteOption {
	return func(c *sqliteConfig) { c.synchronous = "NORMAL" }
}

// WithBusyTimeout sets how long a connection waits for a lock held by another
// connection or process before failing with SQLITE_BUSY (default 5 s). It is
// rounded up to whole milliseconds; zero means fail at once.
func WithBusyTimeout(d time.Duration) SQLiteOption {
	return func(c *sqliteConfig) { c.busyTimeout, c.busyTimeoutSet = d, true }
}

// WithReaders sets the number of connections of the reader pool (default 4).
func WithReaders(n int) SQLiteOption {
	return func(c *sqliteConfig) { c.readers, c.readersSet = n, true }
}

func newSQLiteConfig(opts []SQLiteOption) sqliteConfig {
	cfg := sqliteConfig{synchronous: "FULL", busyTimeout: 5 * time.Second, readers: 4}
	for _, opt := range opts {
		if opt != nil {
			opt(&cfg)
		}
	}
	return cfg
}

// OpenSQLite opens, creating it if needed, the SQLite database at path.
//
// Every connection runs with journal_mode=WAL, a busy timeout (5 s unless
// WithBusyTimeout), foreign_keys=ON and synchronous=FULL, so a write that
// returned nil survives power loss (see WithSynchronousNormal). The reader
// connections are additionally query_only. SQLiteDriver names the driver
// this build uses (see docs/SQLITE.md); the guarantees are the same on each.
//
// The path ":memory:" gives a private in-memory database, new on every call
// and shared by the writer and the reader pools, for tests. It lives until
// Close. WAL does not apply in memory (journal_mode is "memory"). With
// mattn/go-sqlite3 the connections share one cache, so a reader that touches
// a table while a write transaction on it is open fails at once with
// "database table is locked" instead of reading the previous state; with the
// pure-Go driver the database lives in its "memdb" file system, and such a
// reader reads the previous state, or waits out the busy timeout while the
// write commits.
//
// With WithKey the database is encrypted (pure-Go driver only): see WithKey.
//
// A path that cannot be opened, or a file that is not a SQLite database, is
// an error; OpenSQLite reads from both pools before it returns.
func OpenSQLite(path string, opts ...SQLiteOption) (*DB, error) {
	db, err := openSQLite(path, newSQLiteConfig(opts))
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	return db, nil
}

func openSQLite(path string, cfg sqliteConfig) (*DB, error) {
	if cfg.busyTimeout < 0 {
		return nil, fmt.Errorf("negative busy timeout %v", cfg.busyTimeout)
	}
	if cfg.readers < 1 {
		return nil, fmt.Errorf("%d readers: need at least 1", cfg.readers)
	}
	memory := path == memoryPath
	uri, err := sqliteURI(path)
	if err != nil {
		return nil, err
	}
	var key []byte
	if cfg.key != nil {
		if memory {
			return nil, errors.New("an in-memory database cannot be encrypted: WithKey needs a file")
		}
		if key, err = readKey(context.Background(), cfg.key); err != nil {
			return nil, err
		}
	}

	pool := sqlitePool{
		uri:           uri,
		memory:        memory,
		key:           key,
		busyTimeoutMS: int64((cfg.busyTimeout + time.Millisecond - 1) / time.Millisecond),
		synchronous:   cfg.synchronous,
		writer:        true,
		conns:         1,
	}
	writer, err := openSQLitePool(pool)
	if err != nil {
		return nil, fmt.Errorf("writer: %w", err)
	}
	// The writer goes first: it creates the file and switches it to WAL
	// before any reader looks at it.
	if err := checkPool(writer, memory); err != nil {
		writer.Close()
		return nil, fmt.Errorf("writer: %w", explainNotADB(path, key != nil, err))
	}

	pool.writer, pool.conns = false, cfg.readers
	reader, err := openSQLitePool(pool)
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("reader: %w", err)
	}
	if err := checkPool(reader, memory); err != nil {
		reader.Close()
		writer.Close()
		return nil, fmt.Errorf("reader: %w", err)
	}
	return &DB{writer: writer, reader: reader, dialect: sqliteDialect{}}, nil
}

// sqlitePool is what a driver needs to open one of OpenSQLite's pools: every
// connection it opens runs, in this order, PRAGMA key (when key is set),
// busy_timeout, journal_mode=WAL (in memory: MEMORY), foreign_keys=ON,
// synchronous, and for readers query_only. Writers begin their transactions
// with BEGIN IMMEDIATE, readers with BEGIN DEFERRED.
type sqlitePool struct {
	// uri is a SQLite URI filename without a query: file:///abs/path, or for
	// memory file:syncgen-memory-<random> (a name, no slash).
	uri           string
	memory        bool
	key           []byte
	busyTimeoutMS int64
	synchronous   string
	writer        bool
	conns         int
}

// Primary SQLite result codes the runtime tells apart, whichever driver
// reports them (sqliteErrorCode).
const (
	sqliteBusy   = 5
	sqliteNotADB = 26
)

// sqliteURI turns path into the start of a SQLite URI filename (no query).
// A URI, unlike a plain name, lets SQLite read mode, cache and vfs, and lets
// a path hold '?' or '#' without the driver taking the rest for parameters.
func sqliteURI(path string) (string, error) {
	switch {
	case path == "":
		return "", errors.New("empty path")
	case path == memoryPath:
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("name in-memory database: %w", err)
		}
		return "file:syncgen-memory-" + hex.EncodeToString(b[:]), nil
	case strings.HasPrefix(path, "file:"):
		return "", errors.New(`a URI is not a path: pass a file path, or ":memory:"`)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // a Windows drive letter: file:///C:/...
	}
	// SQLite decodes %HH in the path; these three would otherwise end it.
	p = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(p)
	return "file://" + p, nil
}

// setUpPool gives a pool the connection limits OpenSQLite relies on.
func setUpPool(db *sqlx.DB, conns int) {
	db.SetMaxOpenConns(conns)
	// Connections are never closed for being idle or old: each one carries
	// its pragmas, and an in-memory database disappears with its last
	// connection.
	db.SetMaxIdleConns(conns)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
}

// checkPool reads from the pool, which fails on a file that is not a
// database, and checks that WAL took effect: SQLite keeps the old journal
// mode without an error where WAL is impossible (some network file systems).
func checkPool(db *sqlx.DB, memory bool) error {
	ctx := context.Background()
	var n int
	if err := db.GetContext(ctx, &n, "SELECT count(*) FROM sqlite_master"); err != nil {
		return err
	}
	if memory {
		return nil
	}
	var mode string
	if err := db.GetContext(ctx, &mode, "PRAGMA journal_mode"); err != nil {
		return err
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal mode is %q, not WAL: is the file on a file system without shared memory?", mode)
	}
	return nil
}
