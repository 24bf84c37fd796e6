package plots

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"strings"
	"testing"
)

// TestPixelByte checks the mapping against hand-computed values of
// 255·(v+1)/2 rounded half up.
func TestPixelByte(t *testing.T) {
	tests := []struct {
		v    float32
		want uint8
	}{
		{-1, 0}, {1, 255}, {0, 128}, // 127.5 rounds up
		{0.5, 191},        // 191.25
		{-0.5, 64},        // 63.75
		{-2, 0}, {3, 255}, // clipped
		{float32(math.Inf(1)), 255}, {float32(math.Inf(-1)), 0},
		{1.0 / 255, 128},  // 128.0
		{-1.0 / 255, 127}, // 127.0
	}
	for _, tc := range tests {
		if got := PixelByte(tc.v); got != tc.want {
			t.Errorf("PixelByte(%v) = %d, want %d", tc.v, got, tc.want)
		}
	}
}

// refByte is an independent re-derivation of the mapping, written with
// integer arithmetic on a ×2 scale: 255·(v+1)/2 + ½ = (255·(v+1) + 1)/2.
func refByte(v float32) uint8 {
	x := float64(v)
	if x < -1 {
		x = -1
	} else if x > 1 {
		x = 1
	}
	return uint8(math.Floor((255*(x+1) + 1) / 2))
}

// TestImageGridGray builds 5 grey 2×3 images in 2 columns with 1 px
// padding and checks the layout (3 rows), every image pixel, and the
// padding (between images, around the border, and the empty sixth cell).
func TestImageGridGray(t *testing.T) {
	const h, w, n, cols, pad = 2, 3, 5, 2, 1
	imgs := make([][]float32, n)
	for i := range imgs {
		imgs[i] = make([]float32, h*w)
		for j := range imgs[i] {
			imgs[i][j] = -1 + float32(i*h*w+j)/float32(n*h*w-1)*2.4 // −1 … 1.4 (last ones clipped)
		}
	}
	got, err := ImageGrid(imgs, h, w, 1, cols, pad)
	if err != nil {
		t.Fatal(err)
	}
	// rows = ⌈5/2⌉ = 3; width 2·3 + 3·1 = 9, height 3·2 + 4·1 = 10.
	if b := got.Bounds(); b.Dx() != 9 || b.Dy() != 10 {
		t.Fatalf("grid is %d×%d, want 9×10", b.Dx(), b.Dy())
	}
	want := make([][]int, 10) // expected grey of every pixel, −1 = padding
	for y := range want {
		want[y] = make([]int, 9)
		for x := range want[y] {
			want[y][x] = -1
		}
	}
	for i := range n {
		r, c := i/cols, i%cols
		for y := range h {
			for x := range w {
				want[1+r*(h+1)+y][1+c*(w+1)+x] = int(refByte(imgs[i][y*w+x]))
			}
		}
	}
	for y := range want {
		for x, v := range want[y] {
			g := color.GrayModel.Convert(got.At(x, y)).(color.Gray).Y
			if v == -1 {
				v = PadGray
			}
			if int(g) != v {
				t.Errorf("pixel (%d, %d) = %d, want %d", x, y, g, v)
			}
		}
	}
	// The two extreme values.
	if g := got.(*image.Gray).GrayAt(1, 1).Y; g != 0 {
		t.Errorf("first pixel (value −1) = %d, want 0", g)
	}
	if g := got.(*image.Gray).GrayAt(1+w+1+w-1, 1+2*(h+1)+h-1); g.Y != PadGray {
		t.Errorf("empty cell pixel = %d, want padding %d", g.Y, PadGray)
	}
}

// TestImageGridRGB checks the HWC channel order: element (y, x, ch) is at
// index (y·w + x)·3 + ch.
func TestImageGridRGB(t *testing.T) {
	const h, w = 2, 2
	img := []float32{
		-1, 0, 1 /* (0,0) */, 1, -1, 0, /* (0,1) */
		0.5, 0.5, 0.5 /* (1,0) */, -0.5, 1, -1, /* (1,1) */
	}
	got, err := ImageGrid([][]float32{img, img}, h, w, 3, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	// 2·2 + 3·2 = 10 wide, 2 + 2·2 = 6 high.
	if b := got.Bounds(); b.Dx() != 10 || b.Dy() != 6 {
		t.Fatalf("grid is %d×%d, want 10×6", b.Dx(), b.Dy())
	}
	tests := []struct {
		x, y int
		want color.RGBA
	}{
		{2, 2, color.RGBA{0, 128, 255, 255}},   // image 0, row 0, col 0
		{3, 2, color.RGBA{255, 0, 128, 255}},   // image 0, row 0, col 1
		{2, 3, color.RGBA{191, 191, 191, 255}}, // image 0, row 1, col 0
		{3, 3, color.RGBA{64, 255, 0, 255}},    // image 0, row 1, col 1
		{6, 2, color.RGBA{0, 128, 255, 255}},   // image 1 starts at x = 2+2+2
		{0, 0, color.RGBA{PadGray, PadGray, PadGray, 255}},
		{4, 3, color.RGBA{PadGray, PadGray, PadGray, 255}}, // between images
		{9, 5, color.RGBA{PadGray, PadGray, PadGray, 255}}, // bottom-right border
	}
	for _, tc := range tests {
		if c := color.RGBAModel.Convert(got.At(tc.x, tc.y)); c != tc.want {
			t.Errorf("pixel (%d, %d) = %v, want %v", tc.x, tc.y, c, tc.want)
		}
	}
}

// TestImageGridCols checks the column rules: 0 means ⌈√n⌉, more columns than
// images shrink to n, and the size formula with pad 0.
func TestImageGridCols(t *testing.T) {
	tests := []struct {
		n, cols, wantCols, wantRows int
	}{
		{5, 0, 3, 2}, {9, 0, 3, 3}, {10, 0, 4, 3}, {1, 0, 1, 1},
		{3, 8, 3, 1}, {7, 3, 3, 3}, {6, 3, 3, 2},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("n=%d cols=%d", tc.n, tc.cols), func(t *testing.T) {
			imgs := make([][]float32, tc.n)
			for i := range imgs {
				imgs[i] = make([]float32, 4*5)
			}
			got, err := ImageGrid(imgs, 4, 5, 1, tc.cols, 0)
			if err != nil {
				t.Fatal(err)
			}
			if b := got.Bounds(); b.Dx() != 5*tc.wantCols || b.Dy() != 4*tc.wantRows {
				t.Errorf("grid is %d×%d, want %d×%d", b.Dx(), b.Dy(), 5*tc.wantCols, 4*tc.wantRows)
			}
		})
	}
}

func TestImageGridErrors(t *testing.T) {
	ok := [][]float32{make([]float32, 4)}
	nan := float32(math.NaN())
	tests := []struct {
		name       string
		images     [][]float32
		h, w, c    int
		cols, pad  int
		wantSubstr string
	}{
		{"no images", nil, 2, 2, 1, 1, 1, "no images"},
		{"zero height", ok, 0, 2, 1, 1, 1, "h=0"},
		{"two channels", [][]float32{make([]float32, 8)}, 2, 2, 2, 1, 1, "channels"},
		{"negative pad", ok, 2, 2, 1, 1, -1, "pad"},
		{"negative cols", ok, 2, 2, 1, -2, 1, "cols"},
		{"wrong length", [][]float32{make([]float32, 4), make([]float32, 5)}, 2, 2, 1, 1, 1, "image 1 has 5 values"},
		{"NaN", [][]float32{{0, 0, 0, nan}}, 2, 2, 1, 1, 1, "image 0 has NaN at index 3 (y=1, x=1"},
		{"too large", [][]float32{make([]float32, 1)}, 1, 1, 1, 1, 1 << 15, "exceeds"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ImageGrid(tc.images, tc.h, tc.w, tc.c, tc.cols, tc.pad)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), "ImageGrid") || !strings.Contains(err.Error(), tc.wantSubstr) {
				t.Errorf("error %q does not name ImageGrid and %q", err, tc.wantSubstr)
			}
		})
	}
}

// TestEncodePNG checks that decoding the PNG gives back the same pixels.
func TestEncodePNG(t *testing.T) {
	img := []float32{-1, -0.5, 0, 0.5, 1, 0.25}
	for _, c := range []int{1, 3} {
		g, err := ImageGrid([][]float32{img}, 1, 6/c, c, 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		b, err := EncodePNG(g)
		if err != nil {
			t.Fatal(err)
		}
		d, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if d.Bounds() != g.Bounds() {
			t.Fatalf("c=%d: decoded bounds %v, want %v", c, d.Bounds(), g.Bounds())
		}
		for y := range g.Bounds().Dy() {
			for x := range g.Bounds().Dx() {
				if a, b := color.RGBAModel.Convert(g.At(x, y)), color.RGBAModel.Convert(d.At(x, y)); a != b {
					t.Errorf("c=%d: pixel (%d, %d) decoded %v, want %v", c, x, y, b, a)
				}
			}
		}
	}
	if _, err := EncodePNG(nil); err == nil || !strings.Contains(err.Error(), "EncodePNG") {
		t.Errorf("EncodePNG(nil): err = %v, want an error naming EncodePNG", err)
	}
}

func ExampleImageGrid() {
	// Two 1×2 grey images: black|white and mid-grey|black.
	imgs := [][]float32{{-1, 1}, {0, -1}}
	g, err := ImageGrid(imgs, 1, 2, 1, 2, 1)
	if err != nil {
		panic(err)
	}
	gray := g.(*image.Gray)
	for y := range g.Bounds().Dy() {
		fmt.Println(gray.Pix[y*gray.Stride : y*gray.Stride+g.Bounds().Dx()])
	}
	// Output:
	// [128 128 128 128 128 128 128]
	// [128 0 255 128 128 0 128]
	// [128 128 128 128 128 128 128]
}

func TestUpscale(t *testing.T) {
	src := image.NewGray(image.Rect(0, 0, 2, 1))
	src.SetGray(0, 0, color.Gray{Y: 10})
	src.SetGray(1, 0, color.Gray{Y: 200})
	up := Upscale(src, 3)
	if b := up.Bounds(); b.Dx() != 6 || b.Dy() != 3 {
		t.Fatalf("upscaled size %v, want 6×3", b)
	}
	for y := range 3 {
		for x := range 6 {
			want := uint8(10)
			if x >= 3 {
				want = 200
			}
			if r, _, _, _ := up.At(x, y).RGBA(); uint8(r>>8) != want {
				t.Errorf("pixel (%d,%d) = %d, want %d", x, y, r>>8, want)
			}
		}
	}
	if Upscale(src, 1) != image.Image(src) {
		t.Errorf("factor 1 should return the image unchanged")
	}
}
