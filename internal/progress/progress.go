// Package progress draws a one-line progress bar for long loops (training,
// sampling, evaluation): done/total, percentage, rate, ETA and a free-form
// status such as the current loss.
//
// A nil *Bar is valid and draws nothing, so callers turn bars off by passing
// a nil writer to [New].
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Bar is a progress bar writing to one io.Writer.
type Bar struct {
	w        io.Writer
	desc     string
	total    int
	done     int
	start    time.Time
	last     time.Time
	interval time.Duration
	status   string
	tty      bool
	lastLen  int
	drawn    int // b.done when the bar was last drawn (−1: never)
}

// New starts a bar for total units of work described by desc. With a nil
// writer it returns nil (a bar that draws nothing). On a terminal the bar
// redraws in place at most 10 times a second; elsewhere (logs, notebooks) it
// redraws in place too (Jupyter honours carriage returns) but at most every
// 2 seconds, and always prints the final state.
func New(w io.Writer, total int, desc string) *Bar {
	if w == nil {
		return nil
	}
	now := time.Now()
	b := &Bar{w: w, desc: desc, total: total, start: now, interval: 2 * time.Second, drawn: -1}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			b.tty = true
			b.interval = 100 * time.Millisecond
		}
	}
	return b
}

// Add records n more units of work done and an optional status text.
func (b *Bar) Add(n int, status string) {
	if b == nil {
		return
	}
	b.done += n
	if status != "" {
		b.status = status
	}
	now := time.Now()
	if b.done < b.total && now.Sub(b.last) < b.interval {
		return
	}
	b.last = now
	b.draw(now)
}

// SetStatus changes the status text without advancing.
func (b *Bar) SetStatus(status string) {
	if b != nil {
		b.status = status
	}
}

// Done draws the final state (unless it is already on screen) and ends the line.
func (b *Bar) Done() {
	if b == nil {
		return
	}
	if b.drawn != b.done {
		b.draw(time.Now())
	}
	fmt.Fprintln(b.w)
}

// Rate returns units per second since the bar started.
func (b *Bar) Rate() float64 {
	if b == nil {
		return 0
	}
	el := time.Since(b.start).Seconds()
	if el <= 0 {
		return 0
	}
	return float64(b.done) / el
}

func (b *Bar) draw(now time.Time) {
	const width = 24
	frac := 0.0
	if b.total > 0 {
		frac = float64(b.done) / float64(b.total)
	}
	frac = min(max(frac, 0), 1)
	filled := int(frac * width)
	bar := strings.Repeat("█", filled) + strings.Repeat("░", width-filled)
	el := now.Sub(b.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(b.done) / el
	}
	eta := "?"
	if rate > 0 && b.done < b.total {
		eta = formatDuration(time.Duration(float64(b.total-b.done) / rate * float64(time.Second)))
	} else if b.done >= b.total {
		eta = "0s"
	}
	line := fmt.Sprintf("%s %s %3.0f%% %d/%d [%s, %s/s, eta %s]", b.desc, bar, 100*frac, b.done, b.total,
		formatDuration(now.Sub(b.start)), formatRate(rate), eta)
	if b.status != "" {
		line += " " + b.status
	}
	pad := ""
	if n := len([]rune(line)); n < b.lastLen {
		pad = strings.Repeat(" ", b.lastLen-n)
	}
	b.lastLen = len([]rune(line))
	b.drawn = b.done
	fmt.Fprintf(b.w, "\r%s%s", line, pad)
}

func formatRate(r float64) string {
	switch {
	case r >= 100:
		return fmt.Sprintf("%.0f", r)
	case r >= 10:
		return fmt.Sprintf("%.1f", r)
	default:
		return fmt.Sprintf("%.2f", r)
	}
}

func formatDuration(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	d = d.Round(time.Second)
	h := int(d.Hours())
	m := int(d.Minutes()) % 60
	s := int(d.Seconds()) % 60
	if h > 0 {
		return fmt.Sprintf("%dh%02dm%02ds", h, m, s)
	}
	return fmt.Sprintf("%dm%02ds", m, s)
}
