package runtime

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the length of an encryption key: 256 bits.
const KeySize = 32

var (
	// ErrWrongKey: the database cannot be read with the key given: the key is
	// wrong, missing (the database is encrypted), or given for a database
	// that is not encrypted. OpenSQLite and RekeySQLite report it before
	// returning, not at the first query.
	ErrWrongKey = errors.New("wrong key: the key does not open this database")
	// ErrEncryptionUnsupported: WithKey or RekeySQLite in a build whose SQLite
	// driver cannot encrypt (mattn/go-sqlite3, the default). Build with
	// -tags syncgen_purego, or CGO_ENABLED=0, to use the pure-Go driver,
	// which can.
	ErrEncryptionUnsupported = errors.New("encryption needs the pure-Go SQLite driver: build with -tags syncgen_purego or CGO_ENABLED=0")
)

// KeyFunc returns the key of an encrypted database: KeySize random bytes,
// kept in the OS keychain, say, or derived from a passphrase with a slow KDF
// such as Argon2id. It is called once per open; the bytes it returns are
// copied, so it may wipe them after.
type KeyFunc func(ctx context.Context) ([]byte, error)

// WithKey encrypts the database with the key that key returns: pages of the
// database file and of its WAL are encrypted with Adiantum (XChaCha12 and
// AES) as they are written, so the file shows nothing of the records to the
// sqlite3 shell or to strings. A new database is created encrypted; an
// existing one must have been created, or re-keyed, with the same key, or
// OpenSQLite fails with ErrWrongKey. RekeySQLite changes the key, and
// encrypts or decrypts an existing database.
//
// Only the pure-Go driver encrypts; with mattn/go-sqlite3 OpenSQLite fails
// with ErrEncryptionUnsupported. The key callback gets context.Background():
// OpenSQLite takes no context.
//
// What it does not do: it does not hide which 4 KiB blocks changed between
// two copies of the file, and it does not detect tampering (Adiantum is
// length-preserving, without a MAC). Temporary files that SQLite spills to
// disk are encrypted with random keys.
func WithKey(key KeyFunc) SQLiteOption {
	return func(c *sqliteConfig) { c.key = key }
}

// NewKey returns KeySize random bytes, a new key for WithKey.
func NewKey() ([]byte, error) {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("new key: %w", err)
	}
	return key, nil
}

// readKey calls f and checks what it returns.
func readKey(ctx context.Context, f KeyFunc) ([]byte, error) {
	if !sqliteEncrypts {
		return nil, ErrEncryptionUnsupported
	}
	key, err := f(ctx)
	if err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("key: %d bytes, want %d", len(key), KeySize)
	}
	return bytes.Clone(key), nil
}

// sqliteMagic starts every SQLite database file that is not encrypted.
const sqliteMagic = "SQLite format 3\x00"

// explainNotADB turns SQLITE_NOTADB from the first read of path into
// ErrWrongKey where a key explains it: keyed is whether a key was given.
func explainNotADB(path string, keyed bool, err error) error {
	if sqliteErrorCode(err) != sqliteNotADB || path == memoryPath {
		return err
	}
	header := make([]byte, len(sqliteMagic))
	info, serr := os.Stat(path)
	f, oerr := os.Open(path)
	if serr != nil || oerr != nil {
		return err
	}
	defer f.Close()
	if _, rerr := io.ReadFull(f, header); rerr != nil {
		return err
	}
	plain := string(header) == sqliteMagic
	switch {
	case keyed && plain:
		return fmt.Errorf("%w: the database is not encrypted (RekeySQLite encrypts it)", ErrWrongKey)
	case keyed:
		return ErrWrongKey
	case !plain && info.Size()%4096 == 0:
		// What an encrypted database looks like: blocks of 4 KiB, no header.
		return fmt.Errorf("%w: the file is encrypted, or not a database: open it WithKey (%v)", ErrWrongKey, err)
	}
	return err
}

// RekeySQLite changes the key of the database at path from oldKey to newKey.
// A nil oldKey means the database is not encrypted (RekeySQLite encrypts it),
// a nil newKey that it will not be (RekeySQLite decrypts it).
//
// The database must not be open, in this process or another: close the
// repository and the DB first, and open it again with the new key after.
// RekeySQLite writes an encrypted copy next to the file, checks that the new
// key opens it, syncs it and renames it over the original, so a crash leaves
// either the old database with the old key or the new one with the new key.
// The copy is also compacted (VACUUM). A wrong oldKey is ErrWrongKey; a
// database still open elsewhere is an error and nothing changes.
func RekeySQLite(ctx context.Context, path string, oldKey, newKey KeyFunc) error {
	if err := rekeySQLite(ctx, path, oldKey, newKey); err != nil {
		return fmt.Errorf("rekey sqlite %s: %w", path, err)
	}
	return nil
}

func rekeySQLite(ctx context.Context, path string, oldKey, newKey KeyFunc) error {
	if !sqliteEncrypts {
		return ErrEncryptionUnsupported
	}
	if path == memoryPath {
		return errors.New("an in-memory database cannot be encrypted")
	}
	if _, err := os.Stat(path); err != nil {
		return err // RekeySQLite changes a database; it creates none
	}
	uri, err := sqliteURI(path)
	if err != nil {
		return err
	}
	var oldBytes, newBytes []byte
	if oldKey != nil {
		if oldBytes, err = readKey(ctx, oldKey); err != nil {
			return fmt.Errorf("old %w", err)
		}
	}
	if newKey != nil {
		if newBytes, err = readKey(ctx, newKey); err != nil {
			return fmt.Errorf("new %w", err)
		}
	}

	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".rekey-"+rand.Text())
	defer func() {
		for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
			os.Remove(tmp + suffix) // gone already after the rename
		}
	}()
	if err := copyWithKey(ctx, path, uri, oldBytes, tmp, newBytes); err != nil {
		return err
	}

	// The copy must open with the new key before it replaces anything.
	cfg := newSQLiteConfig(nil)
	cfg.readers = 1
	if newBytes != nil {
		cfg.key = func(context.Context) ([]byte, error) { return newBytes, nil }
	}
	check, err := openSQLite(tmp, cfg)
	if err != nil {
		return fmt.Errorf("check the copy: %w", err)
	}
	var result string
	err = check.reader.GetContext(ctx, &result, "PRAGMA quick_check")
	if cerr := check.Close(); err == nil {
		err = cerr
	}
	if err == nil && result != "ok" {
		err = fmt.Errorf("quick_check: %s", result)
	}
	if err != nil {
		return fmt.Errorf("check the copy: %w", err)
	}

	if err := syncFile(tmp); err != nil {
		return fmt.Errorf("sync the copy: %w", err)
	}
	if _, err := os.Stat(path + "-wal"); err == nil {
		return errors.New("the database has a WAL file again: it was opened while being re-keyed; nothing changed")
	}
	// The shared-memory index of the old file describes a WAL that is gone. It
	// goes before the rename: after it, the index may be the new file's.
	if err := os.Remove(path + "-shm"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove the old WAL index: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("replace the database: %w", err)
	}
	if err := syncFile(filepath.Dir(path)); err != nil {
		return fmt.Errorf("sync the directory: %w", err)
	}
	return nil
}

// copyWithKey writes the database at path (uri), read with oldKey, to a new
// file at tmp encrypted with newKey (nil keys: not encrypted).
func copyWithKey(ctx context.Context, path, uri string, oldKey []byte, tmp string, newKey []byte) error {
	src, err := openSQLitePool(sqlitePool{uri: uri, key: oldKey, busyTimeoutMS: 0, synchronous: "FULL", writer: true, conns: 1})
	if err != nil {
		return err
	}
	defer src.Close()
	conn, err := src.Connx(ctx)
	if err != nil {
		return explainNotADB(path, oldKey != nil, err)
	}
	defer conn.Close()
	// Leaving WAL takes an exclusive lock, which fails while any other
	// connection has the database open; it also folds the WAL into the file.
	var mode string
	if err := conn.GetContext(ctx, &mode, "PRAGMA journal_mode=DELETE"); err != nil || !strings.EqualFold(mode, "delete") {
		if err == nil || sqliteErrorCode(err) == sqliteBusy {
			return errors.New("the database is open elsewhere: close every connection to it first")
		}
		return fmt.Errorf("leave WAL: %w", explainNotADB(path, oldKey != nil, err))
	}

	into, err := sqliteURI(tmp)
	if err != nil {
		return err
	}
	// The VFS names are the pure-Go driver's, the only one that gets here.
	// Without one, the copy would go through the source's VFS.
	if newKey != nil {
		into += "?vfs=adiantum&hexkey=" + hex.EncodeToString(newKey)
	} else {
		into += "?vfs=os"
	}
	// A bound parameter: a failed statement's error carries its SQL, and the
	// target's URI carries the key.
	if _, err := conn.ExecContext(ctx, "VACUUM INTO ?", into); err != nil {
		return fmt.Errorf("write the copy: %w", err)
	}
	return nil
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
