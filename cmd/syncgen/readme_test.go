package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/syncgen/syncgen/internal/testmod"
)

// The README's Quickstart, copied into a fresh module as a user would: its model, then
// go generate, go mod tidy and go vet over its usage snippet, wrapped in a main.
func TestReadmeQuickstart(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(testmod.Root(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	start := strings.Index(string(readme), "## Quickstart")
	if start < 0 {
		t.Fatal("README has no Quickstart")
	}
	blocks := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllStringSubmatch(string(readme[start:]), 2)
	if len(blocks) < 2 || !strings.HasPrefix(blocks[0][1], "package menu") {
		t.Fatalf("want the Quickstart's model and usage snippets, found %d go blocks", len(blocks))
	}
	usage := "package main\n\nimport (\n\t\"context\"\n\n\t\"example.com/app/menu\"\n\t\"github.com/syncgen/syncgen/runtime\"\n)\n\n" +
		"func render([]menu.Pizza) {}\n\nfunc main() {\n\tctx := context.Background()\n" + blocks[1][1] + "\t_, _ = db, err\n}\n"
	dir := testmod.New(t, map[string]string{"menu/pizza.go": blocks[0][1], "cmd/app/main.go": usage})
	testmod.Go(t, dir, "mod", "edit", "-tool=github.com/syncgen/syncgen/cmd/syncgen")
	testmod.Go(t, dir, "mod", "tidy")
	testmod.Go(t, dir, "generate", "./...")
	testmod.Go(t, dir, "mod", "tidy")
	testmod.Go(t, dir, "vet", "./...")
	testmod.Go(t, dir, "tool", "syncgen", "-check", "./...")
}
