package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/chorus-dev/chorus/store"
)

const appCols = `id, account_id, name, live_version, versions, created_at, updated_at`

type scanner interface{ Scan(...any) error }

func scanApp(row scanner) (store.App, error) {
	var a store.App
	var created, updated sql.NullInt64
	err := row.Scan(&a.ID, &a.AccountID, &a.Name, &a.LiveVersion, &a.Versions, &created, &updated)
	a.CreatedAt, a.UpdatedAt = fromNS(created), fromNS(updated)
	return a, err
}

// PutVersion stores v as the newest version of the account's app name,
// creating the app if needed, and makes it live. v.AppID, v.Version and
// v.CreatedAt are set by the store; an empty SHA256 or Size is computed from
// the archive (or main.lua). The Version returned has no Files or Archive.
func (s *Store) PutVersion(ctx context.Context, accountID int64, name string, v store.Version) (store.App, store.Version, bool, error) {
	fail := func(err error) (store.App, store.Version, bool, error) {
		return store.App{}, store.Version{}, false, fmt.Errorf("store: put version of app %q: %w", name, err)
	}
	if name == "" {
		return fail(errors.New("empty app name"))
	}
	if v.Kind != "script" && v.Kind != "bundle" {
		return fail(fmt.Errorf("kind %q: want script or bundle", v.Kind))
	}
	if _, ok := v.Files["main.lua"]; !ok {
		return fail(errors.New("no main.lua"))
	}
	upload := v.Archive
	if len(upload) == 0 {
		upload = v.Files["main.lua"]
	}
	if v.SHA256 == "" {
		h := sha256.Sum256(upload)
		v.SHA256 = hex.EncodeToString(h[:])
	}
	if v.Size == 0 {
		v.Size = int64(len(upload))
	}

	var app store.App
	var created bool
	t := now()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		app, err = scanApp(tx.QueryRowContext(ctx, `SELECT `+appCols+` FROM apps WHERE account_id = ? AND name = ?`, accountID, name))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			res, err := tx.ExecContext(ctx, `INSERT INTO apps(account_id, name, created_at, updated_at) VALUES (?, ?, ?, ?)`,
				accountID, name, t.UnixNano(), t.UnixNano())
			if isForeignKey(err) {
				return fmt.Errorf("account %d: %w", accountID, store.ErrNotFound)
			}
			if err != nil {
				return err
			}
			created = true
			app = store.App{AccountID: accountID, Name: name, CreatedAt: t}
			if app.ID, err = res.LastInsertId(); err != nil {
				return err
			}
		case err != nil:
			return err
		}
		v.AppID, v.Version, v.CreatedAt = app.ID, app.Versions+1, t
		var archive any
		if len(v.Archive) > 0 {
			archive = v.Archive
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO versions(app_id, version, kind, sha256, size, archive, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			v.AppID, v.Version, v.Kind, v.SHA256, v.Size, archive, t.UnixNano()); err != nil {
			return err
		}
		ins, err := tx.PrepareContext(ctx, `INSERT INTO version_files(app_id, version, path, content) VALUES (?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer ins.Close()
		for path, content := range v.Files {
			if content == nil {
				content = []byte{}
			}
			if _, err := ins.ExecContext(ctx, v.AppID, v.Version, path, content); err != nil {
				return fmt.Errorf("file %q: %w", path, err)
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE apps SET live_version = ?, versions = ?, updated_at = ? WHERE id = ?`,
			v.Version, v.Version, t.UnixNano(), app.ID)
		app.LiveVersion, app.Versions, app.UpdatedAt = v.Version, v.Version, t
		return err
	})
	if err != nil {
		return fail(err)
	}
	v.Files, v.Archive = nil, nil
	return app, v, created, nil
}

func (s *Store) oneApp(ctx context.Context, what, query string, args ...any) (store.App, error) {
	a, err := scanApp(s.rdb.QueryRowContext(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return store.App{}, fmt.Errorf("store: app %s: %w", what, store.ErrNotFound)
	}
	if err != nil {
		return store.App{}, fmt.Errorf("store: app %s: %w", what, err)
	}
	return a, nil
}

// App returns the account's app name.
func (s *Store) App(ctx context.Context, accountID int64, name string) (store.App, error) {
	return s.oneApp(ctx, fmt.Sprintf("%q of account %d", name, accountID),
		`SELECT `+appCols+` FROM apps WHERE account_id = ? AND name = ?`, accountID, name)
}

// AppByID returns an app by id.
func (s *Store) AppByID(ctx context.Context, id int64) (store.App, error) {
	return s.oneApp(ctx, fmt.Sprint(id), `SELECT `+appCols+` FROM apps WHERE id = ?`, id)
}

// ListApps returns the apps of an account (0: of all), by account and name.
func (s *Store) ListApps(ctx context.Context, accountID int64) ([]store.App, error) {
	q := `SELECT ` + appCols + ` FROM apps`
	var args []any
	if accountID != 0 {
		q += ` WHERE account_id = ?`
		args = append(args, accountID)
	}
	rows, err := s.rdb.QueryContext(ctx, q+` ORDER BY account_id, name`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list apps: %w", err)
	}
	defer rows.Close()
	var out []store.App
	for rows.Next() {
		a, err := scanApp(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list apps: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list apps: %w", err)
	}
	return out, nil
}

func scanVersion(row scanner, archive *[]byte) (store.Version, error) {
	var v store.Version
	var created sql.NullInt64
	dest := []any{&v.AppID, &v.Version, &v.Kind, &v.SHA256, &v.Size, &created}
	if archive != nil {
		dest = append(dest, archive)
	}
	err := row.Scan(dest...)
	v.CreatedAt = fromNS(created)
	return v, err
}

// Version returns one version of an app with its Files and Archive.
func (s *Store) Version(ctx context.Context, appID int64, version int) (store.Version, error) {
	fail := func(err error) (store.Version, error) {
		return store.Version{}, fmt.Errorf("store: version %d of app %d: %w", version, appID, err)
	}
	// One read transaction: the files match the version row.
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	var archive []byte
	v, err := scanVersion(tx.QueryRowContext(ctx,
		`SELECT app_id, version, kind, sha256, size, created_at, archive FROM versions WHERE app_id = ? AND version = ?`,
		appID, version), &archive)
	if errors.Is(err, sql.ErrNoRows) {
		return fail(store.ErrNotFound)
	}
	if err != nil {
		return fail(err)
	}
	v.Archive = archive
	rows, err := tx.QueryContext(ctx, `SELECT path, content FROM version_files WHERE app_id = ? AND version = ?`, appID, version)
	if err != nil {
		return fail(err)
	}
	defer rows.Close()
	v.Files = map[string][]byte{}
	for rows.Next() {
		var path string
		var content []byte
		if err := rows.Scan(&path, &content); err != nil {
			return fail(err)
		}
		if content == nil {
			content = []byte{}
		}
		v.Files[path] = content
	}
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	return v, nil
}

// ListVersions returns every version of an app, oldest first, without Files
// or Archive. An unknown app is ErrNotFound.
func (s *Store) ListVersions(ctx context.Context, appID int64) ([]store.Version, error) {
	if _, err := s.AppByID(ctx, appID); err != nil {
		return nil, err
	}
	rows, err := s.rdb.QueryContext(ctx,
		`SELECT app_id, version, kind, sha256, size, created_at FROM versions WHERE app_id = ? ORDER BY version`, appID)
	if err != nil {
		return nil, fmt.Errorf("store: list versions of app %d: %w", appID, err)
	}
	defer rows.Close()
	var out []store.Version
	for rows.Next() {
		v, err := scanVersion(rows, nil)
		if err != nil {
			return nil, fmt.Errorf("store: list versions of app %d: %w", appID, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list versions of app %d: %w", appID, err)
	}
	return out, nil
}

// SetLive makes an existing version of the app live (a rollback).
func (s *Store) SetLive(ctx context.Context, appID int64, version int) error {
	res, err := s.wdb.ExecContext(ctx,
		`UPDATE apps SET live_version = ?, updated_at = ? WHERE id = ? AND EXISTS (SELECT 1 FROM versions WHERE app_id = ? AND version = ?)`,
		version, now().UnixNano(), appID, appID, version)
	if err != nil {
		return fmt.Errorf("store: set live version %d of app %d: %w", version, appID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: set live version %d of app %d: %w", version, appID, store.ErrNotFound)
	}
	return nil
}

// DeleteApp removes the app, its versions, config, kv and addresses. Its
// sessions and logs stay: they are history.
func (s *Store) DeleteApp(ctx context.Context, appID int64) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{
			`DELETE FROM addresses WHERE app_id = ?`,
			`DELETE FROM app_config WHERE app_id = ?`,
			`DELETE FROM kv WHERE app_id = ?`,
			`DELETE FROM version_files WHERE app_id = ?`,
			`DELETE FROM versions WHERE app_id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, q, appID); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM apps WHERE id = ?`, appID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: delete app %d: %w", appID, err)
	}
	return nil
}

func configAD(appID int64, key string) []byte {
	return []byte(fmt.Sprintf("config\x00%d\x00%s", appID, key))
}

// MergeConfig sets the given configuration values of an app, keeping the
// others. An empty value removes its key. Values are stored encrypted.
func (s *Store) MergeConfig(ctx context.Context, appID int64, values map[string]string) error {
	keys := make([]string, 0, len(values))
	for k := range values {
		if strings.TrimSpace(k) == "" {
			return fmt.Errorf("store: merge config of app %d: empty key", appID)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM apps WHERE id = ?`, appID).Scan(&one); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return store.ErrNotFound
			}
			return err
		}
		for _, k := range keys {
			var err error
			if values[k] == "" {
				_, err = tx.ExecContext(ctx, `DELETE FROM app_config WHERE app_id = ? AND key = ?`, appID, k)
			} else {
				_, err = tx.ExecContext(ctx,
					`INSERT INTO app_config(app_id, key, value) VALUES (?, ?, ?) ON CONFLICT(app_id, key) DO UPDATE SET value = excluded.value`,
					appID, k, s.seal.Seal([]byte(values[k]), configAD(appID, k)))
			}
			if err != nil {
				return fmt.Errorf("key %q: %w", k, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: merge config of app %d: %w", appID, err)
	}
	return nil
}

// Config returns an app's configuration, decrypted. An unknown app is
// ErrNotFound; an app without configuration has an empty map.
func (s *Store) Config(ctx context.Context, appID int64) (map[string]string, error) {
	fail := func(err error) (map[string]string, error) {
		return nil, fmt.Errorf("store: config of app %d: %w", appID, err)
	}
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	var one int
	if err := tx.QueryRowContext(ctx, `SELECT 1 FROM apps WHERE id = ?`, appID).Scan(&one); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return fail(store.ErrNotFound)
		}
		return fail(err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT key, value FROM app_config WHERE app_id = ?`, appID)
	if err != nil {
		return fail(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k string
		var sealed []byte
		if err := rows.Scan(&k, &sealed); err != nil {
			return fail(err)
		}
		v, err := s.seal.Open(sealed, configAD(appID, k))
		if err != nil {
			return fail(fmt.Errorf("value of %q: %w: %s", k, err, keyAdvice))
		}
		out[k] = string(v)
	}
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	return out, nil
}

// keyAdvice says what to do when a secret does not decrypt.
const keyAdvice = "the key in use (secret.key in the data directory) is not the one it was encrypted with; " +
	"restore the original secret.key, or set the value again"
