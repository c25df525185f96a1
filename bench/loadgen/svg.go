package loadgen

import (
	"fmt"
	"math"
	"os"
	"strings"
)

// Series is one line of a chart.
type Series struct {
	Name   string
	Points [][2]float64
	Dash   bool
}

// Chart is a line chart written as a standalone SVG (no dependencies).
type Chart struct {
	Title, XLabel, YLabel string
	LogX                  bool
	YMin0                 bool // start the y axis at 0
	Series                []Series
}

var chartColors = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"}

// SVG renders the chart.
func (c *Chart) SVG() string {
	const W, H = 760, 440
	const ml, mr, mt, mb = 70, 190, 40, 55
	pw, ph := float64(W-ml-mr), float64(H-mt-mb)
	xmin, xmax, ymin, ymax := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, s := range c.Series {
		for _, p := range s.Points {
			x := p[0]
			if c.LogX && x <= 0 {
				continue
			}
			xmin, xmax = math.Min(xmin, x), math.Max(xmax, x)
			ymin, ymax = math.Min(ymin, p[1]), math.Max(ymax, p[1])
		}
	}
	if math.IsInf(xmin, 0) {
		xmin, xmax, ymin, ymax = 0, 1, 0, 1
	}
	if c.YMin0 {
		ymin = 0
	}
	if c.LogX {
		xmin = math.Pow(10, math.Floor(math.Log10(xmin)))
		xmax = math.Pow(10, math.Ceil(math.Log10(xmax)))
	} else {
		xmin = 0
		xmax = niceCeil(xmax)
	}
	if !c.YMin0 || ymax > 1.0001 {
		ymax = niceCeil(ymax)
	}
	if ymax <= ymin {
		ymax = ymin + 1
	}
	if xmax <= xmin {
		xmax = xmin + 1
	}
	tx := func(x float64) float64 {
		if c.LogX {
			return float64(ml) + (math.Log10(x)-math.Log10(xmin))/(math.Log10(xmax)-math.Log10(xmin))*pw
		}
		return float64(ml) + (x-xmin)/(xmax-xmin)*pw
	}
	ty := func(y float64) float64 { return float64(mt) + ph - (y-ymin)/(ymax-ymin)*ph }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", W, H, W, H)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", W, H)
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", ml, esc(c.Title))
	// Grid and ticks.
	if c.LogX {
		for e := math.Log10(xmin); e <= math.Log10(xmax)+1e-9; e++ {
			x := tx(math.Pow(10, e))
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" stroke="#ddd"/><text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n",
				x, mt, x, float64(mt)+ph, x, float64(mt)+ph+16, fmtTick(math.Pow(10, e)))
		}
	} else {
		for i := 0; i <= 5; i++ {
			v := xmin + (xmax-xmin)*float64(i)/5
			x := tx(v)
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" stroke="#ddd"/><text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n",
				x, mt, x, float64(mt)+ph, x, float64(mt)+ph+16, fmtTick(v))
		}
	}
	for i := 0; i <= 5; i++ {
		v := ymin + (ymax-ymin)*float64(i)/5
		y := ty(v)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n",
			ml, y, float64(ml)+pw, y, ml-6, y+4, fmtTick(v))
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#333"/>`+"\n", ml, mt, pw, ph)
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", float64(ml)+pw/2, H-12, esc(c.XLabel))
	fmt.Fprintf(&b, `<text transform="translate(16,%.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", float64(mt)+ph/2, esc(c.YLabel))
	for i, s := range c.Series {
		col := chartColors[i%len(chartColors)]
		var pts []string
		for _, p := range s.Points {
			if c.LogX && p[0] <= 0 {
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", tx(p[0]), ty(p[1])))
		}
		dash := ""
		if s.Dash {
			dash = ` stroke-dasharray="6,4"`
		}
		if len(pts) > 0 {
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>`+"\n", col, dash, strings.Join(pts, " "))
		}
		if len(pts) <= 12 {
			for _, p := range pts {
				xy := strings.Split(p, ",")
				fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="3" fill="%s"/>`+"\n", xy[0], xy[1], col)
			}
		}
		ly := mt + 10 + i*20
		fmt.Fprintf(&b, `<line x1="%.0f" y1="%d" x2="%.0f" y2="%d" stroke="%s" stroke-width="3"%s/><text x="%.0f" y="%d">%s</text>`+"\n",
			float64(ml)+pw+12, ly, float64(ml)+pw+36, ly, col, dash, float64(ml)+pw+42, ly+4, esc(s.Name))
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// WriteSVG writes the chart to path.
func (c *Chart) WriteSVG(path string) error {
	if err := os.WriteFile(path, []byte(c.SVG()), 0o644); err != nil {
		return fmt.Errorf("write chart: %w", err)
	}
	return nil
}

func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func fmtTick(v float64) string {
	switch {
	case v >= 1e6 && math.Mod(v, 1e6) == 0:
		return fmt.Sprintf("%gM", v/1e6)
	case v >= 1e3 && math.Mod(v, 1e3) == 0:
		return fmt.Sprintf("%gk", v/1e3)
	case v == math.Trunc(v):
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%.2g", v)
	}
}

func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
