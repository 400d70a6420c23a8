// Command notes shows scopes: two users, Alice and Bob, with private notes and notes
// shared by the family, synced through one generated server that filters by scope in
// SQL. It tells the story of a share, a move and a revocation, then exits.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"strings"
	"sync"

	"github.com/syncgen/syncgen/examples/notes/shared"
	"github.com/syncgen/syncgen/remote"
	"github.com/syncgen/syncgen/runtime"
	"github.com/syncgen/syncgen/server"
)

func main() {
	dir, err := os.MkdirTemp("", "syncgen-notes-")
	if err == nil {
		defer os.RemoveAll(dir)
		err = run(context.Background(), dir, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "notes:", err)
		os.Exit(1)
	}
}

// memberships is the app's own table of who sees which scopes: each user their own, and
// the groups they are in. The server asks it once per request.
type memberships struct {
	mu     sync.Mutex
	groups map[string][]string
}

func (m *memberships) scopes(ctx context.Context, user, model string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string{user}, m.groups[user]...), nil
}

func (m *memberships) set(user string, groups ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.groups[user] = groups
}

func run(ctx context.Context, dir string, out io.Writer) error {
	quiet := slog.New(slog.DiscardHandler)
	db, err := runtime.OpenSQLite(filepath.Join(dir, "server.db"))
	if err != nil {
		return err
	}
	defer db.Close()
	members := &memberships{groups: map[string][]string{"alice": {"family"}, "bob": {"family"}}}
	srv, err := shared.NewServer(db, server.WithLogger(quiet),
		// A real app checks a session or a token here; the example trusts a header.
		server.WithAuthentication(func(r *http.Request) (string, error) {
			if u := r.Header.Get("X-User"); u != "" {
				return u, nil
			}
			return "", fmt.Errorf("sign in first")
		}),
		server.WithScopes(members.scopes))
	if err != nil {
		return err
	}
	defer srv.Close()
	hs := httptest.NewServer(srv)
	defer hs.Close()

	var closers []func()
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	open := func(user string) (*shared.Repository, error) {
		cdb, err := runtime.OpenSQLite(filepath.Join(dir, user+".db"))
		if err != nil {
			return nil, err
		}
		rem := remote.NewProtocol(hs.URL, remote.WithRequestHook(func(r *http.Request) error {
			r.Header.Set("X-User", user)
			return nil
		}))
		repo, err := shared.NewRepository(cdb, rem, runtime.WithLogger(quiet))
		if err == nil {
			err = repo.Migrate(ctx)
		}
		if err != nil {
			cdb.Close()
			return nil, err
		}
		closers = append(closers, func() { repo.Close(); cdb.Close() })
		return repo, nil
	}
	alice, err := open("alice")
	if err != nil {
		return err
	}
	bob, err := open("bob")
	if err != nil {
		return err
	}
	users := []struct {
		name string
		repo *shared.Repository
	}{{"alice", alice}, {"bob", bob}}

	write := func(r *shared.Repository, id, scope, text string) error {
		return r.Notes.Upsert(ctx, &shared.Note{ID: id, Scope: scope, Text: text})
	}
	syncAll := func() error {
		for range 2 { // one round to push, one to pull what the other pushed
			for _, u := range users {
				if _, err := u.repo.Sync(ctx); err != nil {
					return err
				}
			}
		}
		return nil
	}
	show := func(title string) error {
		fmt.Fprintf(out, "\n%s\n", title)
		for _, u := range users {
			notes, err := u.repo.Notes.Find(ctx, shared.NoteQuery{}.OrderBy(shared.NoteFields.ID.Asc()))
			if err != nil {
				return err
			}
			var items []string
			for _, n := range notes {
				items = append(items, fmt.Sprintf("%s (%s)", n.Text, n.Scope))
			}
			if items == nil {
				items = []string{"nothing"}
			}
			fmt.Fprintf(out, "  %s's device: %s\n", u.name, strings.Join(items, ", "))
		}
		return nil
	}

	steps := []struct {
		title string
		do    func() error
	}{
		{"Alice writes a private note and a family one; Bob writes a private one.", func() error {
			return firstErr(write(alice, "n1", "alice", "diary"), write(alice, "n2", "family", "groceries"),
				write(bob, "n3", "bob", "gift ideas"))
		}},
		{"Alice moves her diary to the family scope: it reaches Bob, no copy needed.", func() error {
			return write(alice, "n1", "family", "diary, shared")
		}},
		{"Alice moves it back: it leaves Bob's device.", func() error {
			return write(alice, "n1", "alice", "diary, private again")
		}},
		{"Bob leaves the family: its notes leave his device; nothing was edited.", func() error {
			members.set("bob")
			return nil
		}},
		{"Bob rejoins: the family's notes come back.", func() error {
			members.set("bob", "family")
			return nil
		}},
		{"Alice's phone syncs only notes about groceries: the rest leaves it, not the server.", func() error {
			return alice.Notes.SyncOnly(ctx, shared.NoteQuery{}.Where(shared.NoteFields.Text.HasPrefix("groceries")))
		}},
		{"Bob renames it \"shopping list\": it leaves Alice's phone.", func() error {
			return write(bob, "n2", "family", "shopping list")
		}},
		{"He names it groceries again: it returns.", func() error {
			return write(bob, "n2", "family", "groceries, eggs")
		}},
		{"Alice's phone syncs everything she may see again.", func() error {
			return alice.Notes.SyncOnly(ctx, shared.NoteQuery{})
		}},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			return err
		}
		if err := syncAll(); err != nil {
			return err
		}
		if err := show(s.title); err != nil {
			return err
		}
	}
	// Nothing of Alice's own scope ever reached Bob's device or his feed.
	notes, err := bob.Notes.Find(ctx, shared.NoteQuery{}.Where(shared.NoteFields.Scope.Eq("alice")))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nAlice's private notes on Bob's device: %d\n", len(notes))

	return nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
