package diffusion

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
)

// checkpointMagic opens every checkpoint file.
const checkpointMagic = "GODIFFUSION-CKPT v1\n"

// maxHeader bounds the JSON header so a corrupt length cannot allocate wildly.
const maxHeader = 64 << 20

// Checkpoint is everything needed to resume training exactly, or to sample:
// the caller's configuration, the step, the timestep sampler's state and
// every variable of the store (weights, optimizer moments, EMA weights, the
// random-number state).
//
// On disk it is one file: a magic line, a little-endian uint64 header
// length, a JSON header, the raw tensor bytes, and a SHA-256 of everything
// before it, so that truncated or altered files are refused.
type Checkpoint struct {
	// Config is the caller's configuration (the commands store their flags here).
	Config json.RawMessage `json:"config"`
	// Step is the number of optimisation steps taken.
	Step int64 `json:"step"`
	// SamplerState is the timestep sampler's state (see TimestepSampler.State).
	SamplerState json.RawMessage `json:"sampler_state,omitempty"`
	// Losses is the recent training loss history (for plots), optional.
	Losses []float64 `json:"losses,omitempty"`
	// WeightsAreEMA marks a sampling-only checkpoint ([ForSampling]) whose
	// model weights are the EMA of the training weights.
	WeightsAreEMA bool `json:"weights_are_ema,omitempty"`
	// Variables maps each variable's full path to its value.
	Variables map[string]*tensors.Tensor `json:"-"`
}

type tensorEntry struct {
	Path   string `json:"path"`
	DType  string `json:"dtype"`
	Dims   []int  `json:"dims"`
	Offset int64  `json:"offset"`
	Size   int64  `json:"size"`
}

type checkpointHeader struct {
	Checkpoint
	Tensors []tensorEntry `json:"tensors"`
}

// WriteCheckpoint writes c to path atomically: it writes a temporary file
// in the same folder, syncs it and renames it over path, so path always holds
// either the previous complete checkpoint or the new one.
func WriteCheckpoint(path string, c *Checkpoint) error {
	file, err := encodeCheckpoint(path, c)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, file)
}

// encodeCheckpoint returns the bytes of the checkpoint file of c (path
// only names it in errors).
func encodeCheckpoint(path string, c *Checkpoint) ([]byte, error) {
	var data bytes.Buffer
	names := make([]string, 0, len(c.Variables))
	for name := range c.Variables {
		names = append(names, name)
	}
	sort.Strings(names)
	h := checkpointHeader{Checkpoint: *c}
	var off int64
	for _, name := range names {
		t := c.Variables[name]
		sh := t.Shape()
		var n int
		if err := t.ConstBytes(func(b []byte) { n, _ = data.Write(b) }); err != nil {
			return nil, fmt.Errorf("diffusion: checkpoint %s: reading variable %s: %w", path, name, err)
		}
		h.Tensors = append(h.Tensors, tensorEntry{Path: name, DType: sh.DType.String(), Dims: sh.Dimensions, Offset: off, Size: int64(n)})
		off += int64(n)
	}
	header, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("diffusion: checkpoint %s: encoding header: %w", path, err)
	}
	var file bytes.Buffer
	file.WriteString(checkpointMagic)
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(header)))
	file.Write(lenBuf[:])
	file.Write(header)
	file.Write(data.Bytes())
	sum := sha256.Sum256(file.Bytes())
	file.Write(sum[:])
	return file.Bytes(), nil
}

// writeFileAtomic writes data to a temporary file beside path, syncs it, and renames it to path.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("diffusion: creating folder for %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("diffusion: writing %s: %w", path, err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("diffusion: writing %s: %w", path, err)
	}
	mode := os.FileMode(0o644) // CreateTemp makes 0600 files; keep an existing file's mode
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	if err := f.Chmod(mode); err != nil {
		return fmt.Errorf("diffusion: writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("diffusion: syncing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("diffusion: closing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("diffusion: renaming %s to %s: %w", tmp, path, err)
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		d.Sync() // make the rename durable where the platform supports it
		d.Close()
	}
	return nil
}

// ErrCorruptCheckpoint is wrapped by every error about a damaged or foreign checkpoint file.
var ErrCorruptCheckpoint = errors.New("corrupt checkpoint")

// ReadCheckpoint reads and verifies a checkpoint written by [WriteCheckpoint].
func ReadCheckpoint(path string) (*Checkpoint, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("diffusion: no checkpoint at %s: %w", path, err)
		}
		return nil, fmt.Errorf("diffusion: reading checkpoint %s: %w", path, err)
	}
	return parseCheckpoint(path, raw)
}

// parseCheckpoint decodes and verifies the bytes raw of the checkpoint
// file path (which only names it in errors). Every size and offset of the
// header is checked against the data before anything is allocated, and
// the tensors together may not hold more bytes than the data, so a damaged
// or hostile file allocates at most about its own size. Every error wraps
// [ErrCorruptCheckpoint].
func parseCheckpoint(path string, raw []byte) (*Checkpoint, error) {
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("diffusion: %s is not a valid checkpoint (%s): %w", path, fmt.Sprintf(format, args...), ErrCorruptCheckpoint)
	}
	if len(raw) < len(checkpointMagic)+8+sha256.Size || string(raw[:len(checkpointMagic)]) != checkpointMagic {
		return nil, corrupt("missing header")
	}
	body, sum := raw[:len(raw)-sha256.Size], raw[len(raw)-sha256.Size:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return nil, corrupt("checksum mismatch: truncated or altered")
	}
	rest := body[len(checkpointMagic):]
	hlen := binary.LittleEndian.Uint64(rest)
	rest = rest[8:]
	if hlen > maxHeader || hlen > uint64(len(rest)) {
		return nil, corrupt("header length %d out of range (%d bytes follow it)", hlen, len(rest))
	}
	var h checkpointHeader
	if err := json.Unmarshal(rest[:hlen], &h); err != nil {
		return nil, corrupt("header: %v", err)
	}
	if h.Step < 0 {
		return nil, corrupt("negative step %d", h.Step)
	}
	data := rest[hlen:]
	c := h.Checkpoint
	c.Variables = make(map[string]*tensors.Tensor, min(len(h.Tensors), 1<<10))
	var total int64 // bytes of the tensors read so far
	for i, e := range h.Tensors {
		dt, ok := dtypes.MapOfNames[e.DType]
		if !ok || !storable(dt) {
			return nil, corrupt("variable %s (tensor %d) has unknown or unsupported dtype %q", e.Path, i, e.DType)
		}
		if _, dup := c.Variables[e.Path]; dup {
			return nil, corrupt("variable %s appears twice", e.Path)
		}
		if slices.ContainsFunc(e.Dims, func(d int) bool { return d < 0 }) {
			return nil, corrupt("variable %s has a negative dimension: %v", e.Path, e.Dims)
		}
		size, ok := tensorBytes(dt, e.Dims, int64(len(data)))
		if !ok {
			return nil, corrupt("variable %s has dimensions %v, more than the %d bytes of data hold", e.Path, e.Dims, len(data))
		}
		if e.Size != size {
			return nil, corrupt("variable %s (%s%v) records %d bytes, its shape needs %d", e.Path, dt, e.Dims, e.Size, size)
		}
		if e.Offset < 0 || e.Offset > int64(len(data)) || size > int64(len(data))-e.Offset {
			return nil, corrupt("variable %s (%d bytes at offset %d) lies outside the %d bytes of data", e.Path, size, e.Offset, len(data))
		}
		if total += size; total > int64(len(data)) {
			return nil, corrupt("the tensors up to variable %s hold %d bytes, more than the %d bytes of data", e.Path, total, len(data))
		}
		b := data[e.Offset : e.Offset+size]
		if dt == dtypes.Bool {
			for k, v := range b {
				if v > 1 {
					return nil, corrupt("variable %s: bool byte %d is %d, not 0 or 1", e.Path, k, v)
				}
			}
		}
		t := tensors.FromShape(shapes.Make(dt, e.Dims...))
		if err := t.MutableBytes(func(dst []byte) { copy(dst, b) }); err != nil {
			return nil, fmt.Errorf("diffusion: checkpoint %s: variable %s: %w", path, e.Path, err)
		}
		c.Variables[e.Path] = t
	}
	return &c, nil
}

// storable reports whether a checkpoint may hold tensors of dtype dt: the
// dtypes with a Go type of whole bytes (not packed sub-byte ones, nor
// those without a Go type, which tensors cannot hold).
func storable(dt dtypes.DType) bool {
	switch dt {
	case dtypes.Bool, dtypes.Int8, dtypes.Int16, dtypes.Int32, dtypes.Int64,
		dtypes.Uint8, dtypes.Uint16, dtypes.Uint32, dtypes.Uint64,
		dtypes.Float16, dtypes.BFloat16, dtypes.Float32, dtypes.Float64,
		dtypes.Complex64, dtypes.Complex128:
		return true
	}
	return false
}

// tensorBytes returns the bytes of a tensor of dtype dt (storable) and
// dims (none negative), and false when the tensor would need more than
// limit bytes (checked without overflow).
func tensorBytes(dt dtypes.DType, dims []int, limit int64) (int64, bool) {
	if slices.Contains(dims, 0) {
		return 0, true
	}
	n := int64(1)
	per := int64(dt.Size())
	for _, d := range dims {
		if int64(d) > limit/per/n {
			return 0, false
		}
		n *= int64(d)
	}
	return n * per, true
}
