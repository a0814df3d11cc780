package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/chorus-dev/chorus/store"
)

// KVGet returns the value of key in the app's store; an expired value is
// absent.
func (s *Store) KVGet(ctx context.Context, appID int64, key string) (string, bool, error) {
	var v string
	err := s.rdb.QueryRowContext(ctx,
		`SELECT value FROM kv WHERE app_id = ? AND key = ? AND (expires_at IS NULL OR expires_at > ?)`,
		appID, key, time.Now().UnixNano()).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("store: kv get %q of app %d: %w", key, appID, err)
	}
	return v, true, nil
}

// KVSet sets key to value in the app's store; with ttl > 0 the value expires
// after ttl, with ttl 0 it stays until deleted. An unknown app is
// ErrNotFound.
func (s *Store) KVSet(ctx context.Context, appID int64, key, value string, ttl time.Duration) error {
	if ttl < 0 {
		return fmt.Errorf("store: kv set %q of app %d: negative ttl %v", key, appID, ttl)
	}
	var expires any
	if ttl > 0 {
		expires = time.Now().Add(ttl).UnixNano()
	}
	_, err := s.wdb.ExecContext(ctx,
		`INSERT INTO kv(app_id, key, value, expires_at) VALUES (?, ?, ?, ?)
		 ON CONFLICT(app_id, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
		appID, key, value, expires)
	if isForeignKey(err) {
		err = store.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("store: kv set %q of app %d: %w", key, appID, err)
	}
	return nil
}

// KVDelete removes key from the app's store; a missing key is not an error.
func (s *Store) KVDelete(ctx context.Context, appID int64, key string) error {
	if _, err := s.wdb.ExecContext(ctx, `DELETE FROM kv WHERE app_id = ? AND key = ?`, appID, key); err != nil {
		return fmt.Errorf("store: kv delete %q of app %d: %w", key, appID, err)
	}
	return nil
}

// KVUsage counts the app's unexpired keys and the bytes of keys and values.
func (s *Store) KVUsage(ctx context.Context, appID int64) (int, int64, error) {
	var n int
	var bytes int64
	err := s.rdb.QueryRowContext(ctx,
		`SELECT COUNT(*), COALESCE(SUM(LENGTH(CAST(key AS BLOB)) + LENGTH(CAST(value AS BLOB))), 0)
		 FROM kv WHERE app_id = ? AND (expires_at IS NULL OR expires_at > ?)`,
		appID, time.Now().UnixNano()).Scan(&n, &bytes)
	if err != nil {
		return 0, 0, fmt.Errorf("store: kv usage of app %d: %w", appID, err)
	}
	return n, bytes, nil
}

// cleanup deletes expired kv rows and log lines older than LogRetention.
func (s *Store) cleanup(ctx context.Context) {
	n, err := s.deleteBatches(ctx,
		`DELETE FROM kv WHERE (app_id, key) IN (SELECT app_id, key FROM kv WHERE expires_at <= ? LIMIT 1000)`,
		time.Now().UnixNano())
	if err != nil {
		s.log.Error("store: deleting expired kv values failed", "err", err)
	} else if n > 0 {
		s.log.Debug("store: expired kv values deleted", "count", n)
	}
	if s.cfg.LogRetention <= 0 {
		return
	}
	n, err = s.deleteBatches(ctx,
		`DELETE FROM logs WHERE id IN (SELECT id FROM logs WHERE at < ? LIMIT 1000)`,
		time.Now().Add(-s.cfg.LogRetention).UnixNano())
	if err != nil {
		s.log.Error("store: deleting old log lines failed", "err", err)
	} else if n > 0 {
		s.log.Debug("store: old log lines deleted", "count", n, "retention", s.cfg.LogRetention)
	}
}

// deleteBatches runs a DELETE of at most 1000 rows until it deletes fewer,
// one short transaction each, so that the writer is never held for long.
func (s *Store) deleteBatches(ctx context.Context, query string, arg any) (int64, error) {
	var total int64
	for {
		res, err := s.wdb.ExecContext(ctx, query, arg)
		if err != nil {
			return total, err
		}
		n, _ := res.RowsAffected()
		total += n
		if n < 1000 {
			return total, nil
		}
	}
}
