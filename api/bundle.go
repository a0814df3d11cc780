package api

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// Upload limits.
const (
	MaxScript      = 1 << 20  // a plain script
	MaxBundle      = 10 << 20 // a tar.gz or zip bundle as sent
	maxUnpacked    = 64 << 20 // all files of a bundle, unpacked
	maxBundleFiles = 1000
)

// ErrTooLarge marks uploads over a limit.
var ErrTooLarge = errors.New("too large")

// unpack returns the files of a bundle. Paths are cleaned; a single
// top-level directory holding main.lua is stripped.
func unpack(kind string, data []byte) (map[string][]byte, error) {
	files := map[string][]byte{}
	var total int64
	add := func(name string, r io.Reader, size int64) error {
		name = strings.TrimPrefix(path.Clean("/"+strings.ReplaceAll(name, "\\", "/")), "/")
		if name == "" || name == "." || strings.HasPrefix(path.Base(name), "._") || strings.HasPrefix(name, "__MACOSX/") {
			return nil
		}
		if len(files) >= maxBundleFiles {
			return fmt.Errorf("the bundle has more than %d files", maxBundleFiles)
		}
		b, err := io.ReadAll(io.LimitReader(r, maxUnpacked-total+1))
		if err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
		total += int64(len(b))
		if total > maxUnpacked {
			return fmt.Errorf("the bundle unpacks to more than %d MiB: %w", maxUnpacked>>20, ErrTooLarge)
		}
		files[name] = b
		return nil
	}
	switch kind {
	case "tar.gz":
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("not a gzip file: %w", err)
		}
		tr := tar.NewReader(zr)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("bad tar archive: %w", err)
			}
			if h.Typeflag != tar.TypeReg && h.Typeflag != tar.TypeRegA {
				continue // directories, links: ignored
			}
			if err := add(h.Name, tr, h.Size); err != nil {
				return nil, err
			}
		}
	case "zip":
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return nil, fmt.Errorf("not a zip file: %w", err)
		}
		for _, f := range zr.File {
			if f.FileInfo().IsDir() || !f.Mode().IsRegular() {
				continue
			}
			rc, err := f.Open()
			if err != nil {
				return nil, fmt.Errorf("bad zip entry %s: %w", f.Name, err)
			}
			err = add(f.Name, rc, int64(f.UncompressedSize64))
			rc.Close()
			if err != nil {
				return nil, err
			}
		}
	default:
		return nil, fmt.Errorf("unknown bundle kind %q", kind)
	}
	if _, ok := files["main.lua"]; !ok {
		files = stripTop(files)
	}
	if _, ok := files["main.lua"]; !ok {
		return nil, errors.New("the bundle has no main.lua at its top (the entry point)")
	}
	return files, nil
}

// stripTop removes one directory level shared by every file.
func stripTop(files map[string][]byte) map[string][]byte {
	var top string
	for n := range files {
		dir, _, ok := strings.Cut(n, "/")
		if !ok || (top != "" && dir != top) {
			return files
		}
		top = dir
	}
	out := make(map[string][]byte, len(files))
	for n, b := range files {
		out[strings.TrimPrefix(n, top+"/")] = b
	}
	return out
}

// uploadKind maps a Content-Type to "script", "tar.gz" or "zip".
func uploadKind(ct string) (string, bool) {
	ct = strings.ToLower(strings.TrimSpace(strings.Split(ct, ";")[0]))
	switch ct {
	case "text/x-lua", "application/x-lua", "text/plain", "text/lua", "application/lua":
		return "script", true
	case "application/gzip", "application/x-gzip", "application/x-tar+gzip", "application/x-gtar", "application/tar+gzip":
		return "tar.gz", true
	case "application/zip", "application/x-zip-compressed":
		return "zip", true
	}
	return "", false
}
