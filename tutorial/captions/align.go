package captions

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Alignment measures how well images match the prompts they were made
// from: the digit each prompt names against the digit a classifier reads,
// and each attribute a prompt names against the level measured on the image
// (Measure, then DefaultThresholds).
type Alignment struct {
	// Images is the number of images scored.
	Images int
	// DigitAccuracy is the share of the images whose prompt names a digit
	// that the classifier reads as that digit (NaN when no prompt names one).
	DigitAccuracy float64
	// Digits is the number of images whose prompt names a digit.
	Digits int
	// AttributeAccuracy is the share of the attributes the prompts name
	// (over every image and attribute) that the images have, as measured
	// (NaN when no prompt names an attribute).
	AttributeAccuracy float64
	// Attributes is the number of attributes named, over every image.
	Attributes int
	// PerAttribute holds the accuracy of thickness, slant and size alone,
	// in that order (NaN for an attribute no prompt names).
	PerAttribute [3]float64
	// Named counts the prompts that name thickness, slant and size.
	Named [3]int
	// AttributeChance is the attribute accuracy of images drawn at random,
	// each among the reference images of its prompt's digit (all reference
	// images when the prompt names none): what a model that writes the
	// right digit but ignores the attributes would score (NaN without
	// reference images).
	AttributeChance float64
}

// AttributeNames are the attributes in the order of Alignment.PerAttribute.
var AttributeNames = [3]string{"thickness", "slant", "size"}

func (lv Levels) at(i int) Level {
	switch i {
	case 0:
		return lv.Thickness
	case 1:
		return lv.Slant
	}
	return lv.Size
}

// Align scores n images (pixels h×w, values in [−1, 1]) against the
// prompts they were made from: digits[i] is the digit a classifier reads in
// image i. reference holds measured real images (their digits and levels,
// e.g. a test set's) for the chance level; it may be empty. A prompt that
// Parse refuses (conflicting digits or levels) is scored on what Parse
// keeps.
func Align(prompts []string, digits []int, pixels []float32, n, h, w int, refDigits []int, refLevels []Levels) (Alignment, error) {
	if len(prompts) != n || len(digits) != n {
		return Alignment{}, fmt.Errorf("captions: Align needs a prompt and a digit for each of the %d images, got %d and %d", n, len(prompts), len(digits))
	}
	if len(refDigits) != len(refLevels) {
		return Alignment{}, fmt.Errorf("captions: Align: %d reference digits for %d reference levels", len(refDigits), len(refLevels))
	}
	attrs, err := MeasureSet(pixels, n, h, w)
	if err != nil {
		return Alignment{}, err
	}
	byDigit := make([][]int, 10)
	for i, d := range refDigits {
		if d >= 0 && d < 10 {
			byDigit[d] = append(byDigit[d], i)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	a := Alignment{Images: n}
	var digitHits, hits, chanceHits, chanceN int
	var perHits [3]int
	for i, p := range prompts {
		req, _ := Parse(p) // a conflict keeps the first of each
		if req.Digit >= 0 {
			a.Digits++
			if digits[i] == req.Digit {
				digitHits++
			}
		}
		got := DefaultThresholds.Levels(attrs[i])
		var ref *Levels
		if len(refLevels) > 0 {
			pool := byDigit[max(req.Digit, 0)]
			if req.Digit < 0 || len(pool) == 0 {
				ref = &refLevels[rng.IntN(len(refLevels))]
			} else {
				ref = &refLevels[pool[rng.IntN(len(pool))]]
			}
		}
		for k := range 3 {
			want := req.Levels.at(k)
			if want == Unspecified {
				continue
			}
			a.Named[k]++
			a.Attributes++
			if got.at(k) == want {
				perHits[k]++
				hits++
			}
			if ref != nil {
				chanceN++
				if ref.at(k) == want {
					chanceHits++
				}
			}
		}
	}
	a.DigitAccuracy = share(digitHits, a.Digits)
	a.AttributeAccuracy = share(hits, a.Attributes)
	for k := range 3 {
		a.PerAttribute[k] = share(perHits[k], a.Named[k])
	}
	a.AttributeChance = share(chanceHits, chanceN)
	return a, nil
}

func share(k, n int) float64 {
	if n == 0 {
		return math.NaN()
	}
	return float64(k) / float64(n)
}
