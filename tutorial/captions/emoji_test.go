package captions

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/godiffusion/diffusion-models/text"
	"github.com/godiffusion/diffusion-models/tutorial/emoji"
)

// solid returns an h×w image with c channels of one 8-bit colour (alpha
// 255 when c = 4), scaled to [−1, 1].
func solid(h, w, c int, rgb [3]uint8) []float32 {
	p := make([]float32, 0, h*w*c)
	for range h * w {
		for _, v := range rgb {
			p = append(p, float32(v)/127.5-1)
		}
		if c == 4 {
			p = append(p, 1)
		}
	}
	return p
}

func TestDominantColourSolid(t *testing.T) {
	tests := []struct {
		rgb  [3]uint8
		want string
	}{
		{[3]uint8{255, 0, 0}, "red"},
		{[3]uint8{200, 20, 40}, "red"},
		{[3]uint8{255, 140, 0}, "orange"},
		{[3]uint8{255, 204, 77}, "yellow"}, // the Noto smiley's face
		{[3]uint8{0, 200, 0}, "green"},
		{[3]uint8{0, 0, 255}, "blue"},
		{[3]uint8{40, 160, 230}, "blue"},
		{[3]uint8{128, 0, 200}, "purple"},
		{[3]uint8{255, 105, 180}, "pink"},
		{[3]uint8{255, 180, 180}, "pink"},
		{[3]uint8{120, 70, 20}, "brown"},
		{[3]uint8{0, 0, 0}, "black"},
		{[3]uint8{30, 0, 0}, "black"},
		{[3]uint8{128, 128, 128}, "grey"},
		{[3]uint8{240, 240, 235}, "white"},
	}
	for _, tc := range tests {
		for _, c := range []int{3, 4} {
			got, err := DominantColour(solid(4, 5, c, tc.rgb), 4, 5, c)
			if err != nil || got != tc.want {
				t.Errorf("DominantColour of solid %v with %d channels = %q, %v; want %q", tc.rgb, c, got, err, tc.want)
			}
		}
	}
}

func TestDominantColourMixtures(t *testing.T) {
	// concat joins images of the same channels.
	concat := func(ps ...[]float32) []float32 { return slices.Concat(ps...) }
	// clear makes every pixel of an RGBA image transparent (alpha −1).
	transparent := func(p []float32) []float32 {
		for i := 3; i < len(p); i += 4 {
			p[i] = -1
		}
		return p
	}
	white, red, grey, green, blue := [3]uint8{255, 255, 255}, [3]uint8{230, 0, 0}, [3]uint8{128, 128, 128}, [3]uint8{0, 180, 0}, [3]uint8{0, 0, 255}
	tests := []struct {
		name   string
		pixels []float32
		n, c   int // pixels, channels
		want   string
	}{
		{"RGB: white background ignored", concat(solid(1, 90, 3, white), solid(1, 10, 3, red)), 100, 3, "red"},
		{"RGB: all white background", solid(1, 10, 3, white), 10, 3, ""},
		{"RGBA: opaque white counts", solid(1, 10, 4, white), 10, 4, "white"},
		{"RGBA: transparent blue ignored", concat(transparent(solid(1, 90, 4, blue)), solid(1, 10, 4, green)), 100, 4, "green"},
		{"RGBA: all transparent", transparent(solid(1, 10, 4, blue)), 10, 4, ""},
		{"10% red on grey is grey", concat(solid(1, 90, 3, grey), solid(1, 10, 3, red)), 100, 3, "grey"},
		{"30% red on grey is red", concat(solid(1, 70, 3, grey), solid(1, 30, 3, red)), 100, 3, "red"},
		{"more green than red", concat(solid(1, 20, 3, red), solid(1, 30, 3, green), solid(1, 50, 3, grey)), 100, 3, "green"},
		{"tie goes to the earlier colour", concat(solid(1, 5, 3, green), solid(1, 5, 3, red)), 10, 3, "red"},
		{"no pixels", nil, 0, 3, ""},
	}
	for _, tc := range tests {
		got, err := DominantColour(tc.pixels, 1, tc.n, tc.c)
		if err != nil || got != tc.want {
			t.Errorf("%s: DominantColour = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}

func TestDominantColourErrors(t *testing.T) {
	tests := []struct {
		n, h, w, c int
		want       string
	}{
		{12, 2, 2, 3, ""},
		{12, 2, 2, 2, "2 channels"},
		{11, 2, 2, 3, "11 values for a 2×2×3 image, want 12"},
		{12, 2, 2, 4, "12 values for a 2×2×4 image, want 16"},
	}
	for _, tc := range tests {
		_, err := DominantColour(make([]float32, tc.n), tc.h, tc.w, tc.c)
		if (tc.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("DominantColour(%d values, %d, %d, %d): error %v, want %q", tc.n, tc.h, tc.w, tc.c, err, tc.want)
		}
	}
}

func TestEmojiCaption(t *testing.T) {
	in := map[string]bool{}
	for _, w := range EmojiVocabulary() {
		in[w] = true
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for _, cat := range emoji.Categories() {
		noun := EmojiNoun(cat)
		if noun == "" {
			t.Errorf("category %q has no noun", cat)
			continue
		}
		for _, colour := range append(Colours(), "") {
			for range 20 {
				c := EmojiCaption(cat, colour, rng)
				ws := text.Words(c)
				if !slices.Contains(ws, noun) || colour != "" && !slices.Contains(ws, colour) {
					t.Fatalf("EmojiCaption(%q, %q) = %q: lacks %q or %q", cat, colour, c, noun, colour)
				}
				for _, w := range ws {
					if !in[w] {
						t.Fatalf("EmojiCaption(%q, %q) = %q uses %q, not in EmojiVocabulary", cat, colour, c, w)
					}
				}
				for i := 0; i+1 < len(ws); i++ {
					if (ws[i] == "a" || ws[i] == "an") && ws[i] != article(ws[i+1]) {
						t.Fatalf("EmojiCaption = %q: %q before %q", c, ws[i], ws[i+1])
					}
				}
			}
		}
	}
	if got := EmojiCaption("Component", "red", rng); got != "a red emoji" {
		t.Errorf("EmojiCaption of an unknown category = %q, want %q", got, "a red emoji")
	}
	if got := EmojiCaption("Component", "", rng); got != "an emoji" {
		t.Errorf("EmojiCaption of an unknown category without colour = %q, want %q", got, "an emoji")
	}
}
