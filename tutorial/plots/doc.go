// Package plots renders the figures of the tutorial as PNG images in memory:
// line plots (loss curves, schedules), scatter plots of 2-D samples, grids of
// such plots side by side, and grids of images produced by image diffusion
// models.
//
// All functions return PNG bytes (or an image.Image) rather than writing
// files, so that notebooks can display them directly and programs can store
// them with [WriteFileAtomic], which never leaves a half-written file behind.
//
// The plots are drawn with gonum.org/v1/plot. Zero values mean defaults: an
// [Options] zero value gives a 6×4 inch image at 120 dots per inch with
// automatic axis ranges.
//
// Non-finite values: points whose X or Y is NaN or ±Inf are skipped. In a
// line plot a skipped point breaks the line, so the line is drawn as separate
// pieces on either side of the gap instead of joining across it. With
// [Options.LogY], points with Y ≤ 0 are skipped the same way, because they
// have no place on a logarithmic axis. An error is returned only when nothing
// at all is left to draw.
package plots
