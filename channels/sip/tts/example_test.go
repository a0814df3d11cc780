package tts_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/chorus-dev/chorus/channels/sip/tts"
)

func ExampleSynth_Speak() {
	dir, err := os.MkdirTemp("", "tts-cache")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	s, err := tts.New(tts.Config{CacheDir: dir}) // flite, voice "kal"
	if err != nil {
		log.Fatal(err) // flite missing: apt-get install flite
	}
	defer s.Close()
	for range 2 {
		a, err := s.Speak(context.Background(), "Please enter a 5 digit ZIP code", "")
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(a.Duration > time.Second, len(a.PCM) == 2*int(a.Duration*tts.Rate/time.Second))
	}
	st := s.Stats()
	fmt.Println("runs", st.Runs, "hits", st.Hits)
	// Output:
	// true true
	// true true
	// runs 1 hits 1
}
