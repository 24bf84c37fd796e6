package main

import (
	"encoding/json"
	"io"
)

// jsonTiming is a timing in the --json object, in milliseconds.
type jsonTiming struct {
	Median float64 `json:"median_ms"`
	Min    float64 `json:"min_ms"`
	Max    float64 `json:"max_ms"`
	First  float64 `json:"first_ms"`
	Runs   int     `json:"runs"`
}

// jsonSide is one side (Go or PyTorch) of one measured model.
type jsonSide struct {
	Params int        `json:"params"`
	Train  jsonTiming `json:"train"`
	Sample jsonTiming `json:"sample"`
	// PeakRSSMiB is the peak resident memory of the side's process (null: unknown).
	PeakRSSMiB *float64 `json:"peak_rss_mib"`
	// OtherCPU is the share of the CPUs other processes used meanwhile (null: unknown).
	OtherCPU *float64 `json:"other_cpu"`
	// Device is the peer's device; Backend the Go side's.
	Device  string `json:"device,omitempty"`
	Backend string `json:"backend,omitempty"`
}

// jsonRatios are Go/PyTorch ratios of medians (train, sample) and of peak
// resident memory; null when the peer did not run or a figure is unknown.
type jsonRatios struct {
	Train  *float64 `json:"train_ratio"`
	Sample *float64 `json:"sample_ratio"`
	Memory *float64 `json:"memory_ratio"`
}

// jsonPart is one measured model: the MLP with one activation, or the UNet.
type jsonPart struct {
	Label   string    `json:"label"`
	Model   string    `json:"model"`
	Batch   int       `json:"batch"`
	Samples int       `json:"samples"`
	Go      jsonSide  `json:"go"`
	PyTorch *jsonSide `json:"pytorch"`
	jsonRatios
}

// jsonReport is the object --json prints as the last line of stdout. Its
// top-level ratios are those of the part named by Headline: the UNet when it
// was measured, otherwise the last MLP part.
type jsonReport struct {
	jsonRatios
	Headline string     `json:"headline"`
	Backend  string     `json:"backend"`
	SIMD     bool       `json:"simd"`
	Parts    []jsonPart `json:"parts"`
}

// ratio returns a/b, or nil when either is not a positive number.
func ratio(a, b float64) *float64 {
	if !(a > 0 && b > 0) {
		return nil
	}
	r := a / b
	return &r
}

// known returns &v, or nil for v ≤ 0 (unknown).
func known(v float64) *float64 {
	if !(v > 0) {
		return nil
	}
	return &v
}

func toJSONTiming(t timing) jsonTiming {
	return jsonTiming{Median: t.Median, Min: t.Min, Max: t.Max, First: t.First, Runs: t.Runs}
}

func toJSONSide(s sideResult) jsonSide {
	j := jsonSide{Params: s.params, Train: toJSONTiming(s.train), Sample: toJSONTiming(s.sample), PeakRSSMiB: known(s.peakRSSMiB)}
	if s.otherCPU >= 0 {
		v := s.otherCPU
		j.OtherCPU = &v
	}
	return j
}

// buildJSON gathers the figures of the table into the --json object.
func buildJSON(env environment, parts []partResult) jsonReport {
	rep := jsonReport{Backend: goColumn(env.backend), SIMD: env.simd, Parts: []jsonPart{}}
	head := -1
	for i, p := range parts {
		jp := jsonPart{Label: p.label, Model: p.model, Batch: p.batch, Samples: p.samples, Go: toJSONSide(p.goSide)}
		jp.Go.Backend = rep.Backend
		if p.peer != nil {
			ps := toJSONSide(p.peer.sideResult)
			ps.Device = p.peer.device
			jp.PyTorch = &ps
			jp.jsonRatios = jsonRatios{
				Train:  ratio(p.goSide.train.Median, p.peer.train.Median),
				Sample: ratio(p.goSide.sample.Median, p.peer.sample.Median),
				Memory: ratio(p.goSide.peakRSSMiB, p.peer.peakRSSMiB),
			}
		}
		rep.Parts = append(rep.Parts, jp)
		if head < 0 || p.model == "unet" || parts[head].model != "unet" {
			head = i
		}
	}
	if head >= 0 {
		rep.Headline = parts[head].label
		rep.jsonRatios = rep.Parts[head].jsonRatios
	}
	return rep
}

// writeJSON prints the --json object on one line.
func writeJSON(w io.Writer, env environment, parts []partResult) error {
	b, err := json.Marshal(buildJSON(env, parts))
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
