// The maps of the shop's and the operator's pages, set up as the residents' web app's are (../map.js):
// - [data-pin-map]: the shop's place as a draggable pin; a click or a drag fills the latitude and
//   longitude fields, typing them moves the pin; circles show how far residents can be told from it.
// - [data-shop-map]: a shop's place and the same circles, to look at.
// - [data-admin-map]: live offers, residents per grid cell (as the server counts them: never
//   one resident), and the reach of a clicked point.
// Names and titles go into the map as text nodes, never as HTML.
(function () {
  "use strict";
  var node = document.getElementById("map-config");
  if (!node || !window.L) return;
  var cfg = JSON.parse(node.textContent);
  var T = cfg.texts;
  var lang = document.documentElement.lang || "en";
  var GREEN = "#0b6b3a";
  var count = new Intl.NumberFormat(lang);

  function text(s) { var span = document.createElement("span"); span.textContent = s; return span; }

  function makeMap(el, center, zoom) { return window.dealsvcMap(el, center, zoom, cfg); }

  // How far residents can be told from a shop: the operator's largest radius (solid) and the
  // radius residents get unless they choose one (dashed).
  function reachCircles(map, at) {
    return [
      L.circle(at, { radius: cfg.maxRadius, color: GREEN, weight: 2, fillOpacity: 0.06, interactive: false }).addTo(map),
      L.circle(at, { radius: cfg.defaultRadius, color: GREEN, weight: 2, dashArray: "6 6", fill: false, interactive: false }).addTo(map),
    ];
  }

  function number(input) {
    var v = parseFloat(String(input.value).replace(",", "."));
    return isFinite(v) ? v : null;
  }

  function pinMap(el) {
    var latIn = document.getElementById(el.dataset.latInput);
    var lonIn = document.getElementById(el.dataset.lonInput);
    var fixed = el.dataset.fixedLat ? [parseFloat(el.dataset.fixedLat), parseFloat(el.dataset.fixedLon)] : null;
    var start = number(latIn) !== null && number(lonIn) !== null ? [number(latIn), number(lonIn)] : null;
    var map = makeMap(el, start || fixed || [cfg.start.lat, cfg.start.lon], start || fixed ? 14 : cfg.start.zoom);
    if (fixed) {
      L.circleMarker(fixed, { radius: 7, color: "#555", fillColor: "#999", fillOpacity: 0.8, weight: 2 })
        .bindTooltip(text(el.dataset.fixedName || "")).addTo(map);
    }
    var pin = null, circles = [];
    function place(lat, lon, write) {
      var at = L.latLng(lat, lon).wrap();
      if (!pin) {
        pin = L.marker(at, { draggable: true, keyboard: true, title: T.pin, alt: T.pin }).addTo(map);
        pin.on("drag", function () { circles.forEach(function (c) { c.setLatLng(pin.getLatLng()); }); });
        pin.on("dragend", function () { var p = pin.getLatLng().wrap(); place(p.lat, p.lng, true); });
        circles = reachCircles(map, at);
      }
      pin.setLatLng(at);
      circles.forEach(function (c) { c.setLatLng(at); });
      if (write) {
        latIn.value = at.lat.toFixed(6);
        lonIn.value = at.lng.toFixed(6);
        latIn.dispatchEvent(new Event("change", { bubbles: true }));
      }
      el.dataset.pinned = at.lat.toFixed(6) + "," + at.lng.toFixed(6);
    }
    if (start) place(start[0], start[1], false);
    map.on("click", function (e) {
      place(e.latlng.lat, e.latlng.lng, true);
      // A click on a map of the whole region is only a start: close in on it to place the pin exactly.
      if (map.getZoom() < 12) map.setView(e.latlng, 13, { animate: false });
    });
    function typed() {
      var lat = number(latIn), lon = number(lonIn);
      if (lat === null || lon === null || Math.abs(lat) > 90 || Math.abs(lon) > 180) return;
      place(lat, lon, false);
      map.panTo([lat, lon], { animate: false });
    }
    latIn.addEventListener("input", typed);
    lonIn.addEventListener("input", typed);
    // A map drawn while hidden (a closed <details>) learns its size when shown.
    var details = el.closest("details");
    if (details) details.addEventListener("toggle", function () { map.invalidateSize(); });
  }

  function shopMap(el) {
    var at = [parseFloat(el.dataset.lat), parseFloat(el.dataset.lon)];
    var map = makeMap(el, at, 13);
    L.marker(at, { keyboard: false, title: el.dataset.name, alt: el.dataset.name }).addTo(map);
    map.fitBounds(reachCircles(map, at)[0].getBounds(), { animate: false });
  }

  function adminMap(el) {
    var map = makeMap(el, [cfg.start.lat, cfg.start.lon], 12);
    var cells = L.layerGroup().addTo(map), offers = L.layerGroup().addTo(map), clicked = L.layerGroup().addTo(map);
    var status = document.getElementById("admin-map-status");
    var asked = 0;
    function getJSON(url) {
      return fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); });
    }
    function box() {
      var b = map.getBounds();
      var clamp = function (v, m) { return Math.max(-m, Math.min(m, v)); };
      return "south=" + clamp(b.getSouth(), 90).toFixed(6) + "&west=" + clamp(b.getWest(), 180).toFixed(6) +
        "&north=" + clamp(b.getNorth(), 90).toFixed(6) + "&east=" + clamp(b.getEast(), 180).toFixed(6);
    }
    function load() {
      var mine = ++asked, q = box();
      Promise.all([getJSON(el.dataset.residentsUrl + "?" + q), getJSON(el.dataset.offersUrl + "?" + q)]).then(function (got) {
        if (mine !== asked) return;
        var residents = got[0], live = got[1];
        cells.clearLayers();
        offers.clearLayers();
        var most = Math.max.apply(null, residents.cells.map(function (c) { return c.residents; }).concat([1]));
        residents.cells.forEach(function (c) {
          L.rectangle([[c.south, c.west], [c.north, c.east]], {
            color: "#1d4ed8", weight: 1, fillColor: "#1d4ed8", fillOpacity: 0.15 + 0.45 * c.residents / most, interactive: false, className: "density-cell",
          }).addTo(cells);
          L.tooltip({ permanent: true, direction: "center", className: "cell-count", interactive: false })
            .setLatLng([(c.south + c.north) / 2, (c.west + c.east) / 2]).setContent(text(count.format(c.residents))).addTo(cells);
        });
        live.items.forEach(function (o) {
          L.circleMarker([o.lat, o.lon], { radius: 8, color: GREEN, fillColor: "#78be50", fillOpacity: 0.9, weight: 2, className: "live-offer" })
            .bindTooltip(text(o.title + " · " + o.shop)).addTo(offers);
        });
        el.dataset.cells = String(residents.cells.length);
        el.dataset.offers = String(live.items.length);
        if (residents.too_wide) status.textContent = T.tooWide;
      }).catch(function () { if (mine === asked) status.textContent = T.failed; });
    }
    // The first view: around the live offers when there are any, else where maps start.
    getJSON(el.dataset.offersUrl + "?south=-90&west=-180&north=90&east=180").then(function (all) {
      if (all.items.length) {
        map.fitBounds(L.latLngBounds(all.items.map(function (o) { return [o.lat, o.lon]; })).pad(0.5), { maxZoom: 13, animate: false });
      }
    }).catch(function () {}).then(function () {
      map.on("moveend", load);
      load();
    });
    map.on("click", function (e) {
      var at = e.latlng.wrap();
      clicked.clearLayers();
      L.circle(at, { radius: cfg.maxRadius, color: GREEN, weight: 2, dashArray: "4 6", fillOpacity: 0.04, interactive: false }).addTo(clicked);
      L.circleMarker(at, { radius: 6, color: "#b91c1c", fillOpacity: 1, interactive: false }).addTo(clicked);
      // The console's "Reach of a point" form takes the point too (for its waves by quantity).
      [["fillLat", at.lat], ["fillLon", at.lng]].forEach(function (pair) {
        var input = el.dataset[pair[0]] && document.getElementById(el.dataset[pair[0]]);
        if (input) input.value = pair[1].toFixed(6);
      });
      getJSON(el.dataset.reachUrl + "?lat=" + at.lat.toFixed(6) + "&lon=" + at.lng.toFixed(6)).then(function (r) {
        status.textContent = r.text;
        el.dataset.reach = String(r.residents);
      }).catch(function () { status.textContent = T.failed; });
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-pin-map]"), pinMap);
  Array.prototype.forEach.call(document.querySelectorAll("[data-shop-map]"), shopMap);
  Array.prototype.forEach.call(document.querySelectorAll("[data-admin-map]"), adminMap);

  // The sign-up's key: a copy button where the browser can copy.
  var copy = document.getElementById("copy-key");
  if (copy && navigator.clipboard) {
    copy.hidden = false;
    copy.addEventListener("click", function () {
      navigator.clipboard.writeText(document.getElementById("api-key").value).then(function () { copy.textContent = copy.dataset.copied; });
    });
  }
})();
