package mnist

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/godiffusion/diffusion-models/internal/fuzzcheck"
)

// idx returns an IDX stream: the magic number, the sizes, then data.
func idx(magic uint32, sizes []uint32, data []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, magic)
	for _, s := range sizes {
		b = binary.BigEndian.AppendUint32(b, s)
	}
	return append(b, data...)
}

// FuzzDecodeImages checks that reading an IDX file of images either fails
// or gives as many pixels as its sizes say, never a panic or an
// allocation for more pixels than the file holds.
func FuzzDecodeImages(f *testing.F) {
	pixels := make([]byte, 2*3*4)
	for i := range pixels {
		pixels[i] = uint8(i * 10)
	}
	f.Add(idx(imagesMagic, []uint32{2, 3, 4}, pixels))
	f.Add(idx(imagesMagic, []uint32{2, 3, 4}, pixels[:10]))
	f.Add(idx(imagesMagic, []uint32{60000, 28, 28}, pixels))
	f.Add(idx(imagesMagic, []uint32{1 << 31, 1 << 31, 1 << 31}, pixels))
	f.Add(idx(imagesMagic, []uint32{0xffffffff, 0xffffffff, 0xffffffff}, pixels))
	f.Add(idx(imagesMagic, []uint32{0xffffffff, 0xffffffff, 1}, pixels)) // a product that overflows to < 0
	f.Add(idx(imagesMagic, []uint32{0, 3, 4}, nil))
	f.Add(idx(labelsMagic, []uint32{2, 3, 4}, pixels))
	f.Add([]byte{0, 0, 8})
	f.Fuzz(func(t *testing.T, data []byte) {
		var px []uint8
		var h, w int
		var err error
		fuzzcheck.Alloc(t, fuzzcheck.Limit(len(data)), func() { px, h, w, err = decodeImages("fuzz-idx3", bytes.NewReader(data)) })
		if err != nil {
			return
		}
		n := int(binary.BigEndian.Uint32(data[4:]))
		if h <= 0 || w <= 0 || len(px) != n*h*w || len(px) > len(data)-16 {
			t.Fatalf("%d pixels of %d images of %d×%d from %d bytes", len(px), n, h, w, len(data))
		}
	})
}

// FuzzDecodeLabels checks that reading an IDX file of labels either fails
// or gives as many labels 0–9 as its size says, never a panic or an
// allocation for more labels than the file holds.
func FuzzDecodeLabels(f *testing.F) {
	f.Add(idx(labelsMagic, []uint32{5}, []byte{0, 9, 3, 4, 1}))
	f.Add(idx(labelsMagic, []uint32{5}, []byte{0, 9, 10, 4, 1}))
	f.Add(idx(labelsMagic, []uint32{5}, []byte{0, 9}))
	f.Add(idx(labelsMagic, []uint32{1 << 24}, []byte{0, 9}))
	f.Add(idx(labelsMagic, []uint32{0xffffffff}, []byte{0, 9}))
	f.Add(idx(imagesMagic, []uint32{5}, []byte{0, 9, 3, 4, 1}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		var labels []uint8
		var err error
		fuzzcheck.Alloc(t, fuzzcheck.Limit(len(data)), func() { labels, err = decodeLabels("fuzz-idx1", bytes.NewReader(data)) })
		if err != nil {
			return
		}
		if n := int(binary.BigEndian.Uint32(data[4:])); len(labels) != n || len(labels) > len(data)-8 {
			t.Fatalf("%d labels where the header says %d, from %d bytes", len(labels), n, len(data))
		}
		for i, l := range labels {
			if l > 9 {
				t.Fatalf("label %d is %d", i, l)
			}
		}
	})
}
