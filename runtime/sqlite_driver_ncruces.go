//go:build !cgo || syncgen_purego

package runtime

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/driver"      // registers the "sqlite3" driver
	_ "github.com/ncruces/go-sqlite3/vfs/memdb" // registers the "memdb" VFS for :memory:
)

// SQLiteDriver is the module of the SQLite driver this build uses:
// github.com/mattn/go-sqlite3 (SQLite's C, through cgo) by default, or
// github.com/ncruces/go-sqlite3 (pure Go) when built with CGO_ENABLED=0 or
// -tags syncgen_purego.
const SQLiteDriver = "github.com/ncruces/go-sqlite3"

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
	}

	// The pragmas run on each new connection.
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
		return c.Exec(setup)
	})
	if err != nil {
		return nil, err
	}
	pool := sqlx.NewDb(db, "sqlite3")
	setUpPool(pool, p.conns)
	return pool, nil
}
