// Package apps holds the sample apps that ship with Chorus, embedded in the
// binary: weather (a ZIP code -> National Weather Service forecast, on
// every network), echo and menu. `chorus serve` loads them into an empty
// data dir (spec/cli.md); the API and the CLI can push them as bundles.
//
// Each sample is a directory apps/<name>/ with main.lua (the entry point),
// other Lua modules it require()s, and data assets (weather's zips.csv.gz
// and its NOTICE). Everything in a sample's directory is part of its bundle
// except testdata/ (transcript tests, apps/testdata-format.md), tools/
// (how data was derived) and Go packages (weather/nwsfake, a fake of
// api.weather.gov for tests).
//
// The scripts are written to the Lua API contract, spec/lua-api.md, and
// nothing else.
package apps
