package apps

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"time"
)

// The bundle files of every sample. A new asset type needs a pattern here
// (go:embed cannot exclude testdata/ and the Go packages otherwise).
//
//go:embed weather/*.lua weather/zips.csv.gz weather/NOTICE
//go:embed echo/*.lua
//go:embed menu/*.lua
var files embed.FS

// names lists the samples in the order Samples returns them.
var names = []string{"weather", "echo", "menu"}

// EntryPoint is the file a bundle starts from.
const EntryPoint = "main.lua"

// Sample is one sample app: its name and its bundle files, keyed by path
// relative to the app's directory ("main.lua", "zips.csv.gz").
type Sample struct {
	Name  string
	Files map[string][]byte
}

// Samples returns the sample apps, weather first. The maps are fresh
// copies: callers may change them.
func Samples() []Sample {
	out := make([]Sample, 0, len(names))
	for _, n := range names {
		s, err := load(n)
		if err != nil {
			panic(err) // the embedded tree is fixed at build time
		}
		out = append(out, s)
	}
	return out
}

// Get returns the sample called name.
func Get(name string) (Sample, error) {
	if !slices.Contains(names, name) {
		return Sample{}, fmt.Errorf("apps: no sample app %q (have %v)", name, names)
	}
	return load(name)
}

func load(name string) (Sample, error) {
	s := Sample{Name: name, Files: map[string][]byte{}}
	err := fs.WalkDir(files, name, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		s.Files[p[len(name)+1:]] = b
		return nil
	})
	if err != nil {
		return Sample{}, fmt.Errorf("apps: %s: %w", name, err)
	}
	if _, ok := s.Files[EntryPoint]; !ok {
		return Sample{}, fmt.Errorf("apps: %s has no %s", name, EntryPoint)
	}
	return s, nil
}

// bundleTime is every entry's modification time, so that a bundle's bytes
// (and its sha256) depend on its files only.
var bundleTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Bundle returns sample name as a tar.gz bundle for PUT /v1/apps/{name}
// (Content-Type application/gzip): regular files at the archive's root,
// main.lua first, then the others by name. The bytes are reproducible.
func Bundle(name string) ([]byte, error) {
	s, err := Get(name)
	if err != nil {
		return nil, err
	}
	return TarGz(s.Files)
}

// TarGz packs bundle files as a tar.gz, main.lua first and the rest in
// name order, with fixed times and modes so that the same files always give
// the same bytes (and sha256).
func TarGz(files map[string][]byte) ([]byte, error) {
	paths := make([]string, 0, len(files))
	for p := range files {
		if p != EntryPoint {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	if _, ok := files[EntryPoint]; ok {
		paths = append([]string{EntryPoint}, paths...)
	}

	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(zw)
	for _, p := range paths {
		b := files[p]
		hdr := &tar.Header{
			Typeflag: tar.TypeReg,
			Name:     path.Clean(p),
			Mode:     0o644,
			Size:     int64(len(b)),
			ModTime:  bundleTime,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(b); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
