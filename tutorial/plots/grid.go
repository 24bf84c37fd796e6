package plots

import (
	"fmt"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Panel is one subplot of [GridPNG]: scatter groups, lines, or both (the
// lines are drawn over the dots).
type Panel struct {
	// Title is drawn above the panel; when empty, Opts.Title is used.
	Title string
	// Scatter holds the groups drawn as dots, as in [ScatterPNG].
	Scatter []Series
	// Lines holds the series drawn as lines, as in [LinesPNG].
	Lines []Series
	// Opts sets labels, axis ranges, LogY, Equal and dot style of this
	// panel; its Width, Height and DPI are ignored (GridPNG's arguments
	// size the panels).
	Opts Options
}

// GridPNG draws panels in a grid of subplots, row by row, cols per row,
// each panel panelW × panelH, and returns the PNG encoding of the image,
// which is round(cols·panelW/inch·dpi) × round(rows·panelH/inch·dpi) pixels
// with rows = ⌈len(panels)/cols⌉. The data areas of the panels are aligned
// across rows and columns; cells after the last panel stay blank.
//
// Zero values mean defaults: cols 0 puts all panels in one row, panelW or
// panelH 0 means DefaultPanelSize (3 inches), dpi 0 means DefaultDPI. Scatter
// groups get a legend when a panel has more than one; lines with a Name
// always do. It returns an error, naming the panel, if panels is empty, a
// size is negative, or a panel has no series or invalid series or options.
func GridPNG(panels []Panel, cols int, panelW, panelH vg.Length, dpi int) ([]byte, error) {
	const fn = "GridPNG"
	r, err := renderGrid(fn, panels, cols, panelW, panelH, dpi)
	if err != nil {
		return nil, err
	}
	return encode(fn, r.img)
}

// renderGrid draws the grid and returns the image with the data area of
// every panel, in panel order.
func renderGrid(fn string, panels []Panel, cols int, panelW, panelH vg.Length, dpi int) (raster, error) {
	if len(panels) == 0 {
		return raster{}, fmt.Errorf("plots: %s: no panels to plot", fn)
	}
	if cols < 0 {
		return raster{}, fmt.Errorf("plots: %s: cols must be ≥ 0 (0 = one row), got %d", fn, cols)
	}
	if panelW < 0 || panelH < 0 {
		return raster{}, fmt.Errorf("plots: %s: panel size must be ≥ 0 (0 = default), got %v × %v", fn, panelW, panelH)
	}
	if dpi < 0 {
		return raster{}, fmt.Errorf("plots: %s: dpi must be ≥ 0 (0 = default), got %d", fn, dpi)
	}
	if cols == 0 {
		cols = len(panels)
	}
	if panelW == 0 {
		panelW = DefaultPanelSize
	}
	if panelH == 0 {
		panelH = DefaultPanelSize
	}
	if dpi == 0 {
		dpi = DefaultDPI
	}
	rows := (len(panels) + cols - 1) / cols

	figs := make([]*figure, len(panels))
	grid := make([][]*plot.Plot, rows)
	for j := range grid {
		grid[j] = make([]*plot.Plot, cols)
	}
	for i, pn := range panels {
		if len(pn.Scatter) == 0 && len(pn.Lines) == 0 {
			return raster{}, fmt.Errorf("plots: %s: panel %d (%q) has neither scatter groups nor lines", fn, i, pn.Title)
		}
		opts := pn.Opts
		opts.Width, opts.Height, opts.DPI = 0, 0, 0
		if pn.Title != "" {
			opts.Title = pn.Title
		}
		f, err := buildFigure(fn, fmt.Sprintf("panel %d ", i), pn.Scatter, pn.Lines, opts, panelFonts)
		if err != nil {
			return raster{}, err
		}
		figs[i] = f
		grid[i/cols][i%cols] = f.p
	}

	return render(fn, vg.Length(cols)*panelW, vg.Length(rows)*panelH, dpi, func(c draw.Canvas) []vg.Rectangle {
		m := outerMargin
		c = draw.Crop(c, m, -m, m, -m)
		tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: 2 * m, PadY: 2 * m}
		// Legends outside the data take the same room in every panel of
		// the grid (right) or of the row (below), so that the data areas
		// stay aligned and equal in size.
		cellW := (c.Max.X - c.Min.X - vg.Length(cols-1)*tiles.PadX) / vg.Length(cols)
		// Axis labels take the same room in every panel of a column
		// (left) or row (bottom).
		var right vg.Length
		below := make([]vg.Length, rows)
		bottom := make([]vg.Length, rows)
		left := make([]vg.Length, cols)
		for i, f := range figs {
			r, b := f.legendRoom(cellW)
			right = max(right, r)
			below[i/cols] = max(below[i/cols], b)
			l, bt := f.labelRoom()
			left[i%cols] = max(left[i%cols], l)
			bottom[i/cols] = max(bottom[i/cols], bt)
		}
		cells := plot.Align(grid, tiles, c)
		areas := make([]vg.Rectangle, len(figs))
		for i, f := range figs {
			areas[i] = f.draw(cells[i/cols][i%cols], right, below[i/cols], left[i%cols], bottom[i/cols])
		}
		return areas
	})
}
