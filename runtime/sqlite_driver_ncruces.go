//go:build !cgo || syncgen_purego

package runtime

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/driver"         // registers the "sqlite3" driver
	_ "github.com/ncruces/go-sqlite3/vfs/adiantum" // registers the "adiantum" encrypting VFS
	_ "github.com/ncruces/go-sqlite3/vfs/memdb"    // registers the "memdb" VFS for :memory:
)

// SQLiteDriver is the module of the SQLite driver this build uses:
// github.com/mattn/go-sqlite3 (SQLite's C, through cgo) by default, or
// github.com/ncruces/go-sqlite3 (pure Go) when built with CGO_ENABLED=0 or
// -tags syncgen_purego.
const SQLiteDriver = "github.com/ncruces/go-sqlite3"

// sqliteEncrypts: the "adiantum" VFS encrypts every page of the database and
// of its WAL.
const sqliteEncrypts = true

func openSQLitePool(p sqlitePool) (*sqlx.DB, error) {
	uri := p.uri
	params := url.Values{}
	if p.writer {
		params.Set("_txlock", "immediate")
	} else {
		params.Set("_txlock", "deferred")
	}
	switch {
	case p.memory:
		// SQLite here is built without a shared cache; memdb shares a
		// database among the connections that name it with a leading "/".
		uri = "file:/" + strings.TrimPrefix(uri, "file:")
		params.Set("vfs", "memdb")
	case p.key != nil:
		params.Set("vfs", "adiantum")
	}

	// The pragmas run on each new connection, the key first: every read,
	// the one that switches to WAL included, needs it. They are not URI
	// parameters (_pragma), which would keep the key in the connection's
	// file name for any code to read.
	var keyPragma string
	if p.key != nil {
		keyPragma = "PRAGMA hexkey='" + hex.EncodeToString(p.key) + "'"
	}
	var pragmas strings.Builder
	fmt.Fprintf(&pragmas, "PRAGMA busy_timeout=%d;", p.busyTimeoutMS)
	if p.memory {
		pragmas.WriteString("PRAGMA journal_mode=MEMORY;")
	} else {
		pragmas.WriteString("PRAGMA journal_mode=WAL;")
	}
	pragmas.WriteString("PRAGMA foreign_keys=ON;")
	fmt.Fprintf(&pragmas, "PRAGMA synchronous=%s;", p.synchronous)
	if !p.writer {
		pragmas.WriteString("PRAGMA query_only=ON;")
	}
	setup := pragmas.String()

	db, err := driver.Open(uri+"?"+params.Encode(), func(c *sqlite3.Conn) error {
		if keyPragma != "" {
			// A failed statement's error carries its SQL: this one's holds the key.
			if err := c.Exec(keyPragma); err != nil {
				return errors.New("set key: the adiantum VFS refused it")
			}
		}
		return c.Exec(setup)
	})
	if err != nil {
		return nil, err
	}
	pool := sqlx.NewDb(db, "sqlite3")
	setUpPool(pool, p.conns)
	return pool, nil
}

// sqliteErrorCode is the primary result code of a SQLite error, or 0.
func sqliteErrorCode(err error) int {
	// The driver returns a bare code where SQLite gave no message.
	var (
		e    *sqlite3.Error
		code sqlite3.ErrorCode
		ext  sqlite3.ExtendedErrorCode
	)
	switch {
	case errors.As(err, &e):
		return int(e.Code())
	case errors.As(err, &code):
		return int(code)
	case errors.As(err, &ext):
		return int(ext.Code())
	}
	return 0
}
