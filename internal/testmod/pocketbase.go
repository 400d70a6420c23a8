package testmod

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// PocketBase 0.40 is the second real plain REST server of the tests. It is a Go program
// that needs Go 1.27, so .ci/run builds it with .ci/pocketbase.sh (GOTOOLCHAIN=go1.27.3,
// in a main module of its own) into the cache; elsewhere run that script, or point
// SYNCGEN_POCKETBASE at a pocketbase binary. docs/POCKETBASE.md says how it behaves.

const pocketBaseInstall = `bash .ci/pocketbase.sh (builds PocketBase v0.40.4 with GOTOOLCHAIN=go1.27.3 into ${XDG_CACHE_HOME:-$HOME/.cache}/syncgen/pocketbase, about 3 minutes on 2 cores), or set SYNCGEN_POCKETBASE to a pocketbase binary`

// The superuser that PocketBase creates for each server: sign in again with these (POST
// /api/collections/_superusers/auth-with-password) for a fresh token.
const (
	PocketBaseEmail    = "syncgen@example.com"
	PocketBasePassword = "syncgen-test-password"
)

// PocketBaseBin is where the pocketbase binary should be: $SYNCGEN_POCKETBASE, or where
// .ci/pocketbase.sh builds it.
func PocketBaseBin() string {
	if p := os.Getenv("SYNCGEN_POCKETBASE"); p != "" {
		return p
	}
	return filepath.Join(cacheDir(), "pocketbase", "pocketbase")
}

// PocketBase runs PocketBase on a free loopback port over a new temporary data directory
// and returns its base URL and a superuser's auth token (the value of the Authorization
// header; PocketBase takes it with or without "Bearer "). The server is empty but for the
// superuser (PocketBaseEmail, PocketBasePassword): create collections through
// POST /api/collections. It is killed when the test ends.
//
// When the binary is missing the test is skipped, or fails when CI=true.
func PocketBase(t testing.TB) (baseURL, token string) {
	t.Helper()
	bin := PocketBaseBin()
	dir := filepath.Join(t.TempDir(), "pb_data")
	s := server{name: "PocketBase", install: pocketBaseInstall, health: "/api/health", wait: 30 * time.Second,
		command: func(addr string) *exec.Cmd {
			// --dev=false: PocketBase turns on its dev mode (every SQL statement logged) when
			// its binary lies under the temporary directory, as if started by go run.
			cmd := exec.Command(bin, "serve", "--dev=false", "--http", addr, "--dir", dir)
			cmd.Dir = filepath.Dir(dir)
			return cmd
		}}
	if _, err := os.Stat(bin); err != nil {
		s.unavailable(t, "PocketBase not found at %s", bin)
	}

	// The superuser first: the command migrates the new data directory and exits.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	upsert := exec.CommandContext(ctx, bin, "superuser", "upsert", PocketBaseEmail, PocketBasePassword, "--dir", dir)
	if out, err := upsert.CombinedOutput(); err != nil {
		s.unavailable(t, "PocketBase: %s superuser upsert: %v\n%s", bin, err, out)
	}
	base := s.start(t)
	token, err := PocketBaseToken(base, PocketBaseEmail, PocketBasePassword)
	if err != nil {
		t.Fatalf("PocketBase: %v", err)
	}
	return base, token
}

// PocketBaseToken signs a superuser in and returns the auth token.
func PocketBaseToken(baseURL, email, password string) (string, error) {
	body, _ := json.Marshal(map[string]string{"identity": email, "password": password})
	resp, err := http.Post(baseURL+"/api/collections/_superusers/auth-with-password", "application/json", bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("superuser sign-in: %w", err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var auth struct {
		Token string `json:"token"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(data, &auth) != nil || auth.Token == "" {
		return "", fmt.Errorf("superuser sign-in: %s: %s", resp.Status, strings.TrimSpace(string(data)))
	}
	return auth.Token, nil
}
