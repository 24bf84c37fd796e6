package text

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gomlx/gomlx/core/tensors"
)

// The special tokens, at the start of every vocabulary.
const (
	// PadID fills an encoded prompt after its last word ("<pad>").
	PadID int32 = 0
	// UnkID stands for a word outside the vocabulary ("<unk>").
	UnkID int32 = 1
	// BOSID starts every encoded prompt, at position 0 ("<bos>"); it is
	// never padding, so the empty prompt is [BOS, PAD, …].
	BOSID int32 = 2
)

// Specials are the special tokens' strings, in the order of their ids.
var Specials = [...]string{PadID: "<pad>", UnkID: "<unk>", BOSID: "<bos>"}

// DefaultMaxLen is the length of an encoded prompt when a Tokenizer's
// MaxLen is 0.
const DefaultMaxLen = 16

// MaxLenLimit is the largest MaxLen [Tokenizer.Validate] accepts, so that
// a damaged configuration cannot make encoding allocate without bound.
const MaxLenLimit = 1 << 12

// Words splits a prompt into the words a [Tokenizer] knows, after
// normalising it:
//
//   - letters are lower-cased (Unicode simple case mapping, unicode.ToLower);
//   - a word is a maximal run of letters (unicode.IsLetter), together with
//     any combining marks (unicode.IsMark) that follow a letter of the run,
//     so that "é" written as e + U+0301 and Devanagari vowel signs stay in
//     their word;
//   - every decimal digit (unicode.IsDigit: 0–9 and the other scripts'
//     digits) is a word of its own: "17" gives "1", "7";
//   - everything else (spaces, punctuation, symbols, emoji, other numbers
//     such as "½", and bytes that are not valid UTF-8) separates words and
//     is dropped.
//
// So "Ｓeven 七, 17🙂" gives [ｓeven 七 1 7]. Every word is valid UTF-8,
// and Words is idempotent: Words(strings.Join(Words(s), " ")) = Words(s).
func Words(s string) []string {
	var words []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			words = append(words, cur.String())
			cur.Reset()
		}
	}
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size <= 1: // an invalid byte
			flush()
		case unicode.IsLetter(r):
			cur.WriteRune(unicode.ToLower(r))
		case unicode.IsMark(r) && cur.Len() > 0:
			cur.WriteRune(r)
		case unicode.IsDigit(r):
			flush()
			words = append(words, string(r))
		default:
			flush()
		}
	}
	flush()
	return words
}

// Tokenizer maps prompts to fixed-length rows of token ids, one id per word
// of [Words]: the special tokens (ids 0–2) and then a vocabulary of words
// learned by [Train]. The zero Tokenizer knows only the special tokens (every
// word is unknown) and encodes to DefaultMaxLen ids. A Tokenizer is not
// changed by encoding and may be used from several goroutines.
//
// It marshals to JSON as {"max_len": MaxLen, "vocab": [every token, the
// special ones first]}, so that it can be stored in a checkpoint's
// configuration.
type Tokenizer struct {
	// MaxLen is the number of ids of every encoded prompt, BOS included:
	// at most MaxLen−1 words are kept. It must be ≥ 2; 0 means
	// DefaultMaxLen, and a negative value or 1 (which [Tokenizer.Validate]
	// refuses) is read as 2 by the encoding methods, which never fail.
	MaxLen int

	words []string         // the vocabulary after the special tokens: words[i] has id len(Specials)+i
	ids   map[string]int32 // word → id, for words only
}

// Report says what [Tokenizer.Encode] did with a prompt.
type Report struct {
	// Words is the number of words of the prompt (len(Words(prompt))).
	Words int
	// Truncated is the number of words dropped because they came after the
	// first MaxLen−1.
	Truncated int
	// Unknown lists the encoded words outside the vocabulary (encoded as
	// UnkID), each once, in order of first appearance. Dropped words are not
	// listed.
	Unknown []string
}

// New returns the tokenizer of a vocabulary: the words after the special
// tokens, in id order (words[i] gets id len(Specials)+i). The words must be
// distinct words of [Words] (lower-case, one word each, not special tokens),
// and 2 ≤ maxLen ≤ MaxLenLimit.
func New(words []string, maxLen int) (*Tokenizer, error) {
	t := &Tokenizer{MaxLen: maxLen, words: slices.Clone(words), ids: make(map[string]int32, len(words))}
	for i, w := range t.words {
		t.ids[w] = int32(len(Specials) + i)
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return t, nil
}

// Train learns a tokenizer from a corpus of captions: its vocabulary is the
// special tokens, then every word of [Words] that appears at least minCount
// times in the corpus (0 counts as 1), by descending count, ties in
// alphabetical (byte) order, so that the same corpus always gives the same
// ids. maxLen is the encoded length ([Tokenizer.MaxLen], 2 to MaxLenLimit).
func Train(corpus []string, maxLen int, minCount int) (*Tokenizer, error) {
	if maxLen < 2 {
		return nil, fmt.Errorf("text: a tokenizer needs maxLen ≥ 2 (BOS and one word), got %d", maxLen)
	}
	if minCount < 0 {
		return nil, fmt.Errorf("text: minCount must be ≥ 0, got %d", minCount)
	}
	minCount = max(minCount, 1)
	counts := map[string]int{}
	for _, caption := range corpus {
		for _, w := range Words(caption) {
			counts[w]++
		}
	}
	words := make([]string, 0, len(counts))
	for w, n := range counts {
		if n >= minCount {
			words = append(words, w)
		}
	}
	slices.SortFunc(words, func(a, b string) int {
		if c := cmp.Compare(counts[b], counts[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return New(words, maxLen)
}

// Validate reports a tokenizer that cannot encode faithfully: MaxLen < 2
// (other than 0, the default) or above MaxLenLimit, or a vocabulary word
// that is empty, a special token, a duplicate, or not a word that [Words]
// produces (it could never be matched).
func (t *Tokenizer) Validate() error {
	if t.MaxLen != 0 && t.MaxLen < 2 {
		return fmt.Errorf("text: tokenizer MaxLen must be ≥ 2 (BOS and one word), got %d", t.MaxLen)
	}
	if t.MaxLen > MaxLenLimit {
		return fmt.Errorf("text: tokenizer MaxLen must be ≤ %d, got %d", MaxLenLimit, t.MaxLen)
	}
	seen := make(map[string]int, len(t.words))
	for i, w := range t.words {
		id := len(Specials) + i
		if slices.Contains(Specials[:], w) {
			return fmt.Errorf("text: vocabulary entry %d is the special token %q, which belongs only at id %d", id, w, slices.Index(Specials[:], w))
		}
		if ws := Words(w); len(ws) != 1 || ws[0] != w {
			return fmt.Errorf("text: vocabulary entry %d, %q, is not a normalised word (Words gives %q)", id, w, ws)
		}
		if j, dup := seen[w]; dup {
			return fmt.Errorf("text: vocabulary entries %d and %d are both %q", j, id, w)
		}
		seen[w] = id
	}
	return nil
}

// Len returns the number of ids of an encoded prompt: MaxLen, or
// DefaultMaxLen when MaxLen is 0 (2 when MaxLen is negative or 1).
func (t *Tokenizer) Len() int {
	switch {
	case t.MaxLen == 0:
		return DefaultMaxLen
	case t.MaxLen < 2:
		return 2
	}
	return t.MaxLen
}

// VocabSize returns the number of token ids, special tokens included: ids
// are in [0, VocabSize).
func (t *Tokenizer) VocabSize() int { return len(Specials) + len(t.words) }

// Vocab returns every token in id order, the special tokens first.
func (t *Tokenizer) Vocab() []string {
	return append(slices.Clone(Specials[:]), t.words...)
}

// Token returns the string of an id: a word, a special token, or "<unk>"
// for an id outside [0, VocabSize).
func (t *Tokenizer) Token(id int32) string {
	switch {
	case id >= 0 && int(id) < len(Specials):
		return Specials[id]
	case id >= 0 && int(id) < t.VocabSize():
		return t.words[int(id)-len(Specials)]
	}
	return Specials[UnkID]
}

// ID returns the id of a normalised word, and UnkID, false for a word
// outside the vocabulary. Special tokens are not words: ID("<pad>") is
// UnkID.
func (t *Tokenizer) ID(word string) (int32, bool) {
	id, ok := t.ids[word]
	if !ok {
		return UnkID, false
	}
	return id, true
}

// Encode returns the ids of a prompt, exactly Len() of them: BOS, the ids
// of its first Len()−1 words ([Words]; UnkID for words outside the
// vocabulary), then PadID up to the end. The report says how many words
// there were, how many were dropped and which were unknown. Any string is
// accepted, including invalid UTF-8.
func (t *Tokenizer) Encode(prompt string) ([]int32, Report) {
	ids := make([]int32, t.Len())
	r := t.encodeInto(ids, prompt)
	return ids, r
}

func (t *Tokenizer) encodeInto(ids []int32, prompt string) Report {
	words := Words(prompt)
	keep := min(len(words), len(ids)-1)
	r := Report{Words: len(words), Truncated: len(words) - keep}
	ids[0] = BOSID
	for i, w := range words[:keep] {
		id, ok := t.ID(w)
		if !ok && !slices.Contains(r.Unknown, w) {
			r.Unknown = append(r.Unknown, w)
		}
		ids[1+i] = id
	}
	for i := 1 + keep; i < len(ids); i++ {
		ids[i] = PadID
	}
	return r
}

// EncodeBatch encodes each prompt ([Tokenizer.Encode]) into one row of an
// int32 tensor [len(prompts), Len()], the form of the condition input
// cond.Text, and returns the reports in the same order.
func (t *Tokenizer) EncodeBatch(prompts []string) (*tensors.Tensor, []Report) {
	l := t.Len()
	flat := make([]int32, len(prompts)*l)
	reports := make([]Report, len(prompts))
	for i, p := range prompts {
		reports[i] = t.encodeInto(flat[i*l:(i+1)*l], p)
	}
	return tensors.FromFlatDataAndDimensions(flat, len(prompts), l), reports
}

// Decode returns the words of ids joined by single spaces, leaving out BOS
// and padding; UnkID and ids outside the vocabulary are written "<unk>".
// For a prompt without unknown or dropped words, Decode(Encode(p)) is
// strings.Join(Words(p), " ").
func (t *Tokenizer) Decode(ids []int32) string {
	var out []string
	for _, id := range ids {
		if id == PadID || id == BOSID {
			continue
		}
		out = append(out, t.Token(id))
	}
	return strings.Join(out, " ")
}

// tokenizerJSON is the JSON form of a Tokenizer.
type tokenizerJSON struct {
	MaxLen int      `json:"max_len"`
	Vocab  []string `json:"vocab"`
}

// MarshalJSON writes {"max_len": Len(), "vocab": Vocab()}. It has a value
// receiver so that a Tokenizer held by value in a configuration struct is
// written this way too.
func (t Tokenizer) MarshalJSON() ([]byte, error) {
	return json.Marshal(tokenizerJSON{MaxLen: t.Len(), Vocab: t.Vocab()})
}

// UnmarshalJSON reads what MarshalJSON writes, refusing a vocabulary whose
// first entries are not the special tokens in id order, whose words fail
// [Tokenizer.Validate], or a max_len < 2 or > MaxLenLimit.
func (t *Tokenizer) UnmarshalJSON(data []byte) error {
	var j tokenizerJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return fmt.Errorf("text: reading a tokenizer: %w", err)
	}
	if j.MaxLen < 2 {
		return fmt.Errorf("text: reading a tokenizer: max_len must be ≥ 2, got %d", j.MaxLen)
	}
	for id, s := range Specials {
		if id >= len(j.Vocab) || j.Vocab[id] != s {
			got := "nothing"
			if id < len(j.Vocab) {
				got = fmt.Sprintf("%q", j.Vocab[id])
			}
			return fmt.Errorf("text: reading a tokenizer: vocab[%d] must be the special token %q, got %s", id, s, got)
		}
	}
	n, err := New(j.Vocab[len(Specials):], j.MaxLen)
	if err != nil {
		return fmt.Errorf("text: reading a tokenizer: %w", err)
	}
	*t = *n
	return nil
}
