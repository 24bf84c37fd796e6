package main

import (
	"strings"
	"testing"

	"github.com/godiffusion/diffusion-models/internal/fuzzcheck"
)

// FuzzParsePrompts checks that a prompts file of any bytes gives either an
// error naming the file or its prompts: non-blank lines, not comments,
// without line ends; never a panic or an allocation out of proportion to
// the file.
func FuzzParsePrompts(f *testing.F) {
	f.Add([]byte("a thick 7\n# a comment\n\n  \r\na thin 1\r\nno newline"))
	f.Add([]byte("# only comments\n   # indented\n"))
	f.Add([]byte(""))
	f.Add([]byte("\xff\xfe seven \x00\n\r\r\n"))
	f.Add([]byte(strings.Repeat("a\n", 100)))
	f.Fuzz(func(t *testing.T, data []byte) {
		var prompts []string
		var err error
		fuzzcheck.Alloc(t, fuzzcheck.Limit(len(data)), func() { prompts, err = parsePrompts("prompts.txt", data) })
		if err != nil {
			if !strings.Contains(err.Error(), "prompts.txt") {
				t.Fatalf("error %v does not name the file", err)
			}
			return
		}
		if len(prompts) == 0 {
			t.Fatal("no error, and no prompts")
		}
		for i, p := range prompts {
			if s := strings.TrimSpace(p); s == "" || strings.HasPrefix(s, "#") || strings.ContainsAny(p, "\n") || strings.HasSuffix(p, "\r") {
				t.Fatalf("prompt %d is %q", i, p)
			}
		}
	})
}
