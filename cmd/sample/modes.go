package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/godiffusion/diffusion-models/tutorial/toy2d"
)

// modeFigures prints, and adds to obj, the mode figures of samples of a
// labelled dataset whose modes (toy2d.Labeled.Mode, −1: none) are modes:
// the share of the samples in each mode (mode_shares), for gaussians8 the
// share in none (off_mode), and, when labels is not nil, the share whose
// mode is their label (in_requested_mode).
func modeFigures(stdout io.Writer, ds toy2d.Labeled, modes []int, labels []int32, obj map[string]any) {
	n := float64(len(modes))
	shares := make([]float64, ds.Classes())
	off, in := 0.0, 0
	for i, m := range modes {
		if m >= 0 {
			shares[m]++
		} else {
			off++
		}
		if labels != nil && m == int(labels[i]) {
			in++
		}
	}
	var sb strings.Builder
	for i := range shares {
		shares[i] /= n
		if i > 0 {
			sb.WriteString(" ")
		}
		fmt.Fprintf(&sb, "%.3f", shares[i])
	}
	if _, isG8 := ds.(toy2d.Gaussians8); isG8 {
		fmt.Fprintf(stdout, "mode shares (within 0.5 of a centre): %s; off-mode %.3f\n", sb.String(), off/n)
		obj["off_mode"] = off / n
	} else {
		fmt.Fprintf(stdout, "moon shares (nearest moon: outer, inner): %s\n", sb.String())
	}
	obj["mode_shares"] = shares
	if labels != nil {
		share := float64(in) / n
		fmt.Fprintf(stdout, "in the requested class's mode: %.3f of the samples\n", share)
		obj["in_requested_mode"] = share
	}
}
