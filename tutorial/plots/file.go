package plots

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Steps of WriteFileAtomic that tests replace to make them fail.
var (
	syncFile   = (*os.File).Sync
	renameFile = os.Rename
)

// WriteFileAtomic writes data to path so that readers see either the old
// file or the complete new one, never a partial write: it writes a
// temporary file in the same directory, flushes it to disk (fsync), then
// renames it over path and syncs the directory (best effort; some file
// systems cannot sync a directory). An existing file keeps its permission
// bits; a new one gets 0644 (set explicitly, so the umask does not apply).
// If path is a symbolic link, the link itself is replaced.
//
// On any error the temporary file is removed, an existing file at path is
// left unchanged, and the error names path.
func WriteFileAtomic(path string, data []byte) (err error) {
	fail := func(step string, e error) error {
		return fmt.Errorf("plots: WriteFileAtomic %s: %s: %w", path, step, e)
	}
	dir, base := filepath.Split(path)
	if base == "" {
		return fail("checking path", fmt.Errorf("no file name"))
	}
	if dir == "" {
		dir = "."
	}
	mode := fs.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil {
		if !fi.Mode().IsRegular() {
			return fail("checking path", fmt.Errorf("exists and is not a regular file (%v)", fi.Mode().Type()))
		}
		mode = fi.Mode().Perm()
	}

	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fail("creating temporary file", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return fail("writing", err)
	}
	if err := f.Chmod(mode); err != nil {
		return fail("setting permissions", err)
	}
	if err := syncFile(f); err != nil {
		return fail("syncing", err)
	}
	if err := f.Close(); err != nil {
		return fail("closing", err)
	}
	if err := renameFile(tmp, path); err != nil {
		return fail("renaming temporary file", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // best effort: makes the rename itself durable
		d.Close()
	}
	return nil
}
