// Command pizza is syncgen's example, end to end with no setup: it starts the server
// generated for package menu on a local port over SQLite, and two client apps (the
// counter and the kitchen), each with its own SQLite file, and tells a short story:
// offline writes, a conflict that the later edit wins, a delete that travels, and a write
// the server rejects. It ends with every side's records and whether they converged.
//
//	go run ./examples/pizza                      # all of it, in a temporary directory
//	go run ./examples/pizza -db DIR              # keep the SQLite files in DIR
//	go run ./examples/pizza -serve :8080         # only the server
//	go run ./examples/pizza -server http://HOST  # the two clients, against that server
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/syncgen/syncgen/examples/pizza/menu"
	"github.com/syncgen/syncgen/remote"
	"github.com/syncgen/syncgen/runtime"
	"github.com/syncgen/syncgen/server"
)

func main() {
	var cfg config
	flag.StringVar(&cfg.dir, "db", "", "directory for the SQLite files (default: a new temporary directory)")
	flag.StringVar(&cfg.server, "server", "", "run the clients against the server at this URL instead of starting one")
	flag.StringVar(&cfg.serve, "serve", "", "only run the server, on this address (host:port)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "pizza:", err)
		os.Exit(1)
	}
}

type config struct {
	dir    string // SQLite files; "" for a temporary directory
	server string // an external server's URL; "" to start one
	serve  string // only serve, on this address
}

func run(ctx context.Context, cfg config, out io.Writer) error {
	if cfg.dir == "" {
		tmp, err := os.MkdirTemp("", "syncgen-pizza-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		cfg.dir = tmp
	} else if err := os.MkdirAll(cfg.dir, 0o755); err != nil {
		return err
	}
	url := cfg.server
	if url == "" {
		addr := cfg.serve
		if addr == "" {
			addr = "127.0.0.1:0"
		}
		srv, ln, err := startServer(filepath.Join(cfg.dir, "server.db"), addr)
		if err != nil {
			return err
		}
		defer srv.Close()
		url = "http://" + ln.Addr().String()
		fmt.Fprintf(out, "server: the generated menu server on %s, over %s\n", url, filepath.Join(cfg.dir, "server.db"))
		if cfg.serve != "" {
			<-ctx.Done()
			return nil
		}
	}
	return story(ctx, url, cfg.dir, out)
}

// startServer serves package menu's generated server over a SQLite file. Its validation
// hook refuses pizzas without a positive price.
func startServer(path, addr string) (*http.Server, net.Listener, error) {
	db, err := runtime.OpenSQLite(path)
	if err != nil {
		return nil, nil, err
	}
	h, err := menu.NewServer(db, server.WithValidation(func(_ context.Context, model string, rec json.RawMessage) error {
		var p menu.Pizza
		if model == "Pizza" && json.Unmarshal(rec, &p) == nil && p.Price <= 0 {
			return errors.New("a pizza needs a positive price")
		}
		return nil
	}))
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	srv := productionServer(h)
	srv.RegisterOnShutdown(func() { h.Close(); db.Close() })
	go srv.Serve(ln)
	return srv, ln, nil
}

// productionServer is the http.Server a syncgen server needs in production: a slow or
// idle client cannot hold a connection forever. WriteTimeout does not end /_events
// streams: the server gives each event its own write deadline.
func productionServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second, // slow headers
		ReadTimeout:       time.Minute,      // slow bodies (a batch may be 8 MiB)
		WriteTimeout:      time.Minute,      // slow readers of an answer
		IdleTimeout:       2 * time.Minute,  // idle keep-alive connections
		MaxHeaderBytes:    64 << 10,
	}
}

// app is one client: a repository on its own SQLite file, and a switch for its network.
type app struct {
	name    string
	repo    *menu.Repository
	offline atomic.Bool
}

// RoundTrip fails while the app is offline, as a phone in a tunnel does.
func (a *app) RoundTrip(r *http.Request) (*http.Response, error) {
	if a.offline.Load() {
		return nil, errors.New("no network")
	}
	return http.DefaultTransport.RoundTrip(r)
}

func openApp(ctx context.Context, name, dir, url string) (*app, func(), error) {
	a := &app{name: name}
	db, err := runtime.OpenSQLite(filepath.Join(dir, name+".db"))
	if err != nil {
		return nil, nil, err
	}
	server := remote.NewProtocol(url, remote.WithHTTPClient(&http.Client{Transport: a}))
	repo, err := menu.NewRepository(db, server, runtime.WithLogger(quiet))
	if err == nil {
		err = repo.Migrate(ctx)
	}
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	a.repo = repo
	return a, func() { repo.Close(); db.Close() }, nil
}

// quiet keeps the runtime's warnings (a failed sync while offline) out of the story.
var quiet = slogDiscard()

func story(ctx context.Context, url, dir string, out io.Writer) error {
	counter, closeCounter, err := openApp(ctx, "counter", dir, url)
	if err != nil {
		return err
	}
	defer closeCounter()
	kitchen, closeKitchen, err := openApp(ctx, "kitchen", dir, url)
	if err != nil {
		return err
	}
	defer closeKitchen()
	say := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	sync := func(a *app) (runtime.SyncReport, error) { return a.repo.Sync(ctx) }

	// 1. Offline writes.
	counter.offline.Store(true)
	pizzas := []*menu.Pizza{
		{ID: runtime.NewID(), Name: "Margherita", Price: 900, Toppings: []string{"tomato", "mozzarella", "basil"}},
		{ID: runtime.NewID(), Name: "Marinara", Price: 700, Toppings: []string{"tomato", "garlic", "oregano"}, Vegan: true},
		{ID: runtime.NewID(), Name: "Funghi", Price: 1000, Toppings: []string{"tomato", "mozzarella", "mushrooms"}},
	}
	if err := counter.repo.Pizzas.UpsertMany(ctx, pizzas); err != nil {
		return err
	}
	_, err = sync(counter)
	say("counter: offline, added %d pizzas; sync failed (%s); %d writes queued", len(pizzas), shortErr(err), counter.repo.Status().Pending)

	counter.offline.Store(false)
	rep, err := sync(counter)
	if err != nil {
		return err
	}
	say("counter: back online, pushed %d", rep.Total().Pushed)
	if rep, err = sync(kitchen); err != nil {
		return err
	}
	say("kitchen: pulled %d pizzas", rep.Total().Pulled)

	// 2. Both edit the same pizza; the later edit wins everywhere.
	margherita := *pizzas[0]
	k := margherita
	k.Price = 950
	if err := kitchen.repo.Pizzas.Upsert(ctx, &k); err != nil {
		return err
	}
	c := margherita
	c.Price = 990
	if err := counter.repo.Pizzas.Upsert(ctx, &c); err != nil {
		return err
	}
	say("kitchen: Margherita at 9.50; then counter: Margherita at 9.90 (the later edit)")
	if err := syncAll(ctx, kitchen, counter); err != nil {
		return err
	}
	for _, a := range []*app{counter, kitchen} {
		p, err := a.repo.Pizzas.Get(ctx, margherita.ID)
		if err != nil {
			return err
		}
		say("%s: Margherita costs %s", a.name, money(p.Price))
	}

	// 3. A delete travels.
	if err := kitchen.repo.Pizzas.Delete(ctx, pizzas[2].ID); err != nil {
		return err
	}
	if err := syncAll(ctx, kitchen, counter); err != nil {
		return err
	}
	_, err = counter.repo.Pizzas.Get(ctx, pizzas[2].ID)
	say("kitchen: deleted Funghi; counter: Get says %q", shortErr(err))

	// 4. A write the server rejects: a dead letter, then discarded.
	bad := menu.Pizza{ID: runtime.NewID(), Name: "Free pizza", Price: 0}
	if err := counter.repo.Pizzas.Upsert(ctx, &bad); err != nil {
		return err
	}
	if rep, err = sync(counter); err != nil {
		return err
	}
	dead, err := counter.repo.DeadLetters(ctx)
	if err != nil {
		return err
	}
	for _, d := range dead {
		var answer struct{ Error string }
		json.Unmarshal([]byte(d.Body), &answer)
		say("counter: the server rejected the %s write with %d (%s): a dead letter", d.Model, d.Status, answer.Error)
	}
	if err := counter.repo.Discard(ctx); err != nil {
		return err
	}
	_, err = counter.repo.Pizzas.Get(ctx, bad.ID, runtime.LocalOnly)
	say("counter: discarded it; Get says %q", shortErr(err))
	if err := syncAll(ctx, counter, kitchen); err != nil {
		return err
	}
	return table(ctx, url, out, counter, kitchen)
}

// syncAll syncs every app in turn until a whole pass moves nothing: each has then pulled
// what the others pushed (a conflict costs a pass: the resolver's choice goes again).
func syncAll(ctx context.Context, apps ...*app) error {
	for pass := 0; pass < 10; pass++ {
		moved := 0
		for _, a := range apps {
			rep, err := a.repo.Sync(ctx)
			if err != nil {
				return fmt.Errorf("%s: %w", a.name, err)
			}
			t := rep.Total()
			moved += t.Pushed + t.Pulled + t.Conflicts
		}
		if moved == 0 {
			return nil
		}
	}
	return errors.New("sync did not settle in 10 passes")
}

// table prints every side's pizzas and whether they agree.
func table(ctx context.Context, url string, out io.Writer, apps ...*app) error {
	sides := []string{"server"}
	rows := map[string][]string{} // id → price per side
	names := map[string]string{}  // id → name
	server, err := serverPizzas(ctx, url)
	if err != nil {
		return err
	}
	add := func(side int, ps []menu.Pizza) {
		for _, p := range ps {
			if rows[p.ID] == nil {
				rows[p.ID] = make([]string, len(apps)+1)
			}
			rows[p.ID][side], names[p.ID] = money(p.Price), p.Name
		}
	}
	add(0, server)
	for i, a := range apps {
		sides = append(sides, a.name)
		ps, err := a.repo.Pizzas.Find(ctx, menu.PizzaQuery{}, runtime.LocalOnly)
		if err != nil {
			return err
		}
		add(i+1, ps)
	}
	fmt.Fprintln(out)
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "pizza\t%s\n", strings.Join(sides, "\t"))
	ids := make([]string, 0, len(rows))
	for id := range rows {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int { return strings.Compare(names[a]+a, names[b]+b) })
	converged := true
	for _, id := range ids {
		r := rows[id]
		for _, v := range r {
			converged = converged && v == r[0]
		}
		fmt.Fprintf(w, "%s\t%s\n", names[id], strings.Join(r, "\t"))
	}
	w.Flush()
	if converged {
		fmt.Fprintln(out, "converged: yes, every side holds the same pizzas")
	} else {
		fmt.Fprintln(out, "converged: NO")
		return errors.New("the sides did not converge")
	}
	return nil
}

// serverPizzas lists the server's live pizzas (plain REST: tombstones carry deletedAt).
func serverPizzas(ctx context.Context, url string) ([]menu.Pizza, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/pizzas", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var all []menu.Pizza
	if err := json.NewDecoder(resp.Body).Decode(&all); err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(p menu.Pizza) bool { return p.DeletedAt != nil }), nil
}

func money(cents int) string { return fmt.Sprintf("%d.%02d", cents/100, cents%100) }

// shortErr is an error's last part, for the story.
func shortErr(err error) string {
	if err == nil {
		return "ok"
	}
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}
