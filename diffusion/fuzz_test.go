package diffusion

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/godiffusion/diffusion-models/internal/fuzzcheck"
)

// fuzzCheckpoint is a small valid checkpoint with a tensor of each kind a
// training checkpoint holds.
func fuzzCheckpoint(t testing.TB) []byte {
	t.Helper()
	c := &Checkpoint{
		Config:       json.RawMessage(`{"dataset":"moons","timesteps":4}`),
		Step:         7,
		SamplerState: json.RawMessage(`[[0.5],[0.25],[],[1]]`),
		Losses:       []float64{1, 0.5},
		Variables: map[string]*tensors.Tensor{
			"/model/w":    tensors.FromFlatDataAndDimensions([]float32{1, 2, 3, 4, 5, 6}, 2, 3),
			"/model/b":    tensors.FromFlatDataAndDimensions([]float64{-1}, 1),
			"/rng/state":  tensors.FromFlatDataAndDimensions([]uint64{1, 2, 3}, 3),
			"/step":       tensors.FromValue(int64(7)),
			"/mask":       tensors.FromFlatDataAndDimensions([]bool{true, false, true}, 3),
			"/model/none": tensors.FromFlatDataAndDimensions([]float32{}, 0, 5),
		},
	}
	raw, err := encodeCheckpoint("seed.ckpt", c)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// wrapCheckpoint returns a checkpoint file of the header and the data: the
// magic line, the header's length, both, and their valid SHA-256, so that
// a fuzzed header reaches the checks behind the checksum.
func wrapCheckpoint(header, data []byte) []byte {
	b := append([]byte(checkpointMagic), binary.LittleEndian.AppendUint64(nil, uint64(len(header)))...)
	b = append(append(b, header...), data...)
	sum := sha256.Sum256(b)
	return append(b, sum[:]...)
}

// splitCheckpoint returns the header and the data of a valid checkpoint file.
func splitCheckpoint(raw []byte) (header, data []byte) {
	rest := raw[len(checkpointMagic) : len(raw)-sha256.Size]
	n := binary.LittleEndian.Uint64(rest)
	return rest[8 : 8+n], rest[8+n:]
}

// checkParsed checks what parseCheckpoint returned for raw: an error
// wrapping ErrCorruptCheckpoint, or a checkpoint that encodes to a file
// parsing to the same checkpoint; within an allocation bound either way.
func checkParsed(t *testing.T, raw []byte) {
	var c *Checkpoint
	var err error
	fuzzcheck.Alloc(t, fuzzcheck.Limit(len(raw)), func() { c, err = parseCheckpoint("fuzz.ckpt", raw) })
	if err != nil {
		if !errors.Is(err, ErrCorruptCheckpoint) {
			t.Fatalf("error %v does not wrap ErrCorruptCheckpoint", err)
		}
		return
	}
	if c.Step < 0 {
		t.Fatalf("accepted the negative step %d", c.Step)
	}
	again, err := encodeCheckpoint("fuzz.ckpt", c)
	if err != nil {
		t.Fatalf("re-encoding an accepted checkpoint: %v", err)
	}
	back, err := parseCheckpoint("fuzz.ckpt", again)
	if err != nil {
		t.Fatalf("reading a re-encoded checkpoint: %v", err)
	}
	if back.Step != c.Step || len(back.Variables) != len(c.Variables) {
		t.Fatalf("round trip: step %d, %d variables; want %d, %d", back.Step, len(back.Variables), c.Step, len(c.Variables))
	}
	for path, v := range c.Variables {
		w := back.Variables[path]
		if w == nil || !w.Shape().Equal(v.Shape()) || !bytes.Equal(tensorData(t, w), tensorData(t, v)) {
			t.Fatalf("round trip changed variable %s", path)
		}
	}
}

func tensorData(t *testing.T, v *tensors.Tensor) []byte {
	var out []byte
	if err := v.ConstBytes(func(b []byte) { out = bytes.Clone(b) }); err != nil {
		t.Fatal(err)
	}
	return out
}

// FuzzReadCheckpoint checks that any file content is either a checkpoint
// that round-trips or an error wrapping ErrCorruptCheckpoint, never a
// panic or an allocation out of proportion to the file.
func FuzzReadCheckpoint(f *testing.F) {
	valid := fuzzCheckpoint(f)
	f.Add(valid)
	f.Add([]byte{})
	f.Add([]byte(checkpointMagic))
	f.Add(valid[:len(valid)-1])
	flipped := bytes.Clone(valid)
	flipped[len(checkpointMagic)+20] ^= 1
	f.Add(flipped)
	f.Add(wrapCheckpoint([]byte(`{"tensors":[]}`), nil))
	f.Fuzz(func(t *testing.T, raw []byte) { checkParsed(t, raw) })
}

// FuzzCheckpointHeader fuzzes the JSON header and the data of a checkpoint
// wrapped with a valid length and checksum, so that it reaches the tensor
// table's checks: dtypes, dimensions (negative, overflowing, larger than
// the data), sizes and offsets out of range, duplicates, tensors sharing
// bytes.
func FuzzCheckpointHeader(f *testing.F) {
	header, data := splitCheckpoint(fuzzCheckpoint(f))
	f.Add(bytes.Clone(header), bytes.Clone(data))
	eight := make([]byte, 8)
	for _, h := range []string{
		`{"step":1,"tensors":[{"path":"/a","dtype":"float32","dims":[2],"offset":0,"size":8}]}`,
		`{"step":-1,"tensors":[]}`,
		`{"tensors":[{"path":"/a","dtype":"float32","dims":[-2],"offset":0,"size":8}]}`,
		`{"tensors":[{"path":"/a","dtype":"float32","dims":[4611686018427387904,4611686018427387904,4],"offset":0,"size":0}]}`,
		`{"tensors":[{"path":"/a","dtype":"float32","dims":[4611686018427387904,4],"offset":0,"size":0}]}`,
		`{"tensors":[{"path":"/a","dtype":"uint8","dims":[1000000000],"offset":0,"size":8}]}`,
		`{"tensors":[{"path":"/a","dtype":"F8E4M3","dims":[8],"offset":0,"size":8}]}`,
		`{"tensors":[{"path":"/a","dtype":"InvalidDType","dims":[],"offset":0,"size":0}]}`,
		`{"tensors":[{"path":"/a","dtype":"Int4","dims":[16],"offset":0,"size":8}]}`,
		`{"tensors":[{"path":"/a","dtype":"uint8","dims":[8],"offset":9223372036854775807,"size":8}]}`,
		`{"tensors":[{"path":"/a","dtype":"uint8","dims":[8],"offset":-8,"size":8}]}`,
		`{"tensors":[{"path":"/a","dtype":"uint8","dims":[8],"offset":0,"size":-8}]}`,
		`{"tensors":[{"path":"/a","dtype":"uint8","dims":[8],"offset":0,"size":8},{"path":"/a","dtype":"uint8","dims":[8],"offset":0,"size":8}]}`,
		`{"tensors":[{"path":"/a","dtype":"uint8","dims":[8],"offset":0,"size":8},{"path":"/b","dtype":"uint8","dims":[8],"offset":0,"size":8}]}`,
		`{"tensors":[{"path":"/a","dtype":"bool","dims":[8],"offset":0,"size":8}]}`,
		`{"tensors":[{"path":"/a","dtype":"int64","dims":[],"offset":0,"size":8}],"config":{"x":1},"sampler_state":null,"losses":[1e308]}`,
		`{"tensors":null}`,
		`[]`,
	} {
		f.Add([]byte(h), eight)
	}
	f.Add([]byte(`{"tensors":[{"path":"/a","dtype":"bool","dims":[2],"offset":0,"size":2}]}`), []byte{1, 7})
	// 200 tensors over the same 64 KiB: 12.5 MiB if each were allocated.
	var shared strings.Builder
	shared.WriteString(`{"tensors":[`)
	for i := range 200 {
		if i > 0 {
			shared.WriteString(",")
		}
		fmt.Fprintf(&shared, `{"path":"/t%d","dtype":"uint8","dims":[65536],"offset":0,"size":65536}`, i)
	}
	shared.WriteString(`]}`)
	f.Add([]byte(shared.String()), make([]byte, 65536))
	f.Fuzz(func(t *testing.T, header, data []byte) { checkParsed(t, wrapCheckpoint(header, data)) })
}

// FuzzSamplerState checks that the loss-aware sampler's SetState refuses
// what it cannot use, and that a state it accepts gives probabilities that
// are finite and sum to 1, samples steps in [0, T) with finite weights,
// and survives State and SetState unchanged.
func FuzzSamplerState(f *testing.F) {
	warm := NewLossAwareSampler(3)
	warm.History = 2
	warm.Update([]int32{0, 1, 2, 0, 1, 2}, []float64{1, 2, 3, 4, 5, 6})
	state, err := warm.State()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(state, uint8(2), uint8(1)) // T = 3, History = 2
	f.Add([]byte(`[[],[],[]]`), uint8(2), uint8(9))
	f.Add([]byte(`[[0],[0],[0]]`), uint8(2), uint8(0))
	f.Add([]byte(`[[1e308],[1e308],[1e308]]`), uint8(2), uint8(0))
	f.Add([]byte(`[[1,2,3],[1],[2]]`), uint8(2), uint8(0))
	f.Add([]byte(`null`), uint8(0), uint8(9))
	f.Add([]byte(`[[-1e-9],["x"]]`), uint8(1), uint8(9))
	f.Fuzz(func(t *testing.T, b []byte, steps, history uint8) {
		s := NewLossAwareSampler(int(steps%64) + 1) // T and History ≥ 1
		s.History = int(history%16) + 1
		var err error
		fuzzcheck.Alloc(t, fuzzcheck.Limit(len(b)), func() { err = s.SetState(b) })
		if err != nil {
			return
		}
		var sum float64
		for i, p := range s.Probabilities() {
			if !(p >= 0) || math.IsInf(p, 0) {
				t.Fatalf("p[%d] = %g", i, p)
			}
			sum += p
		}
		if math.Abs(sum-1) > 1e-9 {
			t.Fatalf("probabilities sum to %g", sum)
		}
		ts, ws := s.Sample(rand.New(rand.NewPCG(1, 2)), 8)
		for i := range ts {
			if ts[i] < 0 || int(ts[i]) >= s.T || math.IsNaN(float64(ws[i])) || math.IsInf(float64(ws[i]), 0) {
				t.Fatalf("sample %d: step %d weight %g", i, ts[i], ws[i])
			}
		}
		again, err := s.State()
		if err != nil {
			t.Fatal(err)
		}
		back := NewLossAwareSampler(s.T)
		back.History = s.History
		if err := back.SetState(again); err != nil {
			t.Fatalf("SetState(State()) of an accepted state: %v", err)
		}
	})
}
