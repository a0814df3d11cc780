// Package tts turns text into 8 kHz mono 16-bit speech for the SIP channel's
// say(), through a speech engine from Debian, and reads WAV files for
// say("asset:x.wav") and URLs.
//
//	s, err := tts.New(tts.Config{CacheDir: dir}) // flite, voice "kal"
//	...
//	defer s.Close()
//	a, err := s.Speak(ctx, "Please enter a 5 digit ZIP code", "")
//	// a.PCM: s16le at 8 kHz, ready for G.711; a.Path: the cached WAV
//
// Engines: flite (default; `flite -voice V -o F -t TEXT`) or espeak-ng
// (`espeak-ng -b 1 -v V -w F`, the text on stdin). They run without a shell,
// the text as one argument or on stdin so it is never read as an option, and
// each run is bounded by Config.Timeout and the callers' contexts. Whatever
// rate the engine writes (flite's kal voice 8 kHz, its other voices 16 kHz,
// espeak-ng 22.05 kHz) is converted to 8 kHz in Go by LoadWAV's
// windowed-sinc resampler, so sox is not needed at run time.
//
// Voices: "" is Config.Voice (default "kal" for flite, "en-us" for
// espeak-ng). A voice is a name ([A-Za-z0-9_+-], never a path or URL, which
// flite would load). An unknown voice is an error wrapping ErrUnknownVoice,
// not a silent fallback (flite itself falls back to kal without a word): the
// caller decides whether to retry with "". Flite's voices are checked
// against `flite -lv` before running; espeak-ng's by espeak-ng itself.
//
// Text: at most Config.MaxText bytes (4 KiB; longer is ErrTextTooLong, not
// cut). Control characters become spaces and invalid UTF-8 is replaced.
//
// Cache: one WAV file per sha256(engine, voice, text) in Config.CacheDir,
// written to a temporary file and renamed, so readers never see half a file
// and several processes may share the directory. Concurrent Speaks of one
// key run the engine once; the run stops only when every caller waiting for
// it gave up, or at Close. The directory is kept under Config.MaxBytes by
// removing the entries used longest ago (a hit refreshes the file's mtime).
// Files in the directory that are not cache entries are never touched,
// except the cache's own temporary files left by a crash. In front of the
// directory, the samples of the prompts used last are kept in memory
// (Config.MemBytes, 64 MiB by default, least recently used out first): a
// hit there costs one stat(2), which checks that the file is still the one
// read, instead of reading and parsing the WAV; callers share that Audio
// and must not modify it.
//
// Ownership: a Synth owns one goroutine per engine run in flight; Close
// cancels and waits for them.
package tts
