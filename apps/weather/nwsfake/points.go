package nwsfake

import "math"

// Point is what the fake knows of a place on its grid.
type Point struct {
	Lat, Lon     float64 // canonical coordinates (4 decimals)
	Office       string  // forecast office, the gridId ("MLB")
	GridX, GridY int
	City, State  string // relativeLocation
	TimeZone     string
	Zone, County string // zone ids
	Radar        string
}

// KnownPoints are the points the fake answers with real-looking metadata.
// The coordinates are those of the weather sample's ZIP data.
var KnownPoints = []Point{
	{Lat: 28.5399, Lon: -81.3727, Office: "MLB", GridX: 26, GridY: 68, City: "Orlando", State: "FL",
		TimeZone: "America/New_York", Zone: "FLZ045", County: "FLC095", Radar: "KMLB"},
	{Lat: 34.0901, Lon: -118.4065, Office: "LOX", GridX: 149, GridY: 48, City: "Beverly Hills", State: "CA",
		TimeZone: "America/Los_Angeles", Zone: "CAZ368", County: "CAC037", Radar: "KSOX"},
	{Lat: 40.7484, Lon: -73.9967, Office: "OKX", GridX: 33, GridY: 37, City: "New York", State: "NY",
		TimeZone: "America/New_York", Zone: "NYZ072", County: "NYC061", Radar: "KOKX"},
}

// lookupPoint returns the known point at lat,lon, or a made-up one in
// office "TST" whose grid cell follows from the coordinates.
func lookupPoint(lat, lon float64) Point {
	for _, p := range KnownPoints {
		if math.Abs(p.Lat-lat) < 5e-5 && math.Abs(p.Lon-lon) < 5e-5 {
			return p
		}
	}
	return Point{
		Lat: lat, Lon: lon, Office: "TST",
		GridX: int(math.Floor((lon+180)*40)) % 400, GridY: int(math.Floor((lat+90)*40)) % 400,
		City: "Testville", State: "TS", TimeZone: "America/Chicago",
		Zone: "TSZ001", County: "TSC001", Radar: "KTST",
	}
}

// box is a latitude/longitude rectangle.
type box struct{ minLat, maxLat, minLon, maxLon float64 }

// coverage roughly outlines the NWS forecast area: the contiguous states,
// Alaska, Hawaii, Puerto Rico and the Virgin Islands, Guam and the Northern
// Marianas, American Samoa. Points elsewhere (APO/FPO ZIPs abroad, oceans)
// get 404 like the real API's.
var coverage = []box{
	{24.0, 50.0, -125.0, -66.0},  // contiguous United States
	{51.0, 72.0, -180.0, -129.0}, // Alaska
	{51.0, 53.5, 172.0, 180.0},   // Aleutians west of 180°
	{18.5, 22.5, -161.0, -154.0}, // Hawaii
	{17.5, 18.6, -67.5, -64.5},   // Puerto Rico, U.S. Virgin Islands
	{13.0, 21.0, 144.0, 146.5},   // Guam, Northern Mariana Islands
	{-14.6, -14.0, -171.0, -168.0},
}

func covered(lat, lon float64) bool {
	for _, b := range coverage {
		if lat >= b.minLat && lat <= b.maxLat && lon >= b.minLon && lon <= b.maxLon {
			return true
		}
	}
	return false
}
