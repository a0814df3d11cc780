// Package httpmod is the http module of Chorus scripts:
//
//	http.get(url [, {headers=, timeout=}])
//	http.post(url, body [, {headers=, timeout=, content_type=}])
//	http.request{method=, url=, headers=, body=, timeout=, content_type=}
//	  -> {status=, body=, headers=} | nil, err
//
// One Client, made by New from the operator's Config, serves every session;
// Client.Open binds it to one session (a luamod.Host) and sets env.http.
//
// # What a script may reach
//
// http and https URLs only. The Client's dialer resolves the host itself,
// checks every address and connects to the checked address only (a name
// cannot resolve to something else between check and connection). It
// refuses loopback, private (RFC 1918, fc00::/7), link-local (with the
// cloud metadata address 169.254.169.254), unspecified, multicast, shared
// (CGNAT 100.64.0.0/10), documentation, benchmarking and other reserved
// ranges, IPv6 outside 2000::/3, and the same addresses written as
// IPv4-mapped IPv6 or embedded in NAT64 and 6to4 addresses, unless a
// Config.Allow pattern (lua.http_allow) matches. A refusal names the
// address and the setting:
//
//	http: 127.0.0.1:80 is a loopback address; the operator can allow it with lua.http_allow
//
// Redirects (at most 5, to http and https only) go through the same dialer.
// No proxy from the environment is used, and no cookie jar: sessions share
// connections, never cookies.
//
// # Bounds
//
// Every request runs under the session's context, so a hangup or a limit
// ends it at once, and under a timeout: Config.Timeout (10s) by default,
// shorter when the script asks (timeout= in seconds), never longer. The
// response body is read up to Config.MaxBody (2 MiB) and a larger one fails
// the request ("response body larger than 2 MiB"); a body a server
// compresses is measured decompressed. The response header block is capped
// at 256 KiB, the request body at Config.MaxRequestBody (1 MiB). The body
// and headers handed back are charged to the session (Host.Charge); the
// request runs inside Host.Blocking, so waiting for the network does not
// count as compute time.
//
// # The Lua side
//
// A body is a string (sent as text/plain unless told otherwise) or a table
// of form fields (sent as application/x-www-form-urlencoded; a list value
// repeats the field). headers is a table of names to strings or numbers;
// names are case-insensitive, "Host" sets the Host header, and User-Agent
// defaults to Config.UserAgent. content_type sets Content-Type. method is
// one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS (any case). In the
// result, status is the HTTP status (a 404 is a result, not an error),
// body the body, and headers has lower-case names, several values of one
// name joined with ", ".
//
// A runtime failure (refused address, DNS failure, connection error,
// timeout, cancellation, a body too large, too many redirects) returns nil
// and an error string; bad arguments (a malformed or non-http URL, unknown
// options, wrong types, control characters in headers) raise.
package httpmod
