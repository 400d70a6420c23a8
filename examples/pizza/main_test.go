package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func TestExampleTellsTheStory(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), config{dir: t.TempDir()}, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{
		"counter: offline, added 3 pizzas; sync failed (no network); 3 writes queued",
		"counter: back online, pushed 3",
		"kitchen: pulled 3 pizzas",
		"counter: Margherita costs 9.90",
		"kitchen: Margherita costs 9.90",
		`counter: Get says "record not found"`,
		"rejected the Pizza write with 422",
		"a pizza needs a positive price",
		"converged: yes",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// The example's server is what the README shows for production: every timeout set, so
// slow or idle clients cannot hold connections open.
func TestExampleServerHasTimeouts(t *testing.T) {
	srv, ln, err := startServer(filepath.Join(t.TempDir(), "server.db"), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	defer srv.Close()
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 || srv.MaxHeaderBytes <= 0 {
		t.Fatalf("the example's http.Server lacks timeouts: %+v", srv)
	}
}
