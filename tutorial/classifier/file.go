package classifier

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/godiffusion/diffusion-models/tutorial/mnist"
	"github.com/godiffusion/diffusion-models/tutorial/plots"
)

// fileMagic opens every classifier file.
const fileMagic = "GODIFFUSION-CLASSIFIER v1\n"

// maxHeaderBytes bounds the JSON header, so a damaged length cannot make
// Load allocate wildly.
const maxHeaderBytes = 1 << 20

// ErrCorrupt is wrapped by every error about a damaged or foreign classifier file.
var ErrCorrupt = errors.New("corrupt classifier file")

// fileHeader is the JSON header of a classifier file.
type fileHeader struct {
	Dataset      string        `json:"dataset"`
	Config       Config        `json:"config"`
	TestAccuracy float64       `json:"test_accuracy,omitempty"`
	Tensors      []tensorEntry `json:"tensors"`
}

// tensorEntry locates one float32 tensor in the data that follows the header.
type tensorEntry struct {
	Path   string `json:"path"`
	Dims   []int  `json:"dims"`
	Offset int    `json:"offset"` // in bytes, from the start of the data
}

// Save writes the classifier to path atomically: a temporary file in the
// same folder, synced, then renamed over path, so that path always holds
// either its previous content or the complete new file. Missing folders are
// created.
//
// The file is a magic line, a little-endian uint64 length and a JSON header
// (dataset, configuration, test accuracy, tensor table), the weights as
// little-endian float32, and a SHA-256 of everything before it.
func (c *Classifier) Save(path string) error {
	file, err := c.encode(path)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("classifier: saving %s: %w", path, err)
	}
	return plots.WriteFileAtomic(path, file)
}

// encode returns the bytes of the classifier file of c (path only names it
// in errors).
func (c *Classifier) encode(path string) ([]byte, error) {
	if err := c.checkWeights(); err != nil {
		return nil, fmt.Errorf("classifier: saving %s: %w", path, err)
	}
	h := fileHeader{Dataset: c.Dataset, Config: c.Config, TestAccuracy: c.TestAccuracy}
	var data bytes.Buffer
	paths := make([]string, 0, len(c.weights))
	for p := range c.weights {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		t := c.weights[p]
		h.Tensors = append(h.Tensors, tensorEntry{Path: p, Dims: t.Shape().Dimensions, Offset: data.Len()})
		flat, err := tensors.CopyFlatData[float32](t)
		if err != nil {
			return nil, fmt.Errorf("classifier: saving %s: reading %s: %w", path, p, err)
		}
		if err := binary.Write(&data, binary.LittleEndian, flat); err != nil {
			return nil, fmt.Errorf("classifier: saving %s: %w", path, err)
		}
	}
	header, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("classifier: saving %s: encoding the header: %w", path, err)
	}
	var file bytes.Buffer
	file.WriteString(fileMagic)
	file.Write(binary.LittleEndian.AppendUint64(nil, uint64(len(header))))
	file.Write(header)
	file.Write(data.Bytes())
	sum := sha256.Sum256(file.Bytes())
	file.Write(sum[:])
	return file.Bytes(), nil
}

// Load reads a classifier written by [Classifier.Save]. A file that is
// truncated, altered (checksum mismatch), not a classifier file, or whose
// weights do not fit its configuration is refused with an error wrapping
// [ErrCorrupt]; a missing file gives an error wrapping [os.ErrNotExist].
func Load(path string) (*Classifier, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("classifier: loading %s: %w", path, err)
	}
	return parse(path, raw)
}

// parse decodes the bytes raw of the classifier file path (which only
// names it in errors). Every tensor's dimensions and offset are checked
// against the data before it is allocated, and the tensors together may
// not hold more bytes than the data, so a damaged or hostile file
// allocates at most about its own size. Every error wraps [ErrCorrupt].
func parse(path string, raw []byte) (*Classifier, error) {
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("classifier: %s is not a valid classifier file (%s); delete it to retrain: %w",
			path, fmt.Sprintf(format, args...), ErrCorrupt)
	}
	if len(raw) < len(fileMagic)+8+sha256.Size || string(raw[:len(fileMagic)]) != fileMagic {
		return nil, corrupt("it does not start with %q", fileMagic[:len(fileMagic)-1])
	}
	body, sum := raw[:len(raw)-sha256.Size], raw[len(raw)-sha256.Size:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return nil, corrupt("SHA-256 checksum mismatch: the file is truncated or altered")
	}
	rest := body[len(fileMagic):]
	hlen := binary.LittleEndian.Uint64(rest)
	rest = rest[8:]
	if hlen > maxHeaderBytes || hlen > uint64(len(rest)) {
		return nil, corrupt("header length %d out of range", hlen)
	}
	var h fileHeader
	if err := json.Unmarshal(rest[:hlen], &h); err != nil {
		return nil, corrupt("header: %v", err)
	}
	data := rest[hlen:]
	if err := h.Config.Validate(); err != nil {
		return nil, corrupt("configuration: %v", err)
	}
	c := &Classifier{Dataset: h.Dataset, Config: h.Config.WithDefaults(), TestAccuracy: h.TestAccuracy, weights: map[string]*tensors.Tensor{}}
	total := 0 // bytes of the tensors read so far
	for _, e := range h.Tensors {
		if _, dup := c.weights[e.Path]; dup {
			return nil, corrupt("tensor %s appears twice", e.Path)
		}
		size := 4
		for _, d := range e.Dims {
			if d <= 0 {
				return nil, corrupt("tensor %s has dimensions %v, not all > 0", e.Path, e.Dims)
			}
			if d > len(data)/size { // size·d > len(data), checked without overflow
				return nil, corrupt("tensor %s has dimensions %v, more than the %d bytes of data hold", e.Path, e.Dims, len(data))
			}
			size *= d
		}
		if e.Offset < 0 || size > len(data) || e.Offset > len(data)-size {
			return nil, corrupt("tensor %s (%d bytes at %d) lies outside the data", e.Path, size, e.Offset)
		}
		if total += size; total > len(data) {
			return nil, corrupt("the tensors up to %s hold %d bytes, more than the %d bytes of data", e.Path, total, len(data))
		}
		flat := make([]float32, size/4)
		if _, err := binary.Decode(data[e.Offset:e.Offset+size], binary.LittleEndian, flat); err != nil {
			return nil, corrupt("tensor %s: %v", e.Path, err)
		}
		c.weights[e.Path] = tensors.FromFlatDataAndDimensions(flat, e.Dims...)
	}
	if err := c.checkWeights(); err != nil {
		return nil, corrupt("%v", err)
	}
	return c, nil
}

// DefaultConfig is the configuration [LoadOrTrain] trains with.
func DefaultConfig() Config { return Config{}.WithDefaults() }

// CachePath is the file where LoadOrTrain keeps the classifier of dataset
// trained with cfg: classifier-<dataset>-<key>.bin in cacheDir, with key
// the first 12 hex digits of the SHA-256 of the dataset name and the
// configuration's JSON (defaults filled in).
func CachePath(cacheDir, dataset string, cfg Config) string {
	sum := sha256.Sum256(append([]byte(dataset+"\n"), configJSON(cfg)...))
	return filepath.Join(cacheDir, fmt.Sprintf("classifier-%s-%s.bin", dataset, hex.EncodeToString(sum[:6])))
}

// LoadOrTrain returns the classifier of dataset ("mnist" or
// "fashion-mnist") with [DefaultConfig]: loaded from cacheDir when a file
// for that dataset and configuration is there (loaded = true), otherwise
// trained now on the dataset's train split, measured on its test split
// ([Classifier.TestAccuracy]) and saved there (loaded = false). It writes a
// line to log saying which happened (and a progress bar while training; nil
// log: silent). A cached file that is corrupt or holds another dataset or
// configuration is an error naming the file, never silently replaced.
func LoadOrTrain(backend compute.Backend, dataset, cacheDir string, log io.Writer) (c *Classifier, loaded bool, err error) {
	if log == nil {
		log = io.Discard
	}
	if cacheDir == "" {
		return nil, false, errors.New("classifier: LoadOrTrain needs a cache folder, got an empty path")
	}
	cfg := DefaultConfig()
	path := CachePath(cacheDir, dataset, cfg)
	c, err = Load(path)
	switch {
	case err == nil:
		if c.Dataset != dataset || !bytes.Equal(configJSON(c.Config), configJSON(cfg)) {
			return nil, false, fmt.Errorf("classifier: cached %s holds a %s classifier (%s), not %s (%s); delete it",
				path, c.Dataset, c.Config, dataset, cfg)
		}
		fmt.Fprintf(log, "classifier: loaded %s from %s (%s; test accuracy %.2f%%)\n", dataset, path, cfg, 100*c.TestAccuracy)
		return c, true, nil
	case !errors.Is(err, os.ErrNotExist):
		return nil, false, err
	}
	train, err := mnist.Load(dataset, "train")
	if err != nil {
		return nil, false, err
	}
	test, err := mnist.Load(dataset, "test")
	if err != nil {
		return nil, false, err
	}
	start := time.Now()
	c, err = Train(backend, train, cfg, log)
	if err != nil {
		return nil, false, err
	}
	took := elapsed(start)
	if c.TestAccuracy, err = c.Accuracy(backend, test); err != nil {
		return nil, false, err
	}
	if err := c.Save(path); err != nil {
		return nil, false, err
	}
	fmt.Fprintf(log, "classifier: trained %s now in %s (%s; test accuracy %.2f%%); saved to %s\n",
		dataset, took, cfg, 100*c.TestAccuracy, path)
	return c, false, nil
}
