package luamod

import "testing"

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{
		0:             "0 bytes",
		1000:          "1000 bytes",
		1024:          "1 KiB",
		1536:          "1536 bytes",
		512 << 10:     "512 KiB",
		2 << 20:       "2 MiB",
		(2 << 20) + 1: "2097153 bytes",
		3 << 30:       "3072 MiB",
	} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}
