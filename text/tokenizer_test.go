package text

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/gomlx/gomlx/core/tensors"
)

func TestWords(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"empty", "", nil},
		{"only separators", "  ,.!? 🙂 ", nil},
		{"lower-cased", "A Bar On The LEFT", []string{"a", "bar", "on", "the", "left"}},
		{"punctuation separates", "bar,left;right-top", []string{"bar", "left", "right", "top"}},
		{"digits one by one", "17 and 3", []string{"1", "7", "and", "3"}},
		{"digits split letters", "abc12de", []string{"abc", "1", "2", "de"}},
		{"fullwidth, CJK, emoji", "Ｓeven 七 🙂", []string{"ｓeven", "七"}},
		{"other scripts' digits", "٣ ３", []string{"٣", "３"}},
		{"other numbers dropped", "½ Ⅻ", nil},
		{"combining mark stays", "Cafe\u0301!", []string{"cafe\u0301"}},
		{"leading mark dropped", "\u0301x", []string{"x"}},
		{"invalid UTF-8 separates", "bar\xffleft\xc3", []string{"bar", "left"}},
		{"lone invalid byte", "\xff", nil},
		{"apostrophe separates", "don't", []string{"don", "t"}},
		{"Greek final sigma", "ΟΔΟΣ", []string{"οδοσ"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Words(tc.in)
			if !slices.Equal(got, tc.want) {
				t.Errorf("Words(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestLowerCaseLetters checks what Words' idempotence rests on, for every
// rune: lower-casing a letter gives a letter, and lower-casing it again
// changes nothing.
func TestLowerCaseLetters(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if !unicode.IsLetter(r) {
			continue
		}
		l := unicode.ToLower(r)
		if !unicode.IsLetter(l) || unicode.ToLower(l) != l {
			t.Errorf("ToLower(%U) = %U: a letter %v, lower again %U", r, l, unicode.IsLetter(l), unicode.ToLower(l))
		}
	}
}

var corpus = []string{
	"a bar on the left",
	"a bar on the right",
	"the bar at the top",
	"bar bottom",
	"Seven 7",
}

func TestTrain(t *testing.T) {
	tok, err := Train(corpus, 6, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Counts: bar 4, the 4, a 2, on 2, then 1 each (alphabetical).
	want := []string{"<pad>", "<unk>", "<bos>", "bar", "the", "a", "on", "7", "at", "bottom", "left", "right", "seven", "top"}
	if got := tok.Vocab(); !slices.Equal(got, want) {
		t.Errorf("vocabulary %q, want %q", got, want)
	}
	if tok.VocabSize() != len(want) || tok.MaxLen != 6 || tok.Len() != 6 {
		t.Errorf("VocabSize %d MaxLen %d Len %d, want %d, 6, 6", tok.VocabSize(), tok.MaxLen, tok.Len(), len(want))
	}
	// Deterministic: the same corpus in another order gives the same ids.
	rev := slices.Clone(corpus)
	slices.Reverse(rev)
	for range 5 {
		again, err := Train(rev, 6, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(again.Vocab(), want) {
			t.Fatalf("a second Train gave %q, want %q", again.Vocab(), want)
		}
	}
	// minCount keeps only frequent words.
	frequent, err := Train(corpus, 6, 2)
	if err != nil {
		t.Fatal(err)
	}
	if got := frequent.Vocab(); !slices.Equal(got, want[:7]) {
		t.Errorf("minCount 2: vocabulary %q, want %q", got, want[:7])
	}
	for _, tc := range []struct {
		maxLen, minCount int
		want             string
	}{
		{1, 0, "maxLen ≥ 2"},
		{0, 0, "maxLen ≥ 2"},
		{4, -1, "minCount"},
	} {
		if _, err := Train(corpus, tc.maxLen, tc.minCount); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Train(maxLen %d, minCount %d) = %v, want an error with %q", tc.maxLen, tc.minCount, err, tc.want)
		}
	}
}

func TestEncode(t *testing.T) {
	tok, err := Train(corpus, 6, 0)
	if err != nil {
		t.Fatal(err)
	}
	id := func(w string) int32 {
		i, ok := tok.ID(w)
		if !ok {
			t.Fatalf("%q not in the vocabulary", w)
		}
		return i
	}
	const P, U, B = PadID, UnkID, BOSID
	for _, tc := range []struct {
		name, prompt string
		ids          []int32
		report       Report
	}{
		{"empty", "", []int32{B, P, P, P, P, P}, Report{}},
		{"separators only", "!? 🙂", []int32{B, P, P, P, P, P}, Report{}},
		{"known words", "Bar LEFT", []int32{B, id("bar"), id("left"), P, P, P}, Report{Words: 2}},
		{"unknown words", "bar purple bar purple green", []int32{B, id("bar"), U, id("bar"), U, U},
			Report{Words: 5, Unknown: []string{"purple", "green"}}},
		{"exactly full", "a bar on the left", []int32{B, id("a"), id("bar"), id("on"), id("the"), id("left")}, Report{Words: 5}},
		{"truncated", "a bar on the left top zebra", []int32{B, id("a"), id("bar"), id("on"), id("the"), id("left")},
			Report{Words: 7, Truncated: 2}},
		{"Unicode", "Ｓeven 七 🙂", []int32{B, U, U, P, P, P}, Report{Words: 2, Unknown: []string{"ｓeven", "七"}}},
		{"mixed digits", "seven7 77", []int32{B, id("seven"), id("7"), id("7"), id("7"), P}, Report{Words: 4}},
		{"invalid UTF-8", "\xff", []int32{B, P, P, P, P, P}, Report{}},
		{"invalid UTF-8 inside", "top\xffbar", []int32{B, id("top"), id("bar"), P, P, P}, Report{Words: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ids, r := tok.Encode(tc.prompt)
			if !slices.Equal(ids, tc.ids) {
				t.Errorf("Encode(%q) = %v, want %v", tc.prompt, ids, tc.ids)
			}
			if r.Words != tc.report.Words || r.Truncated != tc.report.Truncated || !slices.Equal(r.Unknown, tc.report.Unknown) {
				t.Errorf("Encode(%q) report %+v, want %+v", tc.prompt, r, tc.report)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	tok, err := Train(corpus, 8, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"", "A bar, on THE left!", "seven 77", "bar purple"} {
		ids, _ := tok.Encode(p)
		want := strings.Join(Words(p), " ")
		want = strings.ReplaceAll(want, "purple", "<unk>")
		if got := tok.Decode(ids); got != want {
			t.Errorf("Decode(Encode(%q)) = %q, want %q", p, got, want)
		}
	}
	if got := tok.Decode([]int32{BOSID, 99, -3, UnkID, PadID}); got != "<unk> <unk> <unk>" {
		t.Errorf("Decode of out-of-range ids = %q, want three <unk>", got)
	}
}

func TestEncodeBatch(t *testing.T) {
	tok, err := Train(corpus, 4, 0)
	if err != nil {
		t.Fatal(err)
	}
	prompts := []string{"bar left", "", "a bar on the top"}
	x, reports := tok.EncodeBatch(prompts)
	if got := x.Shape().Dimensions; !slices.Equal(got, []int{3, 4}) {
		t.Fatalf("EncodeBatch shape %v, want [3 4]", got)
	}
	flat := tensors.MustCopyFlatData[int32](x)
	for i, p := range prompts {
		ids, r := tok.Encode(p)
		if !slices.Equal(flat[i*4:(i+1)*4], ids) {
			t.Errorf("row %d = %v, want Encode(%q) = %v", i, flat[i*4:(i+1)*4], p, ids)
		}
		if reports[i].Words != r.Words || reports[i].Truncated != r.Truncated {
			t.Errorf("report %d = %+v, want %+v", i, reports[i], r)
		}
	}
	if reports[2].Truncated != 2 {
		t.Errorf("%q in 4 ids: %d truncated, want 2", prompts[2], reports[2].Truncated)
	}
	empty, _ := tok.EncodeBatch(nil)
	if got := empty.Shape().Dimensions; !slices.Equal(got, []int{0, 4}) {
		t.Errorf("EncodeBatch(nil) shape %v, want [0 4]", got)
	}
}

func TestZeroTokenizer(t *testing.T) {
	var tok Tokenizer
	if err := tok.Validate(); err != nil {
		t.Fatal(err)
	}
	ids, r := tok.Encode("hello 1")
	if len(ids) != DefaultMaxLen || ids[0] != BOSID || ids[1] != UnkID || ids[2] != UnkID || ids[3] != PadID {
		t.Errorf("zero tokenizer: Encode = %v", ids)
	}
	if tok.VocabSize() != 3 || len(r.Unknown) != 2 {
		t.Errorf("zero tokenizer: VocabSize %d, report %+v", tok.VocabSize(), r)
	}
}

func TestJSON(t *testing.T) {
	tok, err := Train(corpus, 6, 0)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(tok)
	if err != nil {
		t.Fatal(err)
	}
	var back Tokenizer
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatalf("reading %s: %v", data, err)
	}
	if back.MaxLen != tok.MaxLen || !slices.Equal(back.Vocab(), tok.Vocab()) {
		t.Errorf("round trip: %d %q, want %d %q", back.MaxLen, back.Vocab(), tok.MaxLen, tok.Vocab())
	}
	for _, p := range []string{"a bar on the left", "seven 7 purple"} {
		a, _ := tok.Encode(p)
		b, _ := back.Encode(p)
		if !slices.Equal(a, b) {
			t.Errorf("Encode(%q) = %v after the round trip, %v before", p, b, a)
		}
	}
	// Inside a configuration, as in a checkpoint.
	type config struct {
		Tokenizer *Tokenizer `json:"tokenizer"`
	}
	data, err = json.Marshal(config{tok})
	if err != nil {
		t.Fatal(err)
	}
	var c config
	if err := json.Unmarshal(data, &c); err != nil || !slices.Equal(c.Tokenizer.Vocab(), tok.Vocab()) {
		t.Errorf("nested round trip: %v, %v", err, c.Tokenizer)
	}
	type byValue struct {
		Tokenizer Tokenizer `json:"tokenizer"`
	}
	data, err = json.Marshal(byValue{*tok})
	if err != nil {
		t.Fatal(err)
	}
	var v byValue
	if err := json.Unmarshal(data, &v); err != nil || !slices.Equal(v.Tokenizer.Vocab(), tok.Vocab()) || v.Tokenizer.MaxLen != 6 {
		t.Errorf("round trip by value through %s: %v, %+v", data, err, v.Tokenizer)
	}

	for _, tc := range []struct{ name, json, want string }{
		{"wrong type", `{"max_len": "4", "vocab": []}`, "reading a tokenizer"},
		{"max_len too small", `{"max_len": 1, "vocab": ["<pad>","<unk>","<bos>"]}`, "max_len must be ≥ 2"},
		{"max_len missing", `{"vocab": ["<pad>","<unk>","<bos>"]}`, "max_len must be ≥ 2"},
		{"specials missing", `{"max_len": 4, "vocab": ["<pad>","<unk>"]}`, `vocab[2] must be the special token "<bos>", got nothing`},
		{"specials swapped", `{"max_len": 4, "vocab": ["<unk>","<pad>","<bos>","a"]}`, `vocab[0] must be the special token "<pad>", got "<unk>"`},
		{"duplicate", `{"max_len": 4, "vocab": ["<pad>","<unk>","<bos>","a","b","a"]}`, "entries 3 and 5 are both \"a\""},
		{"special again", `{"max_len": 4, "vocab": ["<pad>","<unk>","<bos>","<pad>"]}`, "special token \"<pad>\""},
		{"not normalised", `{"max_len": 4, "vocab": ["<pad>","<unk>","<bos>","Bar"]}`, `entry 3, "Bar", is not a normalised word`},
		{"two words", `{"max_len": 4, "vocab": ["<pad>","<unk>","<bos>","a b"]}`, "is not a normalised word"},
		{"empty word", `{"max_len": 4, "vocab": ["<pad>","<unk>","<bos>",""]}`, "is not a normalised word"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tk Tokenizer
			err := json.Unmarshal([]byte(tc.json), &tk)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Unmarshal(%s) = %v, want an error with %q", tc.json, err, tc.want)
			}
		})
	}
}

func TestNewRefuses(t *testing.T) {
	if _, err := New([]string{"a", "b"}, 1); err == nil || !strings.Contains(err.Error(), "MaxLen must be ≥ 2") {
		t.Errorf("New with maxLen 1: %v", err)
	}
	if _, err := New([]string{"a", "a"}, 4); err == nil || !strings.Contains(err.Error(), "both") {
		t.Errorf("New with a duplicate: %v", err)
	}
}

// FuzzEncode checks that encoding never panics and always gives a
// well-formed row, and that Words is idempotent and gives valid UTF-8.
func FuzzEncode(f *testing.F) {
	for _, s := range []string{"", "a bar on the left", "Ｓeven 七 🙂", "17 seven7", "\xff\xfe", "e\u0301\u0301x",
		"the the the the the the the the the", "\u0130STANBUL", "ǅ ǈ ǋ", "𝔄𝔅 ℌ", "٣٤ ３"} {
		f.Add(s)
	}
	tok, err := Train(corpus, 5, 0)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids, r := tok.Encode(s)
		if len(ids) != tok.MaxLen || ids[0] != BOSID {
			t.Fatalf("Encode(%q) = %v: want %d ids starting with BOS", s, ids, tok.MaxLen)
		}
		padding := false
		for i, id := range ids {
			if id < 0 || int(id) >= tok.VocabSize() {
				t.Fatalf("Encode(%q)[%d] = %d, outside [0, %d)", s, i, id, tok.VocabSize())
			}
			if i > 0 && id == BOSID {
				t.Fatalf("Encode(%q) = %v: BOS after position 0", s, ids)
			}
			if padding && id != PadID {
				t.Fatalf("Encode(%q) = %v: a word after padding", s, ids)
			}
			padding = padding || id == PadID
		}
		words := Words(s)
		if r.Words != len(words) || r.Truncated != max(0, len(words)-(tok.MaxLen-1)) {
			t.Fatalf("Encode(%q) report %+v for %d words", s, r, len(words))
		}
		for _, w := range words {
			if w == "" || !utf8.ValidString(w) {
				t.Fatalf("Words(%q) has the word %q", s, w)
			}
		}
		if again := Words(strings.Join(words, " ")); !slices.Equal(again, words) {
			t.Fatalf("Words is not idempotent on %q: %q then %q", s, words, again)
		}
	})
}
