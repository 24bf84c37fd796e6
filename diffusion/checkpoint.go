package diffusion

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
			return fmt.Errorf("diffusion: checkpoint %s: reading variable %s: %w", path, name, err)
		}
		h.Tensors = append(h.Tensors, tensorEntry{Path: name, DType: sh.DType.String(), Dims: sh.Dimensions, Offset: off, Size: int64(n)})
		off += int64(n)
	}
	header, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("diffusion: checkpoint %s: encoding header: %w", path, err)
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
	return writeFileAtomic(path, file.Bytes())
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
	r := bytes.NewReader(body[len(checkpointMagic):])
	var hlen uint64
	if err := binary.Read(r, binary.LittleEndian, &hlen); err != nil || hlen > maxHeader || hlen > uint64(r.Len()) {
		return nil, corrupt("bad header length")
	}
	hb := make([]byte, hlen)
	if _, err := io.ReadFull(r, hb); err != nil {
		return nil, corrupt("short header")
	}
	var h checkpointHeader
	if err := json.Unmarshal(hb, &h); err != nil {
		return nil, corrupt("header: %v", err)
	}
	data := body[len(checkpointMagic)+8+int(hlen):]
	c := h.Checkpoint
	c.Variables = make(map[string]*tensors.Tensor, len(h.Tensors))
	for _, e := range h.Tensors {
		dt, ok := dtypes.MapOfNames[e.DType]
		if !ok {
			return nil, corrupt("variable %s has unknown dtype %q", e.Path, e.DType)
		}
		sh := shapes.Make(dt, e.Dims...)
		if int64(sh.Memory()) != e.Size || e.Offset < 0 || e.Offset+e.Size > int64(len(data)) {
			return nil, corrupt("variable %s: size %d does not fit", e.Path, e.Size)
		}
		t := tensors.FromShape(sh)
		if err := t.MutableBytes(func(b []byte) { copy(b, data[e.Offset:e.Offset+e.Size]) }); err != nil {
			return nil, fmt.Errorf("diffusion: checkpoint %s: variable %s: %w", path, e.Path, err)
		}
		c.Variables[e.Path] = t
	}
	return &c, nil
}
