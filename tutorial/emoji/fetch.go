package emoji

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// tarballURL is the npm registry's tarball of emoji-datasource-google@Version.
var tarballURL = "https://registry.npmjs.org/emoji-datasource-google/-/emoji-datasource-google-" + Version + ".tgz"

// tarballSHA512 is the tarball's SHA-512 in base64, from the registry's
// dist.integrity ("sha512-…") at https://registry.npmjs.org/emoji-datasource-google/16.0.0
// (dist.shasum a80ac3e8106cbd4d8648ce758aa099e8827b6157; 74,344,091 bytes).
var tarballSHA512 = "ZRexfzs7MVoLnmzZmNsO4TKhnAJp5D++Vm6PpUpH/jEQQlemp3l88CjZ+DoZ2faM9R4QxZkOPJCoT8DlPhfQ3A=="

// Dir returns the cache folder that Fetch fills: $EMOJI_DATA_DIR if set,
// else emoji-datasource-google-16.0.0 in a godiffusion folder of the user's
// cache folder (os.UserCacheDir: ~/.cache on Linux).
func Dir() (string, error) {
	if d := os.Getenv("EMOJI_DATA_DIR"); d != "" {
		return d, nil
	}
	c, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("emoji: no cache folder (set EMOJI_DATA_DIR): %w", err)
	}
	return filepath.Join(c, "godiffusion", "emoji-datasource-google-"+Version), nil
}

// complete reports whether dir holds emoji.json and the image folder.
func complete(dir string) bool {
	fi, err := os.Stat(filepath.Join(dir, "emoji.json"))
	if err != nil || !fi.Mode().IsRegular() {
		return false
	}
	fi, err = os.Stat(filepath.Join(dir, imgDir))
	return err == nil && fi.IsDir()
}

// Fetch makes sure the cache folder (Dir) holds the data and returns it.
// A complete folder is returned as it is, without network access. Otherwise
// Fetch downloads the npm tarball (about 74 MB; at most 5 minutes), checks
// its SHA-512 against the pinned value and unpacks emoji.json, LICENSE,
// README.md and the 64-px Google PNGs (about 21 MB). Both steps are atomic:
// the tarball is written to a temporary file and renamed once verified (a
// tarball that does not match is deleted, and no cache folder is made), the
// folder is unpacked in a temporary folder and renamed; the tarball is then
// deleted, whether unpacking succeeded or not. A verified tarball left by a
// Fetch that was killed before unpacking is used without downloading again.
// Fetch prints one line of progress to w (nil: nothing).
func Fetch(w io.Writer) (string, error) {
	dir, err := Dir()
	if err != nil {
		return "", err
	}
	if complete(dir) {
		return dir, nil
	}
	if w == nil {
		w = io.Discard
	}
	dir = filepath.Clean(dir)
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", fmt.Errorf("emoji: %w", err)
	}
	start := time.Now()
	tgz := dir + ".tgz"
	var size int64
	if got, err := fileSHA512(tgz); err == nil && got == tarballSHA512 {
		// A verified tarball left by a Fetch stopped before unpacking.
		fmt.Fprintf(w, "emoji: unpacking %s … ", tgz)
	} else {
		fmt.Fprintf(w, "emoji: downloading %s … ", tarballURL)
		if size, err = download(tgz); err != nil {
			fmt.Fprintln(w, "failed")
			return "", err
		}
		fmt.Fprintf(w, "%.1f MB; ", float64(size)/1e6)
	}
	n, err := unpack(tgz, dir)
	os.Remove(tgz)
	if err != nil {
		fmt.Fprintln(w, "failed")
		return "", err
	}
	fmt.Fprintf(w, "%d images in %s (%.1f s)\n", n, dir, time.Since(start).Seconds())
	return dir, nil
}

// client bounds the download: 30 s to connect, 5 minutes in all.
var client = func() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 30 * time.Second
	t.ResponseHeaderTimeout = time.Minute
	return &http.Client{Transport: t, Timeout: 5 * time.Minute}
}()

// download fetches tarballURL into path (through a temporary file renamed
// once its SHA-512 matches) and returns its size.
func download(path string) (n int64, err error) {
	resp, err := client.Get(tarballURL)
	if err != nil {
		return 0, fmt.Errorf("emoji: downloading %s: %w", tarballURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("emoji: downloading %s: %s", tarballURL, resp.Status)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".emoji-*.tgz.tmp")
	if err != nil {
		return 0, fmt.Errorf("emoji: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha512.New()
	if n, err = io.Copy(io.MultiWriter(tmp, h), resp.Body); err != nil {
		return n, fmt.Errorf("emoji: downloading %s: %w", tarballURL, err)
	}
	if err = tmp.Close(); err != nil {
		return n, fmt.Errorf("emoji: %w", err)
	}
	if got := base64.StdEncoding.EncodeToString(h.Sum(nil)); got != tarballSHA512 {
		err = fmt.Errorf("emoji: %s (%d bytes) has SHA-512 %s, want %s (pinned for emoji-datasource-google@%s); the download was deleted",
			tarballURL, n, got, tarballSHA512, Version)
		return n, err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return n, fmt.Errorf("emoji: %w", err)
	}
	return n, nil
}

// fileSHA512 returns the SHA-512 of a file in base64.
func fileSHA512(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha512.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(h.Sum(nil)), nil
}

// unpack extracts emoji.json, LICENSE, README.md and the 64-px Google PNGs
// of the npm tarball tgz into dir (through a temporary folder renamed at the
// end) and returns the number of PNGs.
func unpack(tgz, dir string) (n int, err error) {
	f, err := os.Open(tgz)
	if err != nil {
		return 0, fmt.Errorf("emoji: %w", err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return 0, fmt.Errorf("emoji: %s: %w", tgz, err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".emoji-*.tmp")
	if err != nil {
		return 0, fmt.Errorf("emoji: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err = os.MkdirAll(filepath.Join(tmp, imgDir), 0o755); err != nil {
		return 0, fmt.Errorf("emoji: %w", err)
	}
	pngDir := "package/" + filepath.ToSlash(imgDir)
	hasJSON := false
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("emoji: %s: %w", tgz, err)
		}
		if !hdr.FileInfo().Mode().IsRegular() {
			continue
		}
		name := path.Clean(hdr.Name)
		var rel string
		switch {
		case name == "package/emoji.json" || name == "package/LICENSE" || name == "package/README.md":
			rel = path.Base(name)
			hasJSON = hasJSON || rel == "emoji.json"
		case path.Dir(name) == pngDir && strings.HasSuffix(name, ".png"):
			rel = filepath.Join(imgDir, path.Base(name))
			n++
		default:
			continue
		}
		if err := writeFile(filepath.Join(tmp, rel), tr); err != nil {
			return 0, fmt.Errorf("emoji: unpacking %s from %s: %w", name, tgz, err)
		}
	}
	if !hasJSON || n == 0 {
		return 0, fmt.Errorf("emoji: %s holds %d PNGs in %s and emoji.json: %v; not the emoji-datasource-google package", tgz, n, pngDir, hasJSON)
	}
	if err = os.Chmod(tmp, 0o755); err != nil {
		return 0, fmt.Errorf("emoji: %w", err)
	}
	if err = os.Rename(tmp, dir); err != nil {
		if complete(dir) { // another process finished first
			os.RemoveAll(tmp)
			return n, nil
		}
		return 0, fmt.Errorf("emoji: %s exists without emoji.json and %s: remove it, or set EMOJI_DATA_DIR elsewhere (%w)", dir, imgDir, errors.Unwrap(err))
	}
	return n, nil
}

func writeFile(path string, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
