package progress

import (
	"bytes"
	"strings"
	"testing"
)

func TestBar(t *testing.T) {
	var buf bytes.Buffer
	b := New(&buf, 3, "work")
	b.Add(1, "loss 1.0")
	b.Add(2, "loss 0.5")
	b.Done()
	out := buf.String()
	if !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 {
		t.Errorf("want exactly one final newline, got %q", out)
	}
	if last := out[strings.LastIndex(out, "\r")+1:]; !strings.Contains(last, "100% 3/3") || !strings.Contains(last, "loss 0.5") {
		t.Errorf("final state %q lacks 100%% 3/3 and the status", last)
	}
	if n := strings.Count(out, "3/3"); n != 1 {
		t.Errorf("final state drawn %d times, want once: %q", n, out)
	}
	var nilBar *Bar = New(nil, 10, "x")
	nilBar.Add(1, "")
	nilBar.Done() // must not panic
}
