package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const models = 50

// fiftyModels is a package of 50 models, each with the tags a user's would carry: a
// unique id, an index, updatedAt and deletedAt, and a ref to the model before it.
func fiftyModels() string {
	var b strings.Builder
	b.WriteString("package fifty\n\nimport \"time\"\n\n//go:generate go tool syncgen -server\n")
	for i := range models {
		fmt.Fprintf(&b, `
type Model%[1]d struct {
	ID        string     `+"`json:\"id\" sync:\"unique\"`"+`
	Name      string     `+"`json:\"name\" sync:\"index\"`"+`
	Note      *string    `+"`json:\"note,omitempty\"`"+`
	Count     int64      `+"`json:\"count\"`"+`
	Ratio     float64    `+"`json:\"ratio\"`"+`
	Done      bool       `+"`json:\"done\"`"+`
	Tags      []string   `+"`json:\"tags\"`"+`
	Parent    string     `+"`json:\"parent\" sync:\"ref=Model%[2]d\"`"+`
	UpdatedAt time.Time  `+"`json:\"updatedAt\" sync:\"updatedAt\"`"+`
	DeletedAt *time.Time `+"`json:\"deletedAt,omitempty\" sync:\"deletedAt\"`"+`
}
`, i, max(i-1, 0))
	}
	return b.String()
}

// BenchmarkGenerate runs syncgen (the built command, as go generate runs it) on a
// 50-model package, next to go vet on the same package with its generated code.
func BenchmarkGenerate(b *testing.B) {
	// Inside the module: the generated code imports the runtime. A directory named with
	// a leading underscore is outside ./... patterns.
	dir, err := os.MkdirTemp(".", "_generate")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, "models.go"), []byte(fiftyModels()), 0o644); err != nil {
		b.Fatal(err)
	}
	syncgen := filepath.Join(b.TempDir(), "syncgen")
	run := func(name string, args ...string) {
		b.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
	}
	run("go", "build", "-o", syncgen, "github.com/syncgen/syncgen/cmd/syncgen")
	run(syncgen, "-server") // the first run writes the migrations; later ones find nothing new
	run("go", "vet", ".")   // builds what vet needs into the cache, as a developer's machine has it
	b.Run("syncgen", func(b *testing.B) {
		for b.Loop() {
			run(syncgen, "-server")
		}
	})
	b.Run("go-vet", func(b *testing.B) {
		for b.Loop() {
			run("go", "vet", ".")
		}
	})
}
