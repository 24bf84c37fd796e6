package plots

import (
	"fmt"
	"image"
	"image/color"
	"math"
)

// PadGray is the grey level (0 black … 255 white) of the padding between
// and around the images of [ImageGrid].
const PadGray = 128

// maxGridPixels bounds the number of pixels of an ImageGrid (2²⁸, 1 GiB as
// RGBA) so that a wrong size argument fails instead of exhausting memory.
const maxGridPixels = 1 << 28

// PixelByte maps a model value v, nominally in [−1, 1], to an 8-bit
// intensity:
//
//	u = round(127.5·(clip(v, −1, 1) + 1))
//
// with round-half-away-from-zero (math.Round), so −1 → 0, 0 → 128 (127.5
// rounds up), 1 → 255. Values outside [−1, 1], ±Inf included, are clipped.
// NaN has no intensity; callers must reject it (ImageGrid does).
func PixelByte(v float32) uint8 {
	x := math.Max(-1, math.Min(1, float64(v)))
	return uint8(math.Round(127.5 * (x + 1)))
}

// ImageGrid tiles n = len(images) images of h×w pixels and c channels into
// one image, row by row, cols per row, with pad pixels of PadGray grey
// between the images and around the border.
//
// Each image is a flat slice of length h·w·c in HWC (channels-last) order:
// element (y, x, ch) is at index (y·w + x)·c + ch. c must be 1 (grey,
// returned as *image.Gray) or 3 (RGB, returned as *image.RGBA). Values are
// mapped to 0..255 with [PixelByte]; values outside [−1, 1] are clipped.
//
// The grid has rows = ⌈n/cols⌉ rows and is cols·w + (cols+1)·pad pixels
// wide and rows·h + (rows+1)·pad pixels high; cells after the last image
// are padding grey. cols 0 means ⌈√n⌉; cols larger than n is reduced to n.
// It returns an error, naming the image, for an empty list, a bad size, a
// slice of the wrong length, or a NaN value.
func ImageGrid(images [][]float32, h, w, c int, cols int, pad int) (image.Image, error) {
	const fn = "plots: ImageGrid"
	n := len(images)
	switch {
	case n == 0:
		return nil, fmt.Errorf("%s: no images", fn)
	case h <= 0 || w <= 0:
		return nil, fmt.Errorf("%s: image size must be > 0, got h=%d w=%d", fn, h, w)
	case c != 1 && c != 3:
		return nil, fmt.Errorf("%s: channels must be 1 or 3, got %d", fn, c)
	case cols < 0:
		return nil, fmt.Errorf("%s: cols must be ≥ 0 (0 = ⌈√n⌉), got %d", fn, cols)
	case pad < 0:
		return nil, fmt.Errorf("%s: pad must be ≥ 0, got %d", fn, pad)
	}
	if cols == 0 {
		cols = int(math.Ceil(math.Sqrt(float64(n))))
	}
	cols = min(cols, n)
	rows := (n + cols - 1) / cols
	gw := float64(cols)*float64(w) + float64(cols+1)*float64(pad)
	gh := float64(rows)*float64(h) + float64(rows+1)*float64(pad)
	if gw*gh > maxGridPixels {
		return nil, fmt.Errorf("%s: grid of %.0f × %.0f pixels exceeds the limit of %d pixels", fn, gw, gh, maxGridPixels)
	}
	for i, im := range images {
		if len(im) != h*w*c {
			return nil, fmt.Errorf("%s: image %d has %d values, want h·w·c = %d·%d·%d = %d", fn, i, len(im), h, w, c, h*w*c)
		}
		for j, v := range im {
			if v != v {
				return nil, fmt.Errorf("%s: image %d has NaN at index %d (y=%d, x=%d, channel %d)", fn, i, j, j/c/w, j/c%w, j%c)
			}
		}
	}

	bounds := image.Rect(0, 0, int(gw), int(gh))
	origin := func(i int) (int, int) { // top-left pixel of cell i
		return pad + (i%cols)*(w+pad), pad + (i/cols)*(h+pad)
	}
	if c == 1 {
		g := image.NewGray(bounds)
		for k := range g.Pix {
			g.Pix[k] = PadGray
		}
		for i, im := range images {
			x0, y0 := origin(i)
			for y := range h {
				row := g.Pix[g.PixOffset(x0, y0+y):]
				for x := range w {
					row[x] = PixelByte(im[y*w+x])
				}
			}
		}
		return g, nil
	}
	rgba := image.NewRGBA(bounds)
	padC := color.RGBA{R: PadGray, G: PadGray, B: PadGray, A: 255}
	for k := 0; k < len(rgba.Pix); k += 4 {
		rgba.Pix[k], rgba.Pix[k+1], rgba.Pix[k+2], rgba.Pix[k+3] = padC.R, padC.G, padC.B, padC.A
	}
	for i, im := range images {
		x0, y0 := origin(i)
		for y := range h {
			row := rgba.Pix[rgba.PixOffset(x0, y0+y):]
			for x := range w {
				src := im[(y*w+x)*3:]
				dst := row[4*x:]
				dst[0], dst[1], dst[2], dst[3] = PixelByte(src[0]), PixelByte(src[1]), PixelByte(src[2]), 255
			}
		}
	}
	return rgba, nil
}

// Upscale enlarges img by an integer factor with nearest-neighbour
// sampling, so that small images (28×28 digits) stay crisp when displayed.
// A factor below 2 returns img unchanged.
func Upscale(img image.Image, factor int) image.Image {
	if factor < 2 {
		return img
	}
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx()*factor, b.Dy()*factor))
	for y := range b.Dy() * factor {
		for x := range b.Dx() * factor {
			out.Set(x, y, img.At(b.Min.X+x/factor, b.Min.Y+y/factor))
		}
	}
	return out
}
