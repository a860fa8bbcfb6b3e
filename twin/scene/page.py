"""The standalone scene page: deck.gl from the pydeck wheel, the payload, and a small UI.

pydeck's own page template links CDN stylesheets and scripts; this one carries the
deck.gl bundle shipped inside the pydeck wheel (deflated, inflated by the page with the
browser's ``DecompressionStream``) and references nothing outside the file, so the page
works on a network that reaches nothing (or with no network at all).

The page sets ``window.sceneStatus = {ready: true, ms: <ms since navigation start>}``
once its first frame with every layer loaded is drawn (or ``{error: "..."}``), which the
tests and the benchmark wait for.
"""

from __future__ import annotations

import base64
import html
import json
import zlib
from functools import lru_cache
from pathlib import Path

import pydeck

from twin.errors import TwinError

__all__ = ["deck_bundle", "render_page", "instrument_pydeck_html"]


@lru_cache(maxsize=1)
def deck_bundle() -> str:
    """The deck.gl JavaScript bundle shipped in the pydeck wheel (defines ``globalThis.deck``)."""
    path = Path(pydeck.__file__).parent / "nbextension" / "static" / "index.js"
    if not path.is_file():
        raise TwinError(
            f"the deck.gl bundle is missing from pydeck ({path}); "
            "reinstall pydeck: pip install --force-reinstall 'pydeck>=0.9,<0.10'"
        )
    text = path.read_text(encoding="utf-8")
    # The source map is not shipped inline; a reference to it would make DevTools ask
    # for a file that does not sit next to the page.
    text = text.replace("//# sourceMappingURL=index.js.map", "")
    if "globalThis.deck" not in text:
        raise TwinError(f"{path} does not define globalThis.deck; this pydeck is not supported, pin pydeck to 0.9.x.")
    return text


@lru_cache(maxsize=1)
def _deck_bundle_b64() -> str:
    return base64.b64encode(zlib.compress(deck_bundle().encode("utf-8"), 9)).decode("ascii")


def _json_for_script(value) -> str:
    # "</" inside a <script> element would end it early; "\u003c" is the same string in JSON.
    return json.dumps(value, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")


def render_page(config: dict, blobs: dict[str, str], *, title: str) -> str:
    """Assemble the page.

    Parameters
    ----------
    config : dict
        JSON-serialisable scene description read by the page script (see ``twin.scene.city``).
    blobs : dict of str to str
        Element id -> base64 text (the compressed vector payload, PNG images).
    title : str
        Page title and panel heading (plain text; escaped here).

    Returns
    -------
    str
        The HTML document.
    """
    blob_elements = "\n".join(
        f'<script type="application/octet-stream" id="{html.escape(name)}">{data}</script>'
        for name, data in blobs.items()
    )
    return (
        _PAGE.replace("%%TITLE%%", html.escape(title))
        .replace("%%CSS%%", _CSS)
        .replace("%%BLOBS%%", blob_elements)
        .replace("%%CONFIG%%", _json_for_script(config))
        .replace("%%APP%%", _APP)
        .replace("%%DECK%%", _deck_bundle_b64())
    )


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>%%TITLE%%</title>
<style>%%CSS%%</style>
</head>
<body>
<div id="map"></div>
<div id="panel">
  <h1>%%TITLE%%</h1>
  <div id="subtitle"></div>
  <div id="layers"></div>
  <div id="time" hidden>
    <div class="row"><button id="play" type="button" title="Play">&#9654;</button>
    <input id="slider" type="range" min="0" max="0" step="1" value="0" aria-label="Time">
    </div>
    <div id="time-label"></div>
  </div>
  <div id="legends"></div>
</div>
<div id="message" hidden></div>
<script type="application/octet-stream" id="deck-gl">%%DECK%%</script>
<script type="application/json" id="scene-config">%%CONFIG%%</script>
%%BLOBS%%
<script>%%APP%%</script>
</body>
</html>
"""

_CSS = """
html, body { margin: 0; padding: 0; height: 100%; overflow: hidden;
  font: 13px/1.35 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d232a;
  background: #dde2e6; }
#map { position: absolute; inset: 0; }
#panel { position: absolute; top: 10px; left: 10px; width: 236px; max-height: calc(100% - 20px);
  overflow-y: auto; box-sizing: border-box; padding: 10px 12px; background: rgba(255,255,255,0.94);
  border-radius: 6px; box-shadow: 0 1px 4px rgba(0,0,0,0.3); z-index: 2; }
#panel h1 { font-size: 15px; margin: 0 0 2px 0; }
#subtitle { color: #55606b; font-size: 11px; margin-bottom: 8px; }
#panel h2 { font-size: 12px; margin: 10px 0 4px 0; text-transform: uppercase; letter-spacing: 0.04em;
  color: #3b4650; }
#layers label { display: block; cursor: pointer; }
#time .row { display: flex; align-items: center; gap: 6px; margin-top: 8px; }
#time input { flex: 1; }
#play { width: 30px; height: 24px; cursor: pointer; }
#time-label { font-weight: 600; margin-top: 2px; }
.item { display: flex; align-items: center; gap: 6px; margin: 2px 0; }
.swatch { width: 22px; height: 12px; border: 1px solid rgba(0,0,0,0.25); flex: none; }
.outline { width: 20px; height: 10px; border: 2px solid; background: none; flex: none; }
#message { position: absolute; bottom: 10px; left: 260px; right: 10px; padding: 8px 10px;
  background: #fff3f0; border: 1px solid #d33; border-radius: 4px; z-index: 3; }
"""

_APP = r"""
(async function () {
  "use strict";
  window.sceneStatus = {ready: false};
  const fail = (err) => {
    const text = String(err && err.stack || err);
    window.sceneStatus = {ready: false, error: text};
    const box = document.getElementById("message");
    box.textContent = "This scene could not be drawn: " + text.split("\n")[0];
    box.hidden = false;
    console.error(err);
  };
  try {
    const C = JSON.parse(document.getElementById("scene-config").textContent);
    const TYPES = {uint8: Uint8Array, int8: Int8Array, uint16: Uint16Array, int16: Int16Array,
      uint32: Uint32Array, int32: Int32Array, float32: Float32Array, float64: Float64Array};

    function bytes(id) {
      const text = document.getElementById(id).textContent;
      const bin = atob(text);
      const out = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
      return out;
    }
    async function inflate(u8) {
      const stream = new Blob([u8]).stream().pipeThrough(new DecompressionStream("deflate"));
      return new Uint8Array(await new Response(stream).arrayBuffer());
    }
    function unpack(raw) {
      const head = new DataView(raw.buffer, raw.byteOffset, 4).getUint32(0, true);
      const header = JSON.parse(new TextDecoder().decode(raw.subarray(4, 4 + head)));
      let start = 4 + head; start += (8 - start % 8) % 8;
      const arrays = {};
      for (const [name, [dtype, offset, length]] of Object.entries(header.arrays)) {
        const T = TYPES[dtype], size = T.BYTES_PER_ELEMENT;
        const planes = raw.subarray(start + offset, start + offset + length * size);
        if (size === 1) { arrays[name] = new T(planes.buffer, planes.byteOffset, length); continue; }
        // Stored byte-planed (see twin/scene/payload.py): gather byte k of item i.
        const bytesOut = new Uint8Array(length * size);
        for (let k = 0; k < size; k++) {
          const plane = planes.subarray(k * length, (k + 1) * length);
          for (let i = 0; i < length; i++) bytesOut[i * size + k] = plane[i];
        }
        arrays[name] = new T(bytesOut.buffer);
      }
      return {arrays, meta: header.meta};
    }
    const image = (id) => createImageBitmap(new Blob([bytes(id)], {type: "image/png"}));
    const toDeg = (v) => v * C.quantum;

    // deck.gl ships deflated (4.3 MB of JavaScript become 1.5 MB of base64); run it as a
    // classic global script, which defines globalThis.deck.
    const deckSource = new TextDecoder().decode(await inflate(bytes("deck-gl")));
    (0, eval)(deckSource + "\n//# sourceURL=deck.gl.js");
    const {arrays: A, meta: M} = unpack(await inflate(bytes("payload")));
    const images = {};
    for (const name of C.images) images[name] = await image("img-" + name);

    // ---- buildings: cumulative counts -> flat polygons (offsets from C.origin, degrees)
    const nB = M.buildings ? M.buildings.n : 0;
    let polygons = [], partBuilding = new Uint32Array(0), ifcRoofs = [];
    if (nB > 0) {
      const dx = A.b_dx, dy = A.b_dy, nV = dx.length;
      const pos = new Float32Array(nV * 2);
      let x = 0, y = 0;
      for (let i = 0; i < nV; i++) {
        x += dx[i]; y += dy[i];
        pos[2 * i] = toDeg(x); pos[2 * i + 1] = toDeg(y);
      }
      const parts = A.b_parts, rings = A.b_rings, verts = A.b_verts;
      partBuilding = new Uint32Array(rings.length);
      let ring = 0, v = 0, part = 0;
      for (let b = 0; b < nB; b++) {
        for (let k = 0; k < parts[b]; k++) {
          const first = v;
          let holes = null;
          for (let r = 0; r < rings[part]; r++) {
            if (r > 0) (holes = holes || []).push((v - first) * 2);
            v += verts[ring++];
          }
          const positions = pos.subarray(first * 2, v * 2);
          polygons.push(holes ? {positions, holeIndices: holes} : positions);
          if (A.b_source[b] === 1) {
            const outer = holes ? positions.subarray(0, holes[0]) : positions;
            const roof = new Float32Array(outer.length / 2 * 3);
            const z = A.b_height[b] / 10 + 0.2;
            for (let i = 0, j = 0; i < outer.length; i += 2, j += 3) {
              roof[j] = outer[i]; roof[j + 1] = outer[i + 1]; roof[j + 2] = z;
            }
            ifcRoofs.push(roof);
          }
          partBuilding[part++] = b;
        }
      }
    }
    const rivers = (M.rivers || []).map((r) => ({path: r.path.map(([px, py]) => [toDeg(px), toDeg(py)]),
      width: r.width, name: r.name}));
    const lakes = (M.lakes || []).map((l) => ({polygon: l.rings.map((ring) =>
      ring.map(([px, py]) => [toDeg(px), toDeg(py)])), level: l.level, name: l.name}));
    const network = (M.network || []).map((r) => ({path: r.path.map(([px, py]) => [toDeg(px), toDeg(py)]),
      color: r.color, name: r.name, text: r.text}));
    const manholes = (M.manholes || []).map((r) => ({position: [toDeg(r.position[0]), toDeg(r.position[1])],
      radius: r.radius, color: r.color, name: r.name, text: r.text}));

    // ---- UI state
    const state = {terrain: true, water: true, depth: true, hazard: false, buildings: true, network: true,
      manholes: true, frame: C.frames.length};
    const frameCache = new Map();
    let shownDepth = {img: images.depth, bounds: C.bounds};

    const fmtTime = (s) => {
      if (s === null || !isFinite(s)) return "never";
      const m = Math.round(s / 60);
      return m < 60 ? m + " min" : Math.floor(m / 60) + " h " + String(m % 60).padStart(2, "0") + " min";
    };
    const fmt = (v, unit, digits) => (v === null || !isFinite(v)) ? "n/a" : v.toFixed(digits) + " " + unit;

    const flat = {depthWriteEnabled: false, depthCompare: "always"};
    const offsets = {coordinateSystem: deck.COORDINATE_SYSTEM.LNGLAT_OFFSETS,
      coordinateOrigin: [C.origin[0], C.origin[1], 0]};
    const B = M.buildings || {};
    const colours = B.colours || [];

    function layers() {
      const out = [];
      if (C.basemap) {
        out.push(new deck.TileLayer({id: "basemap", data: C.basemap, tileSize: 256, minZoom: 0,
          maxZoom: 19, renderSubLayers: (props) => {
            const [[w, s], [e, n]] = props.tile.boundingBox;
            return new deck.BitmapLayer(props, {data: null, image: props.data, bounds: [w, s, e, n]});
          }}));
      }
      if (images.terrain) out.push(new deck.BitmapLayer({id: "terrain", image: images.terrain,
        bounds: C.terrain_bounds, visible: state.terrain, opacity: C.basemap ? 0.55 : 1, parameters: flat}));
      if (lakes.length) out.push(new deck.SolidPolygonLayer({id: "lakes", data: lakes, ...offsets,
        getPolygon: (d) => d.polygon, getFillColor: C.water, visible: state.water, pickable: true,
        parameters: flat}));
      if (rivers.length) out.push(new deck.PathLayer({id: "rivers", data: rivers, ...offsets,
        getPath: (d) => d.path, getWidth: (d) => d.width, widthUnits: "meters", widthMinPixels: 1.5,
        getColor: C.water, capRounded: true, jointRounded: true, visible: state.water,
        pickable: true, parameters: flat}));
      if (images.depth) {
        let img = images.depth, bounds = C.bounds;
        if (state.frame < C.frames.length) {
          // While a frame is still decoding, keep showing the previous picture.
          img = frameCache.get(state.frame) || shownDepth.img;
          bounds = frameCache.has(state.frame) ? C.frame_bounds : shownDepth.bounds;
        }
        shownDepth = {img, bounds};
        out.push(new deck.BitmapLayer({id: "depth", image: img, bounds,
          visible: state.depth, parameters: flat}));
      }
      if (network.length) out.push(new deck.PathLayer({id: "network", data: network, ...offsets,
        getPath: (d) => d.path, getWidth: 4, widthUnits: "pixels", getColor: (d) => d.color,
        capRounded: true, jointRounded: true, visible: state.network, pickable: true, parameters: flat}));
      if (manholes.length) out.push(new deck.ScatterplotLayer({id: "manholes", data: manholes, ...offsets,
        getPosition: (d) => d.position, getRadius: (d) => d.radius, radiusUnits: "meters",
        radiusMinPixels: 2, getFillColor: (d) => d.color, stroked: true, getLineColor: [255, 255, 255, 220],
        lineWidthMinPixels: 1, visible: state.manholes, pickable: true, parameters: flat}));
      if (images.hazard) out.push(new deck.BitmapLayer({id: "hazard", image: images.hazard,
        bounds: C.bounds, visible: state.hazard && state.frame === C.frames.length,
        parameters: flat}));
      if (nB > 0) {
        out.push(new deck.SolidPolygonLayer({id: "buildings", data: polygons, ...offsets,
          _normalize: false, _windingOrder: "CW", positionFormat: "XY", extruded: true,
          getPolygon: (d) => d, getElevation: (_, {index}) => A.b_height[partBuilding[index]] / 10,
          getFillColor: (_, {index}) => colours[A.b_class[partBuilding[index]]],
          visible: state.buildings, pickable: true, autoHighlight: true,
          highlightColor: [255, 255, 255, 110],
          material: {ambient: 0.55, diffuse: 0.5, shininess: 8, specularColor: [40, 40, 40]}}));
        if (ifcRoofs.length) out.push(new deck.PathLayer({id: "ifc-outline", data: ifcRoofs, ...offsets,
          positionFormat: "XYZ", _pathType: "open", getPath: (d) => d, getColor: C.ifc_outline,
          getWidth: 3, widthUnits: "pixels", visible: state.buildings}));
      }
      return out;
    }

    function tooltip(info) {
      const {layer, index, object} = info;
      if (!layer || index < 0) return null;
      if (layer.id === "buildings") {
        const b = partBuilding[index];
        const lines = ["<b>" + esc(B.ids[b]) + "</b>"];
        if (B.names && B.names[b]) lines.push(esc(B.names[b]));
        lines.push("height " + fmt(A.b_height[b] / 10, "m", 1) + ", base " + fmt(A.b_base[b] / 100, "m", 2));
        const src = A.b_source[b] === 1 ? "IFC" : "GIS";
        const file = B.files && B.files[b];
        lines.push("source " + src + (file ? " (" + esc(file) + ")" : ""));
        if (B.exposure) {
          const d = A.b_depth[b] === 65535 ? NaN : A.b_depth[b] / 100;
          lines.push("max depth " + fmt(d, "m", 2));
          const t = A.b_arrival[b];
          lines.push("water arrives " + (t === 4294967295 ? "never" : "after " + fmtTime(t)));
        }
        return {html: lines.join("<br>")};
      }
      if (layer.id === "rivers" && object) {
        return {html: "<b>" + esc(object.name || "river") + "</b><br>width " + fmt(object.width, "m", 1)};
      }
      if ((layer.id === "network" || layer.id === "manholes") && object) {
        return {html: "<b>" + esc(object.name) + "</b><br>" + esc(object.text)};
      }
      if (layer.id === "lakes" && object) {
        return {html: "<b>" + esc(object.name || "lake") + "</b><br>level " + fmt(object.level, "m", 2)};
      }
      return null;
    }
    function esc(s) {
      const entities = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"};
      return String(s).replace(/[&<>"']/g, (c) => entities[c]);
    }

    // ---- panel
    document.getElementById("subtitle").textContent = C.subtitle;
    const layerBox = document.getElementById("layers");
    const toggles = [["depth", "Flood depth", !!images.depth], ["hazard", "Hazard (Defra)", !!images.hazard],
      ["network", C.network_title, network.length > 0], ["manholes", "Manholes", manholes.length > 0],
      ["buildings", "Buildings", nB > 0], ["water", "Rivers and lakes", rivers.length + lakes.length > 0],
      ["terrain", "Relief", !!images.terrain]];
    let any = false;
    for (const [key, label, present] of toggles) {
      if (!present) continue;
      any = true;
      const row = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox"; box.checked = state[key]; box.id = "toggle-" + key;
      box.addEventListener("change", () => { state[key] = box.checked; redraw(); });
      row.append(box, " " + label);
      layerBox.append(row);
    }
    if (any) layerBox.insertAdjacentHTML("afterbegin", "<h2>Layers</h2>");

    const legends = document.getElementById("legends");
    function legend(id, heading, items) {
      const box = document.createElement("div");
      box.id = "legend-" + id;
      box.innerHTML = "<h2>" + esc(heading) + "</h2>" + items.map(([rgba, label, kind]) =>
        '<div class="item"><span class="' + (kind || "swatch") + '" style="' +
        (kind === "outline" ? "border-color" : "background") + ":rgba(" + rgba[0] + "," + rgba[1] +
        "," + rgba[2] + "," + (rgba.length > 3 ? (rgba[3] / 255).toFixed(2) : 1) + ')"></span>' +
        esc(label) + "</div>").join("");
      legends.append(box);
      return box;
    }
    const legendBoxes = {};
    if (images.depth) legendBoxes.depth = legend("depth", "Flood depth", C.depth_legend);
    if (images.hazard) legendBoxes.hazard = legend("hazard", "Hazard rating", C.hazard_legend);
    if (nB > 0) {
      legendBoxes.buildings = legend("buildings", B.exposure ? "Buildings: max depth" : "Buildings", B.legend);
    }
    if (network.length) legendBoxes.network = legend("network", C.network_title, C.network_legend);
    if (manholes.length) legendBoxes.manholes = legend("manholes", "Manholes", C.manholes_legend);
    if (rivers.length + lakes.length > 0) {
      legendBoxes.water = legend("water", "Water bodies", [[C.water, "River, lake"]]);
    }
    function syncLegends() {
      for (const [key, box] of Object.entries(legendBoxes)) box.hidden = !state[key];
    }

    // ---- time
    const slider = document.getElementById("slider"), label = document.getElementById("time-label");
    const play = document.getElementById("play");
    let timer = null;
    async function showFrame(k) {
      state.frame = k;
      slider.value = String(k);
      if (k < C.frames.length) {
        label.textContent = "t = " + fmtTime(C.frames[k]);
        if (!frameCache.has(k)) {
          frameCache.set(k, await image("frame-" + k));
          // Keep a handful decoded: a 48-frame 1000x1000 series would hold 190 MB otherwise.
          if (frameCache.size > 8) {
            const oldest = frameCache.keys().next().value;
            frameCache.get(oldest).close(); frameCache.delete(oldest);
          }
        }
      } else {
        label.textContent = "Maximum over the event";
      }
      redraw();
    }
    if (C.frames.length) {
      document.getElementById("time").hidden = false;
      slider.max = String(C.frames.length);
      slider.value = String(C.frames.length);
      label.textContent = "Maximum over the event";
      const stop = () => { clearInterval(timer); timer = null; play.innerHTML = "&#9654;"; };
      slider.addEventListener("input", () => { if (timer) stop(); showFrame(Number(slider.value)); });
      play.addEventListener("click", () => {
        if (timer) { stop(); return; }
        play.innerHTML = "&#10074;&#10074;";
        let k = state.frame >= C.frames.length ? 0 : state.frame;
        let busy = false;
        showFrame(k);
        timer = setInterval(async () => {
          if (busy) return;
          busy = true;
          k += 1;
          await showFrame(Math.min(k, C.frames.length));
          busy = false;
          if (k >= C.frames.length && timer) stop();
        }, C.frame_interval_ms);
      });
    }

    // ---- deck
    const vp = new deck.WebMercatorViewport({width: Math.max(window.innerWidth, 200),
      height: Math.max(window.innerHeight, 200)});
    const fit = vp.fitBounds(C.extent, {padding: {top: 40, bottom: 40, left: 260, right: 40}});
    let reported = false;
    const deckgl = new deck.Deck({
      parent: document.getElementById("map"),
      // fitBounds frames the extent seen from straight above; tilted, the near edge grows,
      // so step back a little.
      initialViewState: {longitude: fit.longitude, latitude: fit.latitude, zoom: fit.zoom - 0.3,
        pitch: C.pitch, bearing: 0, maxPitch: 80},
      controller: true,
      layers: layers(),
      getTooltip: tooltip,
      onError: fail,
      onAfterRender: () => {
        if (reported) return;
        const all = deckgl.props.layers;
        // Basemap tiles may never arrive (offline): they do not hold back "ready".
        if (all.every((l) => l.id === "basemap" || l.isLoaded)) {
          reported = true;
          window.sceneStatus = {ready: true, ms: performance.now()};
        }
      },
    });
    function redraw() { syncLegends(); deckgl.setProps({layers: layers()}); }
    syncLegends();
    window.sceneDeck = deckgl;
  } catch (err) {
    fail(err);
  }
})();
"""


_PYDECK_PROBE = """<script>
/* cimtwin: report pydeck's first complete frame the way scene pages do. */
window.sceneStatus = {ready: false};
(function () {
  let done = false;
  deckInstance.setProps({onAfterRender: () => {
    const layers = deckInstance.props.layers || [];
    if (!done && layers.every((l) => l.isLoaded)) {
      done = true;
      window.sceneStatus = {ready: true, ms: performance.now()};
    }
  }});
})();
</script>
"""


def instrument_pydeck_html(page: str) -> str:
    """Make a page written by pydeck's ``to_html`` report its first complete frame.

    Adds a script that sets ``window.sceneStatus`` like the scene pages do, so that the
    benchmark and tests can time and screenshot pydeck's own pages with the same helper.
    """
    at = page.rfind("</html>")
    if at < 0 or "deckInstance" not in page:
        raise TwinError("this is not a page written by pydeck's to_html (no deckInstance).")
    return page[:at] + _PYDECK_PROBE + page[at:]
