package plots

import (
	"image/color"
	"math"
	"strings"

	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
)

// MathText is a gonum text.Handler for labels that contain a little
// mathematics. Every text this package draws goes through it. On top of
// plain text it renders:
//
//   - subscripts and superscripts: "x_t", "x^2" (one character) and
//     "x_{t-1}", "e^{-t}" (a braced group, which may nest), drawn at 70%
//     of the size, lowered or raised; a '-' inside them is drawn as the
//     minus sign "−";
//   - precomposed Unicode subscripts and superscripts ("log₁₀", "10⁻³",
//     "x²", "ₜ"), drawn the same way, since the default font (Liberation
//     Serif) lacks most of them;
//   - Unicode combining accents U+0300–U+036F ("β̃" = β + U+0303,
//     "ᾱ" = α + U+0304, "x̂" = x + U+0302), which the font has but places
//     at a fixed offset (the tilde lands right of the letter, on tall
//     letters inside it); they are drawn centred over the ink of the
//     preceding glyph, just above its top, and stack when repeated.
//
// "\_", "\^", "\{", "\}" and "\\" give the literal characters; a '_' or
// '^' at the very end of a line, and braces outside a script, are literal
// too. Lines are separated by "\n". Rotation and the alignments of
// text.Style work as with gonum's text.Plain.
type MathText struct {
	// Fonts is the font cache the faces are looked up in; nil means
	// font.DefaultCache, the cache of gonum's default handler.
	Fonts *font.Cache
}

var _ text.Handler = MathText{}

// mathHandler is the handler of every text style of this package.
var mathHandler text.Handler = MathText{}

// Script geometry, as fractions of the size of the enclosing text.
const (
	scriptScale = 0.7  // size of a sub- or superscript
	supShift    = 0.38 // baseline of a superscript, above the baseline
	subShift    = 0.18 // baseline of a subscript, below the baseline
	accentGap   = 0.07 // space between a glyph's ink and its accent
)

// Cache returns the font cache of the handler (font.DefaultCache when
// Fonts is nil).
func (h MathText) Cache() *font.Cache {
	if h.Fonts == nil {
		return font.DefaultCache
	}
	return h.Fonts
}

// Extents returns the extents of fnt, as text.Plain does.
func (h MathText) Extents(fnt font.Font) font.Extents {
	face := h.Cache().Lookup(fnt, fnt.Size)
	return face.Extents()
}

// Lines splits txt into lines at "\n", ignoring trailing newlines.
func (h MathText) Lines(txt string) []string {
	return strings.Split(strings.TrimRight(txt, "\n"), "\n")
}

// Box returns the width of one line of txt and its height above and depth
// below the baseline. Height and depth are at least the font's ascent and
// descent and grow to hold superscripts, subscripts and accents that reach
// beyond them.
func (h MathText) Box(txt string, fnt font.Font) (width, height, depth vg.Length) {
	l := h.layout(txt, fnt)
	return l.width, l.height, l.depth
}

// Draw draws txt with sty at pt. Text is placed as text.Plain places it,
// so that gonum's layout code, written for text.Plain, positions it the
// same way; the extra height and depth of scripts are taken into account.
func (h MathText) Draw(c vg.Canvas, txt string, sty text.Style, pt vg.Point) {
	txt = strings.TrimRight(txt, "\n")
	if txt == "" || sty.Font.Size == 0 {
		return
	}
	ext := h.Extents(sty.Font)
	c.SetColor(sty.Color)
	if sty.Rotation != 0 {
		c.Push()
		c.Rotate(sty.Rotation)
		sin, cos := math.Sincos(sty.Rotation)
		pt.X, pt.Y = pt.Y*vg.Length(sin)+pt.X*vg.Length(cos), pt.Y*vg.Length(cos)-pt.X*vg.Length(sin)
		defer c.Pop()
	}
	lines := h.Lines(txt)
	ls := make([]mathLine, len(lines))
	for i, s := range lines {
		ls[i] = h.layout(s, sty.Font)
	}
	linegap := ext.Height - ext.Ascent - ext.Descent
	var total vg.Length
	for i, l := range ls {
		total += l.height + l.depth
		if i > 0 {
			total += linegap
		}
	}
	// text.Plain puts the bottom of a one-line box at
	// pt.Y + YAlign·height + (size − ascent − descent).
	bottom := pt.Y + total*vg.Length(sty.YAlign) + (sty.Font.Size - ext.Ascent - ext.Descent)
	base := bottom + ls[len(ls)-1].depth
	for i := len(ls) - 1; i >= 0; i-- {
		l := ls[i]
		if i < len(ls)-1 {
			base += ls[i+1].height + linegap + l.depth
		}
		x0 := pt.X + vg.Length(sty.XAlign)*l.width
		for _, g := range l.glyphs {
			c.FillString(g.face, vg.Point{X: x0 + g.x, Y: base + g.y}, g.s)
		}
	}
}

// mathGlyph is a string drawn with one face at an offset from the start of
// the baseline of its line.
type mathGlyph struct {
	face font.Face
	x, y vg.Length
	s    string
}

// mathLine is a laid-out line of text.
type mathLine struct {
	glyphs               []mathGlyph
	width, height, depth vg.Length
}

// mathSeg is a run of text of one size and baseline; accents are drawn
// over it, and a segment with accents holds a single rune.
type mathSeg struct {
	text    []rune
	size    vg.Length
	dy      vg.Length
	accents []rune
}

// superscripts and subscripts map precomposed Unicode script characters
// to the characters they stand for.
var (
	superscripts = map[rune]rune{
		'⁰': '0', '¹': '1', '²': '2', '³': '3', '⁴': '4', '⁵': '5', '⁶': '6', '⁷': '7', '⁸': '8', '⁹': '9',
		'⁺': '+', '⁻': '−', '⁼': '=', '⁽': '(', '⁾': ')', 'ⁿ': 'n', 'ⁱ': 'i',
	}
	subscripts = map[rune]rune{
		'₀': '0', '₁': '1', '₂': '2', '₃': '3', '₄': '4', '₅': '5', '₆': '6', '₇': '7', '₈': '8', '₉': '9',
		'₊': '+', '₋': '−', '₌': '=', '₍': '(', '₎': ')', 'ₐ': 'a', 'ₑ': 'e', 'ₒ': 'o', 'ₓ': 'x',
		'ₕ': 'h', 'ₖ': 'k', 'ₗ': 'l', 'ₘ': 'm', 'ₙ': 'n', 'ₚ': 'p', 'ₛ': 's', 'ₜ': 't', 'ᵢ': 'i', 'ⱼ': 'j',
	}
)

// isCombining reports whether r is a combining diacritical mark.
func isCombining(r rune) bool { return r >= 0x300 && r <= 0x36f }

// parseMath turns rs into segments of text at the given size and baseline
// offset dy; script tells whether rs is inside a sub- or superscript.
func parseMath(rs []rune, size, dy vg.Length, script bool, out []mathSeg) []mathSeg {
	add := func(r rune) {
		if script && r == '-' {
			r = '−'
		}
		if n := len(out); n > 0 && out[n-1].size == size && out[n-1].dy == dy && out[n-1].accents == nil {
			out[n-1].text = append(out[n-1].text, r)
			return
		}
		out = append(out, mathSeg{text: []rune{r}, size: size, dy: dy})
	}
	scriptPos := func(up bool) vg.Length {
		if up {
			return dy + supShift*size
		}
		return dy - subShift*size
	}
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case r == '\\' && i+1 < len(rs) && strings.ContainsRune(`_^{}\`, rs[i+1]):
			i++
			add(rs[i])
		case (r == '_' || r == '^') && i+1 < len(rs):
			var arg []rune
			if rs[i+1] == '{' {
				end := matchBrace(rs, i+1)
				arg = rs[i+2 : end]
				i = min(end, len(rs)-1)
			} else {
				j := i + 2
				for j < len(rs) && isCombining(rs[j]) {
					j++
				}
				arg = rs[i+1 : j]
				i = j - 1
			}
			out = parseMath(arg, scriptScale*size, scriptPos(r == '^'), true, out)
		case isCombining(r):
			n := len(out)
			if n == 0 {
				continue // nothing to put the accent on
			}
			if last := out[n-1]; len(last.text) > 1 {
				out[n-1].text = last.text[:len(last.text)-1]
				out = append(out, mathSeg{text: last.text[len(last.text)-1:], size: last.size, dy: last.dy})
				n++
			}
			out[n-1].accents = append(out[n-1].accents, r)
		case superscripts[r] != 0 || subscripts[r] != 0:
			up := superscripts[r] != 0
			table := subscripts
			if up {
				table = superscripts
			}
			var arg []rune
			for i < len(rs) && table[rs[i]] != 0 {
				arg = append(arg, table[rs[i]])
				i++
			}
			i--
			out = parseMath(arg, scriptScale*size, scriptPos(up), true, out)
		default:
			add(r)
		}
	}
	return out
}

// matchBrace returns the index of the '}' that closes the '{' at rs[open],
// or len(rs) when it is never closed.
func matchBrace(rs []rune, open int) int {
	depth := 0
	for j := open; j < len(rs); j++ {
		switch {
		case rs[j] == '\\':
			j++
		case rs[j] == '{':
			depth++
		case rs[j] == '}':
			depth--
			if depth == 0 {
				return j
			}
		}
	}
	return len(rs)
}

// inkBounds returns the ink box of rune r in face f, in points relative to
// the pen position, y upwards; ok is false for a glyph without ink.
func inkBounds(f *font.Face, r rune) (x0, x1, y0, y1 vg.Length, ok bool) {
	var buf sfnt.Buffer
	idx, err := f.Face.GlyphIndex(&buf, r)
	if err != nil || idx == 0 {
		return 0, 0, 0, 0, false
	}
	ppem := fixed.Int26_6(f.Face.UnitsPerEm())
	b, _, err := f.Face.GlyphBounds(&buf, idx, ppem, 0)
	if err != nil || b.Min.X >= b.Max.X || b.Min.Y >= b.Max.Y {
		return 0, 0, 0, 0, false
	}
	scale := f.Font.Size / font.Points(float64(ppem))
	u := func(v fixed.Int26_6) vg.Length { return font.Points(float64(v)) * scale }
	return u(b.Min.X), u(b.Max.X), -u(b.Max.Y), -u(b.Min.Y), true
}

// layout places the segments of one line set in fnt.
func (h MathText) layout(line string, fnt font.Font) mathLine {
	cache := h.Cache()
	baseFace := cache.Lookup(fnt, fnt.Size)
	ext := baseFace.Extents()
	l := mathLine{height: ext.Ascent, depth: ext.Descent}
	if fnt.Size == 0 {
		return l
	}
	var x vg.Length
	for _, sg := range parseMath([]rune(line), fnt.Size, 0, false, nil) {
		face := cache.Lookup(fnt, sg.size)
		e := face.Extents()
		s := string(sg.text)
		l.glyphs = append(l.glyphs, mathGlyph{face: face, x: x, y: sg.dy, s: s})
		l.height = max(l.height, sg.dy+e.Ascent)
		l.depth = max(l.depth, -sg.dy+e.Descent)
		if len(sg.accents) > 0 {
			// Centre each accent over the ink of the base glyph, just
			// above it (or above the accent below it).
			bx0, bx1, _, top, ok := inkBounds(&face, sg.text[0])
			if !ok {
				bx0, bx1, top = 0, face.Width(s), e.Ascent*0.7
			}
			cx := x + (bx0+bx1)/2
			top += sg.dy
			for _, a := range sg.accents {
				ax0, ax1, ay0, ay1, ok := inkBounds(&face, a)
				if !ok {
					continue
				}
				gap := accentGap * sg.size
				dy := top + gap - ay0
				l.glyphs = append(l.glyphs, mathGlyph{face: face, x: cx - (ax0+ax1)/2, y: dy, s: string(a)})
				top = dy + ay1
				l.height = max(l.height, top)
			}
		}
		x += face.Width(s)
	}
	l.width = x
	return l
}

// mathStyle returns a text style of the given size drawn by the math
// handler.
func mathStyle(size vg.Length, xa text.XAlignment, ya text.YAlignment) text.Style {
	return text.Style{
		Color:   color.Black,
		Font:    font.From(plot.DefaultFont, size),
		XAlign:  xa,
		YAlign:  ya,
		Handler: mathHandler,
	}
}
