package testmod

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// PostgreSQL is the other database of the generated server. The
// tests run it as a throwaway cluster of their own; .ci/run installs it, elsewhere:
//
//	apt-get install postgresql
//
// or point SYNCGEN_POSTGRES_DSN at a server whose role may CREATE DATABASE.

const postgresInstall = `apt-get install postgresql (initdb is looked for on PATH and in /usr/lib/postgresql/*/bin), or set SYNCGEN_POSTGRES_DSN to a server whose role may CREATE DATABASE`

// postgresUnavailable fails in CI, where .ci/run installed PostgreSQL, and skips elsewhere.
func postgresUnavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
		t.Fatalf("%s; .ci/run installs it", msg)
	}
	t.Skipf("%s; to run these tests: %s", msg, postgresInstall)
}

// cluster is a server of this test process, found or started by the first call of
// Postgres (or DurablePostgres).
type cluster struct {
	settings string // appended to postgresql.conf
	once     sync.Once
	err      error
	external bool   // SYNCGEN_POSTGRES_DSN
	dsn      string // the maintenance database, for CREATE DATABASE
	admin    *sql.DB
	create   sync.Mutex // CREATE DATABASE one at a time
	// watchdog is the write end of the pipe whose closing, when this process exits
	// however it exits, makes the watchdog stop the cluster and remove its directory.
	// It must stay reachable: a collected *os.File is closed.
	watchdog io.Closer
}

var (
	// fastCluster trades durability for speed: tests need no crash safety.
	fastCluster = &cluster{settings: `
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 32MB
`}
	// durableCluster keeps PostgreSQL's defaults (fsync, synchronous_commit and
	// full_page_writes on): a commit waits for its WAL flush, as in production.
	durableCluster = &cluster{}
)

// Postgres returns the DSN (a postgres:// URL) of a new, empty database for the test.
//
// The first call in a test process starts a throwaway PostgreSQL cluster in a temporary
// directory (initdb, then pg_ctl start; as the postgres user when running as root, since
// both refuse root), listening only on a unix socket in that directory, with fsync off.
// The cluster serves the whole test process, and is stopped and removed when the process
// exits. Every call creates its own database in it, so tests are isolated and may run in
// parallel.
//
// With SYNCGEN_POSTGRES_DSN set, the databases are created on that server instead and
// dropped when the test ends.
//
// When PostgreSQL is not installed or does not start, the test is skipped, or fails when
// CI=true.
func Postgres(t testing.TB) string {
	t.Helper()
	return fastCluster.database(t)
}

// DurablePostgres is Postgres on a cluster of its own that keeps PostgreSQL's durable
// defaults (fsync, synchronous_commit and full_page_writes on), for benchmarks whose
// commits must wait for the disk as they would in production. With SYNCGEN_POSTGRES_DSN
// set, that server's settings apply.
func DurablePostgres(t testing.TB) string {
	t.Helper()
	return durableCluster.database(t)
}

// database creates a database for t on pg, starting pg first if need be.
func (pg *cluster) database(t testing.TB) string {
	t.Helper()
	pg.once.Do(func() { pg.err = pg.start() })
	if pg.err != nil {
		if pg.external {
			t.Fatalf("SYNCGEN_POSTGRES_DSN: %v", pg.err)
		}
		postgresUnavailable(t, "postgres: %v", pg.err)
	}

	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := "syncgen_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pg.create.Lock()
	_, err := pg.admin.ExecContext(ctx, "CREATE DATABASE "+name)
	pg.create.Unlock()
	if err != nil {
		t.Fatalf("postgres: create database: %v", err)
	}
	if pg.external {
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			// FORCE ends connections the test left open (PostgreSQL 13 and later).
			if _, err := pg.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
				t.Logf("postgres: drop database %s: %v", name, err)
			}
		})
	}
	dsn, err := withDatabase(pg.dsn, name)
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	return dsn
}

// withDatabase returns dsn, a URL or keyword/value DSN, naming database name instead.
func withDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("parse DSN: %w", err)
		}
		u.Path, u.RawPath = "/"+name, ""
		q := u.Query()
		if q.Has("dbname") {
			q.Set("dbname", name)
			u.RawQuery = q.Encode()
		}
		return u.String(), nil
	}
	return dsn + " dbname=" + name, nil // the last value of a keyword wins
}

// start connects to SYNCGEN_POSTGRES_DSN, or starts the cluster.
func (pg *cluster) start() error {
	if dsn := os.Getenv("SYNCGEN_POSTGRES_DSN"); dsn != "" {
		pg.external = true
		pg.dsn = dsn
		return pg.connectAdmin()
	}
	bin, err := postgresBin()
	if err != nil {
		return err
	}
	// initdb and the server refuse to run as root: root runs them as postgres.
	asPostgres := os.Geteuid() == 0
	dir, err := os.MkdirTemp("", "syncgen-postgres-")
	if err != nil {
		return err
	}
	if asPostgres {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return fmt.Errorf("running as root, which initdb refuses, and no postgres user to run it as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return err
		}
	}
	if err := pg.startWatchdog(dir); err != nil {
		os.RemoveAll(dir)
		return err
	}
	if err := pg.startCluster(bin, dir, asPostgres); err != nil {
		pg.watchdog.Close() // stop what started and remove dir now
		return err
	}
	return nil
}

// postgresBin returns the directory holding initdb and pg_ctl: from PATH, else the
// newest of Debian's /usr/lib/postgresql/<version>/bin.
func postgresBin() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	version := func(p string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(filepath.Dir(p))), 64)
		return v
	}
	slices.SortFunc(matches, func(a, b string) int { return cmp.Compare(version(b), version(a)) })
	for _, m := range matches {
		if _, err := os.Stat(filepath.Join(filepath.Dir(m), "pg_ctl")); err == nil {
			return filepath.Dir(m), nil
		}
	}
	return "", errors.New("PostgreSQL is not installed: no initdb on PATH or in /usr/lib/postgresql/*/bin")
}

// startWatchdog starts a shell that waits for this process to exit (its stdin, a pipe
// only this process writes to, reaches EOF), then stops the cluster in dir (immediate
// shutdown) and removes dir. It ignores the signals a ^C or a test timeout sends the
// process group, so that it outlives the test binary.
func (pg *cluster) startWatchdog(dir string) error {
	const script = `trap '' HUP INT QUIT TERM
read _ || :
pid=$(head -n 1 "$1/data/postmaster.pid" 2>/dev/null) || pid=
if [ -n "$pid" ] && kill -QUIT "$pid" 2>/dev/null; then
	i=0
	while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 300 ]; do sleep 0.1; i=$((i+1)); done
fi
rm -rf "$1"`
	cmd := exec.Command("/bin/sh", "-c", script, "syncgen-postgres-watchdog", dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	// No output is shared with the test binary: go test waits for whoever holds it.
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start watchdog: %w", err)
	}
	go cmd.Wait() // reaps it when the pipe is closed early
	pg.watchdog = stdin
	return nil
}

// startCluster runs initdb into dir/data and starts the server on a unix socket in dir.
func (pg *cluster) startCluster(bin, dir string, asPostgres bool) error {
	data := filepath.Join(dir, "data")
	run := func(name string, args ...string) error {
		cmd := postgresCommand(asPostgres, filepath.Join(bin, name), args...)
		cmd.Dir = dir // postgres may not be allowed into the test's directory
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %v\n%s", name, err, out)
		}
		return nil
	}
	if err := run("initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		return err
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	port := l.Addr().(*net.TCPAddr).Port // names the socket file; no TCP is served
	l.Close()
	quote := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	conf := fmt.Sprintf(`
# syncgen tests: a throwaway cluster
listen_addresses = ''
port = %d
unix_socket_directories = %s
max_connections = 200
%s`, port, quote(dir), pg.settings)
	f, err := os.OpenFile(filepath.Join(data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, werr := f.WriteString(conf)
	if err := errors.Join(werr, f.Close()); err != nil {
		return err
	}

	logFile := filepath.Join(dir, "server.log")
	if err := run("pg_ctl", "-D", data, "-l", logFile, "-w", "-t", "60", "start"); err != nil {
		log, _ := os.ReadFile(logFile)
		return fmt.Errorf("%w\nserver log:\n%s", err, log)
	}

	q := url.Values{}
	q.Set("host", dir)
	q.Set("port", strconv.Itoa(port))
	q.Set("sslmode", "disable")
	pg.dsn = (&url.URL{Scheme: "postgres", User: url.User("postgres"), Path: "/postgres", RawQuery: q.Encode()}).String()
	return pg.connectAdmin()
}

// postgresCommand runs name as the postgres user when asPostgres (runuser, else su).
func postgresCommand(asPostgres bool, name string, args ...string) *exec.Cmd {
	if !asPostgres {
		return exec.Command(name, args...)
	}
	if runuser, err := exec.LookPath("runuser"); err == nil {
		return exec.Command(runuser, append([]string{"-u", "postgres", "--", name}, args...)...)
	}
	return exec.Command("su", append([]string{"-s", "/bin/sh", "postgres", "-c", `exec "$0" "$@"`, name}, args...)...)
}

// connectAdmin opens pg.admin on pg.dsn and checks that it answers.
func (pg *cluster) connectAdmin() error {
	db, err := sql.Open("pgx", pg.dsn)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return fmt.Errorf("connect: %w", err)
	}
	pg.admin = db
	return nil
}
