package captions

import "strconv"

// Level is one of three levels of an attribute, or Unspecified.
// The same three values serve every attribute: Low is thin, leaning left or
// small; Medium is medium thickness, upright or medium size; High is thick,
// leaning right or large. The aliases Thin, Thick, LeanLeft, Upright,
// LeanRight, Small and Large name them per attribute.
type Level int8

// The levels of an attribute.
const (
	// Unspecified is the zero Level: the attribute is not given (a caption
	// that does not name it, a prompt that does not ask for it).
	Unspecified Level = iota
	// Low is the lowest level: thin, leaning left, small.
	Low
	// Medium is the middle level: medium thickness, upright, medium size.
	Medium
	// High is the highest level: thick, leaning right, large.
	High
)

// Names of the levels per attribute (Medium serves thickness and size).
const (
	Thin      = Low    // Thickness below Thresholds.ThinBelow.
	Thick     = High   // Thickness above Thresholds.ThickAbove.
	LeanLeft  = Low    // Slant below Thresholds.LeftBelow.
	Upright   = Medium // Slant between the slant thresholds.
	LeanRight = High   // Slant above Thresholds.RightAbove.
	Small     = Low    // Size below Thresholds.SmallBelow.
	Large     = High   // Size above Thresholds.LargeAbove.
)

// String returns "unspecified", "low", "medium" or "high" (or "Level(n)").
func (l Level) String() string {
	switch l {
	case Unspecified:
		return "unspecified"
	case Low:
		return "low"
	case Medium:
		return "medium"
	case High:
		return "high"
	}
	return "Level(" + strconv.Itoa(int(l)) + ")"
}

// Levels holds the level of each attribute of an image or a request.
type Levels struct {
	// Thickness is Thin, Medium or Thick (or Unspecified).
	Thickness Level
	// Slant is LeanLeft, Upright or LeanRight (or Unspecified).
	Slant Level
	// Size is Small, Medium or Large (or Unspecified).
	Size Level
}

// String describes the levels in words, e.g. "thick, upright, small size";
// unspecified attributes are left out ("" when none is given).
func (lv Levels) String() string {
	var s string
	add := func(w string) {
		if s != "" {
			s += ", "
		}
		s += w
	}
	add1 := func(l Level, low, med, high string) {
		switch l {
		case Low:
			add(low)
		case Medium:
			add(med)
		case High:
			add(high)
		}
	}
	add1(lv.Thickness, "thin", "medium thickness", "thick")
	add1(lv.Slant, "leaning left", "upright", "leaning right")
	add1(lv.Size, "small", "medium size", "large")
	return s
}

// Thresholds split each attribute into three levels. A value equal to a
// threshold falls in the middle level.
type Thresholds struct {
	// ThinBelow and ThickAbove split Attributes.Thickness (pixels):
	// below ThinBelow is Thin, above ThickAbove is Thick, else Medium.
	ThinBelow, ThickAbove float64
	// LeftBelow and RightAbove split Attributes.Slant (dx/dy): below
	// LeftBelow is LeanLeft, above RightAbove is LeanRight, else Upright.
	LeftBelow, RightAbove float64
	// SmallBelow and LargeAbove split Attributes.Size (pixels): below
	// SmallBelow is Small, above LargeAbove is Large, else Medium.
	SmallBelow, LargeAbove float64
}

// DefaultThresholds are chosen from the Attributes of the 60,000 MNIST
// training images (mnist.Load("mnist", "train")), whose quantiles are
//
//	quantile     0.05   0.20   0.25   1/3    0.50   2/3    0.75   0.80   0.95
//	Thickness    1.277  1.577  1.647  1.754  1.960  2.190  2.333  2.433  3.020
//	Slant       −0.337 −0.116 −0.073 −0.010  0.104  0.224  0.295  0.342  0.576
//	Size         5.620  6.047  6.169  6.357  6.702  7.044  7.223  7.341  7.860
//
// Thickness and Size are split at round numbers near their terciles, so
// each level holds about a third of the images: thin 32.8%, medium 34.6%,
// thick 32.6%; small 30.8%, medium 38.5%, large 30.7%.
//
// Slant is not split at its terciles: MNIST writers lean right (median
// 0.104, about 6°), and the terciles would call −0.02 "leaning left". Upright
// is instead the band of ±0.2 around the median, from −0.1 (6° to the left)
// to 0.3 (17° to the right): leaning left 21.8%, upright 53.7%, leaning
// right 24.5%.
//
// The levels are not independent of the digit. Size most of all: a 1 or a
// 4 spreads its ink less than a 0 (median Size 5.86 and 6.11 against 7.52),
// so 80% of the ones are small and 76% of the zeros large, and a "large 1"
// is rare (2%). Slant less so (6% of the zeros lean left, 34% of the nines),
// thickness least (thick: 48% of the zeros, 21% of the fives).
var DefaultThresholds = Thresholds{
	ThinBelow: 1.75, ThickAbove: 2.2,
	LeftBelow: -0.1, RightAbove: 0.3,
	SmallBelow: 6.3, LargeAbove: 7.1,
}

// Levels returns the level of each attribute of a.
func (th Thresholds) Levels(a Attributes) Levels {
	return Levels{
		Thickness: split(a.Thickness, th.ThinBelow, th.ThickAbove),
		Slant:     split(a.Slant, th.LeftBelow, th.RightAbove),
		Size:      split(a.Size, th.SmallBelow, th.LargeAbove),
	}
}

// split returns Low below lo, High above hi, Medium otherwise.
func split(x, lo, hi float64) Level {
	switch {
	case x < lo:
		return Low
	case x > hi:
		return High
	}
	return Medium
}
