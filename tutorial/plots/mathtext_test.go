package plots

import (
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"testing"

	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// inkImage draws s with MathText at 72 DPI (1 point = 1 pixel), size
// points, left-aligned, rotated by rot around (20, 60) in drawing
// coordinates (pixel row 140 of the 300×200 image).
func inkImage(t *testing.T, s string, size vg.Length, rot float64) image.Image {
	t.Helper()
	cv := vgimg.NewWith(vgimg.UseWH(300, 200), vgimg.UseDPI(72))
	sty := mathStyle(size, text.XLeft, text.YBottom)
	sty.Rotation = rot
	c := draw.New(cv)
	c.FillText(sty, vg.Point{X: 20, Y: 60}, s)
	return cv.Image()
}

// inkBox returns the bounding box of the dark pixels (grey < 128) of img
// whose x lies in [x0, x1), and whether there are any.
func inkBox(img image.Image, x0, x1 int) (image.Rectangle, bool) {
	b := img.Bounds()
	r := image.Rectangle{Min: image.Pt(math.MaxInt32, math.MaxInt32), Max: image.Pt(-1, -1)}
	found := false
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := max(x0, b.Min.X); x < min(x1, b.Max.X); x++ {
			if color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y < 128 {
				found = true
				r.Min.X, r.Min.Y = min(r.Min.X, x), min(r.Min.Y, y)
				r.Max.X, r.Max.Y = max(r.Max.X, x+1), max(r.Max.Y, y+1)
			}
		}
	}
	return r, found
}

// TestMathTextScripts checks that subscripts are drawn lower and smaller,
// superscripts higher, than the base glyph. 'x' sits on the baseline and
// has no descender, so its bottom row is the baseline.
func TestMathTextScripts(t *testing.T) {
	const size = 40
	h := MathText{}
	base := inkImage(t, "x", size, 0)
	xBox, ok := inkBox(base, 0, 300)
	if !ok {
		t.Fatal(`"x" drew nothing`)
	}
	xw, _, _ := h.Box("x", mathStyle(size, 0, 0).Font)
	split := 20 + int(math.Ceil(float64(xw))) // right of the x's advance
	for _, tc := range []struct {
		s          string
		down, up   bool
		smallerTop bool
	}{
		{"x_t", true, false, true},
		{"x_{t-1}", true, false, true},
		{"x₁₀", true, false, true},
		{"x^2", false, true, false},
		{"x^{-t}", false, true, false},
		{"x⁻³", false, true, false},
	} {
		img := inkImage(t, tc.s, size, 0)
		// The box may grow by the script's depth or height, which moves
		// the whole line; the base x keeps its shape.
		b0, _ := inkBox(img, 0, split)
		// (±1 px: a fractional shift changes the anti-aliased edge.)
		if d := b0.Size().Sub(xBox.Size()); abs(d.X) > 1 || abs(d.Y) > 1 || abs(b0.Min.X-xBox.Min.X) > 1 {
			t.Errorf("%q: the base x is drawn at %v, want the shape and column of %v as in plain \"x\"", tc.s, b0, xBox)
		}
		sb, ok := inkBox(img, split, 300)
		if !ok {
			t.Errorf("%q: nothing drawn after the x", tc.s)
			continue
		}
		if tc.down && sb.Max.Y <= b0.Max.Y+2 {
			t.Errorf("%q: subscript bottom at row %d, want below the baseline (row %d) by > 2 px", tc.s, sb.Max.Y, b0.Max.Y)
		}
		if tc.up && sb.Min.Y >= b0.Min.Y-2 {
			t.Errorf("%q: superscript top at row %d, want above the top of x (row %d) by > 2 px", tc.s, sb.Min.Y, b0.Min.Y)
		}
		// Scripts are 70% high: a subscript t (taller than x by its stem)
		// or a digit 1 (cap height) stays shorter than 0.75·size.
		if sb.Dy() > int(0.75*size) {
			t.Errorf("%q: script is %d px high, want ≤ %d (smaller than the text)", tc.s, sb.Dy(), int(0.75*size))
		}
	}
	// "x_t" is narrower than "xt" drawn plain; "a\_b" is as wide as
	// "a_b" in gonum's plain handler, and draws an underscore on the
	// baseline between a and b.
	f := mathStyle(12, 0, 0).Font
	plain := text.Plain{Fonts: h.Cache()}
	wSub, _, _ := h.Box("x_t", f)
	wPlain, _, _ := plain.Box("xt", f)
	if !(wSub < wPlain) {
		t.Errorf(`width of "x_t" = %v, want < plain "xt" = %v`, wSub, wPlain)
	}
	wEsc, _, _ := h.Box(`a\_b`, f)
	wUnd, _, _ := plain.Box("a_b", f)
	if math.Abs(float64(wEsc-wUnd)) > 1e-9 {
		t.Errorf(`width of "a\_b" = %v, want plain "a_b" = %v`, wEsc, wUnd)
	}
	img := inkImage(t, `a\_b`, size, 0)
	aw, _, _ := h.Box("a", mathStyle(size, 0, 0).Font)
	uw, _, _ := h.Box(`\_`, mathStyle(size, 0, 0).Font)
	mid, ok := inkBox(img, 20+int(aw)+3, 20+int(aw+uw)-3)
	if !ok || mid.Min.Y < xBox.Max.Y-2 {
		t.Errorf(`"a\_b": ink between a and b is %v (found %v), want a low line at or below the baseline row %d`, mid, ok, xBox.Max.Y)
	}
}

// TestMathTextAccents checks that combining accents are drawn above their
// base glyph and horizontally within it.
func TestMathTextAccents(t *testing.T) {
	const size = 40
	for _, tc := range []struct{ s, base string }{
		{"x\u0302", "x"}, {"β\u0303", "β"}, {"α\u0304", "α"}, {"x\u0302₀", "x"},
	} {
		bImg := inkImage(t, tc.base, size, 0)
		bb0, _ := inkBox(bImg, 0, 300)
		img := inkImage(t, tc.s, size, 0)
		// Where the base glyph is in img: a taller box moves the line,
		// so find the bottom of the ink in the base's columns.
		got, _ := inkBox(img, bb0.Min.X, bb0.Max.X)
		dy := got.Max.Y - bb0.Max.Y
		bb := bb0.Add(image.Pt(0, dy))
		// Accent pixels: dark pixels above the base's ink.
		acc := image.Rectangle{Min: image.Pt(math.MaxInt32, math.MaxInt32)}
		n := 0
		for y := 0; y < bb.Min.Y; y++ {
			for x := 0; x < 300; x++ {
				if color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y < 128 {
					n++
					acc.Min.X, acc.Min.Y = min(acc.Min.X, x), min(acc.Min.Y, y)
					acc.Max.X, acc.Max.Y = max(acc.Max.X, x+1), max(acc.Max.Y, y+1)
				}
			}
		}
		if n < 5 {
			t.Errorf("%q: %d dark pixels above the top of %q (row %d), want an accent there", tc.s, n, tc.base, bb.Min.Y)
			continue
		}
		if acc.Min.X < bb.Min.X-1 || acc.Max.X > bb.Max.X+1 {
			t.Errorf("%q: accent spans columns [%d, %d), want within the base's [%d, %d)", tc.s, acc.Min.X, acc.Max.X, bb.Min.X, bb.Max.X)
		}
		if c := (acc.Min.X + acc.Max.X) / 2; abs(c-(bb.Min.X+bb.Max.X)/2) > 2 {
			t.Errorf("%q: accent centred at column %d, base at %d", tc.s, c, (bb.Min.X+bb.Max.X)/2)
		}
		// The accent sits clear of the base: a row of white between them.
		if acc.Max.Y >= bb.Min.Y {
			t.Errorf("%q: accent reaches row %d, the base starts at row %d", tc.s, acc.Max.Y, bb.Min.Y)
		}
	}
}

func abs(v int) int { return max(v, -v) }

// TestMathTextRotated checks that a label rotated by 90° (the Y label) is
// drawn upright-turned: taller than wide, with the subscript on the right
// side of the column (lowered means shifted right after rotation by +90°).
func TestMathTextRotated(t *testing.T) {
	img := inkImage(t, "ᾱ_t against t", 20, math.Pi/2)
	b, ok := inkBox(img, 0, 300)
	if !ok {
		t.Fatal("rotated text drew nothing")
	}
	if b.Dy() < 3*b.Dx() {
		t.Errorf("rotated text covers %v, want a tall narrow box", b)
	}
	if b.Max.Y > 141 || b.Min.Y < 140-130 {
		t.Errorf("rotated text covers rows [%d, %d), want it to end at row 140 and extend upwards", b.Min.Y, b.Max.Y)
	}
}

// TestMathTextVisual writes a sample of labels to $PLOTS_VISUAL_DIR (when
// set) for a person to look at.
func TestMathTextVisual(t *testing.T) {
	dir := os.Getenv("PLOTS_VISUAL_DIR")
	if dir == "" {
		t.Skip("PLOTS_VISUAL_DIR not set")
	}
	labels := []string{"ᾱ_t against t/T", "β\u0303_t", "log₁₀ of the decoder's σ", "x\u0302₀", "L_{simple}", "p(x) p(1|x)^w", "10⁻³", "x_{t-1}, x^2, e^{-t}", `a\_b`, "α\u0304_t"}
	cv := vgimg.NewWith(vgimg.UseWH(5*vg.Inch, 5*vg.Inch), vgimg.UseDPI(150))
	c := draw.New(cv)
	for i, s := range labels {
		c.FillText(mathStyle(16, text.XLeft, text.YTop), vg.Point{X: 10, Y: c.Max.Y - 10 - vg.Length(i)*30}, s)
	}
	sty := mathStyle(14, text.XCenter, text.YCenter)
	sty.Rotation = math.Pi / 2
	c.FillText(sty, vg.Point{X: c.Max.X - 20, Y: c.Max.Y / 2}, "ᾱ_t against t/T")
	b, err := EncodePNG(cv.Image())
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(filepath.Join(dir, "mathtext.png"), b); err != nil {
		t.Fatal(err)
	}
}
