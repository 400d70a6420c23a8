package main

import (
	"strings"
	"testing"

	"github.com/syncgen/syncgen/internal/testmod"
)

// A fresh module, as the README sets one up, builds a client app from models generated
// without -server, and that app links neither the server nor a PostgreSQL driver; the same
// models generated with -server build a server app.
func TestClientAndServerApps(t *testing.T) {
	client := `package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"example.com/app/menu"
	"github.com/syncgen/syncgen/remote"
	"github.com/syncgen/syncgen/runtime"
)

func main() {
	ctx := context.Background()
	db, err := runtime.OpenSQLite(filepath.Join(os.Args[1], "app.db"))
	if err != nil {
		panic(err)
	}
	defer db.Close()
	repo, err := menu.NewRepository(db, remote.NewProtocol("http://127.0.0.1:1"))
	if err != nil {
		panic(err)
	}
	defer repo.Close()
	if err := repo.Migrate(ctx); err != nil {
		panic(err)
	}
	if err := repo.Pizzas.Upsert(ctx, &menu.Pizza{ID: runtime.NewID(), Name: "Margherita"}); err != nil {
		panic(err)
	}
	n, err := repo.Pizzas.Count(ctx, menu.PizzaQuery{})
	fmt.Println("pizzas:", n, err)
}
`
	server := `package main

import (
	"net/http"
	"os"
	"time"

	"example.com/app/menu"
	"github.com/syncgen/syncgen/runtime"
)

func main() {
	db, err := runtime.OpenSQLite(os.Args[1])
	if err != nil {
		panic(err)
	}
	srv, err := menu.NewServer(db)
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	hs := &http.Server{Addr: "127.0.0.1:0", Handler: srv, ReadHeaderTimeout: 5 * time.Second}
	_ = hs
}
`
	dir := testmod.New(t, map[string]string{"menu/pizza.go": models, "cmd/app/main.go": client})
	if code, _, stderr := syncgen(t, dir, "./menu"); code != 0 {
		t.Fatalf("syncgen: exit %d: %s", code, stderr)
	}
	testmod.Go(t, dir, "mod", "tidy")
	testmod.Go(t, dir, "vet", "./...")
	deps := testmod.Go(t, dir, "list", "-deps", "./cmd/app")
	for _, banned := range []string{"github.com/syncgen/syncgen/server", "github.com/jackc/pgx"} {
		if strings.Contains(deps, banned) {
			t.Errorf("the client app links %s", banned)
		}
	}
	if !strings.Contains(deps, "github.com/syncgen/syncgen/runtime\n") {
		t.Fatalf("go list -deps does not list the runtime:\n%s", deps)
	}
	if out := testmod.Go(t, dir, "run", "./cmd/app", t.TempDir()); out != "pizzas: 1 <nil>\n" {
		t.Fatalf("client app printed %q", out)
	}

	testmod.Write(t, dir, map[string]string{"cmd/server/main.go": server})
	if code, _, stderr := syncgen(t, dir, "-server", "./menu"); code != 0 {
		t.Fatalf("syncgen -server: exit %d: %s", code, stderr)
	}
	testmod.Go(t, dir, "mod", "tidy")
	testmod.Go(t, dir, "build", "./cmd/server")
	if deps := testmod.Go(t, dir, "list", "-deps", "./cmd/server"); !strings.Contains(deps, "github.com/syncgen/syncgen/server\n") {
		t.Fatal("the server app does not link package server")
	}
}
