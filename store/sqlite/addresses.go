package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/chorus-dev/chorus/channels"
	"github.com/chorus-dev/chorus/store"
)

// normalize returns the network's REST name and the address in the form it
// is stored and compared in (channels.Normalize), so that "+1 555 0100" and
// "15550100" are the same sms address.
func normalize(network, address string) (string, string, error) {
	n, err := channels.ParseNetwork(network)
	if err != nil {
		return "", "", err
	}
	a, err := channels.Normalize(n, address)
	if err != nil {
		return "", "", err
	}
	return string(n), a, nil
}

func credentialsAD(network, address string) []byte {
	return []byte("address\x00" + network + "\x00" + address)
}

// AddAddress binds a.Network/a.Address (normalised here) to an app of
// a.AccountID. The address is ErrConflict if bound already; the app
// ErrNotFound if it is not the account's. Credentials are stored encrypted.
func (s *Store) AddAddress(ctx context.Context, a store.AddressRecord) (store.AddressRecord, error) {
	network, address, err := normalize(a.Network, a.Address)
	if err != nil {
		return store.AddressRecord{}, fmt.Errorf("store: add address: %w", err)
	}
	a.Network, a.Address, a.CreatedAt = network, address, now()
	var sealed any
	if len(a.Credentials) > 0 {
		sealed = s.seal.Seal(a.Credentials, credentialsAD(network, address))
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT name FROM apps WHERE id = ? AND account_id = ?`, a.AppID, a.AccountID).Scan(&a.AppName)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("app %d of account %d: %w", a.AppID, a.AccountID, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx,
			`INSERT INTO addresses(network, address, account_id, app_id, route, credentials, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			network, address, a.AccountID, a.AppID, a.Route, sealed, a.CreatedAt.UnixNano())
		if isUnique(err) {
			return fmt.Errorf("bound already: %w", store.ErrConflict)
		}
		return err
	})
	if err != nil {
		return store.AddressRecord{}, fmt.Errorf("store: add %s address %q: %w", network, address, err)
	}
	return a, nil
}

const addressSelect = `SELECT d.network, d.address, d.account_id, d.app_id, p.name, d.route, d.credentials, d.created_at
FROM addresses d JOIN apps p ON p.id = d.app_id`

func (s *Store) scanAddress(row scanner) (store.AddressRecord, error) {
	var a store.AddressRecord
	var sealed []byte
	var created sql.NullInt64
	if err := row.Scan(&a.Network, &a.Address, &a.AccountID, &a.AppID, &a.AppName, &a.Route, &sealed, &created); err != nil {
		return a, err
	}
	a.CreatedAt = fromNS(created)
	if sealed != nil {
		creds, err := s.seal.Open(sealed, credentialsAD(a.Network, a.Address))
		if err != nil {
			return a, fmt.Errorf("credentials of %s address %q: %w: %s", a.Network, a.Address, err, credentialsAdvice)
		}
		a.Credentials = creds
	}
	return a, nil
}

// credentialsAdvice says what to do when credentials do not decrypt.
const credentialsAdvice = "the key in use (secret.key in the data directory) is not the one they were encrypted with; " +
	"restore the original secret.key, or delete the address and add it again with its credentials"

// Address returns the binding of an address (normalised before lookup),
// with its credentials decrypted.
func (s *Store) Address(ctx context.Context, network, address string) (store.AddressRecord, error) {
	n, a, err := normalize(network, address)
	if err != nil {
		return store.AddressRecord{}, fmt.Errorf("store: %s address %q: %v: %w", network, address, err, store.ErrNotFound)
	}
	rec, err := s.scanAddress(s.rdb.QueryRowContext(ctx, addressSelect+` WHERE d.network = ? AND d.address = ?`, n, a))
	if errors.Is(err, sql.ErrNoRows) {
		return store.AddressRecord{}, fmt.Errorf("store: %s address %q: %w", n, a, store.ErrNotFound)
	}
	if err != nil {
		return store.AddressRecord{}, fmt.Errorf("store: %w", err)
	}
	return rec, nil
}

// ListAddresses returns the addresses of an account (0: of all), by
// network and address, credentials decrypted.
func (s *Store) ListAddresses(ctx context.Context, accountID int64) ([]store.AddressRecord, error) {
	q := addressSelect
	var args []any
	if accountID != 0 {
		q += ` WHERE d.account_id = ?`
		args = append(args, accountID)
	}
	rows, err := s.rdb.QueryContext(ctx, q+` ORDER BY d.network, d.address`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list addresses: %w", err)
	}
	defer rows.Close()
	var out []store.AddressRecord
	for rows.Next() {
		a, err := s.scanAddress(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list addresses: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list addresses: %w", err)
	}
	return out, nil
}

// DeleteAddress releases an address (normalised before lookup).
func (s *Store) DeleteAddress(ctx context.Context, network, address string) error {
	n, a, err := normalize(network, address)
	if err != nil {
		return fmt.Errorf("store: delete %s address %q: %v: %w", network, address, err, store.ErrNotFound)
	}
	res, err := s.wdb.ExecContext(ctx, `DELETE FROM addresses WHERE network = ? AND address = ?`, n, a)
	if err != nil {
		return fmt.Errorf("store: delete %s address %q: %w", n, a, err)
	}
	if k, _ := res.RowsAffected(); k == 0 {
		return fmt.Errorf("store: delete %s address %q: %w", n, a, store.ErrNotFound)
	}
	return nil
}
