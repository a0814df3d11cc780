package sandbox

import (
	"fmt"
	"os"
	"testing"
)

// maxPeakRSS is the most the test process may ever hold resident, hostile
// scripts included.
const maxPeakRSS = 1536 << 20

func TestMain(m *testing.M) {
	code := m.Run()
	if hwm, err := vmHWM(); err == nil {
		fmt.Printf("peak RSS (VmHWM) of the test process: %s\n", size(hwm))
		if hwm > maxPeakRSS && code == 0 {
			fmt.Printf("FAIL: peak RSS %s is over %s\n", size(hwm), size(maxPeakRSS))
			code = 1
		}
	}
	os.Exit(code)
}
