package plots

import "math"

// ShareAxes gives panels that are to be compared the same axis ranges: with
// x set, every panel's Opts.XMin and Opts.XMax are set to the union of the
// X ranges of all panels, and with y set likewise for Y. A panel's range
// is the range of the points it draws (finite, and > 0 on a log axis),
// widened to the ends it already fixes, so fixed ranges are kept inside
// the union; points outside a fixed end (of either axis) are not drawn and
// do not count. A panel with a log axis gets the union of the positive
// ranges only. Nothing is changed on an axis where the union is empty or
// a single value (automatic ranges handle that case).
func ShareAxes(panels []Panel, x, y bool) {
	if x {
		shareAxis(panels, true)
	}
	if y {
		shareAxis(panels, false)
	}
}

// shareAxis implements ShareAxes for one axis.
func shareAxis(panels []Panel, isX bool) {
	all := [2]float64{math.Inf(1), math.Inf(-1)}
	pos := all
	widen := func(v float64) {
		all[0], all[1] = math.Min(all[0], v), math.Max(all[1], v)
		if v > 0 {
			pos[0], pos[1] = math.Min(pos[0], v), math.Max(pos[1], v)
		}
	}
	for _, p := range panels {
		o := p.Opts
		lo, hi := o.YMin, o.YMax
		if isX {
			lo, hi = o.XMin, o.XMax
		}
		for _, l := range []*float64{lo, hi} {
			if l != nil && !math.IsNaN(*l) && !math.IsInf(*l, 0) {
				widen(*l)
			}
		}
		for _, ss := range [][]Series{p.Scatter, p.Lines} {
			for _, s := range ss {
				for j := range min(len(s.X), len(s.Y)) {
					if !drawable(s.X[j], s.Y[j], o.LogX, o.LogY) {
						continue
					}
					// Points outside a fixed end of either axis are
					// not drawn.
					if !within(s.X[j], o.XMin, o.XMax) || !within(s.Y[j], o.YMin, o.YMax) {
						continue
					}
					if isX {
						widen(s.X[j])
					} else {
						widen(s.Y[j])
					}
				}
			}
		}
	}
	for i := range panels {
		o := &panels[i].Opts
		r, log := all, o.LogY
		if isX {
			log = o.LogX
		}
		if log {
			r = pos
		}
		if !(r[0] < r[1]) {
			continue
		}
		lo, hi := r[0], r[1]
		if isX {
			o.XMin, o.XMax = &lo, &hi
		} else {
			o.YMin, o.YMax = &lo, &hi
		}
	}
}

// within reports whether v lies within the fixed ends lo and hi (nil =
// automatic).
func within(v float64, lo, hi *float64) bool {
	return (lo == nil || v >= *lo) && (hi == nil || v <= *hi)
}
