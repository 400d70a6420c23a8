package testmod

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// json-server 0.17 is the real plain REST server of the tests.
// .ci/run installs it; elsewhere:
//
//	npm install --prefix "${XDG_CACHE_HOME:-$HOME/.cache}/syncgen/json-server" json-server@0.17
//
// or point SYNCGEN_JSON_SERVER at its lib/cli/bin.js.

const jsonServerInstall = `npm install --prefix "${XDG_CACHE_HOME:-$HOME/.cache}/syncgen/json-server" json-server@0.17 (or set SYNCGEN_JSON_SERVER to its lib/cli/bin.js)`

// jsonServerBin is where json-server's entry point should be: $SYNCGEN_JSON_SERVER, or
// where .ci/run installs it.
func jsonServerBin() string {
	if p := os.Getenv("SYNCGEN_JSON_SERVER"); p != "" {
		return p
	}
	return filepath.Join(cacheDir(), "json-server", "node_modules", "json-server", "lib", "cli", "bin.js")
}

// JSONServer runs json-server on a free loopback port over a temporary db.json with
// the given collections, and returns its base URL. It is killed when the test ends.
func JSONServer(t testing.TB, collections ...string) string {
	t.Helper()
	dir := t.TempDir()
	s := server{name: "json-server", install: jsonServerInstall, health: "/" + collections[0], wait: 20 * time.Second,
		command: func(addr string) *exec.Cmd {
			host, port, _ := net.SplitHostPort(addr)
			cmd := exec.Command("node", jsonServerBin(), "--host", host, "--port", port, "--quiet", "db.json")
			cmd.Dir = dir // json-server writes snapshots to the working directory
			return cmd
		}}
	if _, err := exec.LookPath("node"); err != nil {
		s.unavailable(t, "json-server: node is not installed")
	}
	if _, err := os.Stat(jsonServerBin()); err != nil {
		s.unavailable(t, "json-server 0.17 not found at %s", jsonServerBin())
	}
	db := map[string][]any{}
	for _, c := range collections {
		db[c] = []any{}
	}
	data, _ := json.Marshal(db)
	if err := os.WriteFile(filepath.Join(dir, "db.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return s.start(t)
}
