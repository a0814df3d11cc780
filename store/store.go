// Package store keeps everything Chorus must not lose: accounts and hashed
// API keys, apps and every version, addresses (credentials encrypted), app
// configuration, the apps' key/value store, sessions with their transcripts,
// and app logs.
//
// The interfaces here are small so that a second implementation (PostgreSQL)
// can follow the embedded default (SQLite, package store/sqlite). Lookups of
// something that does not exist return an error wrapping ErrNotFound; a
// unique clash wraps ErrConflict.
//
// Sessions and logs are written through an asynchronous batch writer: a call
// returns at once and the write is durable within 1 s. Sync waits until
// everything queued so far is committed; readers of sessions and logs call it
// (cheap when nothing is pending) so that what was written is what is read.
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("already exists")
)

// Role of an account.
type Role string

// Roles.
const (
	RoleAdmin     Role = "admin"
	RoleOperator  Role = "operator"
	RoleDeveloper Role = "developer"
)

// Account owns apps, addresses and sessions.
type Account struct {
	ID        int64
	Name      string
	Role      Role
	CreatedAt time.Time
}

// App is one app of an account; LiveVersion is the version that runs.
type App struct {
	ID          int64
	AccountID   int64
	Name        string
	LiveVersion int
	Versions    int // how many versions exist
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Version is one uploaded version of an app. Kind is "script" (Files holds
// only main.lua) or "bundle" (Files holds every file of the archive; Archive
// the upload as sent). Files and Archive are empty in listings.
type Version struct {
	AppID     int64
	Version   int
	Kind      string
	SHA256    string // hex sha256 of the upload
	Size      int64
	Files     map[string][]byte
	Archive   []byte
	CreatedAt time.Time
}

// AddressRecord binds an address of a network to an app.
type AddressRecord struct {
	Network   string
	Address   string // normalised
	AccountID int64
	AppID     int64
	AppName   string // filled on reads
	Route     string // sms route name
	// Credentials is the plaintext JSON given at creation; the store keeps it
	// encrypted and returns it decrypted (it is never shown by the API).
	Credentials []byte
	CreatedAt   time.Time
}

// TranscriptEntry is one line of a session's transcript.
type TranscriptEntry struct {
	Dir  string    `json:"dir"`  // "in" | "out"
	Kind string    `json:"kind"` // text|speech|dtmf|recording|receipt|event
	Text string    `json:"text"`
	At   time.Time `json:"at"`
}

// Session is one conversation of one app.
type Session struct {
	ID         string
	AccountID  int64
	AppID      int64
	AppName    string
	Version    int
	Network    string
	Caller     string
	Called     string
	State      string // running | waiting | ended
	StartedAt  time.Time
	EndedAt    time.Time // zero while live
	EndReason  string
	Params     map[string]any
	Transcript []TranscriptEntry
}

// SessionFilter selects sessions; zero fields match everything.
type SessionFilter struct {
	AccountID int64 // 0: every account
	App       string
	State     string
	Limit     int // 0: 100
}

// LogLine is one line of an app's log.
type LogLine struct {
	ID        int64 // assigned by the store
	At        time.Time
	AccountID int64
	App       string
	Session   string
	Level     string // debug|info|warn|error
	Text      string
}

// LogFilter selects log lines, oldest first.
type LogFilter struct {
	AccountID int64 // 0: every account
	App       string
	Session   string
	Since     time.Time
	AfterID   int64
	Limit     int // 0: 1000
}

// Accounts keeps accounts and their API keys (only a hash is stored).
type Accounts interface {
	// CreateAccount makes an account with a new random key, returned once.
	CreateAccount(ctx context.Context, name string, role Role) (Account, string, error)
	// CreateAccountWithKey makes an account whose key is given.
	CreateAccountWithKey(ctx context.Context, name string, role Role, key string) (Account, error)
	AccountByKey(ctx context.Context, key string) (Account, error)
	Account(ctx context.Context, id int64) (Account, error)
	ListAccounts(ctx context.Context) ([]Account, error)
	// AccountByName helps the first start find the admin account.
	AccountByName(ctx context.Context, name string) (Account, error)
	// SetKey makes key the account's only API key (rotation): every other
	// key of the account stops working.
	SetKey(ctx context.Context, accountID int64, key string) error
}

// Apps keeps apps, versions and their configuration.
type Apps interface {
	// PutVersion stores v as the newest version of the account's app name,
	// creating the app (created=true, version 1) if needed, and makes it live.
	PutVersion(ctx context.Context, accountID int64, name string, v Version) (app App, ver Version, created bool, err error)
	App(ctx context.Context, accountID int64, name string) (App, error)
	AppByID(ctx context.Context, id int64) (App, error)
	ListApps(ctx context.Context, accountID int64) ([]App, error) // 0: all
	Version(ctx context.Context, appID int64, version int) (Version, error)
	ListVersions(ctx context.Context, appID int64) ([]Version, error)
	SetLive(ctx context.Context, appID int64, version int) error
	// DeleteApp removes the app, its versions, config, kv and addresses.
	DeleteApp(ctx context.Context, appID int64) error
	MergeConfig(ctx context.Context, appID int64, values map[string]string) error
	Config(ctx context.Context, appID int64) (map[string]string, error)
}

// Addresses keeps address bindings.
type Addresses interface {
	AddAddress(ctx context.Context, a AddressRecord) (AddressRecord, error)
	Address(ctx context.Context, network, address string) (AddressRecord, error)
	ListAddresses(ctx context.Context, accountID int64) ([]AddressRecord, error) // 0: all
	DeleteAddress(ctx context.Context, network, address string) error
}

// KV is the apps' small persistent key/value store.
type KV interface {
	KVGet(ctx context.Context, appID int64, key string) (string, bool, error)
	// KVSet with ttl 0 keeps the value until deleted.
	KVSet(ctx context.Context, appID int64, key, value string, ttl time.Duration) error
	KVDelete(ctx context.Context, appID int64, key string) error
	// KVUsage counts the app's live (unexpired) keys and their bytes (keys
	// and values), for quotas.
	KVUsage(ctx context.Context, appID int64) (keys int, bytes int64, err error)
}

// Sessions keeps sessions. SaveSession and AppendLog are asynchronous.
type Sessions interface {
	// SaveSession queues an insert-or-replace of s (start, state, end).
	SaveSession(s Session)
	Session(ctx context.Context, id string) (Session, error)
	ListSessions(ctx context.Context, f SessionFilter) ([]Session, error)
	// MarkInterrupted ends every session that is not ended with
	// end_reason "server_restart"; called once at start.
	MarkInterrupted(ctx context.Context) (int, error)
}

// Logs keeps app logs.
type Logs interface {
	AppendLog(l LogLine)
	ListLogs(ctx context.Context, f LogFilter) ([]LogLine, error)
}

// Recording is a call recording (record() on a call): 8 kHz mono WAV.
type Recording struct {
	ID        string
	AccountID int64
	SessionID string
	AppName   string
	Duration  time.Duration
	WAV       []byte
	CreatedAt time.Time
}

// Recordings keeps call recordings.
type Recordings interface {
	// SaveRecording stores r (its ID is chosen by the caller).
	SaveRecording(ctx context.Context, r Recording) error
	// Recording returns one recording, WAV included; ErrNotFound if none.
	Recording(ctx context.Context, id string) (Recording, error)
}

// Store is everything together.
type Store interface {
	Accounts
	Apps
	Addresses
	KV
	Sessions
	Logs
	Recordings
	// Sync waits until every queued session and log write is committed.
	Sync(ctx context.Context) error
	// Close flushes pending writes and closes the database.
	Close() error
}
