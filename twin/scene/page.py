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
<div id="print-head"><b>%%TITLE%%</b> <span id="print-scenario"></span> <span id="print-time"></span>
  <span id="print-crs"></span></div>
<div id="map"></div>
<div id="panel">
  <div id="panel-head"><h1>%%TITLE%%</h1>
    <button id="collapse" type="button" aria-expanded="true" aria-controls="panel-body"
      title="Hide or show the panel">&#9662;</button></div>
  <div id="query" hidden></div>
  <div id="panel-body">
  <div id="subtitle"></div>
  <div id="layers"></div>
  <div id="time" hidden>
    <div class="row"><button id="play" type="button" title="Play">&#9654;</button>
    <input id="slider" type="range" min="0" max="0" step="1" value="0" aria-label="Time">
    </div>
    <div id="time-label"></div>
  </div>
  <div id="legends"></div>
  <div id="print-row"><select id="paper" aria-label="Paper"><option>A4</option><option>A3</option></select>
    <button id="print" type="button">Print (landscape)</button></div>
  </div>
</div>
<div id="north" title="North (click: north up, seen from above)"><svg viewBox="0 0 24 34" width="24" height="34">
  <path d="M12 2 L20 26 L12 21 L4 26 Z" fill="#1d232a"/><path d="M12 2 L12 21 L4 26 Z" fill="#fff"
  stroke="#1d232a" stroke-width="1"/><text x="12" y="33.5" font-size="8" text-anchor="middle">N</text></svg></div>
<div id="scale"><div id="scale-bar"></div><span id="scale-label"></span></div>
<div id="coords"></div>
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
.outlined { width: 18px; height: 8px; border: 3px solid; flex: none; }
#message { position: absolute; bottom: 10px; left: 260px; right: 10px; padding: 8px 10px;
  background: #fff3f0; border: 1px solid #d33; border-radius: 4px; z-index: 3; }
#panel-head { display: flex; align-items: flex-start; gap: 6px; }
#panel-head h1 { flex: 1; }
#collapse { width: 30px; height: 26px; flex: none; cursor: pointer; font-size: 14px; }
#panel.collapsed #panel-body { display: none; }
#panel.collapsed #collapse { transform: rotate(180deg); }
#query { margin-top: 8px; padding: 6px 8px; background: #f1f4f7; border-radius: 4px; font-size: 12px; }
#query b { font-size: 12px; }
#query .coord { color: #55606b; font-size: 11px; }
#print-row { margin-top: 10px; display: flex; gap: 6px; }
#print-head { display: none; }
#north { position: absolute; right: 12px; top: 12px; z-index: 2; cursor: pointer; background:
  rgba(255,255,255,0.85); border-radius: 4px; padding: 3px 5px 1px; line-height: 0; }
#scale { position: absolute; right: 12px; bottom: 30px; z-index: 2; font-size: 11px; text-align: right;
  background: rgba(255,255,255,0.85); padding: 2px 5px; border-radius: 3px; }
#scale-bar { height: 6px; border: 2px solid #1d232a; border-top: none; margin-left: auto; box-sizing: border-box; }
#coords { position: absolute; right: 12px; bottom: 8px; z-index: 2; font-size: 11px;
  background: rgba(255,255,255,0.85); padding: 1px 5px; border-radius: 3px; white-space: nowrap; }
* { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
@media (max-width: 600px) {
  #panel { top: 6px; left: 6px; right: 6px; width: auto; max-height: 46%; padding: 6px 10px; }
  #panel h1 { font-size: 14px; }
  #message { left: 10px; }
  #north { top: auto; bottom: 64px; }
}
/* Print view: a header line, the map, the legend column on the right (scenePrint sets the size). */
body.print #print-head { display: block; position: absolute; left: 0; right: 0; top: 0; height: 30px;
  font-size: 13px; padding: 4px 0; box-sizing: border-box; border-bottom: 1px solid #999; white-space: nowrap;
  overflow: hidden; }
body.print { background: #fff; position: relative; }
body.print #map { top: 32px; right: 232px; }
body.print #panel { left: auto; right: 0; top: 32px; bottom: 0; width: 228px; max-height: none;
  box-shadow: none; border-left: 1px solid #999; border-radius: 0; overflow: hidden; }
body.print #panel-head, body.print #layers, body.print #time, body.print #print-row,
body.print #coords, body.print #query { display: none; }
body.print #panel-body { display: block !important; }
/* a city's six legends (depth, roads, buildings, pipes, manholes, water) must fit the sheet's height */
body.print #panel { font-size: 11px; }
body.print #north { right: 244px; top: 44px; bottom: auto; }
body.print #scale { right: 244px; bottom: 10px; }
@media print {
  #panel-head button, #layers, #time .row, #print-row, #coords { display: none; }
}
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
    // roofs: outline of every building part (the exposure outline at the slider's time)
    let polygons = [], partBuilding = new Uint32Array(0), ifcRoofs = [], roofs = [];
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
            const z = A.b_height[b] / 10 + 0.5;  // above the exposure outline (+0.3 m)
            for (let i = 0, j = 0; i < outer.length; i += 2, j += 3) {
              roof[j] = outer[i]; roof[j + 1] = outer[i + 1]; roof[j + 2] = z;
            }
            ifcRoofs.push(roof);
          }
          const outerRing = holes ? positions.subarray(0, holes[0]) : positions;
          const roofPath = new Float32Array(outerRing.length / 2 * 3);
          for (let i = 0, j = 0; i < outerRing.length; i += 2, j += 3) {
            roofPath[j] = outerRing[i]; roofPath[j + 1] = outerRing[i + 1];
            roofPath[j + 2] = A.b_height[b] / 10 + 0.3;
          }
          roofs.push({b, path: roofPath});
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
    const roads = (M.roads || []).map((r) => ({...r, path: r.path.map(([px, py]) => [toDeg(px), toDeg(py)])}));
    const edits = (M.edits || []).map((r) => ({...r, path: r.path.map(([px, py]) => [toDeg(px), toDeg(py)])}));

    // ---- UI state
    const state = {terrain: true, water: true, overlay: "depth", buildings: true, network: true,
      manholes: true, roads: true, edits: true, frame: C.frames.length};
    for (const key of C.hidden || []) state[key] = false;  // drawn, off until toggled (the sewer pipes)
    const L = C.legends || {};
    const OVERLAYS = ["depth", "hazard", "arrival", "speed"];
    const nFrames = C.frames.length;
    const atMax = () => state.frame >= nFrames;
    const frameTime = () => atMax() ? null : C.frames[state.frame];
    // A building's exposure class at the slider's time (its maximum when the slider is at "max").
    const frameClass = A.b_frame_class;
    function buildingClass(b) {
      if (!frameClass || atMax()) return A.b_class[b];
      return frameClass[state.frame * nB + b];
    }
    function roadCut(r) {
      if (r.cut === null) return false;
      const t = frameTime();
      return t === null || (r.cut <= t && (r.reopen === null || t < r.reopen));
    }
    let marker = null;
    const frameCache = new Map();
    let shownDepth = {img: images.depth, bounds: C.bounds};

    const fmtTime = (s) => {
      if (s === null || !isFinite(s)) return "never";
      const m = Math.round(s / 60);
      return m < 60 ? m + " min" : Math.floor(m / 60) + " h " + String(m % 60).padStart(2, "0") + " min";
    };
    const fmt = (v, unit, digits) => (v === null || !isFinite(v)) ? "n/a" : v.toFixed(digits) + " " + unit;

    const flat = {depthWriteEnabled: false, depthCompare: "always"};
    // Class images are drawn cell by cell: a smoothed edge would blend a class with the transparent
    // "dry" colour into shades that are in no legend.
    const crisp = {minFilter: "nearest", magFilter: "nearest"};
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
        out.push(new deck.BitmapLayer({id: "depth", image: img, bounds, textureParameters: crisp,
          visible: state.overlay === "depth", parameters: flat}));
      }
      for (const key of ["hazard", "arrival", "speed"]) {
        if (images[key]) out.push(new deck.BitmapLayer({id: key, image: images[key], bounds: C.bounds,
          textureParameters: crisp, visible: state.overlay === key, parameters: flat}));
      }
      if (roads.length) {
        const t = state.frame;
        out.push(new deck.PathLayer({id: "roads", data: roads, ...offsets, getPath: (d) => d.path,
          getColor: (d) => roadCut(d) ? C.roads_cut : C.roads_open,
          getWidth: (d) => roadCut(d) ? 5 : 2.5, widthUnits: "pixels", capRounded: true, jointRounded: true,
          visible: state.roads, pickable: true, parameters: flat,
          updateTriggers: {getColor: t, getWidth: t}}));
      }
      if (edits.length) out.push(new deck.PathLayer({id: "edits", data: edits, ...offsets,
        getPath: (d) => d.path, getColor: C.edit_colour, getWidth: 3.5, widthUnits: "pixels",
        widthMinPixels: 2, capRounded: true, jointRounded: true, visible: state.edits, pickable: true,
        parameters: flat}));
      if (edits.some((d) => d.kind === "point")) out.push(new deck.ScatterplotLayer({id: "edit-points",
        data: edits.filter((d) => d.kind === "point"), ...offsets, getPosition: (d) => d.path[0], getRadius: 6,
        radiusUnits: "pixels", stroked: true, filled: false, getLineColor: C.edit_colour, lineWidthMinPixels: 3,
        visible: state.edits, pickable: true}));
      if (network.length) out.push(new deck.PathLayer({id: "network", data: network, ...offsets,
        getPath: (d) => d.path, getWidth: 4, widthUnits: "pixels", getColor: (d) => d.color,
        capRounded: true, jointRounded: true, visible: state.network, pickable: true, parameters: flat}));
      if (manholes.length) out.push(new deck.ScatterplotLayer({id: "manholes", data: manholes, ...offsets,
        getPosition: (d) => d.position, getRadius: (d) => d.radius, radiusUnits: "meters",
        radiusMinPixels: 2, getFillColor: (d) => d.color, stroked: true, getLineColor: [255, 255, 255, 220],
        lineWidthMinPixels: 1, visible: state.manholes, pickable: true, parameters: flat}));
      if (nB > 0) {
        out.push(new deck.SolidPolygonLayer({id: "buildings", data: polygons, ...offsets,
          _normalize: false, _windingOrder: "CW", positionFormat: "XY", extruded: true,
          getPolygon: (d) => d, getElevation: (_, {index}) => A.b_height[partBuilding[index]] / 10,
          getFillColor: (_, {index}) => colours[buildingClass(partBuilding[index])],
          updateTriggers: {getFillColor: state.frame},
          visible: state.buildings, pickable: true, autoHighlight: true,
          highlightColor: [255, 255, 255, 110],
          material: {ambient: 0.55, diffuse: 0.5, shininess: 8, specularColor: [40, 40, 40]}}));
        if (ifcRoofs.length) out.push(new deck.PathLayer({id: "ifc-outline", data: ifcRoofs, ...offsets,
          positionFormat: "XYZ", _pathType: "open", getPath: (d) => d, getColor: C.ifc_outline,
          getWidth: 3, widthUnits: "pixels", visible: state.buildings}));
        if (B.exposure) {
          const wet = roofs.filter((r) => buildingClass(r.b) > 0);
          out.push(new deck.PathLayer({id: "exposure-outline", data: wet, ...offsets, positionFormat: "XYZ",
            _pathType: "open", getPath: (d) => d.path, getColor: C.building_outline, getWidth: 2.5, widthUnits: "pixels", visible: state.buildings}));
        }
      }
      if (marker) out.push(new deck.ScatterplotLayer({id: "query-point", data: [marker],
        getPosition: (d) => d, getRadius: 7, radiusUnits: "pixels", stroked: true, filled: true,
        getFillColor: [255, 255, 255, 200], getLineColor: [0, 0, 0, 255], lineWidthMinPixels: 2,
        parameters: flat}));
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
          if (frameClass && !atMax()) lines.push("at " + fmtTime(frameTime()) + ": " +
            (buildingClass(b) > 0 ? B.legend[buildingClass(b)][1] + " against the walls" : "dry"));
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
      if (layer.id === "roads" && object) {
        const r = object, lines = ["<b>" + esc(r.name || "road " + r.id) + "</b>" + (r.cls ? " (" + esc(r.cls) + ")" : "")];
        lines.push(roadCut(r) ? "<b>CUT</b> at this time" : "open at this time");
        lines.push("impassable above " + fmt(r.threshold, "m", 2) + ", deepest " + fmt(r.max_depth, "m", 2));
        lines.push(r.cut === null ? "never cut" : "cut after " + fmtTime(r.cut) + ", " +
          (r.reopen === null ? "not open again within the run" : "open again after " + fmtTime(r.reopen)));
        return {html: lines.join("<br>")};
      }
      if ((layer.id === "edits" || layer.id === "edit-points") && object) return {html: esc(object.label)};
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
    // The ground layers are one choice (they are opaque, so that their colours are their swatches).
    const overlayNames = {depth: C.depth_title, hazard: "Hazard rating (FD2320)",
      arrival: "Arrival time", speed: "Maximum speed"};
    const toggles = [["network", C.network_title, network.length > 0], ["manholes", "Manholes", manholes.length > 0],
      ["roads", "Roads (cut / open)", roads.length > 0], ["edits", "Planners' edits", edits.length > 0],
      ["buildings", "Buildings", nB > 0], ["water", "Rivers and lakes", rivers.length + lakes.length > 0],
      ["terrain", "Relief", !!images.terrain]];
    let any = false;
    const present = OVERLAYS.filter((k) => images[k]);
    if (present.length) {
      any = true;
      for (const key of [...present, "none"]) {
        const row = document.createElement("label");
        const box = document.createElement("input");
        box.type = "radio"; box.name = "overlay"; box.checked = state.overlay === key; box.id = "toggle-" + key;
        box.addEventListener("change", () => { if (box.checked) { state.overlay = key; redraw(); } });
        row.append(box, " " + (overlayNames[key] || "No ground layer"));
        layerBox.append(row);
      }
    }
    for (const [key, label, shown] of toggles) {
      if (!shown) continue;
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
      const css = (c) => "rgba(" + c[0] + "," + c[1] + "," + c[2] + "," +
        (c.length > 3 ? (c[3] / 255).toFixed(2) : 1) + ")";
      box.innerHTML = "<h2>" + esc(heading) + "</h2>" + items.map(([rgba, label, kind, edge]) =>
        '<div class="item"><span class="' + (kind || "swatch") + '" style="' +
        (kind === "outline" ? "border-color:" + css(rgba) : "background:" + css(rgba) +
         (kind === "outlined" ? ";border-color:" + css(edge) : "")) + '"></span>' +
        esc(label) + "</div>").join("");
      legends.append(box);
      return box;
    }
    const legendBoxes = {};
    if (images.depth) legendBoxes.depth = legend("depth", C.depth_title, C.depth_legend);
    if (images.hazard) legendBoxes.hazard = legend("hazard", "Hazard rating (max over the event)",
      C.hazard_legend);
    if (images.arrival) legendBoxes.arrival = legend("arrival", "Arrival time (first wet)", L.arrival);
    if (images.speed) legendBoxes.speed = legend("speed", "Maximum speed", L.speed);
    if (roads.length) legendBoxes.roads = legend("roads", "Roads at this time", L.roads);
    if (edits.length) legendBoxes.edits = legend("edits", "Edits", L.edits);
    if (nB > 0) {
      legendBoxes.buildings = legend("buildings", B.exposure ? (frameClass ? "Buildings: water at the walls" :
        "Buildings: max depth") : "Buildings", B.legend);
    }
    if (network.length) legendBoxes.network = legend("network", C.network_title, C.network_legend);
    if (manholes.length) legendBoxes.manholes = legend("manholes", "Manholes", C.manholes_legend);
    if (rivers.length + lakes.length > 0) {
      legendBoxes.water = legend("water", "Water bodies", [[C.water, "River, lake"]]);
    }
    function syncLegends() {
      for (const [key, box] of Object.entries(legendBoxes)) {
        box.hidden = OVERLAYS.includes(key) ? state.overlay !== key : !state[key];
      }
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
        label.textContent = C.max_label;
      }
      if (window.sceneLastQuery) showQuery(window.sceneLastQuery.lon, window.sceneLastQuery.lat);
      redraw();
    }
    if (C.frames.length) {
      document.getElementById("time").hidden = false;
      slider.max = String(C.frames.length);
      slider.value = String(C.frames.length);
      label.textContent = C.max_label;
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

    // ---- point query: the grids of twin/scene/query.py, read at the cell under a lon/lat
    const G = C.geo, Q = C.query || {};
    function toCrs(lon, lat) {
      const u = (lon - G.lon0) * G.scale, v = (lat - G.lat0) * G.scale;
      let x = 0, y = 0;
      G.terms.forEach(([i, j], k) => { const m = u ** i * v ** j; x += G.cx[k] * m; y += G.cy[k] * m; });
      return [x, y];
    }
    function cellOf(x, y) {
      const [a, b, c, d, e, f] = G.affine, det = a * e - b * d;
      const col = (e * (x - c) - b * (y - f)) / det, row = (-d * (x - c) + a * (y - f)) / det;
      return [Math.floor(col), Math.floor(row)];
    }
    const u16 = (arr, i, scale) => arr[i] === 65535 ? null : arr[i] / scale;
    // the ground travels as differences from the cell before (twin/scene/query.py)
    const ground = A.q_ground ? Int32Array.from(A.q_ground) : null;
    if (ground) for (let i = 1; i < ground.length; i++) ground[i] += ground[i - 1];
    function hazardClass(hr) {
      for (let k = 0; k < C.hazard_legend.length; k++) if (hr < C.hazard_bounds[k]) return k;
      return C.hazard_legend.length - 1;
    }
    // What the result holds at a point and at the slider's time (maxima over the event at "max").
    function queryAt(lon, lat) {
      const [x, y] = toCrs(lon, lat), [col, row] = cellOf(x, y);
      const out = {lon, lat, x, y, col, row, time_s: frameTime(), inside: false};
      if (!A.q_depth) return out;
      const qc = Math.floor(col / Q.factor), qr = Math.floor(row / Q.factor);
      if (col < 0 || row < 0 || qc >= Q.nx || qr >= Q.ny) return out;
      const i = qr * Q.nx + qc, n = Q.nx * Q.ny, k = state.frame;
      out.inside = true;
      out.ground_m = ground[i] / 100;
      out.max_depth_m = u16(A.q_depth, i, 1000);
      out.depth_m = atMax() || !A.q_frames ? out.max_depth_m : u16(A.q_frames, k * n + i, 100);
      out.speed_is_max = atMax() || !A.q_speed_frames;
      out.speed_m_s = out.speed_is_max ? u16(A.q_speed, i, 100) : u16(A.q_speed_frames, k * n + i, 100);
      // at a frame with its speed: FD2320 from that frame's depth and speed, as the run rates it
      out.hazard_is_max = out.speed_is_max || !A.q_frames;
      if (out.hazard_is_max) out.hazard = u16(A.q_hazard, i, 100);
      else if (out.depth_m === null || out.speed_m_s === null) out.hazard = null;
      else out.hazard = out.depth_m * (out.speed_m_s + 0.5) + (out.depth_m > C.debris_depth ? 1 : 0);
      out.arrival_s = A.q_arrival[i] === 4294967295 ? null : A.q_arrival[i];
      out.permanent_water = A.q_water[i] === 1;
      out.wet = out.depth_m !== null && out.depth_m >= C.depth_min;
      out.level_m = out.wet ? out.ground_m + out.depth_m : null;
      const rated = out.hazard_is_max ? out.max_depth_m : out.depth_m;
      out.hazard_class = out.hazard !== null && rated >= C.depth_min ?
        C.hazard_legend[hazardClass(out.hazard)][1] : null;
      out.cell_factor = Q.factor;
      return out;
    }
    const qbox = document.getElementById("query");
    function coordText(q) {
      return q.x.toFixed(1) + " E, " + q.y.toFixed(1) + " N (" + esc(C.crs_name) + ")<br>" +
        Math.abs(q.lon).toFixed(6) + "° " + (q.lon >= 0 ? "E" : "W") + ", " +
        Math.abs(q.lat).toFixed(6) + "° " + (q.lat >= 0 ? "N" : "S");
    }
    function showQuery(lon, lat) {
      const q = queryAt(lon, lat);
      window.sceneLastQuery = q;
      marker = [lon, lat];
      const when = q.time_s === null ? "maximum over the event" : "at t = " + fmtTime(q.time_s);
      const lines = ['<b>Point</b> <span class="coord">' + coordText(q) + "</span>"];
      if (!A.q_depth) {
        lines.push("no flood result in this scene");
      } else if (!q.inside) {
        lines.push("outside the model's grid");
      } else {
        lines.push("<b>" + esc(when) + "</b>");
        lines.push('<span id="q-depth">depth ' + (q.wet ? fmt(q.depth_m, "m", 2) : "dry (< " + C.depth_min +
          " m)") + "</span>" + (q.wet ? ", water level " + fmt(q.level_m, "m", 2) : "") +
          " (ground " + fmt(q.ground_m, "m", 2) + ")");
        lines.push("speed " + fmt(q.speed_m_s, "m/s", 2) + (q.speed_is_max ? " (max over the event)" : ""));
        lines.push("hazard " + (q.hazard_class ? fmt(q.hazard, "", 2) + " " + esc(q.hazard_class) : "none") +
          (q.hazard_is_max ? " (max over the event)" : " (from this time's depth and speed)"));
        lines.push("water arrived " + (q.arrival_s === null ? "never" : "after " + fmtTime(q.arrival_s)));
        if (q.permanent_water) lines.push("in a river or lake (permanent water)");
        if (q.cell_factor > 1) lines.push('<span class="coord">values of ' + q.cell_factor + " x " +
          q.cell_factor + " cells (largest depth, speed, hazard; first arrival)</span>");
      }
      qbox.innerHTML = lines.join("<br>");
      qbox.hidden = false;
      redraw();
      return q;
    }

    // ---- deck
    const phone = () => window.innerWidth <= 600;
    const panel = document.getElementById("panel"), collapse = document.getElementById("collapse");
    function setCollapsed(on) {
      panel.classList.toggle("collapsed", on);
      collapse.setAttribute("aria-expanded", String(!on));
    }
    collapse.addEventListener("click", () => setCollapsed(!panel.classList.contains("collapsed")));
    if (phone()) setCollapsed(true);
    function fitView(width, height, pitch) {
      const vp = new deck.WebMercatorViewport({width: Math.max(width, 200), height: Math.max(height, 200)});
      const pad = phone() ? {top: 70, bottom: 50, left: 20, right: 20} :
        document.body.classList.contains("print") ? {top: 20, bottom: 20, left: 20, right: 20} :
        {top: 40, bottom: 40, left: 260, right: 40};
      const fit = vp.fitBounds(C.extent, {padding: pad});
      // fitBounds frames the extent seen from straight above; tilted, the near edge grows,
      // so step back a little.
      return {longitude: fit.longitude, latitude: fit.latitude, zoom: fit.zoom - (pitch ? 0.3 : 0.05),
        pitch, bearing: 0, maxPitch: 80};
    }
    let viewState = fitView(window.innerWidth, window.innerHeight, C.pitch);
    let coords = null, north = null, scaleBar = null, scaleLabel = null;
    let reported = false;
    const mapBox = document.getElementById("map");
    const deckgl = new deck.Deck({
      parent: mapBox,
      initialViewState: viewState,
      controller: true,
      layers: layers(),
      getTooltip: tooltip,
      onError: fail,
      onViewStateChange: ({viewState: v}) => { viewState = v; setTimeout(mapFurniture, 0); return v; },
      onHover: (info) => {
        const vp = deckgl.getViewports()[0];
        if (!vp || info.x < 0) return;
        const [lon, lat] = vp.unproject([info.x, info.y]);
        const [x, y] = toCrs(lon, lat);
        coords.innerHTML = coordText({lon, lat, x, y}).replace("<br>", " · ");
      },
      onAfterRender: () => {
        mapFurniture();  // after every frame: a view set from code (north arrow, print) fires no change event
        if (reported) return;
        const all = deckgl.props.layers;
        // Basemap tiles may never arrive (offline): they do not hold back "ready".
        if (all.every((l) => l.id === "basemap" || l.isLoaded)) {
          reported = true;
          mapFurniture();
          window.sceneStatus = {ready: true, ms: performance.now()};
        }
      },
    });
    function redraw() { syncLegends(); deckgl.setProps({layers: layers()}); }
    syncLegends();
    // The browser's own click event (not deck.gl's tap gesture, which a slow press would miss); a drag
    // that ends where it began is a click too, one that moved is a pan.
    let downAt = null;
    mapBox.addEventListener("pointerdown", (e) => { downAt = [e.clientX, e.clientY]; });
    mapBox.addEventListener("click", (e) => {
      if (downAt && Math.hypot(e.clientX - downAt[0], e.clientY - downAt[1]) > 6) return;
      const vp = deckgl.getViewports()[0], box = mapBox.getBoundingClientRect();
      if (!vp) return;
      const [lon, lat] = vp.unproject([e.clientX - box.left, e.clientY - box.top]);
      showQuery(lon, lat);
    });

    // ---- scale bar, north arrow, coordinates
    coords = document.getElementById("coords");
    north = document.getElementById("north");
    scaleBar = document.getElementById("scale-bar");
    scaleLabel = document.getElementById("scale-label");
    function metres([lon1, lat1], [lon2, lat2]) {
      const r = Math.PI / 180, a = Math.sin((lat2 - lat1) * r / 2) ** 2 +
        Math.cos(lat1 * r) * Math.cos(lat2 * r) * Math.sin((lon2 - lon1) * r / 2) ** 2;
      return 2 * 6371008.8 * Math.asin(Math.sqrt(a));
    }
    function mapFurniture() {
      if (!scaleBar) return;  // a frame drawn before the furniture's elements are looked up
      const vp = deckgl.getViewports()[0];
      if (!vp) return;
      // measured along the bar's own line, near the bottom of the map (a tilted view shrinks upwards)
      const yb = vp.height - 34, xb = vp.width - 140;
      const m = metres(vp.unproject([xb, yb]), vp.unproject([xb + 100, yb]));
      if (!(m > 0)) return;
      const target = m * 1.2, p = 10 ** Math.floor(Math.log10(target));
      const nice = [5, 2, 1].map((k) => k * p).find((v) => v <= target) || p;
      scaleBar.style.width = (100 * nice / m).toFixed(0) + "px";
      scaleLabel.textContent = nice >= 1000 ? nice / 1000 + " km" : nice + " m";
      scaleBar.title = viewState.pitch > 1 ? "true at the bottom of the tilted view" : "";
      north.style.transform = "rotate(" + (-viewState.bearing) + "deg)";
    }
    north.addEventListener("click", () => {
      viewState = {...viewState, bearing: 0, pitch: 0, transitionDuration: 0};
      deckgl.setProps({initialViewState: viewState});
      setTimeout(mapFurniture, 50);
    });

    // ---- print view: a header line (title, scenario, time), the map seen from above, the legends
    const PAPER = {A4: [297, 210], A3: [420, 297]}, MARGIN_MM = 8;
    const pageStyle = document.createElement("style");
    document.head.append(pageStyle);
    let saved = null;
    const frames2 = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    async function scenePrint(paper) {
      const [w, h] = PAPER[paper] || PAPER.A4;
      const px = (mm) => Math.floor((mm - 2 * MARGIN_MM) * 96 / 25.4);
      pageStyle.textContent = "@page { size: " + (paper in PAPER ? paper : "A4") + " landscape; margin: " +
        MARGIN_MM + "mm; } body.print { width: " + px(w) + "px; height: " + px(h) + "px; }";
      if (!saved) saved = {viewState, collapsed: panel.classList.contains("collapsed")};
      document.body.classList.add("print");
      setCollapsed(false);
      document.getElementById("print-scenario").textContent = C.scenario ? "· Scenario: " + C.scenario : "";
      document.getElementById("print-time").textContent = "· " + label.textContent;
      document.getElementById("print-crs").textContent = "· " + C.crs_name;
      await frames2();
      viewState = fitView(mapBox.clientWidth, mapBox.clientHeight, 0);
      deckgl.setProps({initialViewState: viewState, width: mapBox.clientWidth, height: mapBox.clientHeight});
      await frames2();
      deckgl.redraw(true);
      mapFurniture();
      await frames2();
      return [px(w), px(h)];
    }
    function endPrint() {
      if (!saved) return;
      document.body.classList.remove("print");
      pageStyle.textContent = "";
      viewState = saved.viewState;
      setCollapsed(saved.collapsed);
      saved = null;
      deckgl.setProps({initialViewState: viewState, width: "100%", height: "100%"});
      setTimeout(mapFurniture, 50);
    }
    window.addEventListener("afterprint", endPrint);
    document.getElementById("print").addEventListener("click", async () => {
      await scenePrint(document.getElementById("paper").value);
      window.print();
    });
    window.scenePrint = scenePrint;
    window.sceneEndPrint = endPrint;
    window.sceneQuery = showQuery;
    // Screen position (CSS px) of a lon/lat on the ground: what a test clicks.
    window.sceneProject = (lon, lat) => deckgl.getViewports()[0].project([lon, lat, 0]).slice(0, 2);
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
