package plots

import (
	"fmt"
	"image/color"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"gonum.org/v1/plot"
	colormap "gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// DefaultHeatmapHeight is the height of a heat map when
// HeatmapOptions.Height is zero; its width defaults to DefaultWidth, so
// that the default 6×5 inch figure gives nearly square cells to a square
// matrix with short labels.
const DefaultHeatmapHeight = 5 * vg.Inch

// HeatmapOptions controls the look of [HeatmapPNG]. Its zero value gives a
// 6×5 inch, 120 DPI image whose colour scale spans the data, with rows and
// columns labelled by their indices.
type HeatmapOptions struct {
	// Title is drawn above the cells; empty means no title.
	Title string
	// XLabel names the columns; it is drawn below the column labels.
	// Empty means none.
	XLabel string
	// YLabel names the rows; it is drawn, rotated, left of the row
	// labels. Empty means none.
	YLabel string
	// RowLabels holds one label per row, drawn left of the cells, row 0
	// at the top. nil means the row indices 0, 1, …; otherwise its length
	// must equal the number of rows. Labels wider than 30% of the figure
	// are shortened with "…".
	RowLabels []string
	// ColLabels holds one label per column, drawn below the cells. nil
	// means the column indices; otherwise its length must equal the
	// number of columns. Labels too wide for their column are rotated by
	// 45° (or 90° when the columns are very narrow); labels longer than
	// 30% of the figure height are shortened with "…".
	ColLabels []string
	// Min is the value drawn with the first (darkest) colour of the
	// scale; nil means the smallest value of the matrix. Smaller values
	// get the first colour too.
	Min *float64
	// Max is the value drawn with the last (brightest) colour of the
	// scale; nil means the largest value of the matrix. Larger values get
	// the last colour too.
	Max *float64
	// Annotate prints each cell's value in the cell, in black or white,
	// whichever contrasts more with the cell colour. The text shrinks to
	// fit the cells and is left out when the cells are too small for
	// 4-point text.
	Annotate bool
	// Format is the fmt format of the values printed by Annotate; empty
	// means "%.2f". Use "%.0f" for the counts of a confusion matrix.
	Format string
	// Width is the image width; zero means DefaultWidth (6 inches). The
	// image is round(Width/inch·DPI) pixels wide, as with Options.
	Width vg.Length
	// Height is the image height; zero means DefaultHeatmapHeight (5
	// inches). The image is round(Height/inch·DPI) pixels high.
	Height vg.Length
	// DPI is the resolution in pixels per inch; zero means DefaultDPI
	// (120).
	DPI int
}

// Sizes, in points, of the parts of a heat map.
const (
	heatPad      = vg.Length(4)  // space between labels and cells
	heatBarGap   = vg.Length(12) // space between the cells and the colour bar
	heatBarWidth = vg.Length(12) // width of the colour bar
	heatTickLen  = vg.Length(3)  // length of the colour bar's ticks
	heatMinCell  = vg.Length(1)  // smallest cell side allowed
	heatMinGrid  = vg.Length(20) // smallest side of the cell area allowed
	heatMinText  = vg.Length(4)  // smallest font size of Annotate
	heatMaxLabel = 0.3           // widest label, as a fraction of the figure
)

// heatMap is the sequential colour scale of heat maps: dark indigo
// through blue, teal and green to yellow, with a CIE L* that grows
// linearly with the value (moreland's luminance interpolation), so that
// equal steps of value look like equal steps of brightness and the scale
// survives printing in grey.
var heatMap = func() colormap.ColorMap {
	cm, err := moreland.NewLuminance([]color.Color{
		color.NRGBA{R: 40, G: 16, B: 72, A: 255},   // indigo, L* ≈ 11
		color.NRGBA{R: 40, G: 76, B: 150, A: 255},  // blue
		color.NRGBA{R: 24, G: 136, B: 138, A: 255}, // teal
		color.NRGBA{R: 96, G: 190, B: 90, A: 255},  // green
		color.NRGBA{R: 246, G: 230, B: 80, A: 255}, // yellow, L* ≈ 90
	})
	if err != nil {
		panic("plots: heat map colour scale: " + err.Error())
	}
	cm.SetMin(0)
	cm.SetMax(1)
	return cm
}()

// heatColor returns the colour of the fraction t of the heat map scale,
// t clipped to [0, 1].
func heatColor(t float64) color.NRGBA {
	t = math.Max(0, math.Min(1, t))
	c, err := heatMap.At(t)
	if err != nil { // cannot happen for t in [0, 1]
		panic(fmt.Sprintf("plots: heat map colour at %v: %v", t, err))
	}
	return color.NRGBAModel.Convert(c).(color.NRGBA)
}

// contrastText returns black or white, whichever has the higher contrast
// ratio against bg (WCAG relative luminance; the two are equal at a
// luminance of about 0.179).
func contrastText(bg color.Color) color.Color {
	r, g, b, _ := bg.RGBA()
	lin := func(v uint32) float64 {
		s := float64(v) / 0xffff
		if s <= 0.04045 {
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	lum := 0.2126*lin(r) + 0.7152*lin(g) + 0.0722*lin(b)
	if (lum+0.05)/0.05 >= 1.05/(lum+0.05) {
		return color.Black
	}
	return color.White
}

// HeatmapPNG draws a matrix as a grid of coloured cells, values[i][j] in
// row i (row 0 at the top, as a matrix is read) and column j, and returns
// the PNG encoding of the image. Row labels are drawn on the left, column
// labels below, a colour bar on the right gives the value scale (its ends
// are labelled with Min and Max, with round values between), and with
// opts.Annotate each cell shows its value. See [HeatmapOptions] for the
// defaults.
//
// It returns an error if the matrix is empty or ragged, if a value is NaN
// or infinite (naming the cell), if a label list has the wrong length, if
// Min or Max is not finite or Min ≥ Max, if a size is negative, or if the
// labels leave no room for the cells. With only one of Min and Max given
// and the data entirely beyond it, the other end is set one unit away.
func HeatmapPNG(values [][]float64, opts HeatmapOptions) ([]byte, error) {
	const fn = "HeatmapPNG"
	r, err := renderHeatmap(fn, values, opts)
	if err != nil {
		return nil, err
	}
	return encode(fn, r.img)
}

// checkHeatmap validates the matrix and options and returns the value
// range of the colour scale and the row and column labels.
func checkHeatmap(fn string, values [][]float64, opts HeatmapOptions) (lo, hi float64, rows, cols []string, err error) {
	fail := func(format string, a ...any) (float64, float64, []string, []string, error) {
		return 0, 0, nil, nil, fmt.Errorf("plots: %s: "+format, append([]any{fn}, a...)...)
	}
	if len(values) == 0 {
		return fail("values has no rows")
	}
	nc := len(values[0])
	if nc == 0 {
		return fail("values has no columns (row 0 is empty)")
	}
	dmin, dmax := math.Inf(1), math.Inf(-1)
	for i, row := range values {
		if len(row) != nc {
			return fail("values is ragged: row %d has %d values, row 0 has %d", i, len(row), nc)
		}
		for j, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fail("values[%d][%d] is %v; every cell must be finite", i, j, v)
			}
			dmin, dmax = math.Min(dmin, v), math.Max(dmax, v)
		}
	}
	labels := func(name string, given []string, n int, what string) ([]string, error) {
		if given == nil {
			out := make([]string, n)
			for k := range out {
				out[k] = strconv.Itoa(k)
			}
			return out, nil
		}
		if len(given) != n {
			return nil, fmt.Errorf("plots: %s: len(%s) = %d, want one label per %s (%d) or nil", fn, name, len(given), what, n)
		}
		return given, nil
	}
	if rows, err = labels("RowLabels", opts.RowLabels, len(values), "row"); err != nil {
		return 0, 0, nil, nil, err
	}
	if cols, err = labels("ColLabels", opts.ColLabels, nc, "column"); err != nil {
		return 0, 0, nil, nil, err
	}
	for _, l := range []struct {
		name string
		v    *float64
	}{{"Min", opts.Min}, {"Max", opts.Max}} {
		if l.v != nil && (math.IsNaN(*l.v) || math.IsInf(*l.v, 0)) {
			return fail("%s must be finite, got %v", l.name, *l.v)
		}
	}
	if opts.Min != nil && opts.Max != nil && !(*opts.Min < *opts.Max) {
		return fail("Min (%v) must be < Max (%v)", *opts.Min, *opts.Max)
	}
	if opts.Width < 0 || opts.Height < 0 {
		return fail("Width and Height must be ≥ 0 (0 = default), got %v × %v", opts.Width, opts.Height)
	}
	if opts.DPI < 0 {
		return fail("DPI must be ≥ 0 (0 = default), got %d", opts.DPI)
	}
	if opts.Format != "" {
		if s := fmt.Sprintf(opts.Format, 1.5); strings.Contains(s, "%!") {
			return fail("Format %q does not format one float64 (it gives %q)", opts.Format, s)
		}
	}

	lo, hi = dmin, dmax
	if opts.Min != nil {
		lo = *opts.Min
	}
	if opts.Max != nil {
		hi = *opts.Max
	}
	if !(lo < hi) {
		switch {
		case opts.Min != nil:
			hi = lo + 1
		case opts.Max != nil:
			lo = hi - 1
		default: // a constant matrix
			lo, hi = lo-1, hi+1
		}
	}
	if math.IsInf(hi-lo, 0) {
		return fail("value range [%g, %g] is too wide: its length overflows float64", lo, hi)
	}
	return lo, hi, rows, cols, nil
}

// shorten returns s, or its longest prefix followed by "…" that is at
// most maxW wide in sty.
func shorten(sty text.Style, s string, maxW vg.Length) string {
	if sty.Width(s) <= maxW {
		return s
	}
	for s != "" {
		_, n := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-n]
		if t := strings.TrimRight(s, " ") + "…"; sty.Width(t) <= maxW {
			return t
		}
	}
	return "…"
}

// heatLayout is where the parts of a heat map go, in points.
type heatLayout struct {
	grid, bar  vg.Rectangle
	colRot     float64 // rotation of the column labels: 0, π/4 or π/2
	rows, cols []string
	ticks      []plot.Tick // colour bar ticks, from bottom to top
	annotSize  vg.Length   // font size of Annotate; 0 = no annotations
	annot      [][]string  // the annotation of each cell
}

// colorbarTicks returns the labelled ticks of a colour bar for [lo, hi]
// that is barH high, with labels lineH high: lo and hi themselves, and
// round values (gonum's default ticks) between them that keep 1.2 lines
// from their neighbours, in increasing order.
func colorbarTicks(lo, hi float64, barH, lineH vg.Length) []plot.Tick {
	span := hi - lo
	eps := 1e-9 * span
	first := plot.Tick{Value: lo, Label: barLabel(lo)}
	last := plot.Tick{Value: hi, Label: barLabel(hi)}
	var inner []plot.Tick
	for _, t := range (plot.DefaultTicks{}).Ticks(lo, hi) {
		switch {
		case t.IsMinor():
		case math.Abs(t.Value-lo) <= eps:
			first.Label = t.Label
		case math.Abs(t.Value-hi) <= eps:
			last.Label = t.Label
		case t.Value > lo && t.Value < hi:
			inner = append(inner, t)
		}
	}
	pos := func(v float64) vg.Length { return vg.Length((v-lo)/span) * barH }
	minGap := 1.2 * lineH
	out := []plot.Tick{first}
	for _, t := range inner {
		if pos(t.Value)-pos(out[len(out)-1].Value) >= minGap && pos(hi)-pos(t.Value) >= minGap {
			out = append(out, t)
		}
	}
	if barH >= minGap || len(out) == 0 {
		out = append(out, last)
	}
	return out
}

// barLabel formats an end of the colour scale with three significant
// digits, without an exponent below a million.
func barLabel(v float64) string {
	if v == 0 {
		return "0"
	}
	if a := math.Abs(v); a >= 1000 && a < 1e6 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// layoutHeatmap places the parts of a heat map of the given values in the
// area a (the figure less its outer margin).
func layoutHeatmap(fn string, a vg.Rectangle, values [][]float64, lo, hi float64, rows, cols []string, opts HeatmapOptions) (*heatLayout, error) {
	f := singleFonts
	tick := mathStyle(f.tick, text.XLeft, text.YCenter)
	label := mathStyle(f.label, text.XCenter, text.YCenter)
	W, H := a.Max.X-a.Min.X, a.Max.Y-a.Min.Y
	nr, nc := len(rows), len(cols)
	L := &heatLayout{rows: make([]string, nr), cols: make([]string, nc)}

	top := vg.Length(0)
	if opts.Title != "" {
		top = mathStyle(f.title, text.XCenter, text.YTop).Height(opts.Title) + heatPad
	}
	left := vg.Length(0)
	if opts.YLabel != "" {
		left += label.Height(opts.YLabel) + heatPad
	}
	var rowW vg.Length
	for i, s := range rows {
		L.rows[i] = shorten(tick, s, heatMaxLabel*W)
		rowW = max(rowW, tick.Width(L.rows[i]))
	}
	left += rowW + heatPad
	// The bar's labels are not known before its height is; the widest
	// candidate bounds them.
	var barLabW vg.Length
	for _, t := range colorbarTicks(lo, hi, 1e6, 1) {
		barLabW = max(barLabW, tick.Width(t.Label))
	}
	right := heatBarGap + heatBarWidth + heatTickLen + 2 + barLabW
	bottom := vg.Length(0)
	if opts.XLabel != "" {
		bottom += label.Height(opts.XLabel) + heatPad
	}

	lineH := tick.Height("0")
	var colW vg.Length
	widths := make([]vg.Length, nc)
	for j, s := range cols {
		L.cols[j] = shorten(tick, s, heatMaxLabel*H)
		widths[j] = tick.Width(L.cols[j])
		colW = max(colW, widths[j])
	}
	gw := W - left - right
	cw := gw / vg.Length(nc)
	colH := lineH
	switch s45 := vg.Length(math.Sqrt2 / 2); {
	case colW <= 0.9*cw:
	case cw*s45 >= 1.05*lineH:
		L.colRot = math.Pi / 4
		colH = (colW + lineH) * s45
		// Slanted labels reach left of their column; widen the left
		// margin if the first ones would leave the figure.
		for range 3 {
			over := vg.Length(0)
			for j, w := range widths {
				over = max(over, (w+lineH/2)*s45-left-(vg.Length(j)+0.5)*cw)
			}
			if over <= 0 {
				break
			}
			left += over
			gw = W - left - right
			cw = gw / vg.Length(nc)
		}
	default:
		L.colRot = math.Pi / 2
		colH = colW
	}
	bottom += colH + heatPad
	gh := H - top - bottom
	if gw < max(heatMinGrid, vg.Length(nc)*heatMinCell) || gh < max(heatMinGrid, vg.Length(nr)*heatMinCell) {
		return nil, fmt.Errorf("plots: %s: the labels leave only %.0f × %.0f points for the %d × %d cells of a %.0f × %.0f point figure; enlarge Width or Height, or shorten the labels",
			fn, max(gw, 0), max(gh, 0), nr, nc, W+2*outerMargin, H+2*outerMargin)
	}
	L.grid = vg.Rectangle{Min: vg.Point{X: a.Min.X + left, Y: a.Min.Y + bottom}, Max: vg.Point{X: a.Min.X + left + gw, Y: a.Max.Y - top}}
	bx := L.grid.Max.X + heatBarGap
	L.bar = vg.Rectangle{Min: vg.Point{X: bx, Y: L.grid.Min.Y}, Max: vg.Point{X: bx + heatBarWidth, Y: L.grid.Max.Y}}
	L.ticks = colorbarTicks(lo, hi, gh, lineH)

	if opts.Annotate {
		format := opts.Format
		if format == "" {
			format = "%.2f"
		}
		var aw vg.Length
		L.annot = make([][]string, nr)
		for i, row := range values {
			L.annot[i] = make([]string, nc)
			for j, v := range row {
				L.annot[i][j] = fmt.Sprintf(format, v)
				aw = max(aw, tick.Width(L.annot[i][j]))
			}
		}
		ch := gh / vg.Length(nr)
		scale := math.Min(1, math.Min(float64(0.88*cw/max(aw, 1e-9)), float64(0.75*ch/lineH)))
		if size := f.tick * vg.Length(scale); size >= heatMinText {
			L.annotSize = size
		}
	}
	return L, nil
}

// renderHeatmap draws the heat map and returns the image with the areas of
// the cells and of the colour bar, in that order.
func renderHeatmap(fn string, values [][]float64, opts HeatmapOptions) (raster, error) {
	lo, hi, rows, cols, err := checkHeatmap(fn, values, opts)
	if err != nil {
		return raster{}, err
	}
	w, h, dpi := opts.Width, opts.Height, opts.DPI
	if w == 0 {
		w = DefaultWidth
	}
	if h == 0 {
		h = DefaultHeatmapHeight
	}
	if dpi == 0 {
		dpi = DefaultDPI
	}
	if _, _, err := imageSize(fn, w, h, dpi); err != nil {
		return raster{}, err
	}
	m := outerMargin
	area := vg.Rectangle{Min: vg.Point{X: m, Y: m}, Max: vg.Point{X: w - m, Y: h - m}}
	L, err := layoutHeatmap(fn, area, values, lo, hi, rows, cols, opts)
	if err != nil {
		return raster{}, err
	}
	return render(fn, w, h, dpi, func(c draw.Canvas) []vg.Rectangle {
		L.draw(c, values, lo, hi, opts)
		return []vg.Rectangle{L.grid, L.bar}
	})
}

// fillRect fills the rectangle from (x0, y0) to (x1, y1) with col.
func fillRect(c draw.Canvas, col color.Color, x0, y0, x1, y1 vg.Length) {
	c.SetColor(col)
	c.Fill(vg.Rectangle{Min: vg.Point{X: x0, Y: y0}, Max: vg.Point{X: x1, Y: y1}}.Path())
}

// draw paints the heat map laid out by L on c.
func (L *heatLayout) draw(c draw.Canvas, values [][]float64, lo, hi float64, opts HeatmapOptions) {
	f := singleFonts
	g := L.grid
	nr, nc := len(L.rows), len(L.cols)
	cw := (g.Max.X - g.Min.X) / vg.Length(nc)
	ch := (g.Max.Y - g.Min.Y) / vg.Length(nr)
	// Neighbouring cells overlap by a fraction of a point so that
	// anti-aliasing leaves no light seams between them.
	const seam = vg.Length(0.4)
	cellX := func(j int) vg.Length { return g.Min.X + vg.Length(j)*cw }
	cellY := func(i int) vg.Length { return g.Max.Y - vg.Length(i+1)*ch } // bottom of row i
	colors := make([][]color.NRGBA, nr)
	for i, row := range values {
		colors[i] = make([]color.NRGBA, nc)
		for j, v := range row {
			colors[i][j] = heatColor((v - lo) / (hi - lo))
			x0, y0 := cellX(j), cellY(i)
			x1, y1 := x0+cw, y0+ch
			if j < nc-1 {
				x1 += seam
			}
			if i < nr-1 {
				y0 -= seam
			}
			fillRect(c, colors[i][j], x0, y0, x1, y1)
		}
	}
	frame := draw.LineStyle{Color: color.Gray{Y: 90}, Width: vg.Points(0.5)}
	c.SetLineStyle(frame)
	c.Stroke(g.Path())

	if L.annotSize > 0 {
		for i := range nr {
			for j := range nc {
				sty := mathStyle(L.annotSize, text.XCenter, text.YCenter)
				sty.Color = contrastText(colors[i][j])
				c.FillText(sty, vg.Point{X: cellX(j) + cw/2, Y: cellY(i) + ch/2}, L.annot[i][j])
			}
		}
	}

	tickL := mathStyle(f.tick, text.XRight, text.YCenter)
	for i, s := range L.rows {
		c.FillText(tickL, vg.Point{X: g.Min.X - heatPad, Y: cellY(i) + ch/2}, s)
	}
	lineH := tickL.Height("0")
	for j, s := range L.cols {
		x := cellX(j) + cw/2
		var sty text.Style
		pt := vg.Point{X: x, Y: g.Min.Y - heatPad}
		switch L.colRot {
		case 0:
			sty = mathStyle(f.tick, text.XCenter, text.YTop)
		default:
			sty = mathStyle(f.tick, text.XRight, text.YCenter)
			sty.Rotation = L.colRot
			if L.colRot < math.Pi/2 {
				pt.Y -= lineH / 2 * vg.Length(math.Cos(L.colRot))
			}
		}
		c.FillText(sty, pt, s)
	}
	if opts.Title != "" {
		sty := mathStyle(f.title, text.XCenter, text.YTop)
		c.FillText(sty, vg.Point{X: (g.Min.X + g.Max.X) / 2, Y: c.Max.Y - outerMargin}, opts.Title)
	}
	if opts.XLabel != "" {
		sty := mathStyle(f.label, text.XCenter, text.YBottom)
		c.FillText(sty, vg.Point{X: (g.Min.X + g.Max.X) / 2, Y: c.Min.Y + outerMargin}, opts.XLabel)
	}
	if opts.YLabel != "" {
		sty := mathStyle(f.label, text.XCenter, text.YCenter)
		sty.Rotation = math.Pi / 2
		x := c.Min.X + outerMargin + sty.Height(opts.YLabel)/2
		c.FillText(sty, vg.Point{X: x, Y: (g.Min.Y + g.Max.Y) / 2}, opts.YLabel)
	}

	// The colour bar: thin stripes from lo (bottom) to hi (top).
	b := L.bar
	bh := b.Max.Y - b.Min.Y
	n := max(64, int(bh)) // about one stripe per point
	for k := range n {
		y0 := b.Min.Y + bh*vg.Length(k)/vg.Length(n)
		y1 := b.Min.Y + bh*vg.Length(k+1)/vg.Length(n)
		if k < n-1 {
			y1 += seam
		}
		fillRect(c, heatColor((float64(k)+0.5)/float64(n)), b.Min.X, y0, b.Max.X, y1)
	}
	c.SetLineStyle(frame)
	c.Stroke(b.Path())
	tickR := mathStyle(f.tick, text.XLeft, text.YCenter)
	for _, t := range L.ticks {
		y := b.Min.Y + vg.Length((t.Value-lo)/(hi-lo))*bh
		c.StrokeLine2(frame, b.Max.X, y, b.Max.X+heatTickLen, y)
		c.FillText(tickR, vg.Point{X: b.Max.X + heatTickLen + 2, Y: y}, t.Label)
	}
}
