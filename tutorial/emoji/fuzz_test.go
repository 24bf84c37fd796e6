package emoji

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/godiffusion/diffusion-models/internal/fuzzcheck"
)

// encodePNG returns img encoded as a PNG.
func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// withSize returns the PNG p with the width and height of its IHDR chunk
// (which follows the 8-byte signature) replaced, and its CRC recomputed.
func withSize(p []byte, w, h uint32) []byte {
	p = bytes.Clone(p)
	ihdr := p[8+8 : 8+8+13] // after the chunk's length and type
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	binary.BigEndian.PutUint32(p[8+8+13:], crc32.ChecksumIEEE(p[8+4:8+8+13]))
	return p
}

// FuzzDecodePNG checks that decoding an emoji image of any bytes either
// fails or gives 64·64·3 composited values in [0, 255], never a panic or
// an allocation for a size the header claims but the file does not hold.
func FuzzDecodePNG(f *testing.F) {
	nrgba := encodePNG(f, filled(halfRed))
	f.Add(nrgba)
	pal := image.NewPaletted(image.Rect(0, 0, Size, Size), color.Palette{color.NRGBA{0, 0, 0, 0}, halfRed})
	for i := range pal.Pix {
		pal.Pix[i] = uint8(i % 2)
	}
	f.Add(encodePNG(f, pal))
	gray := image.NewGray16(image.Rect(0, 0, Size, Size))
	for i := range gray.Pix {
		gray.Pix[i] = uint8(i)
	}
	f.Add(encodePNG(f, gray))
	f.Add(encodePNG(f, image.NewRGBA64(image.Rect(0, 0, Size, Size))))
	f.Add(encodePNG(f, image.NewNRGBA(image.Rect(0, 0, 32, 32))))
	f.Add(withSize(nrgba, 20000, 20000)) // 1.6 GB of NRGBA pixels if decoded
	f.Add(withSize(nrgba, 64, 1<<20))
	f.Add(nrgba[:len(nrgba)/2])
	f.Add([]byte("\x89PNG\r\n\x1a\nnot really"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dst := make([]float32, Size*Size*3)
		var err error
		fuzzcheck.Alloc(t, fuzzcheck.Limit(len(data)), func() { err = decodeOverWhite("fuzz.png", data, dst) })
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.png") {
				t.Fatalf("error %v does not name the file", err)
			}
			return
		}
		for i, v := range dst {
			if !(v >= 0 && v <= 255) {
				t.Fatalf("value %d is %g, outside [0, 255]", i, v)
			}
		}
	})
}

// FuzzParseIndex checks that reading emoji.json either fails or lists
// distinct plain PNG file names in order, each with a known category,
// never a panic or an allocation out of proportion to the JSON.
func FuzzParseIndex(f *testing.F) {
	f.Add([]byte(`[{"image":"1f600.png","short_name":"grinning","category":"Smileys & Emotion","has_img_google":true},`+
		`{"image":"1f44b.png","short_name":"wave","category":"People & Body","has_img_google":true,`+
		`"skin_variations":{"1F3FB":{"image":"1f44b-1f3fb.png","has_img_google":true},"1F3FC-1F3FF":{"image":"1f44b-x.png","has_img_google":true}}},`+
		`{"image":"1f3fb.png","short_name":"skin-tone-2","category":"Component","has_img_google":true}]`), true)
	f.Add([]byte(`[{"image":"../etc/passwd","category":"Symbols","has_img_google":true}]`), false)
	f.Add([]byte(`[{"image":"a.png","category":"Symbols","has_img_google":true},{"image":"a.png","category":"Flags","has_img_google":true}]`), false)
	f.Add([]byte(`[{"image":"","category":"Symbols","has_img_google":true}]`), false)
	f.Add([]byte(`[{"image":"a.png","category":"Mysteries","has_img_google":true}]`), false)
	f.Add([]byte(`[{"image": `), false)
	f.Add([]byte(`{}`), true)
	f.Add([]byte(`null`), true)
	f.Fuzz(func(t *testing.T, b []byte, skin bool) {
		var items []item
		var err error
		fuzzcheck.Alloc(t, fuzzcheck.Limit(len(b)), func() { items, err = parseIndex(b, skin, "emoji.json") })
		if err != nil {
			return
		}
		if len(items) == 0 {
			t.Fatal("no error, and no images")
		}
		for i, it := range items {
			if it.file == "" || it.file != filepath.Base(it.file) || it.file == "." || it.file == ".." || strings.ContainsAny(it.file, `/\`) {
				t.Fatalf("item %d has the file name %q", i, it.file)
			}
			if int(it.label) >= len(categories) {
				t.Fatalf("item %d has the label %d", i, it.label)
			}
		}
		if !slices.IsSortedFunc(items, func(a, b item) int { return strings.Compare(a.file, b.file) }) {
			t.Fatal("items not sorted by file name")
		}
		if len(slices.CompactFunc(slices.Clone(items), func(a, b item) bool { return a.file == b.file })) != len(items) {
			t.Fatal("a file listed twice")
		}
	})
}
