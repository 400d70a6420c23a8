package testmod

import (
	"bytes"
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

// server is a real server program the tests run: json-server, PocketBase.
type server struct {
	name    string
	install string // how to get it, for the skip message
	// command is the command line that serves on addr (host:port).
	command func(addr string) *exec.Cmd
	health  string        // a path that answers 200 once the server is up
	wait    time.Duration // how long it may take to come up
}

// start runs s on a free loopback port and returns its base URL once its health path
// answers 200. It tries three times, since the port can be taken between finding it and
// the server binding it. The process is killed when the test ends.
func (s server) start(t testing.TB) string {
	t.Helper()
	var lastErr error
	for range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()

		var out lockedBuffer
		cmd := s.command(addr)
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			s.unavailable(t, "%s: start %s: %v", s.name, cmd.Path, err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		stop := func() {
			cmd.Process.Kill()
			<-exited
		}

		base := "http://" + addr
		if lastErr = s.waitHealthy(base+s.health, exited); lastErr == nil {
			t.Cleanup(stop)
			return base
		}
		stop()
		lastErr = fmt.Errorf("%w; output:\n%s", lastErr, out.String())
	}
	s.unavailable(t, "%s did not start: %v", s.name, lastErr)
	return ""
}

// waitHealthy polls u until it answers 200, the process exits, or s.wait passes.
func (s server) waitHealthy(u string, exited <-chan struct{}) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(s.wait)
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
			return fmt.Errorf("%s exited: %v", s.name, err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer within %v: %v", s.name, s.wait, err)
		}
	}
}

// unavailable fails in CI, where .ci/run installs every server, and skips elsewhere.
func (s server) unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
		t.Fatalf("%s; .ci/run installs it", msg)
	}
	t.Skipf("%s; install it with: %s", msg, s.install)
}

// cacheDir is where .ci/run installs the servers: ${XDG_CACHE_HOME:-$HOME/.cache}/syncgen.
func cacheDir() string {
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "syncgen")
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
