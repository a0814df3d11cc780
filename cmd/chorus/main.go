// Command chorus is the Chorus server and its client.
//
//	chorus serve                 run the server (REST API, web channel, apps)
//	chorus app push FILE|DIR     upload an app (and app ls/rm/versions/rollback/config)
//	chorus addr add NET ADDR APP bind an address to an app (and addr ls/rm)
//	chorus chat ADDRESS          chat with an app over the web channel
//	chorus logs [-f] [APP]       read or follow app logs
//	chorus run FILE|DIR          run an app in the terminal, no server needed
//
// Only this package reads flags, files and the environment.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// exitError carries an exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func main() {
	root := newRoot()
	if err := root.Execute(); err != nil {
		var ee *exitError
		code := 1
		if errors.As(err, &ee) {
			code = ee.code
		}
		if isUsageError(err) {
			code = 2
		}
		fmt.Fprintln(os.Stderr, "chorus:", err)
		os.Exit(code)
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "chorus",
		Short: "Chorus: one Lua app answering on every channel",
		Long: `Chorus runs one sandboxed Lua app per address and answers people on every
channel at once: the web chat, SMS, XMPP, phone calls over SIP, X and Mastodon.

Start a server with "chorus serve", then use the client verbs against it
(they find it at --url / CHORUS_URL with the key --key / CHORUS_API_KEY, by
default the admin key in ./chorus-data/admin.key).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w\nusage: %s", err, c.UseLine())}
	})
	root.AddCommand(newServe(), newApp(), newAddr(), newChat(), newLogs(), newRun())
	for _, c := range root.Commands() {
		c.Args = wrapArgs(c.Args)
		for _, sub := range c.Commands() {
			sub.Args = wrapArgs(sub.Args)
		}
	}
	return root
}

type usageError struct{ error }

func isUsageError(err error) bool {
	var u usageError
	if errors.As(err, &u) {
		return true
	}
	// cobra's own "unknown command" errors
	msg := err.Error()
	return len(msg) > 15 && (msg[:15] == "unknown command" || msg[:12] == "unknown flag")
}

// wrapArgs turns argument errors into usage errors (exit 2).
func wrapArgs(p cobra.PositionalArgs) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if p == nil {
			if len(c.Commands()) > 0 && len(args) > 0 {
				return usageError{fmt.Errorf("unknown verb %q for %q\nusage: %s", args[0], c.CommandPath(), c.UseLine())}
			}
			return nil
		}
		if err := p(c, args); err != nil {
			return usageError{fmt.Errorf("%w\nusage: %s", err, c.UseLine())}
		}
		return nil
	}
}
