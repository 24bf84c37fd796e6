package nb

import (
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestReadLossCSV(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		text string
		want []float64 // nil: an error
	}{
		{"step,loss\n1,0.5\n2,0.25\n3,1e-3\n", []float64{0.5, 0.25, 1e-3}},
		{"step,loss\n", []float64{}},
		{"loss\n1,0.5\n", nil},                             // no header
		{"step,loss\n1,0.5\n3,0.2\n", nil},                 // a step missing
		{"step,loss\n1,x\n", nil},                          // not a number
		{"step,loss\n1,0.5\n2\n", nil},                     // no comma
		{"step,loss\n2,0.5\n", nil},                        // not from 1
		{"step,loss\n1,0.5,0.7\n", nil},                    // an extra column
		{"", nil},                                          // empty
		{"step,loss\r\n1,0.5\r\n", []float64{0.5}},         // CRLF, as an editor on Windows saves it
		{"step,loss\n1,0.5\n2,0.25", []float64{0.5, 0.25}}, // no final newline
	} {
		path := filepath.Join(dir, "loss.csv")
		if err := os.WriteFile(path, []byte(c.text), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := ReadLossCSV(path)
		switch {
		case c.want == nil && err == nil:
			t.Errorf("%q: accepted as %v", c.text, got)
		case c.want != nil && err != nil:
			t.Errorf("%q: %v", c.text, err)
		case c.want != nil && (len(got) != len(c.want) || !equalFloats(got, c.want)):
			t.Errorf("%q: read %v, want %v", c.text, got, c.want)
		}
	}
}

func equalFloats(a, b []float64) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestAblations reads hand-made reports and checks the table: FD means and
// spreads, the paired differences from the base runs, the final losses.
func TestAblations(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ReadAblations(dir); err == nil {
		t.Errorf("an empty folder accepted")
	}
	run := func(name string, fd float64, losses string) {
		write(name+".json", `{"samples_fd": `+strconv.FormatFloat(fd, 'g', -1, 64)+`}`)
		write(name+".loss.csv", "step,loss\n"+losses)
		write(name+".train.log", "trained 3 steps in 1.5s (2 steps/s); checkpoint x\n")
	}
	run("base-s1", 80, "1,3\n2,2\n3,1\n")
	run("base-s0", 90, "1,3\n2,2\n3,2\n")
	run("linear-s0", 100, "1,3\n2,3\n3,3\n")
	run("linear-s1", 110, "1,3\n2,3\n3,2\n")
	runs, err := ReadAblations(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 4 || runs[0].Variant != "base" || runs[0].Seed != 0 || runs[1].Seed != 1 || runs[2].Variant != "linear" || runs[0].FD() != 90 {
		t.Fatalf("read %+v", runs)
	}
	if got := runs[1].FinalLoss(2); got != 1.5 {
		t.Errorf("FinalLoss(2) of base-s1 = %g, want 1.5", got)
	}
	var sb strings.Builder
	AblationTable(&sb, runs, 2)
	lines := strings.Split(strings.TrimSpace(sb.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("table:\n%s", sb.String())
	}
	// base: FD 85 ± 7.07; losses of the last 2 steps 2 and 1.5: 1.75 ± 0.354.
	// linear: FD 105 ± 7.07; differences 100−90 = 10 and 110−80 = 30: +20 ± 14.1;
	// losses 3 and 2.5: 2.75 ± 0.354.
	for i, wants := range [][]string{{"85.0 ± 7.1", "90.0, 80.0", "—", "1.7500 ± 0.3536"}, {"105.0 ± 7.1", "100.0, 110.0", "+20.0 ± 14.1", "2.7500 ± 0.3536"}} {
		for _, want := range wants {
			if !strings.Contains(lines[1+i], want) {
				t.Errorf("row %q lacks %q", lines[1+i], want)
			}
		}
	}
	loss, fd := AblationPanels(runs, 2, 1)
	if len(loss.Lines) != 2 || len(fd.Scatter) != 2 || len(loss.Lines[0].X) != 2 || loss.Lines[0].X[0] != 2 {
		t.Fatalf("panels: %+v %+v", loss, fd)
	}
	// Step 3 of base: moving averages over 2 steps (2+1)/2 = 1.5 (seed 1) and (2+2)/2 = 2 (seed 0), mean 1.75.
	if got := loss.Lines[0].Y[1]; math.Abs(got-1.75) > 1e-12 {
		t.Errorf("base's averaged loss at step 3 = %g, want 1.75", got)
	}
	if fd.Scatter[1].Y[1] != 110 || fd.Scatter[1].X[1] != 1 {
		t.Errorf("FD panel: %+v", fd.Scatter[1])
	}
	write("noattn-s0.json", `{"samples_fd": 1}`)
	if _, err := ReadAblations(dir); err == nil {
		t.Errorf("a run without its loss.csv accepted")
	}
}
