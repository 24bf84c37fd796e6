package plots

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Defaults used when the corresponding field of [Options] (or argument of
// [GridPNG]) is zero.
const (
	// DefaultWidth is the width of a plot when Options.Width is zero.
	DefaultWidth = 6 * vg.Inch
	// DefaultHeight is the height of a plot when Options.Height is zero.
	DefaultHeight = 4 * vg.Inch
	// DefaultPanelSize is the width and height of one panel of [GridPNG]
	// when panelW or panelH is zero.
	DefaultPanelSize = 3 * vg.Inch
	// DefaultDPI is the resolution, in dots (pixels) per inch, when
	// Options.DPI or the dpi argument of [GridPNG] is zero.
	DefaultDPI = 120
	// MaxPixels is the largest width or height, in pixels, of an image
	// this package renders. It guards against a typo such as DPI 12000
	// allocating gigabytes.
	MaxPixels = 16384
)

// Series is one set of points: one line of [LinesPNG] or one colour group of
// [ScatterPNG].
type Series struct {
	// Name is the legend label. Series with an empty Name get no legend
	// entry.
	Name string
	// X holds the horizontal coordinates; it must have the same length as Y.
	X []float64
	// Y holds the vertical coordinates; it must have the same length as X.
	Y []float64
}

// Options controls the look of a plot. Its zero value gives a 6×4 inch,
// 120 DPI image with automatic axis ranges and no title or labels.
type Options struct {
	// Title is drawn above the plot; empty means no title.
	Title string
	// XLabel is the label of the horizontal axis; empty means none.
	XLabel string
	// YLabel is the label of the vertical axis; empty means none.
	YLabel string
	// Width is the image width; zero means DefaultWidth (6 inches). The
	// image is round(Width/inch·DPI) pixels wide. Ignored by GridPNG.
	Width vg.Length
	// Height is the image height; zero means DefaultHeight (4 inches). The
	// image is round(Height/inch·DPI) pixels high. Ignored by GridPNG.
	Height vg.Length
	// DPI is the resolution in pixels per inch; zero means DefaultDPI
	// (120). Ignored by GridPNG.
	DPI int
	// LogY makes the vertical axis logarithmic (base 10 ticks). Points
	// with Y ≤ 0 are skipped, like NaN points; fixed YMin and YMax must
	// then be > 0.
	LogY bool
	// LogX makes the horizontal axis logarithmic, as LogY does the
	// vertical one: points with X ≤ 0 are skipped and fixed XMin and XMax
	// must be > 0.
	LogX bool
	// Legend says where the legend goes: LegendRight (the zero value),
	// LegendBelow or LegendInside. Outside placements shrink the data
	// area to make room, so the legend never covers data.
	Legend LegendPos
	// XMin fixes the left end of the horizontal axis; nil means automatic
	// (the smallest X drawn).
	XMin *float64
	// XMax fixes the right end of the horizontal axis; nil means automatic
	// (the largest X drawn).
	XMax *float64
	// YMin fixes the bottom of the vertical axis; nil means automatic.
	YMin *float64
	// YMax fixes the top of the vertical axis; nil means automatic.
	YMax *float64
	// Equal gives both axes the same scale (one unit of X spans the same
	// length as one unit of Y), as wanted for 2-D samples. The axis
	// ranges are kept and the plot area is narrowed or shortened, centred
	// in the image. Not allowed together with LogY.
	Equal bool
	// PointRadius is the radius of scatter dots; zero means 1.2 points
	// (2 pixels at 120 DPI).
	PointRadius vg.Length
	// PointAlpha is the opacity of scatter dots in (0, 1]; zero means
	// automatic: α = clamp(0.8·√(1000/n), 0.15, 0.8), with n the number
	// of points drawn, so that dense clouds of 2,000–20,000 points show
	// their density instead of a solid blob.
	PointAlpha float64
}

// LegendPos is the place of a plot's legend.
type LegendPos int

const (
	// LegendRight puts the legend right of the data area, top-aligned
	// with it, in a strip taken from the width of the plot. It is the
	// default. A legend wider than 40% of the plot goes below instead.
	LegendRight LegendPos = iota
	// LegendBelow puts the legend under the plot, below the X axis label,
	// its entries side by side in as many rows as needed.
	LegendBelow
	// LegendInside draws the legend over the top right corner of the data
	// area on a translucent white box (the behaviour before LegendRight
	// became the default).
	LegendInside
)

// String returns the name of the constant, or "LegendPos(n)".
func (l LegendPos) String() string {
	switch l {
	case LegendRight:
		return "LegendRight"
	case LegendBelow:
		return "LegendBelow"
	case LegendInside:
		return "LegendInside"
	}
	return fmt.Sprintf("LegendPos(%d)", int(l))
}

// Line and dot styles; vg.Length is measured in points (1/72 inch).
const (
	lineWidth          = vg.Length(1.5) // points
	defaultPointRadius = vg.Length(1.2) // points
	legendDotRadius    = vg.Length(3)   // points
	outerMargin        = vg.Length(6)   // points of white space around a plot
)

// palette holds the series colours: gonum's seven dark colours, then teal,
// dark grey and olive, so that a plot of ten classes (digits, or the eight
// modes of gaussians8) gives each its own colour.
var palette = append(slices.Clone(plotutil.DarkColors),
	color.RGBA{R: 0, G: 150, B: 160, A: 255},
	color.RGBA{R: 70, G: 70, B: 70, A: 255},
	color.RGBA{R: 160, G: 150, B: 0, A: 255})

// seriesColor returns the colour of series i. Series are numbered across
// all groups of a plot (scatter groups first, then lines) so that the
// first len(palette) series of one plot have their own colours.
func seriesColor(i int) color.RGBA {
	return color.RGBAModel.Convert(palette[i%len(palette)]).(color.RGBA)
}

// seriesDashes returns the dash pattern of line i. The dash index advances
// once more after every full cycle of colours, so that (colour, dash) pairs
// stay distinct for len(palette)·len(dashes) series.
func seriesDashes(i int) []vg.Length {
	nc := len(palette)
	return plotutil.Dashes((i + i/nc) % len(plotutil.DefaultDashes))
}

// fontSizes are the text sizes, in points, of one plot.
type fontSizes struct {
	title, label, tick, legend vg.Length
}

var (
	singleFonts = fontSizes{title: 13, label: 11, tick: 9, legend: 10}
	panelFonts  = fontSizes{title: 10, label: 9, tick: 7.5, legend: 8}
)

// LinesPNG draws each series as a line, each with its own colour and dash
// pattern, with a legend entry for every series that has a Name, and
// returns the PNG encoding of the image.
//
// Points with a NaN or infinite coordinate (or, with LogY, Y ≤ 0) are
// skipped and break the line there. It returns an error if series is
// empty, if a series is empty or its X and Y differ in length, if the
// options are invalid, or if no point is left to draw.
func LinesPNG(series []Series, opts Options) ([]byte, error) {
	const fn = "LinesPNG"
	if len(series) == 0 {
		return nil, fmt.Errorf("plots: %s: no series to plot", fn)
	}
	img, _, err := renderSingle(fn, nil, series, opts)
	if err != nil {
		return nil, err
	}
	return encode(fn, img)
}

// ScatterPNG draws each group as a cloud of small semi-transparent dots
// (see [Options.PointRadius] and [Options.PointAlpha]), one colour per
// group, with a legend when there is more than one group, and returns the
// PNG encoding of the image.
//
// Points with a NaN or infinite coordinate (or, with LogY, Y ≤ 0) are
// skipped. It returns an error if groups is empty, if a group is empty or
// its X and Y differ in length, if the options are invalid, or if no point
// is left to draw.
func ScatterPNG(groups []Series, opts Options) ([]byte, error) {
	const fn = "ScatterPNG"
	if len(groups) == 0 {
		return nil, fmt.Errorf("plots: %s: no groups to plot", fn)
	}
	img, _, err := renderSingle(fn, groups, nil, opts)
	if err != nil {
		return nil, err
	}
	return encode(fn, img)
}

// EncodePNG returns the PNG encoding of img.
func EncodePNG(img image.Image) ([]byte, error) {
	if img == nil {
		return nil, fmt.Errorf("plots: EncodePNG: nil image")
	}
	return encode("EncodePNG", img)
}

func encode(fn string, img image.Image) ([]byte, error) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("plots: %s: encoding PNG: %w", fn, err)
	}
	return buf.Bytes(), nil
}

// imageSize checks a requested image size and returns its size in pixels,
// round(w/inch·dpi) × round(h/inch·dpi), the same rounding vgimg uses.
func imageSize(fn string, w, h vg.Length, dpi int) (int, int, error) {
	if w <= 0 || h <= 0 || math.IsNaN(float64(w)) || math.IsNaN(float64(h)) {
		return 0, 0, fmt.Errorf("plots: %s: width and height must be > 0, got %v × %v", fn, w, h)
	}
	if dpi <= 0 {
		return 0, 0, fmt.Errorf("plots: %s: DPI must be > 0, got %d", fn, dpi)
	}
	pw := math.Floor(float64(w/vg.Inch)*float64(dpi) + 0.5)
	ph := math.Floor(float64(h/vg.Inch)*float64(dpi) + 0.5)
	if pw < 1 || ph < 1 || pw > MaxPixels || ph > MaxPixels {
		return 0, 0, fmt.Errorf("plots: %s: image of %v × %v at %d DPI would be %.0f × %.0f pixels; each side must be in [1, %d]",
			fn, w, h, dpi, pw, ph, MaxPixels)
	}
	return int(pw), int(ph), nil
}

// checkOptions validates the parts of opts that do not depend on the data.
func checkOptions(fn string, opts Options) error {
	if opts.Width < 0 || opts.Height < 0 {
		return fmt.Errorf("plots: %s: Width and Height must be ≥ 0 (0 = default), got %v × %v", fn, opts.Width, opts.Height)
	}
	if opts.DPI < 0 {
		return fmt.Errorf("plots: %s: DPI must be ≥ 0 (0 = default), got %d", fn, opts.DPI)
	}
	if opts.PointRadius < 0 || math.IsNaN(float64(opts.PointRadius)) {
		return fmt.Errorf("plots: %s: PointRadius must be ≥ 0 (0 = default), got %v", fn, opts.PointRadius)
	}
	if !(opts.PointAlpha >= 0 && opts.PointAlpha <= 1) {
		return fmt.Errorf("plots: %s: PointAlpha must be in [0, 1] (0 = automatic), got %v", fn, opts.PointAlpha)
	}
	if opts.Equal && opts.LogY {
		return fmt.Errorf("plots: %s: Equal and LogY cannot be used together", fn)
	}
	if opts.Equal && opts.LogX {
		return fmt.Errorf("plots: %s: Equal and LogX cannot be used together", fn)
	}
	if opts.Legend < LegendRight || opts.Legend > LegendInside {
		return fmt.Errorf("plots: %s: Legend must be LegendRight, LegendBelow or LegendInside, got %v", fn, opts.Legend)
	}
	for _, l := range []struct {
		name string
		v    *float64
	}{{"XMin", opts.XMin}, {"XMax", opts.XMax}, {"YMin", opts.YMin}, {"YMax", opts.YMax}} {
		if l.v == nil {
			continue
		}
		if math.IsNaN(*l.v) || math.IsInf(*l.v, 0) {
			return fmt.Errorf("plots: %s: %s must be finite, got %v", fn, l.name, *l.v)
		}
		if opts.LogY && l.name[0] == 'Y' && *l.v <= 0 {
			return fmt.Errorf("plots: %s: with LogY, %s must be > 0, got %v", fn, l.name, *l.v)
		}
		if opts.LogX && l.name[0] == 'X' && *l.v <= 0 {
			return fmt.Errorf("plots: %s: with LogX, %s must be > 0, got %v", fn, l.name, *l.v)
		}
	}
	if opts.XMin != nil && opts.XMax != nil && !(*opts.XMin < *opts.XMax) {
		return fmt.Errorf("plots: %s: XMin (%v) must be < XMax (%v)", fn, *opts.XMin, *opts.XMax)
	}
	if opts.YMin != nil && opts.YMax != nil && !(*opts.YMin < *opts.YMax) {
		return fmt.Errorf("plots: %s: YMin (%v) must be < YMax (%v)", fn, *opts.YMin, *opts.YMax)
	}
	return nil
}

// checkSeries validates the lengths of a list of series; what names the
// list in error messages ("series", "group", "panel 2 scatter group").
func checkSeries(fn, what string, ss []Series) error {
	for i, s := range ss {
		if len(s.X) != len(s.Y) {
			return fmt.Errorf("plots: %s: %s %d (%q): len(X) = %d differs from len(Y) = %d", fn, what, i, s.Name, len(s.X), len(s.Y))
		}
		if len(s.X) == 0 {
			return fmt.Errorf("plots: %s: %s %d (%q) has no points", fn, what, i, s.Name)
		}
	}
	return nil
}

// drawable reports whether the point (x, y) can be drawn: both coordinates
// finite and, on a logarithmic axis, > 0.
func drawable(x, y float64, logX, logY bool) bool {
	if math.IsNaN(x) || math.IsInf(x, 0) || math.IsNaN(y) || math.IsInf(y, 0) {
		return false
	}
	return (!logX || x > 0) && (!logY || y > 0)
}

// legendEntry is one line of a legend.
type legendEntry struct {
	name  string
	thumb plot.Thumbnailer
}

// dotThumb draws an opaque dot as the legend thumbnail of a scatter group,
// larger than the faint dots of the plot so that its colour is readable.
type dotThumb struct{ c color.Color }

// Thumbnail implements plot.Thumbnailer.
func (d dotThumb) Thumbnail(c *draw.Canvas) {
	c.DrawGlyph(draw.GlyphStyle{Color: d.c, Radius: legendDotRadius, Shape: draw.CircleGlyph{}}, c.Center())
}

// figure is a plot ready to be drawn, with what gonum's Plot does not hold.
type figure struct {
	p         *plot.Plot
	legend    []legendEntry
	legendPos LegendPos
	placed    LegendPos // where the legend goes; set by legendRoom
	equal     bool
	fonts     fontSizes
	xLabel    string // drawn under the X axis
	yLabel    string // drawn, rotated, left of the Y axis
	// hideLegend reserves the legend's room but leaves it blank; tests
	// use it to tell legend pixels from the rest.
	hideLegend bool
}

// hideLegends sets figure.hideLegend in every figure built; tests only.
var hideLegends bool

// buildFigure validates scatter groups and lines and turns them into a
// figure. what prefixes the series kind in error messages.
func buildFigure(fn, what string, scatter, lines []Series, opts Options, fonts fontSizes) (*figure, error) {
	if err := checkOptions(fn, opts); err != nil {
		return nil, err
	}
	if err := checkSeries(fn, what+"group", scatter); err != nil {
		return nil, err
	}
	if err := checkSeries(fn, what+"series", lines); err != nil {
		return nil, err
	}

	p := plot.New()
	p.Title.Text = opts.Title
	p.Title.TextStyle.Font = font.From(plot.DefaultFont, fonts.title)
	p.Title.TextStyle.Handler = mathHandler
	p.Title.Padding = vg.Points(4)
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = font.From(plot.DefaultFont, fonts.label)
		a.Label.TextStyle.Handler = mathHandler
		a.Tick.Label.Font = font.From(plot.DefaultFont, fonts.tick)
		a.Tick.Label.Handler = mathHandler
		a.Tick.Length = vg.Points(5)
		a.Tick.Marker = linearTicks{}
		a.Padding = vg.Points(3)
	}
	p.Legend.TextStyle.Handler = mathHandler
	// The axis labels are drawn by figure.draw, not by gonum, whose
	// layout misplaces them on logarithmic axes (it takes the label's
	// middle at the arithmetic mean of the range).
	if opts.LogY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = logTicks{}
	}
	if opts.LogX {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = logTicks{}
	}
	fig := &figure{p: p, equal: opts.Equal, fonts: fonts, legendPos: opts.Legend, xLabel: opts.XLabel, yLabel: opts.YLabel, hideLegend: hideLegends}

	drawn := 0
	// Scatter groups take colours 0..len(scatter)-1, lines the following
	// ones, so a panel mixing both never repeats a colour.
	radius := opts.PointRadius
	if radius == 0 {
		radius = defaultPointRadius
	}
	var groups []plotter.XYs
	total := 0
	for _, s := range scatter {
		var xys plotter.XYs
		for j := range s.X {
			if drawable(s.X[j], s.Y[j], opts.LogX, opts.LogY) {
				xys = append(xys, plotter.XY{X: s.X[j], Y: s.Y[j]})
			}
		}
		groups = append(groups, xys)
		total += len(xys)
	}
	alpha := opts.PointAlpha
	if alpha == 0 {
		alpha = autoAlpha(total)
	}
	for i, xys := range groups {
		col := seriesColor(i)
		if len(xys) > 0 {
			p.Add(&plotter.Scatter{XYs: xys, GlyphStyle: draw.GlyphStyle{
				Color:  color.NRGBA{R: col.R, G: col.G, B: col.B, A: uint8(math.Round(255 * alpha))},
				Radius: radius,
				Shape:  draw.CircleGlyph{},
			}})
		}
		drawn += len(xys)
		if len(scatter) > 1 && scatter[i].Name != "" {
			fig.legend = append(fig.legend, legendEntry{scatter[i].Name, dotThumb{col}})
		}
	}
	for i, s := range lines {
		k := len(scatter) + i
		sty := draw.LineStyle{Color: seriesColor(k), Width: lineWidth, Dashes: seriesDashes(k)}
		var seg plotter.XYs
		flush := func() {
			if len(seg) > 0 {
				p.Add(&plotter.Line{XYs: seg, LineStyle: sty})
				drawn += len(seg)
			}
			seg = nil
		}
		for j := range s.X {
			if drawable(s.X[j], s.Y[j], opts.LogX, opts.LogY) {
				seg = append(seg, plotter.XY{X: s.X[j], Y: s.Y[j]})
			} else {
				flush()
			}
		}
		flush()
		if s.Name != "" {
			fig.legend = append(fig.legend, legendEntry{s.Name, &plotter.Line{LineStyle: sty}})
		}
	}
	if drawn == 0 {
		if opts.LogX || opts.LogY {
			return nil, fmt.Errorf("plots: %s: no point with finite X and Y, and > 0 on the log axis (LogX %v, LogY %v), to plot", fn, opts.LogX, opts.LogY)
		}
		return nil, fmt.Errorf("plots: %s: no point with finite X and Y to plot", fn)
	}
	setRange(&p.X, opts.XMin, opts.XMax, opts.LogX)
	setRange(&p.Y, opts.YMin, opts.YMax, opts.LogY)
	// gonum's tick placement loops forever when Max−Min overflows.
	for _, ax := range []struct {
		name string
		a    *plot.Axis
	}{{"X", &p.X}, {"Y", &p.Y}} {
		if span := ax.a.Max - ax.a.Min; math.IsInf(span, 0) || math.IsNaN(span) {
			return nil, fmt.Errorf("plots: %s: %s range [%g, %g] is too wide to draw: its length overflows float64", fn, ax.name, ax.a.Min, ax.a.Max)
		}
	}
	if opts.LogY && !(p.Y.Min > 0) {
		return nil, fmt.Errorf("plots: %s: log Y range [%g, %g] reaches 0 (values too close to 0)", fn, p.Y.Min, p.Y.Max)
	}
	if opts.LogX && !(p.X.Min > 0) {
		return nil, fmt.Errorf("plots: %s: log X range [%g, %g] reaches 0 (values too close to 0)", fn, p.X.Min, p.X.Max)
	}
	return fig, nil
}

// autoAlpha is the default opacity of n scatter dots,
// α = clamp(0.8·√(1000/n), 0.15, 0.8).
func autoAlpha(n int) float64 {
	if n <= 0 {
		return 0.8
	}
	return math.Max(0.15, math.Min(0.8, 0.8*math.Sqrt(1000/float64(n))))
}

// setRange applies the fixed ends of an axis on top of the data range that
// plot.Add computed, and makes sure the range is not empty: a degenerate
// range a..a becomes a−1..a+1 (a/2..2a on a log axis), and an end left
// automatic that falls on the wrong side of a fixed end is moved one unit
// (one factor of 10 on a log axis) away from it.
func setRange(a *plot.Axis, lo, hi *float64, log bool) {
	if lo != nil {
		a.Min = *lo
	}
	if hi != nil {
		a.Max = *hi
	}
	if a.Min < a.Max {
		return
	}
	switch {
	case lo != nil && hi == nil:
		if log {
			a.Max = a.Min * 10
		} else {
			a.Max = a.Min + 1
		}
	case hi != nil && lo == nil:
		if log {
			a.Min = a.Max / 10
		} else {
			a.Min = a.Max - 1
		}
	default: // both automatic and equal: a single value
		if log {
			a.Min, a.Max = a.Min/2, a.Max*2
		} else {
			a.Min, a.Max = a.Min-1, a.Max+1
		}
	}
}

// equalCrop narrows or shortens c, keeping it centred, until the data area
// has width/height = (X.Max−X.Min)/(Y.Max−Y.Min), so that one unit spans the
// same length on both axes. The data area does not shrink exactly as the
// canvas does (glyph padding), so the correction is repeated a few times.
func (f *figure) equalCrop(c draw.Canvas) draw.Canvas {
	for range 4 {
		dc := f.p.DataCanvas(c) // also sanitizes the axis ranges
		w, h := float64(dc.Max.X-dc.Min.X), float64(dc.Max.Y-dc.Min.Y)
		rx, ry := f.p.X.Max-f.p.X.Min, f.p.Y.Max-f.p.Y.Min
		if w <= 0 || h <= 0 || rx <= 0 || ry <= 0 {
			return c
		}
		want := rx / ry
		switch {
		case w/h > want*(1+1e-4):
			d := vg.Length((w - h*want) / 2)
			c = draw.Crop(c, d, -d, 0, 0)
		case w/h < want*(1-1e-4):
			d := vg.Length((h - w/want) / 2)
			c = draw.Crop(c, 0, 0, d, -d)
		default:
			return c
		}
	}
	return c
}

// raster is a rendered image with the pixel rectangles of its data areas.
type raster struct {
	img  image.Image
	data []image.Rectangle
}

// render allocates a w×h canvas at dpi, lets paint draw on it and returns
// the image and the data areas (in drawing coordinates) that paint reported,
// converted to pixels. A panic inside gonum/plot becomes an error.
func render(fn string, w, h vg.Length, dpi int, paint func(c draw.Canvas) []vg.Rectangle) (out raster, err error) {
	if _, _, err := imageSize(fn, w, h, dpi); err != nil {
		return raster{}, err
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("plots: %s: rendering failed: %v", fn, r)
		}
	}()
	cv := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(dpi))
	areas := paint(draw.New(cv))
	img := cv.Image()
	hpx := img.Bounds().Dy()
	d := float64(dpi)
	for _, a := range areas {
		out.data = append(out.data, image.Rect(
			int(math.Round(a.Min.X.Dots(d))), hpx-int(math.Round(a.Max.Y.Dots(d))),
			int(math.Round(a.Max.X.Dots(d))), hpx-int(math.Round(a.Min.Y.Dots(d)))))
	}
	out.img = img
	return out, nil
}

// renderSingle draws one figure in an image sized by opts.
func renderSingle(fn string, scatter, lines []Series, opts Options) (image.Image, []image.Rectangle, error) {
	fig, err := buildFigure(fn, "", scatter, lines, opts, singleFonts)
	if err != nil {
		return nil, nil, err
	}
	w, h, dpi := opts.Width, opts.Height, opts.DPI
	if w == 0 {
		w = DefaultWidth
	}
	if h == 0 {
		h = DefaultHeight
	}
	if dpi == 0 {
		dpi = DefaultDPI
	}
	r, err := render(fn, w, h, dpi, func(c draw.Canvas) []vg.Rectangle {
		m := outerMargin
		c = draw.Crop(c, m, -m, m, -m)
		right, below := fig.legendRoom(c.Max.X - c.Min.X)
		left, bottom := fig.labelRoom()
		return []vg.Rectangle{fig.draw(c, right, below, left, bottom)}
	})
	return r.img, r.data, err
}
