package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/chorus-dev/chorus/apps"
)

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// client reaches a Chorus server.
type client struct {
	url, key string
	json     bool
	out      io.Writer
	hc       *http.Client
}

type clientFlags struct {
	url, key, data string
	json           bool
}

func (f *clientFlags) register(cmd *cobra.Command) {
	p := cmd.PersistentFlags()
	p.StringVar(&f.url, "url", "", "server URL (CHORUS_URL; default http://127.0.0.1:8080)")
	p.StringVar(&f.key, "key", "", "API key (CHORUS_API_KEY; default the key in <data>/admin.key)")
	p.StringVar(&f.data, "data", "", "data dir whose admin.key is the default key (CHORUS_DATA; default ./chorus-data)")
	p.BoolVar(&f.json, "json", false, "print the API's JSON")
}

func (f *clientFlags) client(cmd *cobra.Command) (*client, error) {
	c := &client{
		url:  strings.TrimRight(pick(f.url, os.Getenv("CHORUS_URL"), "http://127.0.0.1:8080"), "/"),
		key:  pick(f.key, os.Getenv("CHORUS_API_KEY")),
		json: f.json,
		out:  cmd.OutOrStdout(),
		hc:   &http.Client{Timeout: 60 * time.Second},
	}
	if c.key == "" {
		kf := filepath.Join(pick(f.data, os.Getenv("CHORUS_DATA"), "./chorus-data"), "admin.key")
		b, err := os.ReadFile(kf)
		if err != nil {
			return nil, fmt.Errorf("no API key: pass --key, set CHORUS_API_KEY, or run where %s exists", kf)
		}
		c.key = strings.TrimSpace(string(b))
	}
	return c, nil
}

// apiError is a failure the server reported.
type apiError struct {
	Status int
	Msg    string
}

func (e *apiError) Error() string { return fmt.Sprintf("%s (HTTP %d)", e.Msg, e.Status) }

func (c *client) do(method, path, ctype string, body io.Reader, out any) error {
	req, err := http.NewRequest(method, c.url+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the server at %s (is `chorus serve` running?): %w", c.url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
			Line  int    `json:"line"`
			File  string `json:"file"`
		}
		msg := strings.TrimSpace(string(data))
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		return &apiError{resp.StatusCode, msg}
	}
	if c.json && out == nil {
		_, _ = c.out.Write(data)
		return nil
	}
	if out != nil && len(data) > 0 {
		if raw, ok := out.(*[]byte); ok {
			*raw = data
			return nil
		}
		return json.Unmarshal(data, out)
	}
	return nil
}

func (c *client) doJSON(method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	var raw []byte
	if err := c.do(method, path, "application/json", body, &raw); err != nil {
		return err
	}
	if c.json {
		_, _ = c.out.Write(raw)
		if len(raw) > 0 && raw[len(raw)-1] != '\n' {
			fmt.Fprintln(c.out)
		}
		return nil
	}
	if out != nil && len(raw) > 0 {
		return json.Unmarshal(raw, out)
	}
	return nil
}

func (c *client) table(header string, rows [][]string) {
	tw := tabwriter.NewWriter(c.out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	_ = tw.Flush()
}

func newApp() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{Use: "app", Short: "Manage apps (push, ls, rm, versions, rollback, config)"}
	cf.register(cmd)
	var name string
	push := &cobra.Command{
		Use:   "push FILE|DIR",
		Short: "Upload a script (.lua), a bundle (.tar.gz, .zip) or a directory with main.lua",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client(cmd)
			if err != nil {
				return err
			}
			body, ctype, def, err := readUpload(args[0])
			if err != nil {
				return err
			}
			n := pick(name, def)
			var res struct {
				Name    string `json:"name"`
				Version int    `json:"version"`
				SHA256  string `json:"sha256"`
			}
			if err := c.do(http.MethodPut, "/v1/apps/"+url.PathEscape(n), ctype, bytes.NewReader(body), &res); err != nil {
				return err
			}
			if c.json {
				return json.NewEncoder(c.out).Encode(res)
			}
			fmt.Fprintf(c.out, "pushed %s version %d (sha256 %s)\n", res.Name, res.Version, res.SHA256[:12])
			return nil
		},
	}
	push.Flags().StringVar(&name, "name", "", "app name (default: the file or directory name)")
	ls := &cobra.Command{Use: "ls", Short: "List apps", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
		c, err := cf.client(cmd)
		if err != nil {
			return err
		}
		var list []struct {
			Name      string `json:"name"`
			Version   int    `json:"version"`
			Versions  int    `json:"versions"`
			UpdatedAt string `json:"updated_at"`
		}
		if err := c.doJSON(http.MethodGet, "/v1/apps", nil, &list); err != nil || c.json {
			return err
		}
		rows := [][]string{}
		for _, a := range list {
			rows = append(rows, []string{a.Name, fmt.Sprint(a.Version), fmt.Sprint(a.Versions), a.UpdatedAt})
		}
		c.table("NAME\tLIVE\tVERSIONS\tUPDATED", rows)
		return nil
	}}
	rm := &cobra.Command{Use: "rm NAME", Short: "Delete an app (its addresses are released)", Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		c, err := cf.client(cmd)
		if err != nil {
			return err
		}
		if err := c.doJSON(http.MethodDelete, "/v1/apps/"+url.PathEscape(args[0]), nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(c.out, "deleted %s\n", args[0])
		return nil
	}}
	versions := &cobra.Command{Use: "versions NAME", Short: "List an app's versions", Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		c, err := cf.client(cmd)
		if err != nil {
			return err
		}
		var list []struct {
			Version   int    `json:"version"`
			Kind      string `json:"kind"`
			SHA256    string `json:"sha256"`
			Live      bool   `json:"live"`
			CreatedAt string `json:"created_at"`
		}
		if err := c.doJSON(http.MethodGet, "/v1/apps/"+url.PathEscape(args[0])+"/versions", nil, &list); err != nil || c.json {
			return err
		}
		rows := [][]string{}
		for _, v := range list {
			live := ""
			if v.Live {
				live = "live"
			}
			rows = append(rows, []string{fmt.Sprint(v.Version), v.Kind, v.SHA256[:12], v.CreatedAt, live})
		}
		c.table("VERSION\tKIND\tSHA256\tCREATED\t", rows)
		return nil
	}}
	rollback := &cobra.Command{Use: "rollback NAME VERSION", Short: "Make an earlier version live again", Args: cobra.ExactArgs(2), RunE: func(cmd *cobra.Command, args []string) error {
		c, err := cf.client(cmd)
		if err != nil {
			return err
		}
		var v int
		if _, err := fmt.Sscan(args[1], &v); err != nil {
			return usageError{fmt.Errorf("VERSION must be a number, not %q", args[1])}
		}
		if err := c.doJSON(http.MethodPost, "/v1/apps/"+url.PathEscape(args[0])+"/rollback", map[string]int{"version": v}, nil); err != nil {
			return err
		}
		if !c.json {
			fmt.Fprintf(c.out, "%s: version %d is live\n", args[0], v)
		}
		return nil
	}}
	config := &cobra.Command{Use: "config NAME KEY=VALUE...", Short: "Set app configuration values (config.KEY in scripts); without values, list the keys", Args: cobra.MinimumNArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		c, err := cf.client(cmd)
		if err != nil {
			return err
		}
		p := "/v1/apps/" + url.PathEscape(args[0]) + "/config"
		var shown map[string]string
		if len(args) == 1 {
			err = c.doJSON(http.MethodGet, p, nil, &shown)
		} else {
			vals := map[string]string{}
			for _, kv := range args[1:] {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return usageError{fmt.Errorf("%q: want KEY=VALUE", kv)}
				}
				vals[k] = v
			}
			err = c.doJSON(http.MethodPut, p, vals, &shown)
		}
		if err != nil || c.json {
			return err
		}
		for k, v := range shown {
			fmt.Fprintf(c.out, "%s=%s\n", k, v)
		}
		return nil
	}}
	cmd.AddCommand(push, ls, rm, versions, rollback, config)
	return cmd
}

// readUpload reads a script, a bundle or a directory (packed as tar.gz).
func readUpload(p string) (body []byte, ctype, name string, err error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, "", "", err
	}
	base := filepath.Base(filepath.Clean(p))
	if fi.IsDir() {
		files, err := readAppFiles(p)
		if err != nil {
			return nil, "", "", err
		}
		b, err := apps.TarGz(files)
		return b, "application/gzip", base, err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, "", "", err
	}
	switch {
	case strings.HasSuffix(base, ".lua"):
		return b, "text/x-lua", strings.TrimSuffix(base, ".lua"), nil
	case strings.HasSuffix(base, ".tar.gz"):
		return b, "application/gzip", strings.TrimSuffix(base, ".tar.gz"), nil
	case strings.HasSuffix(base, ".tgz"):
		return b, "application/gzip", strings.TrimSuffix(base, ".tgz"), nil
	case strings.HasSuffix(base, ".zip"):
		return b, "application/zip", strings.TrimSuffix(base, ".zip"), nil
	}
	return nil, "", "", fmt.Errorf("%s: want a .lua script, a .tar.gz/.zip bundle or a directory with main.lua", p)
}

func newAddr() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{Use: "addr", Short: "Bind addresses to apps (add, ls, rm)"}
	cf.register(cmd)
	var route, credFile string
	add := &cobra.Command{
		Use:   "add NETWORK ADDRESS APP",
		Short: "Bind ADDRESS on NETWORK (web, sip, sms, xmpp, twitter, mastodon, p2p) to APP",
		Args:  cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client(cmd)
			if err != nil {
				return err
			}
			req := map[string]any{"network": args[0], "address": args[1], "app": args[2]}
			if route != "" {
				req["route"] = route
			}
			if credFile != "" {
				b, err := os.ReadFile(credFile)
				if err != nil {
					return err
				}
				var creds map[string]any
				if err := json.Unmarshal(b, &creds); err != nil {
					return fmt.Errorf("%s: credentials must be a JSON object: %w", credFile, err)
				}
				req["credentials"] = creds
			}
			var res struct {
				Network, Address, App, State string
			}
			if err := c.doJSON(http.MethodPost, "/v1/addresses", req, &res); err != nil || c.json {
				return err
			}
			fmt.Fprintf(c.out, "%s %s -> %s (%s)\n", res.Network, res.Address, res.App, res.State)
			return nil
		},
	}
	add.Flags().StringVar(&route, "route", "", "SMS route (an sms.smpp or sms.http name of the server's config)")
	add.Flags().StringVar(&credFile, "credentials-file", "", "JSON file with the address's credentials (stored encrypted)")
	ls := &cobra.Command{Use: "ls", Short: "List addresses and their state", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
		c, err := cf.client(cmd)
		if err != nil {
			return err
		}
		var list []struct {
			Network     string `json:"network"`
			Address     string `json:"address"`
			App         string `json:"app"`
			State       string `json:"state"`
			StateDetail string `json:"state_detail"`
		}
		if err := c.doJSON(http.MethodGet, "/v1/addresses", nil, &list); err != nil || c.json {
			return err
		}
		rows := [][]string{}
		for _, a := range list {
			rows = append(rows, []string{a.Network, a.Address, a.App, strings.TrimSpace(a.State + " " + a.StateDetail)})
		}
		c.table("NETWORK\tADDRESS\tAPP\tSTATE", rows)
		return nil
	}}
	rm := &cobra.Command{Use: "rm NETWORK ADDRESS", Short: "Release an address", Args: cobra.ExactArgs(2), RunE: func(cmd *cobra.Command, args []string) error {
		c, err := cf.client(cmd)
		if err != nil {
			return err
		}
		if err := c.doJSON(http.MethodDelete, "/v1/addresses/"+url.PathEscape(args[0])+"/"+url.PathEscape(args[1]), nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(c.out, "released %s %s\n", args[0], args[1])
		return nil
	}}
	cmd.AddCommand(add, ls, rm)
	return cmd
}

func newLogs() *cobra.Command {
	var cf clientFlags
	var follow bool
	var since, session string
	cmd := &cobra.Command{
		Use:   "logs [APP]",
		Short: "Print app logs (-f follows them)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client(cmd)
			if err != nil {
				return err
			}
			q := url.Values{}
			if len(args) == 1 {
				q.Set("app", args[0])
			}
			if since != "" {
				q.Set("since", since)
			}
			if session != "" {
				q.Set("session", session)
			}
			if follow {
				q.Set("follow", "1")
				return c.follow("/v1/logs?" + q.Encode())
			}
			var lines []logLine
			if err := c.doJSON(http.MethodGet, "/v1/logs?"+q.Encode(), nil, &lines); err != nil || c.json {
				return err
			}
			for _, l := range lines {
				l.print(c.out)
			}
			return nil
		},
	}
	cf.register(cmd)
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "follow new lines as they are written")
	cmd.Flags().StringVar(&since, "since", "", "only lines since (RFC 3339 time or a duration like 15m)")
	cmd.Flags().StringVar(&session, "session", "", "only lines of this session")
	return cmd
}

type logLine struct {
	At      string `json:"at"`
	App     string `json:"app"`
	Session string `json:"session"`
	Level   string `json:"level"`
	Text    string `json:"text"`
}

func (l logLine) print(w io.Writer) {
	fmt.Fprintf(w, "%s %-5s %s %s %s\n", l.At, l.Level, l.App, l.Session, l.Text)
}

func (c *client) follow(path string) error {
	req, err := http.NewRequest(http.MethodGet, c.url+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the server at %s: %w", c.url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return &apiError{resp.StatusCode, strings.TrimSpace(string(b))}
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if c.json {
			fmt.Fprintln(c.out, data)
			continue
		}
		var l logLine
		if json.Unmarshal([]byte(data), &l) == nil {
			l.print(c.out)
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}
