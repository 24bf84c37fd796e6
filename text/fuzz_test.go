package text

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/godiffusion/diffusion-models/internal/fuzzcheck"
)

// FuzzTokenizerJSON checks that reading a tokenizer (as a checkpoint's
// configuration holds one) either fails or gives a valid tokenizer that
// encodes and survives MarshalJSON and UnmarshalJSON unchanged, never a
// panic or an allocation out of proportion to its JSON.
func FuzzTokenizerJSON(f *testing.F) {
	tok, err := Train(corpus, 5, 0)
	if err != nil {
		f.Fatal(err)
	}
	valid, err := json.Marshal(tok)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	for _, s := range []string{
		`{"max_len":2,"vocab":["<pad>","<unk>","<bos>"]}`,
		`{"max_len":1,"vocab":["<pad>","<unk>","<bos>"]}`,
		`{"max_len":1000000000000,"vocab":["<pad>","<unk>","<bos>"]}`,
		`{"max_len":-3,"vocab":["<pad>","<unk>","<bos>","a"]}`,
		`{"max_len":4,"vocab":["<pad>","<unk>"]}`,
		`{"max_len":4,"vocab":["<pad>","<unk>","<bos>","A","a","a"]}`,
		`{"max_len":4,"vocab":["<pad>","<unk>","<bos>","<pad>"]}`,
		`{"max_len":4,"vocab":["<pad>","<unk>","<bos>","two words","\ud800"]}`,
		`{"max_len":4,"vocab":null}`,
		`null`,
		`[]`,
		`{"max_len":"4"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var got Tokenizer
		var err error
		fuzzcheck.Alloc(t, fuzzcheck.Limit(len(data)), func() { err = json.Unmarshal(data, &got) })
		if err != nil {
			return
		}
		if err := got.Validate(); err != nil {
			t.Fatalf("UnmarshalJSON(%q) accepted a tokenizer that Validate refuses: %v", data, err)
		}
		if got.Len() < 2 || got.Len() > MaxLenLimit {
			t.Fatalf("UnmarshalJSON(%q): Len %d", data, got.Len())
		}
		ids, _ := got.Encode("a bar 7 " + got.Token(int32(got.VocabSize()-1)))
		if len(ids) != got.Len() {
			t.Fatalf("Encode gave %d ids, want %d", len(ids), got.Len())
		}
		again, err := json.Marshal(&got)
		if err != nil {
			t.Fatal(err)
		}
		var back Tokenizer
		if err := json.Unmarshal(again, &back); err != nil {
			t.Fatalf("reading back %s: %v", again, err)
		}
		if back.MaxLen != got.MaxLen || !slices.Equal(back.Vocab(), got.Vocab()) {
			t.Fatalf("round trip of %q changed the tokenizer: %s", data, again)
		}
	})
}
