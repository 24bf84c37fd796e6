package plots

import (
	"fmt"
	"image"
	"image/color"
	stddraw "image/draw"
	"math"

	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// GridLabels says what the rows and columns of a [LabelledImageGrid] are.
// All text is drawn with [MathText], so "x̂₀", "ᾱ_t" and "t = 10^3"
// render as mathematics.
type GridLabels struct {
	// Title is drawn centred above the grid; empty means none.
	Title string
	// Rows holds one title per row of images, drawn right-aligned left of
	// the row and vertically centred on it; nil means no row titles, an
	// empty string leaves that row untitled. Its length must equal the
	// number of rows.
	Rows []string
	// Cols holds one title per column, drawn centred above the column;
	// nil means no column titles. Its length must equal the number of
	// columns. A title wider than its column is shrunk, down to 6 points,
	// then shortened with "…".
	Cols []string
	// Caption is an optional line drawn centred below the grid.
	Caption string
	// Scale enlarges every image by this integer factor with
	// nearest-neighbour sampling; 0 and 1 mean none.
	Scale int
	// Pad is the number of PadGray pixels between and around the images;
	// 0 means the default of 2.
	Pad int
}

// Layout of labelled grids, in pixels at labelDPI (1 point = 4/3 pixels).
const (
	labelDPI       = 96
	labelTitleSize = vg.Length(12) // points
	labelTextSize  = vg.Length(10) // points, row and column titles, caption
	labelMinSize   = vg.Length(6)  // smallest column title
	labelMargin    = 6             // pixels of white around everything
	labelGap       = 4             // pixels between a title and the images
	defaultGridPad = 2
)

// labelledGrid is a rendered labelled grid with the pixel rectangle of
// every image cell, in image order.
type labelledGrid struct {
	img   *image.RGBA
	cells []image.Rectangle
}

// LabelledImageGrid tiles images as [ImageGrid] does (same HWC layout,
// channels 1 or 3, values mapped with [PixelByte], cols 0 meaning ⌈√n⌉) and
// adds the titles of labels around the grid: a title above, a title left
// of each row, a title above each column and a caption below. Each image is
// enlarged labels.Scale times and separated by labels.Pad grey pixels. It
// returns the PNG encoding of the RGB image.
//
// It returns an error for everything ImageGrid rejects, a negative Scale or
// Pad, a Scale that makes the image larger than MaxPixels on a side, or
// labels.Rows or labels.Cols (when not nil) whose length differs from the
// number of rows or columns of the grid.
func LabelledImageGrid(images [][]float32, h, w, c, cols int, labels GridLabels) ([]byte, error) {
	const fn = "LabelledImageGrid"
	g, err := renderLabelledGrid(fn, images, h, w, c, cols, labels)
	if err != nil {
		return nil, err
	}
	return encode(fn, g.img)
}

// renderLabelledGrid lays out and draws a labelled grid.
func renderLabelledGrid(fn string, images [][]float32, h, w, c, cols int, labels GridLabels) (out labelledGrid, err error) {
	if labels.Scale < 0 {
		return out, fmt.Errorf("plots: %s: Scale must be ≥ 0 (0 = none), got %d", fn, labels.Scale)
	}
	if labels.Pad < 0 {
		return out, fmt.Errorf("plots: %s: Pad must be ≥ 0 (0 = default %d), got %d", fn, defaultGridPad, labels.Pad)
	}
	// Validate and map the pixels with ImageGrid, without padding, so that
	// cell i is the h×w block at (i%cols·w, i/cols·h).
	tiles, err := ImageGrid(images, h, w, c, cols, 0)
	if err != nil {
		return out, fmt.Errorf("plots: %s: %w", fn, err)
	}
	n := len(images)
	if cols == 0 {
		cols = int(math.Ceil(math.Sqrt(float64(n))))
	}
	cols = min(cols, n)
	rows := (n + cols - 1) / cols
	if labels.Rows != nil && len(labels.Rows) != rows {
		return out, fmt.Errorf("plots: %s: %d row titles (Rows) for %d rows of images (%d images, %d per row)", fn, len(labels.Rows), rows, n, cols)
	}
	if labels.Cols != nil && len(labels.Cols) != cols {
		return out, fmt.Errorf("plots: %s: %d column titles (Cols) for %d columns of images", fn, len(labels.Cols), cols)
	}
	scale := max(labels.Scale, 1)
	pad := labels.Pad
	if pad == 0 {
		pad = defaultGridPad
	}

	// Measure the text in pixels.
	px := func(l vg.Length) int { return int(math.Ceil(float64(l) / 72 * labelDPI)) }
	titleSty := mathStyle(labelTitleSize, text.XCenter, text.YCenter)
	textSty := mathStyle(labelTextSize, text.XCenter, text.YCenter)
	cw, ch := w*scale, h*scale
	gw, gh := cols*cw+(cols+1)*pad, rows*ch+(rows+1)*pad
	colTitles := make([]string, len(labels.Cols))
	colSizes := make([]vg.Length, len(labels.Cols))
	colH := 0
	for j, s := range labels.Cols {
		size := labelTextSize
		sty := textSty
		for size > labelMinSize && px(sty.Width(s)) > cw+pad {
			size -= 0.5
			sty = mathStyle(size, text.XCenter, text.YCenter)
		}
		colSizes[j] = size
		colTitles[j] = shorten(sty, s, vg.Length(cw+pad)*72/labelDPI)
		colH = max(colH, px(sty.Height(colTitles[j]))+labelGap)
	}
	rowW := 0
	for _, s := range labels.Rows {
		if s != "" {
			rowW = max(rowW, px(textSty.Width(s))+labelGap)
		}
	}
	titleH, captionH := 0, 0
	width := rowW + gw
	if labels.Title != "" {
		titleH = px(titleSty.Height(labels.Title)) + labelGap
		width = max(width, px(titleSty.Width(labels.Title)))
	}
	if labels.Caption != "" {
		captionH = px(textSty.Height(labels.Caption)) + labelGap
		width = max(width, px(textSty.Width(labels.Caption)))
	}
	W := width + 2*labelMargin
	H := titleH + colH + gh + captionH + 2*labelMargin
	if W > MaxPixels || H > MaxPixels {
		return out, fmt.Errorf("plots: %s: the labelled grid would be %d × %d pixels; each side must be ≤ %d (reduce Scale or the number of images)", fn, W, H, MaxPixels)
	}
	// The grid (with the row titles left of it) is centred horizontally.
	gx := labelMargin + (width-rowW-gw)/2 + rowW
	gy := labelMargin + titleH + colH

	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("plots: %s: rendering failed: %v", fn, r)
		}
	}()
	cv := vgimg.NewWith(vgimg.UseWH(vg.Length(W)*72/labelDPI, vg.Length(H)*72/labelDPI), vgimg.UseDPI(labelDPI))
	dc := draw.New(cv)
	// pt converts a pixel position (y downwards) to drawing coordinates.
	pt := func(x, y float64) vg.Point {
		return vg.Point{X: vg.Length(x * 72 / labelDPI), Y: vg.Length((float64(H) - y) * 72 / labelDPI)}
	}
	if labels.Title != "" {
		fillCentered(dc, titleSty, 0, pt(float64(labelMargin+width/2), float64(labelMargin)+float64(titleH-labelGap)/2), labels.Title)
	}
	for j, s := range colTitles {
		if s == "" {
			continue
		}
		sty := mathStyle(colSizes[j], text.XCenter, text.YCenter)
		th := px(sty.Height(s))
		x := gx + pad + j*(cw+pad) + cw/2
		fillCentered(dc, sty, 0, pt(float64(x), float64(gy-labelGap)-float64(th)/2), s)
	}
	for i, s := range labels.Rows {
		if s == "" {
			continue
		}
		tw := textSty.Width(s)
		y := gy + pad + i*(ch+pad) + ch/2
		p := pt(float64(gx-labelGap), float64(y))
		p.X -= tw / 2
		fillCentered(dc, textSty, 0, p, s)
	}
	if labels.Caption != "" {
		fillCentered(dc, textSty, 0, pt(float64(labelMargin+width/2), float64(gy+gh+labelGap)+float64(captionH-labelGap)/2), labels.Caption)
	}

	// The images, copied pixel for pixel after the text is drawn.
	dst := image.NewRGBA(image.Rect(0, 0, W, H))
	stddraw.Draw(dst, dst.Bounds(), cv.Image(), cv.Image().Bounds().Min, stddraw.Src)
	padC := color.RGBA{R: PadGray, G: PadGray, B: PadGray, A: 255}
	stddraw.Draw(dst, image.Rect(gx, gy, gx+gw, gy+gh), image.NewUniform(padC), image.Point{}, stddraw.Src)
	for i := range n {
		x0, y0 := gx+pad+(i%cols)*(cw+pad), gy+pad+(i/cols)*(ch+pad)
		cell := image.Rect(x0, y0, x0+cw, y0+ch)
		for y := range ch {
			for x := range cw {
				dst.Set(x0+x, y0+y, tiles.At((i%cols)*w+x/scale, (i/cols)*h+y/scale))
			}
		}
		out.cells = append(out.cells, cell)
	}
	out.img = dst
	return out, nil
}
