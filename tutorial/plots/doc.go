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
// Text: every text of a figure (titles, axis and tick labels, legends,
// heat map and grid labels) is drawn by [MathText], so labels may hold a
// little mathematics: "x_t", "x_{t-1}" (subscripts), "x^2", "e^{-t}"
// (superscripts), "log₁₀" and "10⁻³" (Unicode script digits), Greek
// letters and combining accents ("β̃_t", "ᾱ_t", "x̂₀"), drawn centred over
// their letter. Write "\_" for a literal underscore.
//
// Layout: legends sit outside the data, right of it by default or below it
// ([Options.Legend]; [LegendInside] restores a legend over the data). Linear
// axes get 4 to 8 labelled ticks at steps of 1, 2, 2.5 or 5 × 10ᵏ with
// unlabelled minor ticks between them and noise-free labels with a "−"
// sign; logarithmic axes ([Options.LogY], [Options.LogX]) get ticks at
// powers of ten (written 10⁻³ beyond [0.01, 10⁴]) and minor ticks at 2…9.
// [ShareAxes] gives panels of a [GridPNG] common ranges so that they can
// be compared, and [LabelledImageGrid] titles the rows and columns of an
// image grid.
//
// Non-finite values: points whose X or Y is NaN or ±Inf are skipped. In a
// line plot a skipped point breaks the line, so the line is drawn as separate
// pieces on either side of the gap instead of joining across it. With
// [Options.LogY] (or LogX), points with Y ≤ 0 (X ≤ 0) are skipped the same
// way, because they have no place on a logarithmic axis. An error is returned only when nothing
// at all is left to draw.
package plots
