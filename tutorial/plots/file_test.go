package plots

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// dirNames lists the names in dir.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteFileAtomicNewAndReplace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "plot.png")
	if err := WriteFileAtomic(path, []byte("first")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "first" {
		t.Errorf("content %q, want %q", b, "first")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("new file mode %v, want 0644", fi.Mode().Perm())
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(path, []byte("second, longer")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "second, longer" {
		t.Errorf("content %q after replacing, want %q", b, "second, longer")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("replaced file mode %v, want the old 0600", fi.Mode().Perm())
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{"plot.png"}) {
		t.Errorf("directory holds %q, want only plot.png (no temporary file)", got)
	}
}

// TestWriteFileAtomicRelative writes to a bare file name (current
// directory).
func TestWriteFileAtomicRelative(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := WriteFileAtomic("a.png", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if got := dirNames(t, "."); !slices.Equal(got, []string{"a.png"}) {
		t.Errorf("directory holds %q, want only a.png", got)
	}
}

// TestWriteFileAtomicFailures makes a step fail after the temporary file
// was written and checks that the old file is untouched, no temporary file
// is left behind, and the error names the path.
func TestWriteFileAtomicFailures(t *testing.T) {
	boom := errors.New("injected failure")
	tests := []struct {
		name  string
		setup func()
	}{
		{"sync fails", func() { syncFile = func(*os.File) error { return boom } }},
		{"rename fails", func() { renameFile = func(string, string) error { return boom } }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			oldSync, oldRename := syncFile, renameFile
			t.Cleanup(func() { syncFile, renameFile = oldSync, oldRename })
			tc.setup()

			dir := t.TempDir()
			path := filepath.Join(dir, "plot.png")
			if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			err := WriteFileAtomic(path, []byte("new content"))
			if !errors.Is(err, boom) {
				t.Fatalf("err = %v, want the injected failure", err)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name %s", err, path)
			}
			if b, _ := os.ReadFile(path); string(b) != "old" {
				t.Errorf("old file now holds %q, want %q", b, "old")
			}
			if got := dirNames(t, dir); !slices.Equal(got, []string{"plot.png"}) {
				t.Errorf("directory holds %q, want only plot.png", got)
			}
		})
	}
}

func TestWriteFileAtomicBadPaths(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, path string
	}{
		{"missing directory", filepath.Join(dir, "no", "such", "dir", "plot.png")},
		{"path is a directory", dir},
		{"no file name", dir + string(filepath.Separator)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := WriteFileAtomic(tc.path, []byte("x"))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.path) || !strings.Contains(err.Error(), "WriteFileAtomic") {
				t.Errorf("error %q does not name WriteFileAtomic and %s", err, tc.path)
			}
		})
	}
	if got := dirNames(t, dir); len(got) != 0 {
		t.Errorf("directory holds %q, want nothing", got)
	}
}

// TestWriteFileAtomicReadOnlyDir uses a directory without write
// permission. Root ignores permissions, so it is skipped there (the
// injected failures above cover the same guarantee).
func TestWriteFileAtomicReadOnlyDir(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("running as root: directory permissions are not enforced")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "plot.png")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	err := WriteFileAtomic(path, []byte("new"))
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want an error naming %s", err, path)
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Errorf("old file now holds %q, want %q", b, "old")
	}
}
