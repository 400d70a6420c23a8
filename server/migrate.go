package server

import (
	"context"
	"embed"

	"github.com/syncgen/syncgen/runtime"
)

// migrations are the generated server's tables (see migrations/), portable between
// SQLite and PostgreSQL and versioned apart from the client's.
//
//go:embed migrations/*.sql
var migrations embed.FS

// migrationsPackage names the server's migrations in syncgen_migrations. It is the
// package's path before the runtime was split, kept so that existing databases go on.
const migrationsPackage = "github.com/syncgen/syncgen/runtime/server"

// migrate applies the server's pending migrations.
func migrate(ctx context.Context, db *runtime.DB) error {
	return runtime.ApplyMigrations(ctx, db, runtime.Migrations{Package: migrationsPackage, FS: migrations, Dir: "migrations"})
}
