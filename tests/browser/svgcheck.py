"""Is an SVG picture right as Chromium draws it? The rules of :mod:`mmlab.viz.layoutcheck`, measured
in the browser.

:func:`svg_problems` inlines an SVG (an explorer's ``svg()``, what JupyterLab shows in an
``<img>``) into a Playwright page, lets Chromium lay out every ``<text>``, and reads each one's
extent in the SVG's own units (the viewBox: a matplotlib SVG at 72 DPI has one unit per figure
pixel, so the tolerances are those of the unit-test checker). :func:`svg_problems_many` does the
same for many SVGs in one call to the page (the chapter tests check every widget image of every
chapter and lab with it).

The rules, each reported as ``"<kind>: <where>"`` like :class:`mmlab.viz.layoutcheck.Problem`:

* ``overlap``: two labels (two matplotlib texts: the lines of one multi-line text are one label)
  overlap by more than 1 unit each way;
* ``spacing``: a line of text has two spaces in a row or a leading or trailing space (the
  browser collapses them, so a row of values padded with spaces lands on the wrong boxes);
* ``outside``: a label tagged ``boxlabel_<x0>_<y0>_<x1>_<y1>`` (its box in figure fractions, y
  upward; matplotlib writes a text's gid as the id of the ``<g>`` around it) has its centre
  outside that box;
* ``clipped``: a label runs past the edge of the picture;
* ``legend``: a ``kind-<key>`` group without a ``legend-<key>`` group.

A label's extent is measured as matplotlib measures it, so the two checkers agree: across the
text, the advance widths the browser laid out (``getBBox``); along its height, from the baseline
up to the higher of the line's own ink and that of "lp", and down to the lower of the two
(``measureText`` on a canvas, with the text's computed font). A browser's line box (the font's
whole ascent and descent) is a fifth taller than that and would flag labels that do not touch.

The SVG is put in a shadow root whose host resets every inherited property, so the page's own
styles (JupyterLab's) do not change how its text is laid out.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["TOLERANCE", "has_dejavu_sans", "image_svgs", "svg_problems", "svg_problems_many"]

#: Overlaps (and overruns of the edge) up to this many SVG units are rounding, not a fault.
TOLERANCE = 1.0

#: How many SVGs go to the page in one evaluate call (keeps each message small).
BATCH = 40

_CHECK = r"""
([svgs, tol]) => {
  const host = document.createElement('div');
  host.style.cssText = 'all: initial; position: absolute; left: 0; top: 0; z-index: -1;';
  document.body.appendChild(host);
  const root = host.attachShadow({mode: 'open'});
  const canvas = document.createElement('canvas').getContext('2d');
  const inkCache = new Map();
  const ink = (font, text) => {
    const key = font + '\u0000' + text;
    let got = inkCache.get(key);
    if (got === undefined) {
      canvas.font = font;
      const m = canvas.measureText(text);
      got = [m.actualBoundingBoxAscent, m.actualBoundingBoxDescent];
      inkCache.set(key, got);
    }
    return got;
  };
  const short = (t) => t.length <= 40 ? t : t.slice(0, 39) + '\u2026';
  const out = [];
  for (const source of svgs) {
    const problems = [];
    const doc = new DOMParser().parseFromString(source, 'image/svg+xml');
    const error = doc.querySelector('parsererror');
    if (error || doc.documentElement.nodeName !== 'svg') {
      const why = error ? error.textContent.slice(0, 200) : '';
      out.push(['parse: the SVG does not parse: ' + why]);
      continue;
    }
    const svg = document.importNode(doc.documentElement, true);
    root.replaceChildren(svg);
    const vb = svg.viewBox.baseVal;
    const W = vb && vb.width ? vb.width : svg.width.baseVal.value;
    const H = vb && vb.height ? vb.height : svg.height.baseVal.value;
    const toSvg = svg.getScreenCTM().inverse();
    // one label per matplotlib text: the <g> around it (its gid, or text_N)
    const labels = new Map();
    for (const text of svg.querySelectorAll('text')) {
      const content = text.textContent;
      if (!content.trim()) continue;
      if (content.includes('  ') || content !== content.replace(/^ +| +$/g, '')) {
        problems.push(`spacing: ${JSON.stringify(content)} has spaces a browser collapses`);
      }
      const style = getComputedStyle(text);
      const font = `${style.fontStyle} ${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
      const [lpUp, lpDown] = ink(font, 'lp');
      const [up, down] = ink(font, content);
      const box = text.getBBox();
      const ys0 = text.y.baseVal;
      const base = ys0.numberOfItems ? ys0.getItem(0).value : 0;  // the baseline, locally
      const top = base - Math.max(up, lpUp), bottom = base + Math.max(down, lpDown);
      const m = toSvg.multiply(text.getScreenCTM());
      const xs = [], ys = [];
      for (const [x, y] of [[box.x, top], [box.x + box.width, top],
                            [box.x, bottom], [box.x + box.width, bottom]]) {
        xs.push(m.a * x + m.c * y + m.e);
        ys.push(m.b * x + m.d * y + m.f);
      }
      const rect = [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
      const group = text.parentElement;
      const key = group && group !== svg ? group : text;
      if (!labels.has(key)) {
        labels.set(key, {id: (group && group.id) || '', texts: [], rects: []});
      }
      const label = labels.get(key);
      label.texts.push(content);
      label.rects.push(rect);
    }
    const all = [...labels.values()];
    for (const label of all) {
      const name = short(label.texts.join(' / '));
      const side = (k, f) => f(...label.rects.map(r => r[k]));
      const x0 = side(0, Math.min), y0 = side(1, Math.min);
      const x1 = side(2, Math.max), y1 = side(3, Math.max);
      label.union = [x0, y0, x1, y1];
      if (x0 < -tol || y0 < -tol || x1 > W + tol || y1 > H + tol) {
        problems.push(`clipped: ${JSON.stringify(name)} runs past the edge of the picture`);
      }
      if (label.id.startsWith('boxlabel_')) {
        const [bx0, by0, bx1, by1] = label.id.split('_').slice(1, 5).map(Number);
        const cx = (x0 + x1) / 2 / W, cy = 1 - (y0 + y1) / 2 / H;
        if (!(bx0 - 1e-3 <= cx && cx <= bx1 + 1e-3 && by0 - 1e-3 <= cy && cy <= by1 + 1e-3)) {
          problems.push(`outside: ${JSON.stringify(name)} is not on its box`);
        }
      }
    }
    all.sort((a, b) => a.union[0] - b.union[0]);
    for (let i = 0; i < all.length; i++) {
      for (let j = i + 1; j < all.length; j++) {
        if (all[j].union[0] >= all[i].union[2] - tol) break;
        let hit = false;
        for (const a of all[i].rects) {
          for (const b of all[j].rects) {
            const dx = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
            const dy = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
            if (dx > tol && dy > tol) hit = true;
          }
        }
        if (hit) {
          problems.push(`overlap: ${JSON.stringify(short(all[i].texts.join(' / ')))} and ` +
                        `${JSON.stringify(short(all[j].texts.join(' / ')))} overlap`);
        }
      }
    }
    const used = new Set(), legend = new Set();
    for (const el of svg.querySelectorAll('[id^="kind-"]')) used.add(el.id.slice(5));
    for (const el of svg.querySelectorAll('[id^="legend-"]')) legend.add(el.id.slice(7));
    for (const key of [...used].sort()) {
      if (!legend.has(key)) {
        problems.push(`legend: the picture draws ${JSON.stringify(key)} ` +
                      'but its legend does not list it');
      }
    }
    out.push(problems);
  }
  host.remove();
  return out;
}
"""


_IMAGES = r"""
async (selector) => {
  const out = [];
  for (const img of document.querySelectorAll(selector)) {
    const src = img.getAttribute('src') || '';
    if (!src) continue;
    try {
      const response = await fetch(src);
      const type = response.headers.get('content-type') || '';
      const text = await response.text();
      if (type.includes('svg') || text.trimStart().startsWith('<?xml') ||
          text.trimStart().startsWith('<svg')) out.push(text);
    } catch (e) { /* an image that cannot be read back is not an SVG we can check */ }
  }
  return out;
}
"""

_DEJAVU = r"""
() => {
  const ctx = document.createElement('canvas').getContext('2d');
  const width = (font) => {
    ctx.font = font;
    return ctx.measureText('mmmmmmmmmmlli 0x800e').width;
  };
  return width("20px 'DejaVu Sans', monospace") !== width('20px monospace') &&
         width("20px 'DejaVu Sans', serif") !== width('20px serif');
}
"""


def image_svgs(page, selector: str = ".jp-OutputArea .widget-image") -> list[str]:
    """The SVG text of every image matching ``selector`` in ``page`` whose content is SVG (an
    ipywidgets ``Image`` shows its bytes through a blob URL; they are read back in the page).
    With :func:`svg_problems_many`, a chapter's test checks every widget picture after Run All.
    """
    return page.evaluate(_IMAGES, selector)


def has_dejavu_sans(page) -> bool:
    """Does the browser lay out text in DejaVu Sans (the font matplotlib measures with)? Without
    it Chromium falls back to another font and the measurements mean something else (Debian:
    the package fonts-dejavu-core)."""
    return bool(page.evaluate(_DEJAVU))


def _text(svg: bytes | str) -> str:
    return svg.decode("utf-8") if isinstance(svg, bytes) else svg


def svg_problems_many(page, svgs: Sequence[bytes | str]) -> list[list[str]]:
    """:func:`svg_problems` of each SVG, in order, measured in ``page`` (a Playwright page of
    Chromium; any page will do, JupyterLab's included: nothing of it is changed for long).
    The SVGs go to the page :data:`BATCH` at a time."""
    texts = [_text(s) for s in svgs]
    out: list[list[str]] = []
    for start in range(0, len(texts), BATCH):
        out += page.evaluate(_CHECK, [texts[start:start + BATCH], TOLERANCE])
    return out


def svg_problems(page, svg: bytes | str) -> list[str]:
    """Everything wrong with ``svg`` as Chromium lays it out (see the module): ``[]`` for a
    picture that reads right."""
    return svg_problems_many(page, [svg])[0]
