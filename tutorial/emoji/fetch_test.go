package emoji

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/base64"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
)

const fakeJSON = `[{"image": "1f600.png", "short_name": "grinning", "category": "Smileys & Emotion", "has_img_google": true},
{"image": "1f431.png", "short_name": "cat", "category": "Animals & Nature", "has_img_google": true}]`

// fakeTarball returns an npm-like tarball: package/emoji.json, LICENSE, two
// 64-px PNGs, and files Fetch must leave out (a sprite sheet, another size,
// emoji_pretty.json). With pngs false it holds emoji.json only.
func fakeTarball(t *testing.T, pngs bool) []byte {
	t.Helper()
	var pngBuf bytes.Buffer
	if err := png.Encode(&pngBuf, filled(color.NRGBA{1, 2, 3, 255})); err != nil {
		t.Fatal(err)
	}
	files := []struct{ name, body string }{
		{"package/emoji.json", fakeJSON},
		{"package/emoji_pretty.json", fakeJSON},
		{"package/LICENSE", "MIT"},
	}
	if pngs {
		files = append(files, []struct{ name, body string }{
			{"package/img/google/64/1f600.png", pngBuf.String()},
			{"package/img/google/64/1f431.png", pngBuf.String()},
			{"package/img/google/32/1f600.png", "not extracted"},
			{"package/img/google/sheets/64.png", "not extracted"},
		}...)
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	if err := tw.WriteHeader(&tar.Header{Name: "package/", Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(f.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sha512Base64(b []byte) string {
	h := sha512.Sum512(b)
	return base64.StdEncoding.EncodeToString(h[:])
}

// serve points Fetch at a local server of body (pinned hash: want) and at
// a cache folder root/cache/emoji; it returns the folder and the hit counter.
func serve(t *testing.T, body []byte, status int, want string) (string, *atomic.Int32) {
	t.Helper()
	hits := new(atomic.Int32)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(status)
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	oldURL, oldSHA := tarballURL, tarballSHA512
	t.Cleanup(func() { tarballURL, tarballSHA512 = oldURL, oldSHA })
	tarballURL, tarballSHA512 = srv.URL+"/emoji-datasource-google-16.0.0.tgz", want
	dir := filepath.Join(t.TempDir(), "cache", "emoji")
	t.Setenv("EMOJI_DATA_DIR", dir)
	return dir, hits
}

// entries lists a folder's names (nil if it does not exist).
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestFetch(t *testing.T) {
	tgz := fakeTarball(t, true)
	dir, hits := serve(t, tgz, http.StatusOK, sha512Base64(tgz))
	var out bytes.Buffer
	got, err := Fetch(&out)
	if err != nil {
		t.Fatal(err)
	}
	if got != dir || hits.Load() != 1 {
		t.Errorf("Fetch returned %s after %d requests, want %s after 1", got, hits.Load(), dir)
	}
	if line := out.String(); strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") ||
		!strings.Contains(line, "2 images in "+dir) || !strings.Contains(line, tarballURL) {
		t.Errorf("progress %q, want one line naming the URL, 2 images and %s", line, dir)
	}
	if e := entries(t, filepath.Dir(dir)); !slices.Equal(e, []string{"emoji"}) {
		t.Errorf("cache parent holds %q, want only the folder (no tarball, no temporary files)", e)
	}
	if e := entries(t, dir); !slices.Equal(e, []string{"LICENSE", "emoji.json", "img"}) {
		t.Errorf("cache folder holds %q", e)
	}
	if e := entries(t, filepath.Join(dir, "img", "google")); !slices.Equal(e, []string{"64"}) {
		t.Errorf("img/google holds %q, want only 64", e)
	}
	if e := entries(t, filepath.Join(dir, imgDir)); !slices.Equal(e, []string{"1f431.png", "1f600.png"}) {
		t.Errorf("img/google/64 holds %q", e)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "emoji.json")); err != nil || string(b) != fakeJSON {
		t.Errorf("emoji.json: %q, %v", b, err)
	}
	s, err := LoadDefault(nil, Options{Size: 16})
	if err != nil {
		t.Fatal(err)
	}
	if s.N != 2 || s.Names[0] != "cat" || !near(s.Pixels[0], scaled(1)) {
		t.Errorf("loaded %d images %q, first value %v", s.N, s.Names, s.Pixels[0])
	}
	out.Reset()
	if got, err := Fetch(&out); err != nil || got != dir || hits.Load() != 1 || out.Len() != 0 {
		t.Errorf("second Fetch: %s, %v, %d requests in all, printed %q; want the cache, silently, without a request", got, err, hits.Load(), out.String())
	}
}

func TestFetchMismatch(t *testing.T) {
	tgz := fakeTarball(t, true)
	want := sha512Base64([]byte("something else"))
	dir, hits := serve(t, tgz, http.StatusOK, want)
	_, err := Fetch(nil)
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), sha512Base64(tgz)) {
		t.Fatalf("error %v, want one naming the expected %s and the downloaded %s", err, want, sha512Base64(tgz))
	}
	if e := entries(t, filepath.Dir(dir)); len(e) != 0 {
		t.Errorf("cache parent holds %q after a mismatch, want nothing", e)
	}
	// Nothing was cached: the next call downloads again.
	Fetch(nil)
	if hits.Load() != 2 {
		t.Errorf("%d requests, want 2", hits.Load())
	}
}

func TestFetchHTTPError(t *testing.T) {
	dir, _ := serve(t, []byte("no such package"), http.StatusNotFound, sha512Base64(nil))
	_, err := Fetch(nil)
	if err == nil || !strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), tarballURL) {
		t.Fatalf("error %v, want the URL and 404", err)
	}
	if e := entries(t, filepath.Dir(dir)); len(e) != 0 {
		t.Errorf("cache parent holds %q", e)
	}
}

// TestFetchNotThePackage: a tarball that matches its hash but lacks the
// images is refused, and no half-made cache folder stays.
func TestFetchNotThePackage(t *testing.T) {
	tgz := fakeTarball(t, false)
	dir, _ := serve(t, tgz, http.StatusOK, sha512Base64(tgz))
	_, err := Fetch(nil)
	if err == nil || !strings.Contains(err.Error(), "not the emoji-datasource-google package") {
		t.Fatalf("error %v", err)
	}
	if e := entries(t, filepath.Dir(dir)); len(e) != 0 {
		t.Errorf("cache parent holds %q", e)
	}
}

// TestFetchVerifiedTarball: a verified tarball left by an interrupted Fetch
// is unpacked without a request; a tampered one is downloaded again.
func TestFetchVerifiedTarball(t *testing.T) {
	tgz := fakeTarball(t, true)
	dir, hits := serve(t, tgz, http.StatusOK, sha512Base64(tgz))
	os.MkdirAll(filepath.Dir(dir), 0o755)
	os.WriteFile(dir+".tgz", tgz, 0o644)
	if _, err := Fetch(nil); err != nil || hits.Load() != 0 || !complete(dir) {
		t.Errorf("Fetch with a verified tarball: %v after %d requests", err, hits.Load())
	}
	if _, err := os.Stat(dir + ".tgz"); !os.IsNotExist(err) {
		t.Errorf("tarball kept after unpacking: %v", err)
	}
	os.RemoveAll(dir)
	os.WriteFile(dir+".tgz", append(slices.Clone(tgz), 0), 0o644)
	if _, err := Fetch(nil); err != nil || hits.Load() != 1 || !complete(dir) {
		t.Errorf("Fetch with a tampered tarball: %v after %d requests, want 1", err, hits.Load())
	}
}

func TestDir(t *testing.T) {
	t.Setenv("EMOJI_DATA_DIR", "/some/where")
	if d, err := Dir(); err != nil || d != "/some/where" {
		t.Errorf("Dir() with EMOJI_DATA_DIR = %q, %v", d, err)
	}
	t.Setenv("EMOJI_DATA_DIR", "")
	t.Setenv("XDG_CACHE_HOME", "/cache")
	t.Setenv("HOME", "/home/x")
	if d, err := Dir(); err != nil || d != filepath.Join("/cache", "godiffusion", "emoji-datasource-google-16.0.0") {
		t.Errorf("Dir() = %q, %v", d, err)
	}
}

func TestPinnedTarball(t *testing.T) {
	if b, err := base64.StdEncoding.DecodeString(tarballSHA512); err != nil || len(b) != sha512.Size {
		t.Errorf("pinned SHA-512 %q: %d bytes, %v", tarballSHA512, len(b), err)
	}
	if !strings.HasSuffix(tarballURL, "/emoji-datasource-google-"+Version+".tgz") {
		t.Errorf("tarball URL %s is not version %s", tarballURL, Version)
	}
}
