package plots

import (
	"image/color"
	"math"

	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Legend geometry, in points.
const (
	legendThumbW  = vg.Length(18) // width of a line or dot sample
	legendTextGap = vg.Length(3)  // between a sample and its name
	legendColGap  = vg.Length(10) // between entries side by side (LegendBelow)
	legendRowGap  = vg.Length(1)  // between rows of entries
	legendGap     = vg.Length(8)  // between the plot and an outside legend
	legendInset   = vg.Length(4)  // padding inside the LegendInside box
	legendMaxFrac = 0.4           // widest LegendRight legend, as a fraction of the plot
)

// legendStyle returns the style of the legend's text.
func (f *figure) legendStyle() text.Style {
	return mathStyle(f.fonts.legend, text.XLeft, text.YBottom)
}

// entrySize returns the width of each legend entry and the height of one
// row of entries.
func (f *figure) entrySize() ([]vg.Length, vg.Length) {
	sty := f.legendStyle()
	ws := make([]vg.Length, len(f.legend))
	var h vg.Length
	for i, e := range f.legend {
		ws[i] = legendThumbW + legendTextGap + sty.Width(e.name)
		h = max(h, sty.Height(e.name))
	}
	return ws, h
}

// legendRows splits the entries into rows no wider than maxW (at least one
// entry per row) and returns the index of the first entry of each row.
func legendRows(ws []vg.Length, maxW vg.Length) []int {
	var starts []int
	var x vg.Length
	for i, w := range ws {
		if i == 0 || x+legendColGap+w > maxW {
			starts = append(starts, i)
			x = w
			continue
		}
		x += legendColGap + w
	}
	return starts
}

// placement returns where the legend of f goes in a plot width wide: the
// requested place, except that a LegendRight legend wider than
// legendMaxFrac of the plot goes below.
func (f *figure) placement(width vg.Length) LegendPos {
	if f.legendPos != LegendRight || len(f.legend) == 0 {
		return f.legendPos
	}
	ws, _ := f.entrySize()
	var w vg.Length
	for _, x := range ws {
		w = max(w, x)
	}
	if legendGap+w > legendMaxFrac*width {
		return LegendBelow
	}
	return LegendRight
}

// legendRoom returns the width to take from the right and the height to
// take from the bottom of a plot width wide to make room for its legend,
// and fixes the legend's placement for draw.
func (f *figure) legendRoom(width vg.Length) (right, below vg.Length) {
	if len(f.legend) == 0 {
		return 0, 0
	}
	ws, h := f.entrySize()
	f.placed = f.placement(width)
	switch f.placed {
	case LegendRight:
		for _, w := range ws {
			right = max(right, w)
		}
		return legendGap + right, 0
	case LegendBelow:
		n := len(legendRows(ws, width))
		return 0, legendGap + vg.Length(n)*h + vg.Length(n-1)*legendRowGap
	}
	return 0, 0
}

// axisLabelPad is the space between an axis label and the tick labels.
const axisLabelPad = vg.Length(3)

// labelRoom returns the width the Y axis label takes left of the plot and
// the height the X axis label takes below it.
func (f *figure) labelRoom() (left, bottom vg.Length) {
	sty := mathStyle(f.fonts.label, text.XCenter, text.YCenter)
	if f.yLabel != "" {
		left = sty.Height(f.yLabel) + axisLabelPad
	}
	if f.xLabel != "" {
		bottom = sty.Height(f.xLabel) + axisLabelPad
	}
	return left, bottom
}

// fillCentered draws s in sty rotated by rot with the centre of its box at
// p. MathText, like text.Plain, places a box (size − ascent − descent)
// above the alignment point; this is undone here.
func fillCentered(c draw.Canvas, sty text.Style, rot float64, p vg.Point, s string) {
	sty.XAlign, sty.YAlign, sty.Rotation = text.XCenter, text.YCenter, rot
	ext := sty.FontExtents()
	d := sty.Font.Size - ext.Ascent - ext.Descent
	sin, cos := math.Sincos(rot)
	c.FillText(sty, vg.Point{X: p.X + d*vg.Length(sin), Y: p.Y - d*vg.Length(cos)}, s)
}

// draw draws the figure into c, keeping a strip right wide on the right
// and one below high at the bottom for the legend (see legendRoom), and
// strips left wide and bottom high for the axis labels (see labelRoom);
// in a grid they are the largest of several panels. It returns the
// rectangle of its data area.
func (f *figure) draw(c draw.Canvas, right, below, left, bottom vg.Length) vg.Rectangle {
	full := c
	c = draw.Crop(c, left, -right, below+bottom, 0)
	if f.equal {
		c = f.equalCrop(c)
	}
	// gonum centres the title on c, which Equal narrows and the legend
	// strip shifts: a long title would then run off the image. Its room is
	// kept (gonum lays it out, in a transparent colour), and it is drawn
	// here where gonum would, moved sideways as little as needed to stay
	// inside the figure.
	tsty := f.p.Title.TextStyle
	f.p.Title.TextStyle.Color = color.Transparent
	f.p.Draw(c)
	f.p.Title.TextStyle = tsty
	dc := f.p.DataCanvas(c)
	if t := f.p.Title.Text; t != "" {
		w := tsty.Width(t)
		x := (c.Min.X + c.Max.X) / 2
		x = max(full.Min.X+w/2, min(x, full.Max.X-w/2))
		if w > full.Max.X-full.Min.X {
			x = (full.Min.X + full.Max.X) / 2
		}
		full.FillText(tsty, vg.Point{X: x, Y: c.Max.Y + tsty.FontExtents().Descent}, t)
	}
	lsty := mathStyle(f.fonts.label, text.XCenter, text.YCenter)
	if f.xLabel != "" {
		h := lsty.Height(f.xLabel)
		fillCentered(full, lsty, 0, vg.Point{X: (dc.Min.X + dc.Max.X) / 2, Y: c.Min.Y - axisLabelPad - h/2}, f.xLabel)
	}
	if f.yLabel != "" {
		h := lsty.Height(f.yLabel)
		fillCentered(full, lsty, math.Pi/2, vg.Point{X: c.Min.X - axisLabelPad - h/2, Y: (dc.Min.Y + dc.Max.Y) / 2}, f.yLabel)
	}
	if len(f.legend) > 0 && !f.hideLegend {
		ws, h := f.entrySize()
		switch f.placed {
		case LegendRight:
			f.drawEntries(full, c.Max.X+legendGap, dc.Max.Y, ws, h, oneEach(len(ws)), true)
		case LegendBelow:
			starts := legendRows(ws, full.Max.X-full.Min.X)
			f.drawEntries(full, (dc.Min.X+dc.Max.X)/2, full.Min.Y+below-legendGap, ws, h, starts, false)
		default:
			f.drawInside(dc, ws, h)
		}
	}
	return dc.Rectangle
}

// drawEntries draws the legend entries in rows starting at the given
// indices, the first row's top at top. With left set, rows start at x;
// otherwise each row is centred on x (and kept inside c).
func (f *figure) drawEntries(c draw.Canvas, x, top vg.Length, ws []vg.Length, h vg.Length, starts []int, left bool) {
	sty := f.legendStyle()
	ext := sty.FontExtents()
	// MathText places a box's bottom at pt.Y + (size − ascent − descent).
	lift := sty.Font.Size - ext.Ascent - ext.Descent
	y := top
	for r, s := range starts {
		end := len(f.legend)
		if r+1 < len(starts) {
			end = starts[r+1]
		}
		var rowW vg.Length
		for i := s; i < end; i++ {
			rowW += ws[i]
			if i > s {
				rowW += legendColGap
			}
		}
		ex := x
		if !left {
			ex = max(c.Min.X, min(x-rowW/2, c.Max.X-rowW))
		}
		for i := s; i < end; i++ {
			e := f.legend[i]
			tc := draw.Canvas{Canvas: c.Canvas, Rectangle: vg.Rectangle{
				Min: vg.Point{X: ex, Y: y - h}, Max: vg.Point{X: ex + legendThumbW, Y: y}}}
			e.thumb.Thumbnail(&tc)
			th := sty.Height(e.name)
			c.FillText(sty, vg.Point{X: ex + legendThumbW + legendTextGap, Y: y - h + (h-th)/2 - lift}, e.name)
			ex += ws[i] + legendColGap
		}
		y -= h + legendRowGap
	}
}

// drawInside draws the legend in the top right corner of the data area dc
// on a translucent white box, so that it stays readable over dense data.
func (f *figure) drawInside(dc draw.Canvas, ws []vg.Length, h vg.Length) {
	var w vg.Length
	for _, x := range ws {
		w = max(w, x)
	}
	n := vg.Length(len(f.legend))
	box := vg.Rectangle{
		Min: vg.Point{X: dc.Max.X - legendInset/2 - 2*legendInset - w, Y: dc.Max.Y - legendInset/2 - 2*legendInset - n*h - (n-1)*legendRowGap},
		Max: vg.Point{X: dc.Max.X - legendInset/2, Y: dc.Max.Y - legendInset/2},
	}
	dc.SetColor(color.NRGBA{R: 255, G: 255, B: 255, A: 215})
	dc.Fill(box.Path())
	dc.SetLineStyle(draw.LineStyle{Color: color.Gray{Y: 180}, Width: vg.Points(0.5)})
	dc.Stroke(box.Path())
	f.drawEntries(dc, box.Min.X+legendInset, box.Max.Y-legendInset, ws, h, oneEach(len(ws)), true)
}

// oneEach returns 0, 1, …, n−1: the row starts of a legend with one entry
// per row.
func oneEach(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}
