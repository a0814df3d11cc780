// Package flood rate-limits requests per source address for the SIP
// listener, and bans sources that flood.
//
//	l := flood.New(flood.Config{}) // 50/s, bursts of 100, ban after 5 s over, for 60 s
//	...
//	switch ok, banned := l.Allow(src.Addr()); {
//	case banned: // drop without an answer: answering feeds the flood
//	case !ok:    // 503 Service Unavailable with Retry-After
//	default:     // serve
//	}
//
// Each source has a token bucket of Config.Burst tokens refilled at
// Config.PerSecond. A request takes a token or is refused. A source refused
// again and again, with no break longer than Config.Gap, for
// Config.BanAfter, is banned for Config.BanFor: Allow returns banned until
// then, whatever the source sends meanwhile (a ban is not extended). A
// source that only bursts now and then is refused, never banned.
//
// Sources are IPv4 addresses and IPv6 /64 networks (Config.IPv6Prefix);
// IPv4-mapped IPv6 counts as IPv4 and zones are ignored.
//
// Memory: at most Config.MaxEntries sources (100,000, about 130 bytes
// each); a new source past the bound pushes out the one seen longest ago,
// banned or not (a banned flooder is seen at every packet, so it stays
// unless 100,000 other sources are newer). Sweep, which the owner calls
// from its own ticker, forgets sources idle for Config.Idle; the Limiter
// starts no goroutine.
//
// Cost: Allow hashes the address to one of 64 shards and takes that
// shard's lock; no allocation for a known source (see the benchmarks).
package flood
