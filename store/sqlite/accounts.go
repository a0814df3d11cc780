package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/chorus-dev/chorus/store"
)

func validRole(r store.Role) bool {
	return r == store.RoleAdmin || r == store.RoleOperator || r == store.RoleDeveloper
}

// CreateAccount makes an account with a new random key, returned once.
func (s *Store) CreateAccount(ctx context.Context, name string, role store.Role) (store.Account, string, error) {
	key := store.NewAPIKey()
	a, err := s.CreateAccountWithKey(ctx, name, role, key)
	if err != nil {
		return store.Account{}, "", err
	}
	return a, key, nil
}

// CreateAccountWithKey makes an account whose key is given. A name or key
// already in use is ErrConflict.
func (s *Store) CreateAccountWithKey(ctx context.Context, name string, role store.Role, key string) (store.Account, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return store.Account{}, errors.New("store: create account: empty name")
	}
	if !validRole(role) {
		return store.Account{}, fmt.Errorf("store: create account %q: unknown role %q", name, role)
	}
	if key == "" {
		return store.Account{}, fmt.Errorf("store: create account %q: empty key", name)
	}
	a := store.Account{Name: name, Role: role, CreatedAt: now()}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO accounts(name, role, created_at) VALUES (?, ?, ?)`,
			a.Name, string(a.Role), a.CreatedAt.UnixNano())
		if err != nil {
			if isUnique(err) {
				return fmt.Errorf("name taken: %w", store.ErrConflict)
			}
			return err
		}
		if a.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO api_keys(hash, account_id, created_at) VALUES (?, ?, ?)`,
			store.HashKey(key), a.ID, a.CreatedAt.UnixNano())
		if isUnique(err) {
			return fmt.Errorf("key already in use: %w", store.ErrConflict)
		}
		return err
	})
	if err != nil {
		return store.Account{}, fmt.Errorf("store: create account %q: %w", name, err)
	}
	return a, nil
}

const accountCols = `id, name, role, created_at`

func scanAccount(row interface{ Scan(...any) error }) (store.Account, error) {
	var a store.Account
	var role string
	var created sql.NullInt64
	if err := row.Scan(&a.ID, &a.Name, &role, &created); err != nil {
		return a, err
	}
	a.Role = store.Role(role)
	a.CreatedAt = fromNS(created)
	return a, nil
}

func (s *Store) oneAccount(ctx context.Context, what, query string, args ...any) (store.Account, error) {
	a, err := scanAccount(s.rdb.QueryRowContext(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("store: account %s: %w", what, store.ErrNotFound)
	}
	if err != nil {
		return a, fmt.Errorf("store: account %s: %w", what, err)
	}
	return a, nil
}

// AccountByKey returns the account an API key belongs to.
func (s *Store) AccountByKey(ctx context.Context, key string) (store.Account, error) {
	return s.oneAccount(ctx, "by key",
		`SELECT a.id, a.name, a.role, a.created_at FROM api_keys k JOIN accounts a ON a.id = k.account_id WHERE k.hash = ?`,
		store.HashKey(key))
}

// Account returns an account by id.
func (s *Store) Account(ctx context.Context, id int64) (store.Account, error) {
	return s.oneAccount(ctx, fmt.Sprint(id), `SELECT `+accountCols+` FROM accounts WHERE id = ?`, id)
}

// AccountByName returns an account by name.
func (s *Store) AccountByName(ctx context.Context, name string) (store.Account, error) {
	return s.oneAccount(ctx, fmt.Sprintf("%q", name), `SELECT `+accountCols+` FROM accounts WHERE name = ?`, strings.TrimSpace(name))
}

// ListAccounts returns every account, oldest first.
func (s *Store) ListAccounts(ctx context.Context) ([]store.Account, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+accountCols+` FROM accounts ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: list accounts: %w", err)
	}
	defer rows.Close()
	var out []store.Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list accounts: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list accounts: %w", err)
	}
	return out, nil
}

// SetKey makes key the account's only key.
func (s *Store) SetKey(ctx context.Context, accountID int64, key string) error {
	if key == "" {
		return errors.New("store: set key: empty key")
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM accounts WHERE id = ?`, accountID).Scan(&one); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("account %d: %w", accountID, store.ErrNotFound)
			}
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM api_keys WHERE account_id = ?`, accountID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO api_keys(hash, account_id, created_at) VALUES (?, ?, ?)`,
			store.HashKey(key), accountID, now().UnixNano())
		if isUnique(err) {
			return fmt.Errorf("key already in use: %w", store.ErrConflict)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("store: set key of account %d: %w", accountID, err)
	}
	return nil
}
