// Package nwsfake is a fake of the two api.weather.gov endpoints the weather
// sample uses, for tests: it listens on 127.0.0.1, answers with fixed,
// documented content so that transcripts can be exact, and can fail on
// purpose.
//
// Endpoints (all GET):
//
//	/points/{lat},{lon}                       point metadata (geo+json)
//	/gridpoints/{office}/{x},{y}/forecast     12-hour periods (geo+json)
//	/gridpoints/{office}/{x},{y}/forecast/hourly
//
// What it models of the real API (see the tests):
//   - A User-Agent is required: a request without one, or with Go's default
//     "Go-http-client/..." (nobody chose one), gets 403 problem+json. (The
//     real edge may answer that 403 in HTML; clients must cope with both.)
//   - A point with more than 4 decimals gets 301 with a relative Location
//     ("/points/28.5399,-81.3727") and an AdjustPointPrecision problem.
//   - A point outside the NWS forecast area (rough boxes around the states
//     and territories) gets 404 "Data Unavailable For Requested Point"
//     (type .../problems/InvalidPoint); a malformed or out-of-range point
//     gets 400 "Invalid Parameter".
//   - Errors are RFC 7807 application/problem+json documents with
//     correlationId, title, type, status, detail and instance.
//
// The content is fixed: every forecast has DefaultPeriods ("This Afternoon:
// Sunny, 84°F", "Tonight: Mostly Clear, 68°F", ...) unless Options.Periods
// says otherwise. A few points are known by name (Orlando 28.5399,-81.3727
// is MLB 26,68, "Orlando, FL"); any other covered point gets office "TST",
// a grid cell computed from its coordinates and the relative location
// "Testville, TS".
//
// Modes (Options.Mode, or SetMode while running) make it fail on purpose:
// Normal, FailOnce500 (the first /points request gets 500), Down (every
// request gets 503) and ForecastDown (/points works, forecasts get 503).
// ParseMode reads the names transcripts use ("normal", "500once", "down",
// "forecastdown").
//
// The server is safe for concurrent use. Close it when done.
package nwsfake
