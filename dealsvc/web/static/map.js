// The Leaflet set-up of every map, the residents' web app's (app/app.js) and the shop's and the
// operator's pages' (web/maps.js): vendored Leaflet; tiles, and their attribution, only when
// configured, else a plain background; the zoom buttons titled in the page's language; the
// keyboard on; half zoom steps. `cfg` is the page's map settings: tiles, attribution,
// leafletImages, texts.zoomIn, texts.zoomOut. Loaded after Leaflet, before the page's script.
window.dealsvcMap = function (el, center, zoom, cfg) {
  "use strict";
  L.Icon.Default.imagePath = cfg.leafletImages;
  var map = L.map(el, { attributionControl: !!cfg.tiles, zoomControl: false, keyboard: true, zoomSnap: 0.5 });
  L.control.zoom({ zoomInTitle: cfg.texts.zoomIn, zoomOutTitle: cfg.texts.zoomOut }).addTo(map);
  if (cfg.tiles) L.tileLayer(cfg.tiles, { attribution: cfg.attribution || "", maxZoom: 19 }).addTo(map);
  map.setView(center, zoom);
  return map;
};
