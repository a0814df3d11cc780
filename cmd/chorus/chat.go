package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/spf13/cobra"
)

func newChat() *cobra.Command {
	var serverURL, fromID string
	cmd := &cobra.Command{
		Use:   "chat ADDRESS",
		Short: "Chat with the app at a web address (type lines; Ctrl-D ends)",
		Long: `Chat with the app bound to a web address, over the web channel's WebSocket.
Each line you type is one message; the app's replies print as "< text" as
soon as it sends them. A new conversation starts after the app's session
ends. Ctrl-D (end of input) quits.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			base := strings.TrimRight(pick(serverURL, os.Getenv("CHORUS_URL"), "http://127.0.0.1:8080"), "/")
			u, err := url.Parse(base)
			if err != nil {
				return usageError{fmt.Errorf("--url %q: %w", base, err)}
			}
			switch u.Scheme {
			case "https":
				u.Scheme = "wss"
			default:
				u.Scheme = "ws"
			}
			if fromID == "" {
				host, _ := os.Hostname()
				fromID = pick(os.Getenv("USER"), "someone") + "@" + host
			}
			u.Path += "/v1/web/" + url.PathEscape(args[0]) + "/ws"
			u.RawQuery = url.Values{"from": {fromID}}.Encode()
			return chat(cmd.Context(), u.String(), cmd)
		},
	}
	cmd.Flags().StringVar(&serverURL, "url", "", "server URL (CHORUS_URL; default http://127.0.0.1:8080)")
	cmd.Flags().StringVar(&fromID, "from", "", "who you are in this chat (default $USER@host)")
	return cmd
}

func chat(ctx context.Context, wsURL string, cmd *cobra.Command) error {
	if ctx == nil {
		ctx = context.Background()
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	ws, resp, err := websocket.Dial(dctx, wsURL, nil)
	cancel()
	if err != nil {
		if resp != nil && resp.StatusCode == 404 {
			return fmt.Errorf("no app answers at that web address (bind one with `chorus addr add web NAME APP`)")
		}
		return fmt.Errorf("cannot open the chat at %s: %w", wsURL, err)
	}
	defer ws.CloseNow()
	out := cmd.OutOrStdout()
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	readDone := make(chan error, 1)
	go func() { // owned by chat, which waits for it below
		for {
			_, data, err := ws.Read(ctx)
			if err != nil {
				readDone <- err
				return
			}
			var f struct{ Type, Text, State, Error string }
			if json.Unmarshal(data, &f) != nil {
				continue
			}
			switch f.Type {
			case "reply":
				fmt.Fprintf(out, "< %s\n", f.Text)
			case "state":
				if f.State == "ended" {
					fmt.Fprintln(out, "[conversation ended; your next message starts a new one]")
				}
			case "error":
				fmt.Fprintf(out, "[error: %s]\n", f.Error)
			}
		}
	}()
	in := bufio.NewScanner(cmd.InOrStdin())
	for in.Scan() {
		line := in.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		b, _ := json.Marshal(map[string]string{"text": line})
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := ws.Write(wctx, websocket.MessageText, b)
		cancel()
		if err != nil {
			return fmt.Errorf("chat closed: %w", err)
		}
	}
	// End of input: give late replies a moment, then close.
	select {
	case <-readDone:
	case <-time.After(2 * time.Second):
	}
	_ = ws.Close(websocket.StatusNormalClosure, "bye")
	stop()
	return nil
}
