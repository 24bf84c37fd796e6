package classifier

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/godiffusion/diffusion-models/internal/fuzzcheck"
)

// fuzzClassifierFile returns a valid classifier file of a network with one
// hidden layer of 1 unit (about 3.5 KB), its weights made up, not trained:
// every weight is the float32 whose bytes read "AAAA", so that the file
// stays small as a committed corpus entry.
func fuzzClassifierFile(t testing.TB) []byte {
	t.Helper()
	c := &Classifier{Dataset: "mnist", Config: Config{Hidden: []int{1}, Epochs: 1}.WithDefaults(), TestAccuracy: 0.5,
		weights: map[string]*tensors.Tensor{}}
	in := InputSize
	for _, l := range []struct {
		name string
		out  int
	}{{"hidden0", 1}, {"logits", Classes}} {
		w := make([]float32, in*l.out)
		for i := range w {
			w[i] = math.Float32frombits(0x41414141)
		}
		c.weights["/"+modelScope+"/"+l.name+"/weights"] = tensors.FromFlatDataAndDimensions(w, in, l.out)
		c.weights["/"+modelScope+"/"+l.name+"/biases"] = tensors.FromFlatDataAndDimensions(make([]float32, l.out), l.out)
		in = l.out
	}
	raw, err := c.encode("seed.bin")
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// wrapFile returns a classifier file of the header and the data, with the
// magic line, the header's length and a valid SHA-256, so that a fuzzed
// header reaches the checks behind the checksum.
func wrapFile(header, data []byte) []byte {
	b := append([]byte(fileMagic), binary.LittleEndian.AppendUint64(nil, uint64(len(header)))...)
	b = append(append(b, header...), data...)
	sum := sha256.Sum256(b)
	return append(b, sum[:]...)
}

// checkParse checks what parse returned for raw: an error wrapping
// ErrCorrupt, or a classifier that encodes to a file parsing to the same
// classifier; within an allocation bound either way.
func checkParse(t *testing.T, raw []byte) {
	var c *Classifier
	var err error
	fuzzcheck.Alloc(t, fuzzcheck.Limit(len(raw)), func() { c, err = parse("fuzz.bin", raw) })
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error %v does not wrap ErrCorrupt", err)
		}
		return
	}
	again, err := c.encode("fuzz.bin")
	if err != nil {
		t.Fatalf("encoding an accepted classifier: %v", err)
	}
	back, err := parse("fuzz.bin", again)
	if err != nil {
		t.Fatalf("reading a re-encoded classifier: %v", err)
	}
	if back.Dataset != c.Dataset || !bytes.Equal(configJSON(back.Config), configJSON(c.Config)) || !sameBits(back, c) {
		t.Fatalf("encoding and reading back changed the classifier")
	}
}

// FuzzLoad checks that any file content is either a classifier that
// encodes and reads back unchanged or an error wrapping ErrCorrupt, never
// a panic or an allocation out of proportion to the file.
func FuzzLoad(f *testing.F) {
	valid := fuzzClassifierFile(f)
	f.Add(valid)
	f.Add([]byte{})
	f.Add([]byte(fileMagic))
	f.Add(valid[:len(valid)/2])
	flipped := bytes.Clone(valid)
	flipped[len(fileMagic)+30] ^= 1
	f.Add(flipped)
	f.Fuzz(func(t *testing.T, raw []byte) { checkParse(t, raw) })
}

// FuzzFileHeader fuzzes the JSON header and the data of a classifier file
// wrapped with a valid length and checksum, so that it reaches the checks
// of the configuration and the tensor table: dimensions (zero, negative,
// overflowing, larger than the data), offsets out of range, duplicates,
// tensors sharing bytes.
func FuzzFileHeader(f *testing.F) {
	valid := fuzzClassifierFile(f)
	body := valid[len(fileMagic) : len(valid)-sha256.Size]
	n := binary.LittleEndian.Uint64(body)
	f.Add(bytes.Clone(body[8:8+n]), bytes.Clone(body[8+n:]))
	cfg := `"config":{"hidden":[1],"epochs":1,"batch_size":1,"lr":0.1,"dropout":0,"seed":0}`
	data := make([]byte, 64)
	for _, h := range []string{
		`{"dataset":"mnist",` + cfg + `,"tensors":[{"path":"/a","dims":[2],"offset":0}]}`,
		`{"dataset":"mnist",` + cfg + `,"tensors":[{"path":"/a","dims":[0],"offset":0}]}`,
		`{"dataset":"mnist",` + cfg + `,"tensors":[{"path":"/a","dims":[-4],"offset":0}]}`,
		`{"dataset":"mnist",` + cfg + `,"tensors":[{"path":"/a","dims":[64,64,64,64,64,64,64,64,64,64,64],"offset":0}]}`,
		`{"dataset":"mnist",` + cfg + `,"tensors":[{"path":"/a","dims":[64,64,64,64,64,64,64,64,64,64,3],"offset":0}]}`,
		`{"dataset":"mnist",` + cfg + `,"tensors":[{"path":"/a","dims":[2],"offset":9223372036854775807}]}`,
		`{"dataset":"mnist",` + cfg + `,"tensors":[{"path":"/a","dims":[2],"offset":-8}]}`,
		`{"dataset":"mnist",` + cfg + `,"tensors":[{"path":"/a","dims":[16],"offset":0},{"path":"/b","dims":[16],"offset":0}]}`,
		`{"dataset":"mnist",` + cfg + `,"tensors":[{"path":"/a","dims":[2],"offset":0},{"path":"/a","dims":[2],"offset":8}]}`,
		`{"dataset":"mnist","config":{"hidden":[0]},"tensors":[]}`,
		`{"dataset":"mnist","config":{"dropout":1},"tensors":[]}`,
		`{"dataset":"mnist","config":{"hidden":[1000000000000]},"tensors":[]}`,
		`{"tensors":null}`,
		`[]`,
	} {
		f.Add([]byte(h), data)
	}
	f.Fuzz(func(t *testing.T, header, data []byte) { checkParse(t, wrapFile(header, data)) })
}

// sameBits reports whether two classifiers hold the same weight tensors,
// bit for bit (NaNs included).
func sameBits(a, b *Classifier) bool {
	if len(a.weights) != len(b.weights) {
		return false
	}
	for path, ta := range a.weights {
		tb, ok := b.weights[path]
		if !ok || !ta.Shape().Equal(tb.Shape()) {
			return false
		}
		fa, fb := tensors.MustCopyFlatData[float32](ta), tensors.MustCopyFlatData[float32](tb)
		for i := range fa {
			if math.Float32bits(fa[i]) != math.Float32bits(fb[i]) {
				return false
			}
		}
	}
	return true
}
