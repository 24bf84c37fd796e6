package emoji

import (
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writePNG encodes img into dir's image folder as file.
func writePNG(t *testing.T, dir, file string, img image.Image) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, imgDir), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, imgDir, file))
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func writeJSON(t *testing.T, dir string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "emoji.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// filled returns a 64×64 NRGBA image of one colour.
func filled(c color.NRGBA) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, Size, Size))
	for y := range Size {
		for x := range Size {
			m.SetNRGBA(x, y, c)
		}
	}
	return m
}

// Hand-computed composites over white, c = (a·c + (255 − a)·255)/255:
//   - (255, 0, 0) at alpha 128: R = (128·255 + 127·255)/255 = 255,
//     G = B = 127·255/255 = 127;
//   - (100, 200, 50) at alpha 77: (77·100 + 178·255)/255 = 53090/255,
//     (77·200 + 178·255)/255 = 60790/255, (77·50 + 178·255)/255 = 49240/255;
//   - alpha 0: white, whatever the colour.
var (
	halfRed   = color.NRGBA{255, 0, 0, 128}
	halfRedBG = [3]float64{255, 127, 127}
	odd       = color.NRGBA{100, 200, 50, 77}
	oddBG     = [3]float64{53090.0 / 255, 60790.0 / 255, 49240.0 / 255}
)

// synthetic writes a five-PNG data folder and returns it. In file-name
// order: 1f431 (cat, Animals & Nature), 1f44b (wave, People & Body, with two
// skin-tone variants), 1f44b-1f3fb (its first variant), 1f600 (grinning,
// Smileys & Emotion), 2615 (coffee, Food & Drink). emoji.json also lists an
// emoji without a Google image, a Component swatch and an unknown category.
func synthetic(t *testing.T) string {
	dir := t.TempDir()
	// grinning: left half (255, 0, 0) at alpha 128, right half transparent
	// but coloured (alpha 0 must give white), row 63 opaque (10, 20, 30).
	g := filled(color.NRGBA{0, 0, 255, 0})
	for y := range Size {
		for x := range Size / 2 {
			g.SetNRGBA(x, y, halfRed)
		}
	}
	for x := range Size {
		g.SetNRGBA(x, 63, color.NRGBA{10, 20, 30, 255})
	}
	writePNG(t, dir, "1f600.png", g)
	// cat: top-left 4×4 block opaque grey 10·(x + 4y) (0 … 150, mean 75),
	// the rest the odd partial-alpha colour.
	c := filled(odd)
	for y := range 4 {
		for x := range 4 {
			v := uint8(10 * (x + 4*y))
			c.SetNRGBA(x, y, color.NRGBA{v, v, v, 255})
		}
	}
	writePNG(t, dir, "1f431.png", c)
	// coffee: a paletted PNG (image/png decodes it as *image.Paletted with
	// color.NRGBA entries): index 0 transparent, index 1 half red.
	p := image.NewPaletted(image.Rect(0, 0, Size, Size), color.Palette{color.NRGBA{0, 0, 0, 0}, halfRed})
	for y := range Size {
		for x := range Size {
			p.SetColorIndex(x, y, uint8((x+y)%2))
		}
	}
	writePNG(t, dir, "2615.png", p)
	writePNG(t, dir, "1f44b.png", filled(color.NRGBA{200, 150, 100, 255}))
	writePNG(t, dir, "1f44b-1f3fb.png", filled(color.NRGBA{250, 220, 180, 255}))
	writePNG(t, dir, "0031.png", filled(halfRed))  // has_img_google false
	writePNG(t, dir, "1f3fb.png", filled(halfRed)) // Component
	writePNG(t, dir, "9999.png", filled(halfRed))  // unknown category
	writeJSON(t, dir, []map[string]any{
		{"image": "1f600.png", "short_name": "grinning", "category": "Smileys & Emotion", "has_img_google": true},
		{"image": "0031.png", "short_name": "one", "category": "Symbols", "has_img_google": false},
		{"image": "1f44b.png", "short_name": "wave", "category": "People & Body", "has_img_google": true,
			"skin_variations": map[string]any{
				"1F3FB": map[string]any{"image": "1f44b-1f3fb.png", "has_img_google": true},
				"1F3FC": map[string]any{"image": "1f44b-1f3fc.png", "has_img_google": false},
			}},
		{"image": "1f431.png", "short_name": "cat", "category": "Animals & Nature", "has_img_google": true},
		{"image": "1f3fb.png", "short_name": "skin-tone-2", "category": "Component", "has_img_google": true},
		{"image": "9999.png", "short_name": "mystery", "category": "Mysteries", "has_img_google": true},
		{"image": "2615.png", "short_name": "coffee", "category": "Food & Drink", "has_img_google": true},
	})
	return dir
}

// scaled maps a composited value in [0, 255] to [−1, 1].
func scaled(v float64) float64 { return v/127.5 - 1 }

func near(got float32, want float64) bool { return math.Abs(float64(got)-want) <= 1e-6 }

// pixel returns the three values of pixel (x, y) of image i.
func pixel(s *Set, i, x, y int) []float32 {
	k := (y*s.W + x) * 3
	return s.Image(i)[k : k+3]
}

func checkPixel(t *testing.T, s *Set, i, x, y int, want [3]float64) {
	t.Helper()
	got := pixel(s, i, x, y)
	for c := range 3 {
		if !near(got[c], scaled(want[c])) {
			t.Errorf("%s pixel (%d, %d): %v, want %v → %.7f %.7f %.7f", s.Files[i], x, y, got, want,
				scaled(want[0]), scaled(want[1]), scaled(want[2]))
			return
		}
	}
}

func TestCategories(t *testing.T) {
	want := []string{"Activities", "Animals & Nature", "Flags", "Food & Drink", "Objects",
		"People & Body", "Smileys & Emotion", "Symbols", "Travel & Places"}
	got := Categories()
	if !slices.Equal(got, want) || !slices.IsSorted(got) {
		t.Errorf("Categories() = %q, want %q", got, want)
	}
	got[0] = "changed"
	if Categories()[0] != "Activities" {
		t.Error("Categories returns the package's own slice")
	}
}

func TestLoadSynthetic(t *testing.T) {
	dir := synthetic(t)
	s, err := Load(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	wantFiles := []string{"1f431.png", "1f44b.png", "1f600.png", "2615.png"}
	wantNames := []string{"cat", "wave", "grinning", "coffee"}
	wantLabels := []uint8{1, 5, 6, 3} // Animals & Nature, People & Body, Smileys & Emotion, Food & Drink
	if s.N != 4 || s.H != 64 || s.W != 64 || s.C != 3 || len(s.Pixels) != 4*64*64*3 {
		t.Fatalf("got %d images of %d×%d×%d (%d values), want 4 of 64×64×3", s.N, s.H, s.W, s.C, len(s.Pixels))
	}
	if !slices.Equal(s.Files, wantFiles) || !slices.Equal(s.Names, wantNames) || !slices.Equal(s.Labels, wantLabels) {
		t.Errorf("files %q names %q labels %v, want %q %q %v", s.Files, s.Names, s.Labels, wantFiles, wantNames, wantLabels)
	}
	for i, l := range s.Labels {
		if Categories()[l] != map[string]string{"cat": "Animals & Nature", "wave": "People & Body",
			"grinning": "Smileys & Emotion", "coffee": "Food & Drink"}[s.Names[i]] {
			t.Errorf("%s labelled %s", s.Names[i], Categories()[l])
		}
	}
	// grinning (image 2): half red, transparent, opaque.
	checkPixel(t, s, 2, 0, 0, halfRedBG)
	checkPixel(t, s, 2, 31, 62, halfRedBG)
	checkPixel(t, s, 2, 32, 0, [3]float64{255, 255, 255})
	checkPixel(t, s, 2, 63, 62, [3]float64{255, 255, 255})
	checkPixel(t, s, 2, 5, 63, [3]float64{10, 20, 30})
	// G of half red: 127/127.5 − 1 = −1/255; white 1; 10 → 10/127.5 − 1.
	if p := pixel(s, 2, 0, 0); !near(p[1], -1.0/255) || !near(pixel(s, 2, 40, 0)[0], 1) || !near(pixel(s, 2, 0, 63)[0], -0.92156863) {
		t.Errorf("scaling: half red G %v, white %v, 10 → %v", p[1], pixel(s, 2, 40, 0)[0], pixel(s, 2, 0, 63)[0])
	}
	// cat (image 0): grey block and the odd colour.
	checkPixel(t, s, 0, 3, 2, [3]float64{110, 110, 110})
	checkPixel(t, s, 0, 4, 0, oddBG)
	checkPixel(t, s, 0, 63, 63, oddBG)
	// coffee (image 3): paletted, alternating transparent and half red.
	checkPixel(t, s, 3, 0, 0, [3]float64{255, 255, 255})
	checkPixel(t, s, 3, 1, 0, halfRedBG)
	checkPixel(t, s, 3, 1, 1, [3]float64{255, 255, 255})
	// wave (image 1): opaque.
	checkPixel(t, s, 1, 17, 33, [3]float64{200, 150, 100})
	for i, v := range s.Pixels {
		if v < -1 || v > 1 {
			t.Fatalf("value %d = %v outside [−1, 1]", i, v)
		}
	}
}

func TestLoadSkinTones(t *testing.T) {
	s, err := Load(synthetic(t), Options{SkinTones: true})
	if err != nil {
		t.Fatal(err)
	}
	// "1f44b-1f3fb.png" < "1f44b.png": '-' sorts before '.'.
	wantFiles := []string{"1f431.png", "1f44b-1f3fb.png", "1f44b.png", "1f600.png", "2615.png"}
	wantNames := []string{"cat", "wave:skin-tone-2", "wave", "grinning", "coffee"}
	if !slices.Equal(s.Files, wantFiles) || !slices.Equal(s.Names, wantNames) || s.Labels[1] != 5 {
		t.Errorf("files %q names %q labels %v, want %q %q with label 5 for the variant", s.Files, s.Names, s.Labels, wantFiles, wantNames)
	}
	checkPixel(t, s, 1, 0, 0, [3]float64{250, 220, 180})
}

func TestLoadDownscaled(t *testing.T) {
	dir := synthetic(t)
	full, err := Load(dir, Options{Size: 64})
	if err != nil {
		t.Fatal(err)
	}
	// Size 16: 4×4 blocks. Cat's block (0, 0) is the grey ramp 0 … 150,
	// mean 75; its block (1, 0) is the odd colour. Grinning's block (7, 0)
	// has 4·4 half-red pixels, block (8, 0) 16 white ones, block (0, 15) 12
	// half-red and 4 of (10, 20, 30): R (12·255 + 4·10)/16 = 3100/16,
	// G (12·127 + 4·20)/16 = 1604/16, B (12·127 + 4·30)/16 = 1644/16.
	s16, err := Load(dir, Options{Size: 16})
	if err != nil {
		t.Fatal(err)
	}
	if s16.H != 16 || s16.W != 16 || len(s16.Pixels) != 4*16*16*3 {
		t.Fatalf("size 16: %d×%d, %d values", s16.H, s16.W, len(s16.Pixels))
	}
	checkPixel(t, s16, 0, 0, 0, [3]float64{75, 75, 75})
	checkPixel(t, s16, 0, 1, 0, oddBG)
	checkPixel(t, s16, 2, 7, 0, halfRedBG)
	checkPixel(t, s16, 2, 8, 0, [3]float64{255, 255, 255})
	checkPixel(t, s16, 2, 0, 15, [3]float64{3100.0 / 16, 1604.0 / 16, 1644.0 / 16})
	// Size 32: 2×2 blocks; cat's block (0, 0) is 0, 10, 40, 50: mean 25.
	s32, err := Load(dir, Options{Size: 32})
	if err != nil {
		t.Fatal(err)
	}
	checkPixel(t, s32, 0, 0, 0, [3]float64{25, 25, 25})
	checkPixel(t, s32, 0, 1, 1, [3]float64{125, 125, 125}) // 100, 110, 140, 150
	// Every downscaled value is the mean of its block at full size.
	for i := range full.N {
		for y := range 16 {
			for x := range 16 {
				for c := range 3 {
					var sum float64
					for dy := range 4 {
						for dx := range 4 {
							sum += float64(pixel(full, i, 4*x+dx, 4*y+dy)[c])
						}
					}
					if got := pixel(s16, i, x, y)[c]; math.Abs(float64(got)-sum/16) > 1e-5 {
						t.Fatalf("image %d pixel (%d, %d) channel %d: %v, block mean %v", i, x, y, c, got, sum/16)
					}
				}
			}
		}
	}
	for _, size := range []int{48, 3, -16, 128} {
		if _, err := Load(dir, Options{Size: size}); err == nil || !strings.Contains(err.Error(), "does not divide 64") {
			t.Errorf("size %d: error %v", size, err)
		}
	}
}

// TestCompositePremultiplied checks that the same colour held with straight
// (NRGBA) and premultiplied (RGBA, RGBA64) alpha composites alike.
func TestCompositePremultiplied(t *testing.T) {
	rect := image.Rect(0, 0, 2, 1)
	n := image.NewNRGBA(rect)
	n.SetNRGBA(0, 0, halfRed)
	n.SetNRGBA(1, 0, color.NRGBA{0, 255, 0, 0})
	r := image.NewRGBA(rect)
	r.SetRGBA(0, 0, color.RGBA{128, 0, 0, 128}) // half red, premultiplied
	r.SetRGBA(1, 0, color.RGBA{0, 0, 0, 0})
	r64 := image.NewRGBA64(rect)
	r64.SetRGBA64(0, 0, color.RGBA64{128 * 257, 0, 0, 128 * 257})
	n64 := image.NewNRGBA64(rect)
	n64.SetNRGBA64(0, 0, color.NRGBA64{0xffff, 0, 0, 128 * 257})
	for _, img := range []image.Image{n, r, r64, n64} {
		dst := make([]float32, 6)
		overWhite(img, dst)
		want := []float32{255, 127, 127, 255, 255, 255}
		for i := range dst {
			if math.Abs(float64(dst[i]-want[i])) > 1e-3 {
				t.Errorf("%T: %v, want %v", img, dst, want)
				break
			}
		}
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir, Options{}); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "emoji.json")) {
		t.Errorf("missing emoji.json: error %v", err)
	}
	os.WriteFile(filepath.Join(dir, "emoji.json"), []byte(`[{"image": `), 0o644)
	if _, err := Load(dir, Options{}); err == nil || !strings.Contains(err.Error(), "emoji.json") {
		t.Errorf("truncated emoji.json: error %v", err)
	}
	entry := func(file string) []map[string]any {
		return []map[string]any{
			{"image": "1f600.png", "short_name": "grinning", "category": "Smileys & Emotion", "has_img_google": true},
			{"image": file, "short_name": "x", "category": "Symbols", "has_img_google": true},
		}
	}
	writePNG(t, dir, "1f600.png", filled(halfRed))

	writeJSON(t, dir, entry("bad.png"))
	os.WriteFile(filepath.Join(dir, imgDir, "bad.png"), []byte("\x89PNG\r\n\x1a\nnot really"), 0o644)
	if _, err := Load(dir, Options{}); err == nil || !strings.Contains(err.Error(), filepath.Join(imgDir, "bad.png")) {
		t.Errorf("corrupt PNG: error %v, want the file named", err)
	}

	writeJSON(t, dir, entry("small.png"))
	writePNG(t, dir, "small.png", image.NewNRGBA(image.Rect(0, 0, 32, 32)))
	if _, err := Load(dir, Options{}); err == nil || !strings.Contains(err.Error(), "small.png") || !strings.Contains(err.Error(), "32×32") {
		t.Errorf("32×32 PNG: error %v, want the file and its size", err)
	}

	writeJSON(t, dir, entry("absent.png"))
	if _, err := Load(dir, Options{}); err == nil || !strings.Contains(err.Error(), "absent.png") {
		t.Errorf("missing PNG: error %v", err)
	}

	writeJSON(t, dir, entry("../1f600.png"))
	if _, err := Load(dir, Options{}); err == nil || !strings.Contains(err.Error(), "not a PNG file name") {
		t.Errorf("path in emoji.json: error %v", err)
	}

	writeJSON(t, dir, entry("1f600.png"))
	if _, err := Load(dir, Options{}); err == nil || !strings.Contains(err.Error(), "1f600.png twice") {
		t.Errorf("duplicate: error %v", err)
	}

	writeJSON(t, dir, []map[string]any{{"image": "1f600.png", "category": "Component", "has_img_google": true}})
	if _, err := Load(dir, Options{}); err == nil || !strings.Contains(err.Error(), "no emoji") {
		t.Errorf("nothing to load: error %v", err)
	}
}

func TestBatches(t *testing.T) {
	s, err := Load(synthetic(t), Options{Size: 16, SkinTones: true})
	if err != nil {
		t.Fatal(err)
	}
	b := NewBatches(s, 3)
	seen := map[string]bool{}
	for step := range int64(2) { // one epoch: 2 batches of 2 (one image left out)
		px, labels := b.Batch(step, 2)
		if len(px) != 2*16*16*3 || len(labels) != 2 {
			t.Fatalf("batch %d: %d values, %d labels", step, len(px), len(labels))
		}
		for k, l := range labels {
			// Find the image by its pixels and check the label goes with it.
			i := -1
			for j := range s.N {
				if slices.Equal(s.Image(j), px[k*16*16*3:(k+1)*16*16*3]) {
					i = j
				}
			}
			if i < 0 || s.Labels[i] != l {
				t.Fatalf("batch %d image %d: label %d does not match its pixels (image %d)", step, k, l, i)
			}
			seen[s.Files[i]] = true
		}
	}
	if len(seen) != 4 {
		t.Errorf("an epoch visited %v, want 4 distinct images", seen)
	}
	p1, l1 := b.Batch(7, 2)
	p2, l2 := NewBatches(s, 3).Batch(7, 2)
	if !slices.Equal(l1, l2) || !slices.Equal(p1, p2) {
		t.Errorf("batch 7 depends on history")
	}
	if sub := s.Subset(2); sub.N != 2 || len(sub.Names) != 2 || len(sub.Pixels) != 2*16*16*3 || sub.Files[1] != s.Files[1] {
		t.Errorf("Subset(2): %d images, %d names", sub.N, len(sub.Names))
	}
}
