package runtime

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
)

// ErrClosed is returned by a repository used after Close.
var ErrClosed = errors.New("repository is closed")

// Remote is the server a repository syncs with: a plain REST API or a server that speaks
// the syncgen protocol. Sync with a remote is not built yet: until it is, NewRepo accepts
// only a nil Remote, which makes the repository local only.
type Remote interface {
	remote()
}

// Option configures a repository. Generated code offers typed options per model.
type Option func(*repoOptions)

type repoOptions struct{}

// Package is what generated code tells the runtime about its package.
type Package struct {
	Path       string    // import path of the models' package
	Schemas    []*Schema // the package's models
	Migrations fs.FS     // holds migrations/NNNN_<summary>.sql
}

// Repo is the model-independent core of a generated Repository.
type Repo struct {
	db  *DB
	pkg Package

	mu     sync.RWMutex
	closed bool
}

// NewRepo makes the core of a generated repository over db.
func NewRepo(db *DB, remote Remote, pkg Package, opts ...Option) (*Repo, error) {
	if db == nil || db.writer == nil {
		return nil, fmt.Errorf("new repository %s: nil or unopened DB: open one with runtime.OpenSQLite", pkg.Path)
	}
	if remote != nil {
		return nil, fmt.Errorf("new repository %s: sync with a remote is not supported yet: pass a nil remote for a local-only repository", pkg.Path)
	}
	var o repoOptions
	for _, opt := range opts {
		opt(&o)
	}
	return &Repo{db: db, pkg: pkg}, nil
}

// Migrate applies the runtime's and the package's pending migrations (see Migrate).
func (r *Repo) Migrate(ctx context.Context) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return ErrClosed
	}
	return Migrate(ctx, r.db, Migrations{Package: r.pkg.Path, FS: r.pkg.Migrations, Dir: "migrations"})
}

// Close ends the repository's background work. It does not close the DB, which the
// caller opened and may share with other repositories.
func (r *Repo) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	return nil
}
