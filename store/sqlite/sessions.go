package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/chorus-dev/chorus/store"
)

const upsertSession = `INSERT INTO sessions(id, account_id, app_id, app_name, version, network, caller, called,
	state, started_at, ended_at, end_reason, params, transcript)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT(id) DO UPDATE SET account_id = excluded.account_id, app_id = excluded.app_id,
	app_name = excluded.app_name, version = excluded.version, network = excluded.network,
	caller = excluded.caller, called = excluded.called, state = excluded.state,
	started_at = excluded.started_at, ended_at = excluded.ended_at, end_reason = excluded.end_reason,
	params = excluded.params, transcript = excluded.transcript`

// SaveSession queues an insert-or-replace of s and returns at once; a newer
// save of the same id replaces one still queued. Params and Transcript are
// copied (JSON-encoded) before it returns. The write is committed within
// FlushInterval (Sync waits for it).
func (s *Store) SaveSession(x store.Session) {
	if x.ID == "" {
		s.log.Error("store: save session without id: dropped", "app", x.AppName)
		return
	}
	ps := &pendingSession{s: x, params: "null", transcript: "[]"}
	ps.s.Params, ps.s.Transcript = nil, nil
	if x.Params != nil {
		b, err := json.Marshal(x.Params)
		if err != nil {
			s.log.Error("store: session params are not JSON: saved without them", "session", x.ID, "app", x.AppName, "err", err)
		} else {
			ps.params = string(b)
		}
	}
	if len(x.Transcript) > 0 {
		b, err := json.Marshal(x.Transcript)
		if err != nil {
			s.log.Error("store: session transcript is not JSON: saved without it", "session", x.ID, "app", x.AppName, "err", err)
		} else {
			ps.transcript = string(b)
		}
	}
	if !s.q.putSession(ps) {
		s.log.Warn("store: save session after close: dropped", "session", x.ID, "app", x.AppName)
	}
}

const sessionCols = `id, account_id, app_id, app_name, version, network, caller, called, state,
	started_at, ended_at, end_reason, params, transcript`

func scanSession(row scanner) (store.Session, error) {
	var x store.Session
	var started, ended sql.NullInt64
	var params, transcript string
	err := row.Scan(&x.ID, &x.AccountID, &x.AppID, &x.AppName, &x.Version, &x.Network, &x.Caller, &x.Called,
		&x.State, &started, &ended, &x.EndReason, &params, &transcript)
	if err != nil {
		return x, err
	}
	x.StartedAt, x.EndedAt = fromNS(started), fromNS(ended)
	if params != "null" && params != "" {
		if err := json.Unmarshal([]byte(params), &x.Params); err != nil {
			return x, fmt.Errorf("session %s params: %w", x.ID, err)
		}
	}
	if transcript != "[]" && transcript != "" {
		if err := json.Unmarshal([]byte(transcript), &x.Transcript); err != nil {
			return x, fmt.Errorf("session %s transcript: %w", x.ID, err)
		}
	}
	return x, nil
}

// Session returns a session (queued saves included).
func (s *Store) Session(ctx context.Context, id string) (store.Session, error) {
	if err := s.syncForRead(ctx); err != nil {
		return store.Session{}, fmt.Errorf("store: session %s: %w", id, err)
	}
	x, err := scanSession(s.rdb.QueryRowContext(ctx, `SELECT `+sessionCols+` FROM sessions WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Session{}, fmt.Errorf("store: session %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Session{}, fmt.Errorf("store: session %s: %w", id, err)
	}
	return x, nil
}

// ListSessions returns the sessions f selects, newest first (queued saves
// included), with their transcripts.
func (s *Store) ListSessions(ctx context.Context, f store.SessionFilter) ([]store.Session, error) {
	if err := s.syncForRead(ctx); err != nil {
		return nil, fmt.Errorf("store: list sessions: %w", err)
	}
	var where []string
	var args []any
	if f.AccountID != 0 {
		where, args = append(where, "account_id = ?"), append(args, f.AccountID)
	}
	if f.App != "" {
		where, args = append(where, "app_name = ?"), append(args, f.App)
	}
	if f.State != "" {
		where, args = append(where, "state = ?"), append(args, f.State)
	}
	q := `SELECT ` + sessionCols + ` FROM sessions`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	q += ` ORDER BY started_at DESC, id DESC LIMIT ?`
	args = append(args, limit)
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list sessions: %w", err)
	}
	defer rows.Close()
	var out []store.Session
	for rows.Next() {
		x, err := scanSession(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list sessions: %w", err)
		}
		out = append(out, x)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list sessions: %w", err)
	}
	return out, nil
}

// MarkInterrupted ends every session that is not ended (queued saves
// included) with end_reason "server_restart" and ended_at now. It returns how
// many it ended.
func (s *Store) MarkInterrupted(ctx context.Context) (int, error) {
	if err := s.Sync(ctx); err != nil {
		return 0, fmt.Errorf("store: mark interrupted sessions: %w", err)
	}
	res, err := s.wdb.ExecContext(ctx,
		`UPDATE sessions SET state = 'ended', end_reason = 'server_restart', ended_at = ? WHERE state <> 'ended'`,
		now().UnixNano())
	if err != nil {
		return 0, fmt.Errorf("store: mark interrupted sessions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: mark interrupted sessions: %w", err)
	}
	return int(n), nil
}
