//go:build cgo && !syncgen_purego

package runtime

import (
	"errors"
	"net/url"
	"strconv"

	"github.com/jmoiron/sqlx"
	"github.com/mattn/go-sqlite3" // registers the "sqlite3" driver
)

// SQLiteDriver is the module of the SQLite driver this build uses:
// github.com/mattn/go-sqlite3 (SQLite's C, through cgo) by default, or
// github.com/ncruces/go-sqlite3 (pure Go) when built with CGO_ENABLED=0 or
// -tags syncgen_purego.
const SQLiteDriver = "github.com/mattn/go-sqlite3"

// sqliteEncrypts: mattn/go-sqlite3 builds SQLite without an encryption codec.
const sqliteEncrypts = false

func openSQLitePool(p sqlitePool) (*sqlx.DB, error) {
	if p.key != nil {
		return nil, ErrEncryptionUnsupported
	}
	// The parameters starting with "_" are go-sqlite3's: it runs the matching
	// PRAGMA on every new connection, busy_timeout first so that switching to
	// WAL waits for a lock instead of failing. go-sqlite3 resets synchronous
	// to NORMAL when it sees _journal_mode=WAL unless _synchronous is given,
	// hence always giving it.
	params := url.Values{}
	params.Set("_busy_timeout", strconv.FormatInt(p.busyTimeoutMS, 10))
	params.Set("_foreign_keys", "1")
	params.Set("_synchronous", p.synchronous)
	if p.memory {
		// One cache shared by all connections is what makes several
		// connections see the same in-memory database.
		params.Set("mode", "memory")
		params.Set("cache", "shared")
	} else {
		params.Set("_journal_mode", "WAL")
	}
	if p.writer {
		params.Set("_txlock", "immediate")
	} else {
		params.Set("_txlock", "deferred")
		params.Set("_query_only", "1")
	}
	db, err := sqlx.Open("sqlite3", p.uri+"?"+params.Encode())
	if err != nil {
		return nil, err
	}
	setUpPool(db, p.conns)
	return db, nil
}

// sqliteErrorCode is the primary result code of a SQLite error, or 0.
func sqliteErrorCode(err error) int {
	var e sqlite3.Error
	if errors.As(err, &e) {
		return int(e.Code)
	}
	return 0
}
