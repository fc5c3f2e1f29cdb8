#!/usr/bin/env python3
"""Cost curves from the benchmarks' results files, as SVG (Python 3 standard library only).

    bench/plot.py RESULTS.tsv [MORE.tsv ...] [--out DIR]      (DIR defaults to docs/img of this repository)

Reads the lines `bench<TAB>size<TAB>tool<TAB>metric<TAB>value<TAB>unit` that the benchmarks append to the file
named by RESULTS (bench/backup, bench/parity, bench/check-200.sh, bench/watch; bench/curves runs them all).
Blank lines and lines starting with `#` are skipped. When the same (bench, size, tool, metric) appears more
than once, the last one read wins (a rerun of one size replaces the earlier value; files are read in the order
given).

Writes one SVG per (bench, metric group) for which there is data, and prints their paths:

    curve-backup.svg             backup: first / unchanged / changed backup and restore time, tug vs restic
    curve-backup-rss.svg         backup: peak RSS of the same steps, tug vs restic
    curve-parity-ENGINE.svg      parity: equal and 10-changes time, tug vs reladiff and the hashed scan
    curve-parity-rss.svg         parity: tug's peak RSS per engine
    curve-check.svg              check: mean ms per run, tug check / config vs docker compose config v2 and v1
    curve-check-rss.svg          check: peak RSS of the same commands
    curve-watch-cpu.svg          watch: CPU % of one core against the number of checks
    curve-watch-rss.svg          watch: RSS now and peak against the number of checks

x is the size on a log axis (labelled at the sizes measured), y the metric, linear from 0 or logarithmic when
the plotted values span more than 20x. tug is drawn solid with round markers, baselines dashed or dotted with
other markers, in a legend at the right. 640x400; the same input gives byte-identical files.
"""

import argparse
import math
import os
import sys

W, H = 640, 400
LEFT, TOP, BOTTOM = 66, 40, 56  # margins; the right one holds the legend and is as wide as its labels
PX0, PY0, PY1 = LEFT, TOP, H - BOTTOM  # plot area (y grows downwards), right edge per plot
FONT = "DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif"
LOG_SPAN = 20.0  # values spanning more than this factor get a log y axis

# Colours (Okabe-Ito, readable for colour-blind readers) and line styles.
BLUE, ORANGE, GREEN, RED, PURPLE, SKY, GREY, BLACK = (
    "#0072b2", "#e69f00", "#009e73", "#d55e00", "#cc79a7", "#56b4e9", "#6b6b6b", "#222222")
SOLID, DASHED, DOTTED, DASHDOT = "", "7 4", "2 3", "8 3 2 3"


def fmt(v):
    """A number as short, deterministic text: 0.5, 2, 10, 0.02, 1.5k is not used (units are explicit)."""
    if v == 0:
        return "0"
    if abs(v - round(v)) < 1e-9 * max(1.0, abs(v)):
        return "%d" % round(v)
    digits = max(0, 2 - int(math.floor(math.log10(abs(v)))))
    s = "%.*f" % (digits, v)
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s


def size_label(bench, size):
    if bench == "backup":
        return "%s GiB" % fmt(size)
    if bench == "parity":
        return "%s M rows" % fmt(size / 1e6)
    if bench == "watch":
        return "%s k checks" % fmt(size / 1e3)
    if bench == "check":
        return "%s services" % fmt(size)
    return fmt(size)


X_TITLE = {
    "backup": "tree size (GiB; the dump is half of it), log scale",
    "parity": "rows per database (3 tables), log scale",
    "watch": "HTTP checks at a 10 s interval, log scale",
    "check": "services in the stack, log scale",
}


# ------------------------------------------------------------------------------------------- plot specs
# A series: (tool, metric, legend label, colour, dash, marker). A plot: file, bench, title, y title, series.
def backup_series(suffix):
    steps = [("first_backup", "first backup", BLUE), ("unchanged_backup", "unchanged re-run", ORANGE),
             ("changed_backup", "5 % changed re-run", GREEN), ("restore", "restore", RED)]
    out = []
    for tool, dash, marker in (("tug", SOLID, "circle"), ("restic", DASHED, "square")):
        for metric, label, colour in steps:
            out.append((tool, metric + suffix, "%s: %s" % (tool, label), colour, dash, marker))
    return out


def parity_engines(data):
    engines = set()
    for (bench, _size, tool, metric) in data:
        if bench == "parity" and tool == "tug" and metric.startswith("equal_") and metric.endswith("_s"):
            engines.add(metric[len("equal_"):-len("_s")])
    order = {"mariadb": 0, "postgres": 1, "cross": 2}
    return sorted(engines, key=lambda e: (order.get(e, 9), e))


ENGINE_NAME = {"mariadb": "MariaDB", "postgres": "PostgreSQL", "cross": "MariaDB → PostgreSQL"}


def plots(data):
    out = [
        ("curve-backup.svg", "backup", "tug backup vs restic: time per step (median)", "time (s)",
         backup_series("_s")),
        ("curve-backup-rss.svg", "backup", "tug backup vs restic: peak RSS per step", "peak RSS (MiB)",
         backup_series("_rss_mib")),
    ]
    rss = []
    for i, e in enumerate(parity_engines(data)):
        name = ENGINE_NAME.get(e, e)
        out.append(("curve-parity-%s.svg" % e, "parity", "tug parity on %s: time (median)" % name, "time (s)", [
            ("tug", "equal_%s_s" % e, "tug parity, equal", BLUE, SOLID, "circle"),
            ("tug", "changed_%s_s" % e, "tug parity, 10 changes", GREEN, SOLID, "circle"),
            ("reladiff", "equal_%s_s" % e, "reladiff, equal", BLUE, DASHED, "triangle"),
            ("reladiff", "changed_%s_s" % e, "reladiff, 10 changes", GREEN, DASHED, "triangle"),
            ("hashed_scan", "max_%s_s" % e, "hashed scan, max(A, B)", GREY, DASHED, "square"),
            ("hashed_scan", "at_once_%s_s" % e, "hashed scan, A and B at once", GREY, DOTTED, "diamond"),
        ]))
        colour = (BLUE, RED, GREEN, PURPLE)[i % 4]
        rss.append(("tug", "peak_rss_%s_mib" % e, "tug parity, %s" % name, colour, SOLID, "circle"))
    if rss:
        out.append(("curve-parity-rss.svg", "parity", "tug parity: peak RSS (equal and 10 changes)",
                    "peak RSS (MiB)", rss))
    check = [("tug", "check", "tug check", BLUE, SOLID, "circle"),
             ("tug", "check_sarif", "tug check --format sarif", SKY, SOLID, "circle"),
             ("tug", "config", "tug config", GREEN, SOLID, "circle"),
             ("compose_v2", "config", "docker compose config v2", ORANGE, DASHED, "square"),
             ("compose_v1", "config", "docker-compose config v1", RED, DOTTED, "triangle")]
    out += [
        ("curve-check.svg", "check", "tug check / config vs docker compose config: mean per run", "time (ms)",
         [(t, m + "_ms", lab, c, d, mk) for t, m, lab, c, d, mk in check]),
        ("curve-check-rss.svg", "check", "tug check / config vs docker compose config: peak RSS",
         "peak RSS (MiB)", [(t, m + "_peak_rss_mib", lab, c, d, mk) for t, m, lab, c, d, mk in check]),
        ("curve-watch-cpu.svg", "watch", "tug watch: CPU against the number of checks",
         "CPU (% of one core)", [("tug", "cpu_pct", "tug watch", BLUE, SOLID, "circle")]),
        ("curve-watch-rss.svg", "watch", "tug watch: memory against the number of checks", "RSS (MiB)", [
            ("tug", "peak_rss_mib", "tug watch, peak (VmHWM)", BLUE, SOLID, "circle"),
            ("tug", "rss_mib", "tug watch, at the end (VmRSS)", SKY, DASHED, "square")]),
    ]
    return out


# ------------------------------------------------------------------------------------------------ input
def read(paths):
    data = {}
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                line = line.rstrip("\r\n")
                if not line.strip() or line.startswith("#"):
                    continue
                parts = line.split("\t")
                if len(parts) < 5:
                    print("%s:%d: skipped (want bench, size, tool, metric, value, unit): %r" % (path, n, line),
                          file=sys.stderr)
                    continue
                bench, size, tool, metric, value = (p.strip() for p in parts[:5])
                try:
                    size_v, value_v = float(size), float(value)
                except ValueError:
                    print("%s:%d: skipped (size or value is not a number): %r" % (path, n, line), file=sys.stderr)
                    continue
                if not (math.isfinite(size_v) and math.isfinite(value_v)) or size_v <= 0:
                    continue
                key = (bench, size_v, tool, metric)
                data.pop(key, None)  # the last one wins, and keeps its place in reading order
                data[key] = value_v
    return data


# ------------------------------------------------------------------------------------------------- axes
def nice_step(span, target=5):
    raw = span / target
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag * (1 + 1e-9):
            return m * mag
    return 10 * mag


def linear_axis(vmax):
    if vmax <= 0:
        vmax = 1.0
    step = nice_step(vmax)
    top = math.ceil(vmax / step - 1e-9) * step
    if top < vmax * 1.04:  # a little room above the highest point
        top += step
    n = int(round(top / step))
    return 0.0, top, [i * step for i in range(n + 1)]


def log_axis(vmin, vmax):
    lo, hi = math.floor(math.log10(vmin)), math.ceil(math.log10(vmax))
    if hi == lo:
        hi += 1
    decades = hi - lo
    mults = (1, 2, 5) if decades <= 3 else (1,)
    ticks = [m * 10 ** e for e in range(lo, hi + 1) for m in mults if m * 10 ** e <= 10 ** hi * (1 + 1e-9)]
    return 10.0 ** lo, 10.0 ** hi, ticks


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def c(v):
    """A coordinate: one decimal, no '-0.0'."""
    s = "%.1f" % v
    return "0.0" if s == "-0.0" else s


def marker(kind, x, y, colour, tip=None):
    """A marker; with `tip`, a tooltip (SVG <title>) on it."""
    r = 3.6
    if kind == "circle":
        tag, attrs = "circle", 'cx="%s" cy="%s" r="%s"' % (c(x), c(y), c(r))
    elif kind == "square":
        tag, attrs = "rect", 'x="%s" y="%s" width="%s" height="%s"' % (c(x - r), c(y - r), c(2 * r), c(2 * r))
    else:
        if kind == "triangle":
            pts = [(x, y - r * 1.25), (x + r * 1.15, y + r * 0.85), (x - r * 1.15, y + r * 0.85)]
        else:  # diamond
            pts = [(x, y - r * 1.3), (x + r * 1.1, y), (x, y + r * 1.3), (x - r * 1.1, y)]
        tag, attrs = "polygon", 'points="%s"' % " ".join("%s,%s" % (c(a), c(b)) for a, b in pts)
    if tip is None:
        return '<%s %s fill="%s"/>' % (tag, attrs, colour)
    return '<%s %s fill="%s"><title>%s</title></%s>' % (tag, attrs, colour, esc(tip), tag)


def text(x, y, s, size=11, anchor="start", weight=None, colour=BLACK, rotate=None):
    attrs = 'x="%s" y="%s" font-size="%d"' % (c(x), c(y), size)
    if anchor != "start":
        attrs += ' text-anchor="%s"' % anchor
    if weight:
        attrs += ' font-weight="%s"' % weight
    if colour != BLACK:
        attrs += ' fill="%s"' % colour
    if rotate is not None:
        attrs += ' transform="rotate(%d %s %s)"' % (rotate, c(x), c(y))
    return "<text %s>%s</text>" % (attrs, esc(s))


def svg(bench, title, ytitle, lines):
    """lines: [(label, colour, dash, marker, [(size, value), ...])] with at least one point in all."""
    # Legend: a 26 px line sample, then the label at 11 px (up to about 6.6 px a character, DejaVu Sans).
    legend_w = 14 + 32 + 6.6 * max(len(label) for label, *_ in lines) + 10
    px1 = W - int(min(max(legend_w, 120), 250))
    sizes = sorted({s for *_, pts in lines for s, _ in pts})
    values = [v for *_, pts in lines for _, v in pts]
    positive = [v for v in values if v > 0]
    use_log = len(positive) == len(values) and positive and max(positive) / min(positive) > LOG_SPAN
    if use_log:
        y0, y1, yticks = log_axis(min(positive), max(positive))
        ly0, ly1 = math.log10(y0), math.log10(y1)

        def ypx(v):
            return PY1 - (math.log10(v) - ly0) / (ly1 - ly0) * (PY1 - PY0)
    else:
        y0, y1, yticks = linear_axis(max(values))

        def ypx(v):
            return PY1 - (v - y0) / (y1 - y0) * (PY1 - PY0)

    lx0, lx1 = math.log10(sizes[0]), math.log10(sizes[-1])
    pad = (lx1 - lx0) * 0.08 if lx1 > lx0 else 0.5
    lx0, lx1 = lx0 - pad, lx1 + pad

    def xpx(s):
        return PX0 + (math.log10(s) - lx0) / (lx1 - lx0) * (px1 - PX0)

    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
           'font-family="%s">' % (W, H, W, H, FONT),
           "<title>%s</title>" % esc(title),
           '<rect width="%d" height="%d" fill="#ffffff"/>' % (W, H),
           text(W / 2, 22, title, size=14, anchor="middle", weight="bold")]
    # grid and y ticks
    out.append('<g stroke="#e3e3e3" stroke-width="1">')
    for t in yticks:
        out.append('<line x1="%s" y1="%s" x2="%s" y2="%s"/>' % (c(PX0), c(ypx(t)), c(px1), c(ypx(t))))
    for s in sizes:
        out.append('<line x1="%s" y1="%s" x2="%s" y2="%s"/>' % (c(xpx(s)), c(PY0), c(xpx(s)), c(PY1)))
    out.append("</g>")
    out.append('<rect x="%s" y="%s" width="%s" height="%s" fill="none" stroke="#888888" stroke-width="1"/>' % (
        c(PX0), c(PY0), c(px1 - PX0), c(PY1 - PY0)))
    out.append('<g fill="%s">' % BLACK)
    for t in yticks:
        out.append(text(PX0 - 6, ypx(t) + 4, fmt(t), size=11, anchor="end"))
    for s in sizes:
        out.append(text(xpx(s), PY1 + 16, size_label(bench, s), size=11, anchor="middle"))
    out.append("</g>")
    out.append(text((PX0 + px1) / 2, H - 12, X_TITLE.get(bench, "size, log scale"), size=12, anchor="middle"))
    out.append(text(16, (PY0 + PY1) / 2, ytitle + (", log scale" if use_log else ""), size=12, anchor="middle",
                    rotate=-90))
    # the lines, baselines first so that tug's are drawn on top
    order = sorted(range(len(lines)), key=lambda i: (lines[i][2] == SOLID, i))
    for i in order:
        label, colour, dash, mk, pts = lines[i]
        pts = sorted(pts)
        xy = [(xpx(s), ypx(v)) for s, v in pts]
        attrs = 'fill="none" stroke="%s" stroke-width="2"' % colour
        if dash:
            attrs += ' stroke-dasharray="%s"' % dash
        out.append('<g><title>%s</title>' % esc(label))
        if len(xy) > 1:
            out.append('<polyline points="%s" %s/>' % (" ".join("%s,%s" % (c(x), c(y)) for x, y in xy), attrs))
        for (x, y), (s, v) in zip(xy, pts):
            out.append(marker(mk, x, y, colour, "%s at %s: %s" % (label, size_label(bench, s), fmt(v))))
        out.append("</g>")
    # legend
    lx, ly = px1 + 14, PY0 + 6
    for label, colour, dash, mk, _pts in lines:
        attrs = 'stroke="%s" stroke-width="2"' % colour + (' stroke-dasharray="%s"' % dash if dash else "")
        out.append('<line x1="%s" y1="%s" x2="%s" y2="%s" %s/>' % (c(lx), c(ly), c(lx + 26), c(ly), attrs))
        out.append(marker(mk, lx + 13, ly, colour))
        out.append(text(lx + 32, ly + 4, label, size=11))
        ly += 19
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="+", help="results TSV files (bench, size, tool, metric, value, unit)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(here), "docs", "img"),
                    help="directory for the SVG files (default: docs/img of this repository)")
    args = ap.parse_args(argv)
    data = read(args.results)
    if not data:
        print("bench/plot.py: no results in %s" % ", ".join(args.results), file=sys.stderr)
        return 1
    os.makedirs(args.out, exist_ok=True)
    written = 0
    for name, bench, title, ytitle, series in plots(data):
        lines = []
        for tool, metric, label, colour, dash, mk in series:
            pts = [(size, v) for (b, size, t, m), v in data.items() if b == bench and t == tool and m == metric]
            if pts:
                lines.append((label, colour, dash, mk, pts))
        if not lines:
            continue
        path = os.path.join(args.out, name)
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write(svg(bench, title, ytitle, lines))
        print(path)
        written += 1
    if not written:
        print("bench/plot.py: nothing to plot (no known bench/metric in the input)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
