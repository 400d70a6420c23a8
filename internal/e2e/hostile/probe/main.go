// Command probe measures what hostile input costs the generated server and the client, by
// hand, for docs/LIMITS.md: peak RSS (VmHWM of this process) and latency of one scenario
// per run, against a server on 127.0.0.1 in this process. It is not a test: numbers vary
// by machine, and nothing asserts on them.
//
//	go run ./internal/e2e/hostile/probe -case batch   # 2.8M empty ops in an 8 MiB _batch, 4 at once
//	go run ./internal/e2e/hostile/probe -case list    # 200 records of ~1 MiB; GET /pizzas, 4 at once
//	go run ./internal/e2e/hostile/probe -case feed    # the same records; GET /pizzas/_changes?limit=1000, 4 at once
//	go run ./internal/e2e/hostile/probe -case page    # the client pulls one 32 MiB page of tiny records
//	go run ./internal/e2e/hostile/probe -case events  # 2,000 /_events streams; latency of 200 writes
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/syncgen/syncgen/internal/e2e/shop"
	"github.com/syncgen/syncgen/remote"
	"github.com/syncgen/syncgen/runtime"
)

func main() {
	which := flag.String("case", "batch", "batch, list, feed, page or events")
	streams := flag.Int("streams", 2000, "event streams (events)")
	flag.Parse()
	if err := run(*which, *streams); err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
}

func run(which string, streams int) error {
	dir, err := os.MkdirTemp("", "probe")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	switch which {
	case "page":
		return page(dir)
	}
	db, err := runtime.OpenSQLite(filepath.Join(dir, "server.db"))
	if err != nil {
		return err
	}
	defer db.Close()
	srv, err := shop.NewServer(db)
	if err != nil {
		return err
	}
	defer srv.Close()
	hs := httptest.NewServer(srv)
	defer hs.Close()
	switch which {
	case "batch":
		return batch(hs.URL)
	case "list":
		return list(hs.URL, false)
	case "feed":
		return list(hs.URL, true)
	case "events":
		return events(hs.URL, streams)
	}
	return fmt.Errorf("unknown case %q", which)
}

// hwm is this process's peak resident set, from /proc/self/status.
func hwm() string {
	data, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			return strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:"))
		}
	}
	return "?"
}

// parallel runs f n times at once and reports each call's status and latency.
func parallel(n int, f func() (int, error)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			st, err := f()
			fmt.Printf("  request %d: status %d err %v in %v\n", i, st, err, time.Since(start).Round(time.Millisecond))
		}()
	}
	wg.Wait()
}

func do(method, url string, body []byte, h map[string]string) (int, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

func batch(base string) error {
	var b bytes.Buffer
	b.WriteString(`{"ops":[`)
	for b.Len() < 8<<20-8 {
		b.WriteString(`{},`)
	}
	b.Truncate(b.Len() - 1)
	b.WriteString(`]}`)
	body := b.Bytes()
	fmt.Printf("batch: %d bytes, %d ops; VmHWM before %s\n", len(body), bytes.Count(body, []byte("{}")), hwm())
	parallel(4, func() (int, error) {
		return do("POST", base+"/_batch", body, map[string]string{"Syncgen-Protocol": "1", "Content-Type": "application/json"})
	})
	fmt.Printf("VmHWM after %s\n", hwm())
	return nil
}

func list(base string, feed bool) error {
	name := strings.Repeat("x", 1<<20-200)
	for i := range 200 {
		body := fmt.Sprintf(`{"id":"p%03d","name":%q,"price":1,"updatedAt":"2026-01-01T00:00:00Z"}`, i, name)
		st, err := do("PUT", fmt.Sprintf("%s/pizzas/p%03d", base, i), []byte(body), map[string]string{"Content-Type": "application/json"})
		if err != nil || st >= 300 {
			return fmt.Errorf("put %d: %d %v", i, st, err)
		}
	}
	fmt.Printf("list: 200 records of ~1 MiB; VmHWM before %s\n", hwm())
	if !feed {
		fmt.Println("GET /pizzas (no limit), 4 at once:")
		parallel(4, func() (int, error) { return do("GET", base+"/pizzas", nil, nil) })
		fmt.Printf("VmHWM after lists %s\n", hwm())
		return nil
	}
	fmt.Println("GET /pizzas/_changes?limit=1000, 4 at once:")
	parallel(4, func() (int, error) {
		return do("GET", base+"/pizzas/_changes?limit=1000", nil, map[string]string{"Syncgen-Protocol": "1"})
	})
	fmt.Printf("VmHWM after feeds %s\n", hwm())
	return nil
}

// page serves one 32 MiB page of tiny records to a client's pull.
func page(dir string) error {
	var b bytes.Buffer
	b.WriteString("[")
	for i := 0; b.Len() < 32<<20-64; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"id":"%x"}`, i)
	}
	b.WriteString("]")
	body := b.Bytes()
	records := bytes.Count(body, []byte("{"))
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/pizzas") && r.Method == "GET" {
			w.Header().Set("Content-Type", "application/json")
			w.Write(body)
			return
		}
		w.Write([]byte("[]"))
	}))
	defer hs.Close()
	db, err := runtime.OpenSQLite(filepath.Join(dir, "client.db"))
	if err != nil {
		return err
	}
	defer db.Close()
	repo, err := shop.NewRepository(db, remote.NewREST(hs.URL, remote.WithRequestTimeout(5*time.Minute)))
	if err != nil {
		return err
	}
	ctx := context.Background()
	if err := repo.Migrate(ctx); err != nil {
		return err
	}
	fmt.Printf("page: %d bytes, %d records; VmHWM before %s\n", len(body), records, hwm())
	start := time.Now()
	_, err = repo.Sync(ctx)
	fmt.Printf("sync: %v in %v; VmHWM after %s\n", err, time.Since(start).Round(time.Millisecond), hwm())
	return nil
}

func events(base string, n int) error {
	tr := &http.Transport{MaxIdleConnsPerHost: n + 10}
	client := &http.Client{Transport: tr}
	var open, refused int
	var bodies []io.Closer
	for range n {
		req, _ := http.NewRequest("GET", base+"/_events", nil)
		req.Header.Set("Syncgen-Protocol", "1")
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("open stream: %w", err)
		}
		if resp.StatusCode != 200 {
			refused++
			resp.Body.Close()
			continue
		}
		open++
		bodies = append(bodies, resp.Body)
		go func() { // read the stream as a client would
			s := bufio.NewScanner(resp.Body)
			for s.Scan() {
			}
		}()
	}
	defer func() {
		for _, b := range bodies {
			b.Close()
		}
	}()
	fmt.Printf("events: %d streams open, %d refused; VmHWM %s\n", open, refused, hwm())
	var lat []time.Duration
	for i := range 200 {
		body := fmt.Sprintf(`{"id":"n%d","text":"x"}`, i)
		start := time.Now()
		st, err := do("PUT", fmt.Sprintf("%s/notes/n%d", base, i), []byte(body), map[string]string{"Content-Type": "application/json"})
		if err != nil || st >= 300 {
			return fmt.Errorf("put: %d %v", st, err)
		}
		lat = append(lat, time.Since(start))
		time.Sleep(20 * time.Millisecond) // writes spread out, each announced
	}
	slices.Sort(lat)
	fmt.Printf("200 writes: p50 %v p99 %v; VmHWM %s\n", lat[100].Round(100*time.Microsecond), lat[197].Round(100*time.Microsecond), hwm())
	return nil
}
