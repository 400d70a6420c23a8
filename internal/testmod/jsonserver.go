package testmod

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
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
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "syncgen", "json-server", "node_modules", "json-server", "lib", "cli", "bin.js")
}

// unavailable fails in CI, where .ci/run installed json-server, and skips elsewhere.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
		t.Fatalf("%s; .ci/run installs it", msg)
	}
	t.Skipf("%s; install it with: %s", msg, jsonServerInstall)
}

// lockedBuffer collects a process's output while the test may read it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// JSONServer runs json-server on a free loopback port over a temporary db.json with
// the given collections, and returns its base URL. It is killed when the test ends.
func JSONServer(t testing.TB, collections ...string) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		unavailable(t, "json-server: node is not installed")
	}
	bin := jsonServerBin()
	if _, err := os.Stat(bin); err != nil {
		unavailable(t, "json-server 0.17 not found at %s", bin)
	}
	dir := t.TempDir()
	db := map[string][]any{}
	for _, c := range collections {
		db[c] = []any{}
	}
	data, _ := json.Marshal(db)
	if err := os.WriteFile(filepath.Join(dir, "db.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}

	var lastErr error
	for range 3 { // the free port can be taken between finding it and json-server binding it
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()

		var out lockedBuffer
		cmd := exec.Command(node, bin, "--host", "127.0.0.1", "--port", strconv.Itoa(port), "--quiet", "db.json")
		cmd.Dir = dir // json-server writes snapshots to the working directory
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			unavailable(t, "json-server: start %s: %v", bin, err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		stop := func() {
			cmd.Process.Kill()
			<-exited
		}

		base := "http://127.0.0.1:" + strconv.Itoa(port)
		if lastErr = waitForHTTP(base+"/"+collections[0], exited); lastErr == nil {
			t.Cleanup(stop)
			return base
		}
		stop()
		lastErr = fmt.Errorf("%w; output:\n%s", lastErr, out.String())
	}
	unavailable(t, "json-server did not start: %v", lastErr)
	return ""
}

// waitForHTTP polls u until it answers 200, the process exits, or 20 s pass.
func waitForHTTP(u string, exited <-chan struct{}) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get(u)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET %s: %s", u, resp.Status)
		}
		select {
		case <-exited:
			return fmt.Errorf("json-server exited: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("json-server did not answer within 20s: %v", err)
		}
	}
}
