package experiment

import (
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/godiffusion/diffusion-models/tutorial/emoji"
)

// fakeEmoji writes an emoji cache folder of n opaque 64×64 PNGs, image i
// filled with grey level 10·i, all of category "Symbols", and points
// EMOJI_DATA_DIR at it.
func fakeEmoji(t *testing.T, n int) {
	t.Helper()
	dir := t.TempDir()
	img := filepath.Join(dir, "img", "google", "64")
	if err := os.MkdirAll(img, 0o755); err != nil {
		t.Fatal(err)
	}
	var entries []map[string]any
	for i := range n {
		name := fmt.Sprintf("%04x.png", 0x1f300+i)
		m := image.NewNRGBA(image.Rect(0, 0, 64, 64))
		for p := range 64 * 64 {
			m.Set(p%64, p/64, color.NRGBA{uint8(10 * i), uint8(10 * i), uint8(10 * i), 255})
		}
		f, err := os.Create(filepath.Join(img, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, m); err != nil {
			t.Fatal(err)
		}
		f.Close()
		entries = append(entries, map[string]any{"image": name, "short_name": name, "category": "Symbols", "has_img_google": true})
	}
	b, _ := json.Marshal(entries)
	if err := os.WriteFile(filepath.Join(dir, "emoji.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("EMOJI_DATA_DIR", dir)
}

// TestEmojiDatasets: the emoji datasets' shapes and labels, and their split
// (every tenth emoji, in file order, is a test image), on a fake cache of
// 20 grey squares (no download).
func TestEmojiDatasets(t *testing.T) {
	fakeEmoji(t, 20)
	for _, tc := range []struct {
		name string
		dims []int
	}{{"mnist", []int{28, 28, 1}}, {Emoji, []int{64, 64, 3}}, {Emoji32, []int{32, 32, 3}}, {"moons", nil}} {
		if got := ImageDimsOf(tc.name); fmt.Sprint(got) != fmt.Sprint(tc.dims) {
			t.Errorf("ImageDimsOf(%s) = %v, want %v", tc.name, got, tc.dims)
		}
	}
	if k := Classes(Emoji32); k != len(emoji.Categories()) || k != 9 {
		t.Errorf("emoji classes %d, want 9", k)
	}
	if d := DefaultAutoencoder(Emoji32).Autoencoder.LatentDims(); fmt.Sprint(d) != "[8 8 4]" {
		t.Errorf("emoji-32 autoencoder latent %v, want [8 8 4]", d)
	}
	if d := DefaultAutoencoder(Emoji).Autoencoder.LatentDims(); fmt.Sprint(d) != "[16 16 4]" {
		t.Errorf("emoji autoencoder latent %v, want [16 16 4]", d)
	}
	train, err := LoadImages(Emoji32, "train")
	if err != nil {
		t.Fatal(err)
	}
	test, err := LoadImages(Emoji32, "test")
	if err != nil {
		t.Fatal(err)
	}
	if train.N != 18 || test.N != 2 || train.H != 32 || train.C != 3 {
		t.Fatalf("split %d/%d of %d×%d×%d images, want 18/2 of 32×32×3", train.N, test.N, train.H, train.W, train.C)
	}
	// Grey level 10·i → 10·i/127.5 − 1: test images are emoji 0 and 10.
	for k, i := range []int{0, 10} {
		want := float32(10*i)/127.5 - 1
		if got := test.Image(k)[0]; got != want {
			t.Errorf("test image %d starts with %v, want %v (emoji %d)", k, got, want, i)
		}
	}
	if got, want := train.Image(0)[0], float32(10)/127.5-1; got != want {
		t.Errorf("train image 0 starts with %v, want %v (emoji 1)", got, want)
	}
	if err := DefaultAutoencoder(Emoji32).Validate(); err != nil {
		t.Errorf("the emoji-32 autoencoder is refused: %v", err)
	}
}
