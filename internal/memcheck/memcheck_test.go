package memcheck

import (
	"errors"
	"strings"
	"testing"
)

// linear is an estimate of fixed + per·b bytes that counts its calls.
func linear(fixed, per float64, calls *int) Estimate {
	return func(b int) (float64, error) {
		*calls++
		return fixed + per*float64(b), nil
	}
}

// TestFit checks refusals against the largest batch worked out by hand:
// with 1 MB fixed and 1,000 bytes an example, avail = 1.25·(1e6 + 1000·5000)
// admits exactly 5,000 examples.
func TestFit(t *testing.T) {
	avail := Headroom * (1e6 + 1000*5000)
	var calls int
	est := linear(1e6, 1000, &calls)
	if err := Fit("a step on 5000", "--batch-size", 5000, avail, "test", est); err != nil {
		t.Fatalf("5000 examples fit exactly, got %v", err)
	}
	for _, b := range []int{5001, 1 << 30} {
		calls = 0
		err := Fit("a step", "--batch-size", b, avail, "test", est)
		if !errors.Is(err, ErrNotEnoughMemory) {
			t.Fatalf("batch %d: error %v, want ErrNotEnoughMemory", b, err)
		}
		for _, want := range []string{"a step needs about", "is available (test)", "at most 5000 examples fit", "try --batch-size 4096"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("batch %d: %q lacks %q", b, err, want)
			}
		}
		if calls > 40 {
			t.Errorf("batch %d: %d estimates, want a binary search (≤ 40)", b, calls)
		}
	}
	err := Fit("a step", "--batch-size", 10, 1e6, "test", est)
	if !errors.Is(err, ErrNotEnoughMemory) || !strings.Contains(err.Error(), "not even one example fits") {
		t.Errorf("nothing fits: error %v", err)
	}
	boom := errors.New("boom")
	if err := Fit("a step", "--batch-size", 10, 1e9, "test", func(int) (float64, error) { return 0, boom }); !errors.Is(err, boom) {
		t.Errorf("estimate failing: error %v, want it passed on", err)
	}
}

func TestParseBytes(t *testing.T) {
	for _, c := range []struct {
		in   string
		want float64
	}{
		{"1073741824", 1 << 30}, {"8GiB", 8 << 30}, {"8 GB", 8 << 30}, {"1.5G", 1.5 * (1 << 30)},
		{"512MiB", 512 << 20}, {"300m", 300 << 20}, {"64KiB", 64 << 10}, {"2TiB", 2 << 40}, {"7B", 7},
	} {
		if got, err := ParseBytes(c.in); err != nil || got != c.want {
			t.Errorf("ParseBytes(%q) = %g, %v; want %g", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "GiB", "-1GiB", "8XB", "1e400", "eight"} {
		if _, err := ParseBytes(bad); err == nil {
			t.Errorf("ParseBytes(%q): no error", bad)
		}
	}
}

func TestParseMeminfo(t *testing.T) {
	info := "MemTotal:       24576000 kB\nMemFree:         1000000 kB\nMemAvailable:   20000000 kB\nBuffers: 10 kB\n"
	if v, ok := parseMeminfo(info); !ok || v != 20000000*1024 {
		t.Errorf("MemAvailable = %g, %v; want %d", v, ok, 20000000*1024)
	}
	if _, ok := parseMeminfo("MemTotal: 1 kB\n"); ok {
		t.Error("no MemAvailable line: ok")
	}
}

func TestCgroupFree(t *testing.T) {
	if v, ok := cgroupFree("1073741824\n", "73741824\n"); !ok || v != 1e9 {
		t.Errorf("cgroupFree = %g, %v; want 1e9", v, ok)
	}
	if _, ok := cgroupFree("max\n", "5\n"); ok {
		t.Error("no limit (max): ok")
	}
	if v, ok := cgroupFree("100", "200"); !ok || v != 0 {
		t.Errorf("over the limit: %g, %v; want 0", v, ok)
	}
}

func TestAvailableEnv(t *testing.T) {
	t.Setenv(EnvVar, "2GiB")
	if v, src, ok, err := Available(); err != nil || !ok || v != 2<<30 || src != EnvVar {
		t.Errorf("Available() = %g, %q, %v, %v; want 2 GiB from %s", v, src, ok, err, EnvVar)
	}
	t.Setenv(EnvVar, "off")
	if _, _, ok, err := Available(); ok || err != nil {
		t.Errorf("%s=off: ok %v, err %v; want the checks off", EnvVar, ok, err)
	}
	t.Setenv(EnvVar, "lots")
	if _, _, _, err := Available(); err == nil || !strings.Contains(err.Error(), EnvVar) {
		t.Errorf("%s=lots: error %v, want one naming the variable", EnvVar, err)
	}
}

func TestSize(t *testing.T) {
	for in, want := range map[float64]string{512 << 20: "512 MiB", 3 << 30: "3.0 GiB", 1.5 * (1 << 40): "1.5 TiB"} {
		if got := Size(in); got != want {
			t.Errorf("Size(%g) = %q, want %q", in, got, want)
		}
	}
}
