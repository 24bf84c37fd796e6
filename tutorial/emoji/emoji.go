// Package emoji loads 64×64 colour emoji (Google's Noto emoji, as packaged in
// the npm package emoji-datasource-google@16.0.0) as float32 RGB images in
// [−1, 1], channels last, labelled by category, for latent diffusion.
//
// The images are Apache-2.0 (Noto emoji); the package's metadata is MIT. They
// are not in this repository: Fetch downloads the npm tarball once, checks it
// against a pinned SHA-512 and unpacks emoji.json and the 64-px PNGs into a
// cache folder (Dir). Load reads such a folder, so tests use a tiny synthetic
// one and never download.
//
// Each image is composited over white (the PNGs are transparent around the
// glyph), optionally box-downscaled, and scaled like the mnist package
// (0 → −1, 255 → 1). A Set serves the same shuffled batches as mnist's
// (NewBatches returns an *mnist.Batches), so training code treats both alike.
package emoji

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/godiffusion/diffusion-models/tutorial/mnist"
)

// Version is the version of the npm package emoji-datasource-google read here.
const Version = "16.0.0"

// Size is the side of the emoji images in the package, in pixels.
const Size = 64

// imgDir is where the 64-px PNGs live, relative to a data folder (the npm
// package's own layout, so an unpacked node_modules/emoji-datasource-google
// folder works as well).
var imgDir = filepath.Join("img", "google", "64")

// categories is the sorted list of emoji.json's categories, less "Component".
var categories = []string{
	"Activities",
	"Animals & Nature",
	"Flags",
	"Food & Drink",
	"Objects",
	"People & Body",
	"Smileys & Emotion",
	"Symbols",
	"Travel & Places",
}

// Categories returns the category names that labels index, in byte order
// (the order of sort.Strings): Activities, Animals & Nature, Flags, Food &
// Drink, Objects, People & Body, Smileys & Emotion, Symbols, Travel & Places.
//
// emoji.json has a tenth category, "Component": the five skin-tone swatches
// (flat coloured squares, not emoji). Load drops them: five near-identical
// images make a class that cannot be learnt and only dilutes the others.
func Categories() []string { return slices.Clone(categories) }

// Options say how Load prepares the images.
type Options struct {
	// Size is the side of the images returned: 64 (also meant by 0), or a
	// divisor of 64 (32, 16, …), each pixel then the mean of a (64/Size)²
	// block of composited pixels (box averaging).
	Size int
	// SkinTones adds the skin-tone variants of people and hands (1,875 more
	// images, near copies of 323 base emoji) with the category of their base
	// emoji. By default only the base emoji are loaded.
	SkinTones bool
}

// Set is a labelled colour image dataset held in memory.
type Set struct {
	// N, H, W, C are the number of images and their height, width and
	// channels (H = W = the Options' Size, C = 3).
	N, H, W, C int
	// Pixels holds N images of H·W·C values, row-major, channels last (RGB),
	// composited over white and scaled to [−1, 1] (0 → −1, 255 → 1), as in
	// the mnist package.
	Pixels []float32
	// Labels holds the category of each image, an index into Categories().
	Labels []uint8
	// Names holds each image's short name from emoji.json ("grinning",
	// "wave"); a skin-tone variant adds its tones: "wave:skin-tone-2",
	// "handshake:skin-tone-2:skin-tone-5".
	Names []string
	// Files holds each image's PNG file name ("1f600.png"), the order of the set.
	Files []string
}

// ImageSize returns H·W·C, the number of values in one image.
func (s *Set) ImageSize() int { return s.H * s.W * s.C }

// Image returns image i (a view into Pixels, not a copy).
func (s *Set) Image(i int) []float32 {
	k := s.ImageSize()
	return s.Pixels[i*k : (i+1)*k]
}

// Subset returns the first n images (a view, not a copy).
func (s *Set) Subset(n int) *Set {
	n = min(n, s.N)
	c := *s
	c.N = n
	c.Pixels = s.Pixels[:n*s.ImageSize()]
	c.Labels = s.Labels[:n]
	c.Names = s.Names[:n]
	c.Files = s.Files[:n]
	return &c
}

// NewBatches returns the batch server of s with a seed: the mnist package's,
// with the same guarantees (batch k is a pure function of the seed and k;
// Batch returns flat pixels [batchSize, H, W, 3] and the labels).
func NewBatches(s *Set, seed uint64) *mnist.Batches {
	return mnist.NewBatches(&mnist.Set{Name: "emoji", Split: "train", N: s.N, H: s.H, W: s.W, C: s.C,
		Pixels: s.Pixels, Labels: s.Labels}, seed)
}

// LoadDefault fetches the data if needed (Fetch, printing to w) and loads it.
func LoadDefault(w io.Writer, opts Options) (*Set, error) {
	dir, err := Fetch(w)
	if err != nil {
		return nil, err
	}
	return Load(dir, opts)
}

// entry is the part of an emoji.json record that Load reads.
type entry struct {
	Image          string `json:"image"`
	ShortName      string `json:"short_name"`
	Category       string `json:"category"`
	HasImgGoogle   bool   `json:"has_img_google"`
	SkinVariations map[string]struct {
		Image        string `json:"image"`
		HasImgGoogle bool   `json:"has_img_google"`
	} `json:"skin_variations"`
}

// skinTones names the skin-tone modifiers as emoji.json's Component emoji do.
var skinTones = map[string]string{
	"1F3FB": "skin-tone-2", "1F3FC": "skin-tone-3", "1F3FD": "skin-tone-4",
	"1F3FE": "skin-tone-5", "1F3FF": "skin-tone-6",
}

type item struct {
	file, name string
	label      uint8
}

// Load reads a data folder laid out like the npm package (emoji.json and
// img/google/64/*.png; Fetch makes one). It keeps the emoji that have a
// Google image (has_img_google) and a category in Categories(), sorted by
// PNG file name.
//
// Each PNG must be 64×64. Its pixels are composited over white with straight
// (non-premultiplied) alpha a ∈ [0, 1]: c = a·c_rgb + (1 − a)·255 for each
// channel, without rounding (a pixel (255, 0, 0) with alpha 128/255 becomes
// (255, 127, 127)). Images held with premultiplied alpha (image.RGBA, which
// image/png does not return) follow the same formula written for them:
// c = c_premultiplied + (1 − a)·255. Then come box averaging to opts.Size
// and the scaling v/127.5 − 1.
func Load(dir string, opts Options) (*Set, error) {
	size := opts.Size
	if size == 0 {
		size = Size
	}
	if size < 1 || Size%size != 0 {
		return nil, fmt.Errorf("emoji: image size %d does not divide %d", opts.Size, Size)
	}
	jsonPath := filepath.Join(dir, "emoji.json")
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		return nil, fmt.Errorf("emoji: %w (run emoji.Fetch, or pass a folder holding emoji.json and %s)", err, imgDir)
	}
	items, err := parseIndex(b, opts.SkinTones, jsonPath)
	if err != nil {
		return nil, err
	}

	s := &Set{N: len(items), H: size, W: size, C: 3, Pixels: make([]float32, len(items)*size*size*3),
		Labels: make([]uint8, len(items)), Names: make([]string, len(items)), Files: make([]string, len(items))}
	for i, it := range items {
		s.Labels[i], s.Names[i], s.Files[i] = it.label, it.name, it.file
	}
	// Decode in parallel; report the error of the first failing file in order.
	errs := make([]error, len(items))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(items)) {
		wg.Go(func() {
			buf := make([]float32, Size*Size*3)
			for i := range next {
				path := filepath.Join(dir, imgDir, items[i].file)
				if errs[i] = readOverWhite(path, buf); errs[i] == nil {
					boxDownscale(buf, size, s.Image(i))
				}
			}
		})
	}
	for i := range items {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return s, nil
}

// parseIndex reads the bytes b of emoji.json (jsonPath names it in errors)
// and lists the images to load, sorted by file name; an index that lists
// none is an error.
func parseIndex(b []byte, skin bool, jsonPath string) ([]item, error) {
	var entries []entry
	if err := json.Unmarshal(b, &entries); err != nil {
		return nil, fmt.Errorf("emoji: %s: %w", jsonPath, err)
	}
	items, err := selectItems(entries, skin, jsonPath)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("emoji: %s lists no emoji with a Google image in a known category", jsonPath)
	}
	return items, nil
}

// selectItems lists the images to load, sorted by file name.
func selectItems(entries []entry, skin bool, jsonPath string) ([]item, error) {
	var items []item
	seen := map[string]bool{}
	add := func(file, name string, label int) error {
		if file == "" || file != filepath.Base(file) || file == "." || file == ".." || strings.ContainsAny(file, `/\`) {
			return fmt.Errorf("emoji: %s: %q (%s) is not a PNG file name", jsonPath, file, name)
		}
		if seen[file] {
			return fmt.Errorf("emoji: %s lists %s twice", jsonPath, file)
		}
		seen[file] = true
		items = append(items, item{file: file, name: name, label: uint8(label)})
		return nil
	}
	for _, e := range entries {
		label := slices.Index(categories, e.Category)
		if label < 0 {
			continue
		}
		if e.HasImgGoogle {
			if err := add(e.Image, e.ShortName, label); err != nil {
				return nil, err
			}
		}
		if !skin {
			continue
		}
		for key, v := range e.SkinVariations {
			if !v.HasImgGoogle {
				continue
			}
			name := e.ShortName
			for _, k := range strings.Split(key, "-") {
				tone, ok := skinTones[strings.ToUpper(k)]
				if !ok {
					tone = k
				}
				name += ":" + tone
			}
			if err := add(v.Image, name, label); err != nil {
				return nil, err
			}
		}
	}
	sort.Slice(items, func(i, j int) bool { return items[i].file < items[j].file })
	return items, nil
}

// maxPNGBytes bounds the size of an image file: a 64×64 PNG holds at most
// 32 KiB of pixels (16-bit RGBA), so a larger file is not one of the emoji.
const maxPNGBytes = 1 << 20

// readOverWhite decodes a 64×64 PNG into dst (64·64·3 values in [0, 255],
// composited over white).
func readOverWhite(path string, dst []float32) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("emoji: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPNGBytes+1))
	if err != nil {
		return fmt.Errorf("emoji: %s: %w", path, err)
	}
	if len(data) > maxPNGBytes {
		return fmt.Errorf("emoji: %s: more than %d bytes, too large for a %d×%d PNG", path, maxPNGBytes, Size, Size)
	}
	return decodeOverWhite(path, data, dst)
}

// decodeOverWhite decodes the PNG file data (path names it in errors) into
// dst, like readOverWhite. The image's size is checked on its header
// before the pixels are decoded, so a PNG that claims to be huge is
// refused without allocating for it.
func decodeOverWhite(path string, data []byte, dst []float32) error {
	cfg, err := png.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("emoji: %s: %w", path, err)
	}
	if cfg.Width != Size || cfg.Height != Size {
		return fmt.Errorf("emoji: %s: image is %d×%d, want %d×%d", path, cfg.Width, cfg.Height, Size, Size)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("emoji: %s: %w", path, err)
	}
	if b := img.Bounds(); b.Dx() != Size || b.Dy() != Size {
		return fmt.Errorf("emoji: %s: image is %d×%d, want %d×%d", path, b.Dx(), b.Dy(), Size, Size)
	}
	overWhite(img, dst)
	return nil
}

// overWhite writes img (any size) composited over white into dst, row-major
// RGB in [0, 255].
func overWhite(img image.Image, dst []float32) {
	b := img.Bounds()
	i := 0
	switch m := img.(type) {
	case *image.NRGBA: // what image/png returns for RGBA and grey+alpha PNGs
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				p := m.Pix[m.PixOffset(x, y):]
				nrgbaOverWhite(dst[i:i+3], p[0], p[1], p[2], p[3])
				i += 3
			}
		}
	case *image.Paletted: // palette PNGs, transparent entries as color.NRGBA
		table := make([][3]float32, len(m.Palette))
		for k, c := range m.Palette {
			colorOverWhite(table[k][:], c)
		}
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				i += copy(dst[i:], table[m.ColorIndexAt(x, y)][:])
			}
		}
	default:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				colorOverWhite(dst[i:i+3], img.At(x, y))
				i += 3
			}
		}
	}
}

// nrgbaOverWhite composites a straight-alpha 8-bit colour over white into
// dst[0:3]: c = (a·c + (255 − a)·255) / 255.
func nrgbaOverWhite(dst []float32, r, g, b, a uint8) {
	af, w := float32(a), float32(255-a)*255
	dst[0] = (af*float32(r) + w) / 255
	dst[1] = (af*float32(g) + w) / 255
	dst[2] = (af*float32(b) + w) / 255
}

// colorOverWhite composites any colour over white into dst[0:3].
// Straight-alpha 8-bit colours go through nrgbaOverWhite, premultiplied
// 8-bit ones through c = c_premultiplied + 255 − a, and the rest through
// their premultiplied 16-bit values: c = (c_premultiplied + 65535 − a) / 257.
func colorOverWhite(dst []float32, c color.Color) {
	switch c := c.(type) {
	case color.NRGBA:
		nrgbaOverWhite(dst, c.R, c.G, c.B, c.A)
		return
	case color.RGBA:
		w := float32(255 - c.A)
		dst[0], dst[1], dst[2] = float32(c.R)+w, float32(c.G)+w, float32(c.B)+w
		return
	}
	r, g, b, a := c.RGBA()
	w := float32(0xffff - a)
	dst[0], dst[1], dst[2] = (float32(r)+w)/257, (float32(g)+w)/257, (float32(b)+w)/257
}

// boxDownscale averages src (Size×Size×3 values in [0, 255]) over blocks
// down to size×size, and writes the result scaled to [−1, 1] into dst.
func boxDownscale(src []float32, size int, dst []float32) {
	f := Size / size
	if f == 1 {
		for i, v := range src[:len(dst)] {
			dst[i] = v/127.5 - 1
		}
		return
	}
	clear(dst)
	for y := range Size {
		for x := range Size {
			for c := range 3 {
				dst[((y/f)*size+x/f)*3+c] += src[(y*Size+x)*3+c]
			}
		}
	}
	inv := 1 / float32(f*f)
	for i, v := range dst {
		dst[i] = v*inv/127.5 - 1
	}
}
