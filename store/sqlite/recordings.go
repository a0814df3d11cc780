package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/chorus-dev/chorus/store"
)

// SaveRecording stores a call recording.
func (s *Store) SaveRecording(ctx context.Context, r store.Recording) error {
	if r.ID == "" || len(r.WAV) == 0 {
		return fmt.Errorf("store: save recording: an id and audio are required")
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = time.Now()
	}
	_, err := s.wdb.ExecContext(ctx,
		`INSERT INTO recordings(id, account_id, session_id, app_name, duration, wav, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.AccountID, r.SessionID, r.AppName, int64(r.Duration), r.WAV, r.CreatedAt.UnixNano())
	if isForeignKey(err) {
		err = fmt.Errorf("account %d: %w", r.AccountID, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("store: save recording %s: %w", r.ID, err)
	}
	return nil
}

// Recording returns one recording.
func (s *Store) Recording(ctx context.Context, id string) (store.Recording, error) {
	var r store.Recording
	var dur, created int64
	err := s.rdb.QueryRowContext(ctx,
		`SELECT id, account_id, session_id, app_name, duration, wav, created_at FROM recordings WHERE id = ?`, id).
		Scan(&r.ID, &r.AccountID, &r.SessionID, &r.AppName, &dur, &r.WAV, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("store: recording %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("store: recording %s: %w", id, err)
	}
	r.Duration = time.Duration(dur)
	r.CreatedAt = time.Unix(0, created).UTC()
	return r, nil
}
