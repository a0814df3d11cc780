package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pressly/goose/v3"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/chorus-dev/chorus/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Config configures Open.
type Config struct {
	// Path is the database file; it is created if missing (its directory
	// must exist). "-wal" and "-shm" files live next to it.
	Path string
	// Key is the 32-byte credentials key (store.LoadOrCreateKey) that seals
	// address credentials and app configuration values.
	Key []byte
	// Logger receives warnings and write errors; nil means slog.Default().
	Logger *slog.Logger
	// FlushInterval is the longest time a queued session or log write waits
	// before it is committed; 0 means 100ms. At most 1s.
	FlushInterval time.Duration
	// CleanupInterval is how often expired kv rows (and log lines older than
	// LogRetention) are deleted; 0 means 1m.
	CleanupInterval time.Duration
	// LogRetention, when positive, is how long log lines are kept.
	LogRetention time.Duration
	// MaxPending is how many session and log writes may wait for the
	// writer; 0 means 8192. Beyond it AppendLog and SaveSession of a new
	// session wait (up to 500ms) for the writer to take the queue; then a
	// log line is dropped and counted, a session is queued anyway.
	MaxPending int
}

const (
	defaultFlushInterval   = 100 * time.Millisecond
	defaultCleanupInterval = time.Minute
	defaultMaxPending      = 8192
	busyTimeoutMS          = 5000
	readConns              = 4
)

// Store is the SQLite implementation of store.Store. It is safe for
// concurrent use. All writes go through one connection (SQLite has one
// writer); reads use a small pool of read-only connections, which WAL lets
// run alongside the writer.
type Store struct {
	cfg  Config
	log  *slog.Logger
	wdb  *sql.DB // the single writer connection
	rdb  *sql.DB // read-only pool
	seal *store.Sealer
	q    queue

	stop      chan struct{} // closed by Close
	done      chan struct{} // closed when the writer goroutine returns
	closeOnce sync.Once
	closeErr  error
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database at cfg.Path, applies pending
// schema migrations and starts the batch writer. Close stops it.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Path == "" {
		return nil, errors.New("store: open: no database path")
	}
	if strings.Contains(cfg.Path, "?") || strings.HasPrefix(cfg.Path, "file:") || cfg.Path == ":memory:" {
		return nil, fmt.Errorf("store: open %s: want a plain file path (no '?', file: or :memory:)", cfg.Path)
	}
	seal, err := store.NewSealer(cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", cfg.Path, err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = defaultFlushInterval
	}
	if cfg.FlushInterval > time.Second {
		cfg.FlushInterval = time.Second
	}
	if cfg.CleanupInterval <= 0 {
		cfg.CleanupInterval = defaultCleanupInterval
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = defaultMaxPending
	}
	// The database holds conversations and secrets: create it private.
	// SQLite gives its -wal and -shm files the same mode.
	f, err := os.OpenFile(cfg.Path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", cfg.Path, err)
	}
	f.Close()

	// The writer: WAL, FULL sync (a commit survives power loss; commits are
	// batched so this costs little), BEGIN IMMEDIATE so that a transaction
	// never has to upgrade a read lock, foreign keys on, a 32MB page cache
	// (index updates of the batch writer hit it), the WAL file trimmed to
	// 64MB after checkpoints. Readers get 8MB of cache each.
	wdsn := cfg.Path + "?" + url.Values{
		"_busy_timeout": {fmt.Sprint(busyTimeoutMS)},
		"_journal_mode": {"WAL"},
		"_synchronous":  {"FULL"},
		"_foreign_keys": {"1"},
		"_txlock":       {"immediate"},
		"_pragma":       {"cache_size(-32768)", "journal_size_limit(67108864)"},
	}.Encode()
	wdb, err := sql.Open("sqlite", wdsn)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", cfg.Path, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxIdleTime(0)
	wdb.SetConnMaxLifetime(0)
	if err := wdb.PingContext(ctx); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("store: open %s: %w", cfg.Path, err)
	}
	if err := migrate(ctx, wdb, cfg.Logger); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("store: open %s: %w", cfg.Path, err)
	}

	rdsn := cfg.Path + "?" + url.Values{
		"_busy_timeout": {fmt.Sprint(busyTimeoutMS)},
		"_query_only":   {"1"},
		"_pragma":       {"cache_size(-8192)"},
	}.Encode()
	rdb, err := sql.Open("sqlite", rdsn)
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("store: open %s: %w", cfg.Path, err)
	}
	rdb.SetMaxOpenConns(readConns)
	rdb.SetMaxIdleConns(readConns)
	rdb.SetConnMaxIdleTime(0)
	rdb.SetConnMaxLifetime(0)
	if err := rdb.PingContext(ctx); err != nil {
		wdb.Close()
		rdb.Close()
		return nil, fmt.Errorf("store: open %s: %w", cfg.Path, err)
	}

	s := &Store{
		cfg:  cfg,
		log:  cfg.Logger.With("db", cfg.Path),
		wdb:  wdb,
		rdb:  rdb,
		seal: seal,
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	if err := s.checkKey(ctx); err != nil {
		wdb.Close()
		rdb.Close()
		return nil, fmt.Errorf("store: open %s: %w", cfg.Path, err)
	}
	s.q.init(cfg.MaxPending)
	go s.writer()
	return s, nil
}

func migrate(ctx context.Context, db *sql.DB, log *slog.Logger) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	res, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate schema: %w", err)
	}
	for _, r := range res {
		log.Info("store: schema migrated", "version", r.Source.Version, "file", r.Source.Path, "took", r.Duration)
	}
	current, known, err := p.GetVersions(ctx)
	if err != nil {
		return fmt.Errorf("schema version: %w", err)
	}
	if current > known {
		return fmt.Errorf("the database schema (version %d) is newer than this program knows (%d): run a newer chorus", current, known)
	}
	return nil
}

// checkKey records the fingerprint of the credentials key on first use and
// warns when a later start is given another key: the secrets sealed with the
// first one cannot be read then (reads say so, with what to do).
func (s *Store) checkKey(ctx context.Context) error {
	fp := s.seal.Fingerprint()
	var got string
	err := s.wdb.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'key_fingerprint'`).Scan(&got)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		_, err = s.wdb.ExecContext(ctx, `INSERT INTO meta(key, value) VALUES ('key_fingerprint', ?)`, fp)
		if err != nil {
			return fmt.Errorf("record key fingerprint: %w", err)
		}
	case err != nil:
		return fmt.Errorf("read key fingerprint: %w", err)
	case got != fp:
		s.log.Warn("store: the credentials key is not the one this database's secrets were encrypted with; "+
			"address credentials and app config will not decrypt. Restore the original secret.key of the data directory",
			"key_fingerprint", fp, "expected_fingerprint", got)
	}
	return nil
}

// Close flushes queued writes, stops the writer and closes the database.
// It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.done
		err := s.q.closeErr()
		if _, e := s.wdb.Exec(`PRAGMA optimize`); e != nil {
			s.log.Debug("store: optimize", "err", e)
		}
		if e := s.rdb.Close(); e != nil && err == nil {
			err = e
		}
		if e := s.wdb.Close(); e != nil && err == nil {
			err = e
		}
		if err != nil {
			s.closeErr = fmt.Errorf("store: close %s: %w", s.cfg.Path, err)
		}
	})
	return s.closeErr
}

// now is the store's clock, in UTC.
func now() time.Time { return time.Now().UTC() }

// toNS turns a time into the INTEGER stored; the zero time is NULL.
func toNS(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

// fromNS is the inverse of toNS.
func fromNS(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

func sqliteCode(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()
	}
	return 0
}

func isUnique(err error) bool {
	c := sqliteCode(err)
	return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

func isForeignKey(err error) bool {
	return sqliteCode(err) == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

// inTx runs fn in a write transaction, committing when it returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}
