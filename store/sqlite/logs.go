package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/chorus-dev/chorus/store"
)

const insertLog = `INSERT INTO logs(at, account_id, app, session, level, text) VALUES (?, ?, ?, ?, ?, ?)`

// AppendLog queues a log line and returns at once (see Config.MaxPending for
// when the queue is full). A zero At is now; an empty Level is "info".
// The store assigns IDs in commit order, so they only grow.
func (s *Store) AppendLog(l store.LogLine) {
	if l.At.IsZero() {
		l.At = now()
	}
	if l.Level == "" {
		l.Level = "info"
	}
	l.ID = 0
	if !s.q.putLog(l) {
		s.log.Debug("store: log line dropped", "app", l.App, "session", l.Session)
	}
}

// ListLogs returns the log lines f selects, oldest first (queued lines
// included). With AfterID or Since set it returns the first Limit lines
// after that point (page forward with AfterID = the last ID seen); with
// neither it returns the newest Limit lines (a tail), still oldest first.
func (s *Store) ListLogs(ctx context.Context, f store.LogFilter) ([]store.LogLine, error) {
	if err := s.syncForRead(ctx); err != nil {
		return nil, fmt.Errorf("store: list logs: %w", err)
	}
	var where []string
	var args []any
	if f.AccountID != 0 {
		where, args = append(where, "account_id = ?"), append(args, f.AccountID)
	}
	if f.App != "" {
		where, args = append(where, "app = ?"), append(args, f.App)
	}
	if f.Session != "" {
		where, args = append(where, "session = ?"), append(args, f.Session)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "at >= ?"), append(args, f.Since.UnixNano())
	}
	if f.AfterID > 0 {
		where, args = append(where, "id > ?"), append(args, f.AfterID)
	}
	q := `SELECT id, at, account_id, app, session, level, text FROM logs`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	tail := f.AfterID <= 0 && f.Since.IsZero()
	if tail {
		q += ` ORDER BY id DESC LIMIT ?`
	} else {
		q += ` ORDER BY id LIMIT ?`
	}
	args = append(args, limit)
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list logs: %w", err)
	}
	defer rows.Close()
	var out []store.LogLine
	for rows.Next() {
		var l store.LogLine
		var at sql.NullInt64
		if err := rows.Scan(&l.ID, &at, &l.AccountID, &l.App, &l.Session, &l.Level, &l.Text); err != nil {
			return nil, fmt.Errorf("store: list logs: %w", err)
		}
		l.At = fromNS(at)
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list logs: %w", err)
	}
	if tail {
		slices.Reverse(out)
	}
	return out, nil
}
