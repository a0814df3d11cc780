package main

import (
	"flag"
	"os"
	"runtime/pprof"
)

var cpuProfile = flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")

// startProfile starts CPU profiling when -cpuprofile is given.
func startProfile() func() {
	if *cpuProfile == "" {
		return func() {}
	}
	f, err := os.Create(*cpuProfile)
	if err != nil {
		fail(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fail(err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}
