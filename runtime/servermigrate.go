package runtime

import (
	"context"
	"embed"
)

// serverMigrations are the generated server's tables (see servermigrations/), portable
// between SQLite and PostgreSQL and versioned apart from the client's.
//
//go:embed servermigrations/*.sql
var serverMigrations embed.FS

// migrateServer applies the server's pending migrations.
func migrateServer(ctx context.Context, db *DB) error {
	return migrateSets(ctx, db, []Migrations{{Package: runtimePackage + "/server", FS: serverMigrations, Dir: "servermigrations"}})
}
