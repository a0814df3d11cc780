package nwsfake

// Period is one forecast period, as api.weather.gov shapes it.
type Period struct {
	Number                     int       `json:"number"`
	Name                       string    `json:"name"`
	StartTime                  string    `json:"startTime"`
	EndTime                    string    `json:"endTime"`
	IsDaytime                  bool      `json:"isDaytime"`
	Temperature                int       `json:"temperature"`
	TemperatureUnit            string    `json:"temperatureUnit"`
	TemperatureTrend           *string   `json:"temperatureTrend"`
	ProbabilityOfPrecipitation UnitValue `json:"probabilityOfPrecipitation"`
	WindSpeed                  string    `json:"windSpeed"`
	WindDirection              string    `json:"windDirection"`
	Icon                       string    `json:"icon"`
	ShortForecast              string    `json:"shortForecast"`
	DetailedForecast           string    `json:"detailedForecast"`
}

// UnitValue is a quantity with a WMO unit code; Value nil is JSON null.
type UnitValue struct {
	UnitCode string `json:"unitCode"`
	Value    *int   `json:"value"`
}

func percent(v int) UnitValue { return UnitValue{UnitCode: "wmoUnit:percent", Value: &v} }

// DefaultPeriods are the periods every forecast has unless Options.Periods
// says otherwise. A client that words the first two gets, for Orlando:
// "This Afternoon: Sunny, 84°F. Tonight: Mostly Clear, 68°F."
func DefaultPeriods() []Period {
	const icon = "https://api.weather.gov/icons/land/"
	return []Period{
		{Number: 1, Name: "This Afternoon", StartTime: "2026-11-22T13:00:00-05:00", EndTime: "2026-11-22T18:00:00-05:00",
			IsDaytime: true, Temperature: 84, TemperatureUnit: "F", ProbabilityOfPrecipitation: percent(0),
			WindSpeed: "10 mph", WindDirection: "E", Icon: icon + "day/skc?size=medium",
			ShortForecast: "Sunny", DetailedForecast: "Sunny, with a high near 84. East wind around 10 mph."},
		{Number: 2, Name: "Tonight", StartTime: "2026-11-22T18:00:00-05:00", EndTime: "2026-11-23T06:00:00-05:00",
			IsDaytime: false, Temperature: 68, TemperatureUnit: "F", ProbabilityOfPrecipitation: percent(0),
			WindSpeed: "5 mph", WindDirection: "SE", Icon: icon + "night/few?size=medium",
			ShortForecast: "Mostly Clear", DetailedForecast: "Mostly clear, with a low around 68. Southeast wind around 5 mph."},
		{Number: 3, Name: "Monday", StartTime: "2026-11-23T06:00:00-05:00", EndTime: "2026-11-23T18:00:00-05:00",
			IsDaytime: true, Temperature: 86, TemperatureUnit: "F", ProbabilityOfPrecipitation: percent(30),
			WindSpeed: "5 to 10 mph", WindDirection: "SE", Icon: icon + "day/sct/tsra_hi,30?size=medium",
			ShortForecast:    "Chance Showers And Thunderstorms",
			DetailedForecast: "A chance of showers and thunderstorms after 2pm. Mostly sunny, with a high near 86. Chance of precipitation is 30%."},
		{Number: 4, Name: "Monday Night", StartTime: "2026-11-23T18:00:00-05:00", EndTime: "2026-11-24T06:00:00-05:00",
			IsDaytime: false, Temperature: 70, TemperatureUnit: "F", ProbabilityOfPrecipitation: percent(10),
			WindSpeed: "0 to 5 mph", WindDirection: "S", Icon: icon + "night/sct?size=medium",
			ShortForecast: "Partly Cloudy", DetailedForecast: "Partly cloudy, with a low around 70."},
	}
}

// hourlyPeriods turns periods into hourly ones: the real hourly forecast's
// periods have empty names and short texts.
func hourlyPeriods(ps []Period) []Period {
	out := make([]Period, len(ps))
	for i, p := range ps {
		p.Name = ""
		p.DetailedForecast = ""
		out[i] = p
	}
	return out
}

// forecastDoc is the /gridpoints/.../forecast answer.
func forecastDoc(periods []Period) map[string]any {
	if periods == nil {
		periods = []Period{}
	}
	return map[string]any{
		"@context": ldContext(),
		"type":     "Feature",
		"geometry": map[string]any{
			"type": "Polygon",
			"coordinates": [][][]float64{{
				{-81.38, 28.53}, {-81.36, 28.53}, {-81.36, 28.55}, {-81.38, 28.55}, {-81.38, 28.53},
			}},
		},
		"properties": map[string]any{
			"units":             "us",
			"forecastGenerator": "BaselineForecastGenerator",
			"generatedAt":       "2026-11-22T17:40:00+00:00",
			"updateTime":        "2026-11-22T17:20:00+00:00",
			"validTimes":        "2026-11-22T11:00:00+00:00/P7DT14H",
			"elevation":         map[string]any{"unitCode": "wmoUnit:m", "value": 27.1},
			"periods":           periods,
		},
	}
}
