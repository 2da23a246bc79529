// The residents' web app: every page's behaviour, calling the public JSON API (/api/v1/...).
// The subscriber's id and secret stay in this device (localStorage) and go out only as the
// Bearer of the API's requests. The words come translated from the page (#app-config texts).
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("app-config").textContent);
  var T = cfg.texts;
  // Numbers and times the way the browser's own variant of the page's language writes them
  // (en-GB: 24-hour clock), else the page's language.
  var pageLang = document.documentElement.lang || "en";
  var lang = (navigator.languages || [navigator.language]).filter(function (l) {
    return l && l.toLowerCase().split("-")[0] === pageLang;
  })[0] || pageLang;
  var KEY = "dealsvc.resident";
  var HOLDS = "dealsvc.reservations";
  var statusEl = document.getElementById("status");

  // --- small helpers -------------------------------------------------------------------
  function $(id) { return document.getElementById(id); }
  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, k) { return values[k] === undefined ? "" : values[k]; });
  }
  // Text from the API (a shop's name, an offer's title) only ever goes in as text: through el(),
  // never as a string to Leaflet's bindTooltip/bindPopup/setContent, which take it as HTML.
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  function say(text) { statusEl.textContent = text || ""; }
  // An offer's own photo, as a path on this service (its /media/ files); null for anything
  // else (a link to another site is never loaded: the resident's address stays here).
  function mediaPath(url) {
    if (!url) return null;
    try { var u = new URL(url, location.href); return u.pathname.indexOf("/media/") === 0 ? u.pathname : null; } catch (e) { return null; }
  }
  function load(key, fallback) {
    try { var v = JSON.parse(localStorage.getItem(key)); return v === null ? fallback : v; } catch (e) { return fallback; }
  }
  function save(key, value) {
    localStorage.setItem(key, JSON.stringify(value));
    if (key === KEY) shareWithWorker(value);
  }
  function me() { return load(KEY, null); }
  // The worker reports a tapped alert as opened with the resident's secret (sw.js) and cannot
  // read localStorage: the page hands it the resident (null once gone) whenever it may have changed.
  function shareWithWorker(who) {
    if (!("serviceWorker" in navigator)) return;
    navigator.serviceWorker.ready.then(function (registration) {
      if (registration.active) {
        registration.active.postMessage({ type: "resident", resident: who && who.secret ? { id: who.id, secret: who.secret } : null });
      }
    });
  }

  function money(cents, currency) {
    return new Intl.NumberFormat(lang, { style: "currency", currency: currency || "EUR" }).format(cents / 100);
  }
  function percent(pct) {
    return new Intl.NumberFormat(lang, { style: "percent", maximumFractionDigits: 0 }).format(pct / 100);
  }
  function distance(m) {
    if (m < 1000) return new Intl.NumberFormat(lang, { style: "unit", unit: "meter", maximumFractionDigits: 0 }).format(Math.round(m / 10) * 10);
    return new Intl.NumberFormat(lang, { style: "unit", unit: "kilometer", maximumFractionDigits: 1 }).format(m / 1000);
  }
  function clock(iso) {
    var d = new Date(iso);
    var sameDay = d.toDateString() === new Date().toDateString();
    return d.toLocaleString(lang, sameDay ? { hour: "2-digit", minute: "2-digit" } : { weekday: "short", hour: "2-digit", minute: "2-digit" });
  }
  // What the shop's opening hours say now (the API works it out on the shop's clock); null: no hours.
  function hoursLine(shop) {
    if (shop.open_now === true) return shop.open_until ? fill(T.openUntil, { time: clock(shop.open_until) }) : T.openNow;
    if (shop.open_now === false) return shop.opens_at ? fill(T.closedUntil, { time: clock(shop.opens_at) }) : T.closedNow;
    return null;
  }
  function timeLeft(iso) {
    var minutes = Math.round((new Date(iso) - Date.now()) / 60000);
    var rtf = new Intl.RelativeTimeFormat(lang, { numeric: "auto" });
    return minutes < 90 ? rtf.format(Math.max(minutes, 0), "minute") : rtf.format(Math.round(minutes / 60), "hour");
  }
  function number(n) { return new Intl.NumberFormat(lang).format(n); }
  // A text with a number: the form of its plural category in the page's language (the page
  // gives one per CLDR category, "other" always among them).
  var pluralRules = new Intl.PluralRules(pageLang);
  function plural(forms, n) { return fill(forms[pluralRules.select(n)] || forms.other, { n: number(n) }); }

  // The API: JSON in and out; a problem (RFC 9457) becomes a rejected promise carrying it.
  function api(method, path, body, auth) {
    var headers = { "Accept": "application/json" };
    var who = auth === false ? null : me();
    if (who && who.secret) headers["Authorization"] = "Bearer " + who.secret;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    return fetch(cfg.api + path, { method: method, headers: headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store" })
      .then(function (r) {
        if (r.status === 204) return null;
        return r.json().catch(function () { return {}; }).then(function (data) {
          if (!r.ok) { data.status = data.status || r.status; throw data; }
          return data;
        });
      }, function () { throw { status: 0, detail: T.offline }; });
  }

  function showProblem(problem, box, fieldIds) {
    document.querySelectorAll(".field-error").forEach(function (e) { e.hidden = true; e.textContent = ""; });
    document.querySelectorAll("[aria-invalid]").forEach(function (e) { e.removeAttribute("aria-invalid"); });
    var shownByField = false;
    Object.keys(problem.errors || {}).forEach(function (name) {
      var target = $("error-" + ((fieldIds || {})[name] || name));
      if (!target) return;
      target.textContent = [].concat(problem.errors[name]).join(" ");
      target.hidden = false;
      shownByField = true;
      var input = $((fieldIds || {})[name] || name);
      if (input) { input.setAttribute("aria-invalid", "true"); input.setAttribute("aria-describedby", target.id); }
    });
    box.textContent = shownByField ? T.fixFields : fill(T.problem, { detail: problem.detail || problem.title || problem.status });
    box.hidden = false;
    box.focus && box.focus();
  }

  // --- maps (Leaflet, set up as every map is: ../map.js) ----------------------------------
  function makeMap(node, center, zoom) {
    return window.L ? window.dealsvcMap(node, center, zoom, cfg) : null;
  }
  function zoomFor(radius) { return Math.max(3, Math.min(17, 15 - Math.log2(Math.max(radius, 100) / 500))); }

  // --- push: the emulator in development, the Firebase JS SDK in production --------------
  function registerWorker() {
    if (!("serviceWorker" in navigator)) return Promise.resolve(null);
    return navigator.serviceWorker.register(cfg.sw, { scope: cfg.scope }).then(function () {
      return navigator.serviceWorker.ready;
    }).catch(function () { return null; });
  }

  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      var s = document.createElement("script");
      s.src = src; s.onload = resolve; s.onerror = reject;
      document.head.appendChild(s);
    });
  }

  var firebaseLoaded = null;
  function firebaseMessaging() {
    // The SDK's scripts once per page (a second load would start Firebase anew, without its state).
    firebaseLoaded = firebaseLoaded || cfg.firebaseScripts.reduce(function (p, src) {
      return p.then(function () { return loadScript(src); });
    }, Promise.resolve());
    return firebaseLoaded.then(function () {
      var app = firebase.apps.length ? firebase.app() : firebase.initializeApp(cfg.firebase);
      return app.messaging();
    });
  }
  function firebaseToken(registration) {
    return firebaseMessaging().then(function (messaging) {
      return messaging.getToken({ vapidKey: cfg.vapidKey, serviceWorkerRegistration: registration });
    });
  }

  // Leaving: the alerts still shown go, and FCM forgets this browser's token.
  function forgetDevice() {
    if (!("serviceWorker" in navigator)) return Promise.resolve();
    return navigator.serviceWorker.getRegistration(cfg.scope).then(function (registration) {
      if (!registration) return;
      return registration.getNotifications().then(function (shown) {
        shown.forEach(function (n) { n.close(); });
        if (cfg.push === "firebase") return firebaseMessaging().then(function (messaging) { return messaging.deleteToken(); });
      });
    }).catch(function () {});
  }

  // A token for this device: from the emulator (development) or from FCM (production).
  var localToken = false;
  function pushToken(registration) {
    if (cfg.push === "emulator") {
      return fetch(cfg.emulator, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" })
        .then(function (r) {
          // An emulator without web clients still takes any token: one made here, then.
          if (r.status === 404) return { token: "web-" + Date.now().toString(36) + Math.random().toString(36).slice(2, 10), local: true };
          if (!r.ok) throw new Error(r.status);
          return r.json();
        })
        .then(function (body) { localToken = !!body.local; return body.token; });
    }
    if (cfg.push === "firebase") {
      if (!window.Notification || Notification.permission !== "granted") return Promise.reject({ status: 0, detail: T.notifyOff });
      return firebaseToken(registration).catch(function () { throw { status: 0, detail: T.pushFailed }; });
    }
    return Promise.reject({ status: 0, detail: T.notifyNone });
  }

  // Development: fetch what the emulator received for this device every 2 s and have the
  // service worker show each push exactly as its push event would. What was fetched is kept as
  // {instance, after}: a restarted emulator (another instance) numbers its pushes from 1 again.
  var SEQ = "dealsvc.emulator-seq";
  function pollEmulator(registration) {
    var who = me();
    if (cfg.push !== "emulator" || !who || !who.token || who.local || !registration) return;
    var seen = load(SEQ, null);
    if (!seen || typeof seen !== "object") seen = { instance: null, after: 0 };
    function tick() {
      if (!me()) return;  // left meanwhile
      fetch(cfg.emulator + "/" + encodeURIComponent(who.token) + "/messages?after=" + seen.after, { cache: "no-store" })
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
        .then(function (body) {
          if (body.instance !== seen.instance) {
            // Another run of the emulator: its pushes from the first (this answer skipped those up to `after`).
            var first = seen.instance === null && seen.after === 0;
            seen = { instance: body.instance, after: 0 };
            save(SEQ, seen);
            if (!first) return;
          }
          (body.messages || []).forEach(function (m) {
            seen.after = Math.max(seen.after, m.seq);
            if (registration.active) registration.active.postMessage({ type: "push", payload: m.payload });
          });
          save(SEQ, seen);
        })
        .catch(function () {})
        .finally(function () { setTimeout(tick, 2000); });
    }
    tick();
  }

  // The app presents its token at least once a day (the service stops pushing to a token it has
  // not seen for 60 days); in production FCM may also hand out a new one, which replaces it.
  var PRESENTED = "dealsvc.token-presented";
  function presentToken(token) {
    var who = me();
    if (!who || !token) return Promise.resolve();
    if (token === who.token && Date.now() - load(PRESENTED, 0) < 86400000) return Promise.resolve();
    return api("PATCH", "/subscribers/" + who.id, { fcm_token: token }).then(function () {
      who.token = token; save(KEY, who); save(PRESENTED, Date.now());
    });
  }
  function keepTokenCurrent(registration) {
    var who = me();
    if (!who) return;
    if (cfg.push === "firebase") {
      if (!registration || !window.Notification || Notification.permission !== "granted") return;
      firebaseToken(registration).then(presentToken).catch(function () {});
    } else if (cfg.push === "emulator" && who.token) {
      presentToken(who.token).catch(function () {});
    }
  }

  // --- the subscription form (joining and settings) ------------------------------------
  function subscriptionForm(initial) {
    var form = $("subscription");
    var radius = $("radius_m"), latIn = $("lat"), lonIn = $("lon");
    var place = initial && initial.lat !== undefined ? [initial.lat, initial.lon] : null;
    var map = makeMap($("map"), place || [cfg.mapStart.lat, cfg.mapStart.lon], place ? zoomFor(+radius.value) : cfg.mapStart.zoom);
    var pin = null, circle = null;

    function showRadius() {
      $("radius-out").textContent = distance(+radius.value);
      if (circle) circle.setRadius(+radius.value);
    }
    function setPlace(lat, lon, fit) {
      place = [Math.round(lat * 1e6) / 1e6, Math.round(lon * 1e6) / 1e6];
      latIn.value = place[0]; lonIn.value = place[1];
      if (map) {
        if (!pin) {
          pin = L.marker(place, { draggable: true, keyboard: true, title: T.youAreHere, alt: T.youAreHere }).addTo(map);
          pin.on("dragend", function () { var p = pin.getLatLng(); setPlace(p.lat, p.lng, false); });
          circle = L.circle(place, { radius: +radius.value, color: "#0b6b3a", weight: 2, fillOpacity: 0.12 }).addTo(map);
        }
        pin.setLatLng(place); circle.setLatLng(place);
        if (fit) map.fitBounds(circle.getBounds(), { animate: false });
      }
      $("place-status").textContent = fill(T.pinPlaced, { lat: number(place[0]), lon: number(place[1]) });
      $("error-place").hidden = true;
    }
    if (map) map.on("click", function (e) { setPlace(e.latlng.lat, e.latlng.lng, false); });
    $("pin-centre").addEventListener("click", function () {
      if (map) { var c = map.getCenter(); setPlace(c.lat, c.lng, false); }
    });
    $("locate").addEventListener("click", function () {
      if (!navigator.geolocation) { $("place-status").textContent = T.noLocation; return; }
      $("place-status").textContent = T.locating;
      navigator.geolocation.getCurrentPosition(function (pos) {
        setPlace(pos.coords.latitude, pos.coords.longitude, true);
        $("place-status").textContent = T.located;
      }, function () { $("place-status").textContent = T.noLocation; }, { enableHighAccuracy: true, timeout: 10000 });
    });
    function typed() {
      var lat = parseFloat(latIn.value), lon = parseFloat(lonIn.value);
      if (isFinite(lat) && isFinite(lon) && Math.abs(lat) <= 90 && Math.abs(lon) <= 180) setPlace(lat, lon, true);
    }
    latIn.addEventListener("change", typed); lonIn.addEventListener("change", typed);
    radius.addEventListener("input", showRadius);
    radius.addEventListener("change", function () { if (map && circle) map.fitBounds(circle.getBounds(), { animate: false }); });

    if (initial) {
      if (initial.radius_m) radius.value = initial.radius_m;
      (initial.categories || []).forEach(function (c) {
        var box = form.querySelector('input[name="categories"][value="' + c + '"]');
        if (box) box.checked = true;
      });
      if (initial.quiet_hours) { $("quiet_start").value = initial.quiet_hours.start; $("quiet_end").value = initial.quiet_hours.end; }
      if (initial.locale) $("locale").value = initial.locale;
      if (initial.max_per_day) $("max_per_day").value = initial.max_per_day;
      if (place) setPlace(place[0], place[1], true);
    }
    showRadius();

    return {
      form: form,
      map: map,
      place: function () { return place; },
      values: function () {
        var body = { radius_m: +radius.value, categories: [], locale: $("locale").value };
        if (place) { body.lat = place[0]; body.lon = place[1]; }
        form.querySelectorAll('input[name="categories"]:checked').forEach(function (b) { body.categories.push(b.value); });
        var qs = $("quiet_start").value, qe = $("quiet_end").value;
        body.quiet_hours = qs && qe ? { start: qs, end: qe } : null;
        var cap = $("max_per_day").value;
        body.max_per_day = cap ? parseInt(cap, 10) : null;
        return body;
      }
    };
  }

  // --- pages ------------------------------------------------------------------------------
  var pages = {};

  // Why this browser cannot join (joining needs its alerts' token), said before the form is
  // filled in: null when it can.
  function joinBlocker() {
    if (cfg.push === "none") return T.joinNone;
    if (cfg.push === "firebase") {
      if (!("serviceWorker" in navigator) || !window.PushManager || !window.Notification) return T.pushUnsupported;
      if (Notification.permission === "denied") return T.notifyDenied;
    }
    return null;
  }

  pages.join = function () {
    if (me()) { location.replace(cfg.scope); return; }
    var sub = subscriptionForm(null);
    var error = $("form-error");
    error.tabIndex = -1;
    var blocked = joinBlocker();
    if (blocked) {
      $("join-notice").textContent = blocked;
      $("join-notice").hidden = false;
      $("join-submit").disabled = true;
    }
    sub.form.addEventListener("submit", function (event) {
      event.preventDefault();
      var body = sub.values();
      if (!sub.place()) {
        $("error-place").textContent = T.noPlace; $("error-place").hidden = false;
        $("map").focus();
        return;
      }
      if (!$("privacy_accept").checked) {
        $("error-privacy_accept").textContent = T.acceptPrivacy; $("error-privacy_accept").hidden = false;
        $("privacy_accept").focus();
        return;
      }
      $("error-privacy_accept").hidden = true;
      body.privacy_notice_version = cfg.privacyNotice;
      say(T.joining);
      // Asked at once, while the tap still counts as the person's own gesture (browsers ignore a
      // request made later); FCM's token needs the permission, the emulator's does not.
      var asked = window.Notification && Notification.permission === "default"
        ? Notification.requestPermission().catch(function () {}) : Promise.resolve();
      asked.then(function () {
        if (cfg.push === "firebase" && Notification.permission !== "granted") throw { status: 0, detail: T.notifyDenied };
      }).then(registerWorker).then(function (r) { return pushToken(r); })
        .then(function (token) {
          body.fcm_token = token;
          return api("POST", "/subscribers", body, false).then(function (created) {
            save(KEY, { id: created.id, secret: created.secret, token: token, local: localToken, lat: body.lat, lon: body.lon, radius_m: created.radius_m });
            save(PRESENTED, Date.now());
          });
        })
        .then(function () { say(T.joined); location.assign(cfg.scope + "?joined=1"); })
        .catch(function (problem) {
          say("");
          // A script's own error (the browser's push service, the SDK) has no words for people.
          if (problem instanceof Error || !problem || !(problem.detail || problem.title || problem.errors)) problem = { status: 0, detail: T.pushFailed };
          showProblem(problem, error, { quiet_hours: "quiet_hours", lat: "place", lon: "place" });
        });
    });
  };

  pages.near = function () {
    var who = me();
    if (!who) { $("not-joined").hidden = false; return; }
    $("offers-section").hidden = false;
    if (new URLSearchParams(location.search).get("joined")) say(T.joined);
    var map = makeMap($("map"), [who.lat, who.lon], zoomFor(who.radius_m));
    var layer = map ? L.layerGroup().addTo(map) : null;
    var places = [{ label: T.youAreHere, lat: who.lat, lon: who.lon, radius_m: who.radius_m }];

    // Redrawn only when something changed (a rebuilt list loses the keyboard's place; a map set
    // back to the place loses the resident's panning): the times left are updated in place.
    var drawn = { where: null, items: null }, endsSpans = [];
    function draw(where, items) {
      var whereKey = [where.lat, where.lon, where.radius_m].join();
      var itemsKey = JSON.stringify(items.map(function (o) {
        return [o.id, o.title, o.thumbnail_url, o.shop.name, o.shop.lat, o.shop.lon, o.price_cents, o.currency, o.discount_pct, o.distance_m, o.quantity_left, o.expires_at];
      }));
      if (whereKey === drawn.where && itemsKey === drawn.items) {
        endsSpans.forEach(function (span) { span.textContent = fill(T.ends, { when: timeLeft(span.dataset.expires) }); });
        return;
      }
      var list = $("offers");
      list.replaceChildren();
      endsSpans = [];
      if (layer) {
        layer.clearLayers();
        L.circle([where.lat, where.lon], { radius: where.radius_m, color: "#0b6b3a", weight: 2, fillOpacity: 0.08, interactive: false }).addTo(layer);
        L.circleMarker([where.lat, where.lon], { radius: 6, color: "#1d4ed8", fillOpacity: 1 }).bindTooltip(el("span", null, T.youAreHere)).addTo(layer);
      }
      items.forEach(function (o) {
        var li = el("li"), a = el("a");
        a.href = cfg.offerUrl.replace("OFFER_ID", encodeURIComponent(o.id));
        var thumb = mediaPath(o.thumbnail_url);
        if (thumb) {
          var img = el("img", "o-thumb");
          img.src = thumb;
          img.alt = "";
          img.width = img.height = 72;
          img.loading = "lazy";
          a.appendChild(img);
        }
        a.appendChild(el("p", "o-title", o.title));
        a.appendChild(el("p", "o-shop", o.shop.name));
        var open = hoursLine(o.shop);
        if (open) a.appendChild(el("p", "o-hours" + (o.shop.open_now ? "" : " closed"), open));
        var line = el("p", "o-line");
        line.appendChild(el("span", "o-price", money(o.price_cents, o.currency)));
        line.appendChild(el("span", "badge off", fill(T.off, { pct: percent(o.discount_pct) })));
        line.appendChild(el("span", "o-distance", fill(T.away, { distance: distance(o.distance_m) })));
        var ends = el("span", "o-ends", fill(T.ends, { when: timeLeft(o.expires_at) }));
        ends.dataset.expires = o.expires_at;
        endsSpans.push(ends);
        line.appendChild(ends);
        line.appendChild(el("span", "o-left", plural(T.left, o.quantity_left)));
        a.appendChild(line);
        li.appendChild(a);
        list.appendChild(li);
        if (layer) {
          L.circleMarker([o.shop.lat, o.shop.lon], { radius: 9, color: "#0b6b3a", fillColor: "#78be50", fillOpacity: 0.9, weight: 2 })
            .bindPopup(function () {
              var p = el("div"), link = el("a", null, o.title);
              link.href = a.href;
              p.appendChild(link);
              p.appendChild(el("div", null, o.shop.name + " · " + money(o.price_cents, o.currency)));
              return p;
            }).addTo(layer);
        }
      });
      $("offers-count").textContent = items.length === 0 ? T.noOffers : plural(T.offers, items.length);
      if (map && whereKey !== drawn.where) map.setView([where.lat, where.lon], zoomFor(where.radius_m), { animate: false });
      drawn = { where: whereKey, items: itemsKey };
    }

    function refresh() {
      var where = places[+($("place").value || 0)] || places[0];
      api("GET", "/deals?lat=" + where.lat + "&lon=" + where.lon + "&radius_m=" + where.radius_m + "&limit=50", undefined, false)
        .then(function (body) { draw(where, body.items); })
        .catch(function (p) { $("offers-count").textContent = p.detail || T.offline; });
    }

    api("GET", "/subscribers/" + who.id).then(function (s) {
      places[0] = { label: T.youAreHere, lat: s.lat, lon: s.lon, radius_m: s.radius_m };
      who.lat = s.lat; who.lon = s.lon; who.radius_m = s.radius_m; save(KEY, who);
      (s.places || []).forEach(function (p) { places.push(p); });
      if (places.length > 1) {
        var select = $("place");
        places.forEach(function (p, i) { var opt = el("option", null, p.label); opt.value = i; select.appendChild(opt); });
        $("place-choice").hidden = false;
        select.addEventListener("change", refresh);
      }
    }).catch(function (p) {
      if (p.status === 401 || p.status === 404) { localStorage.removeItem(KEY); location.assign(cfg.join); }
    }).finally(refresh);
    setInterval(refresh, 60000);
    // A new alert (or one replaced) means the offers changed: the list follows at once.
    var seen = null;
    function alerts() { drawAlerts(function (signature) { if (seen !== null && signature !== seen) refresh(); seen = signature; }); }
    alerts();
    setInterval(alerts, 2000);
  };

  // The alerts the service worker shows now (a push replaced under its tag shows its latest words).
  var alertsDrawn = null;
  function drawAlerts(changed) {
    if (!("serviceWorker" in navigator)) return;
    navigator.serviceWorker.getRegistration(cfg.scope).then(function (registration) {
      return registration ? registration.getNotifications() : [];
    }).then(function (shown) {
      var signature = shown.map(function (n) { return n.tag + "\n" + n.title + "\n" + n.body; }).join("\n");
      changed(signature);
      if (signature === alertsDrawn) return;  // unchanged: the list (and the keyboard's place in it) stays
      alertsDrawn = signature;
      var list = $("alerts"), frag = document.createDocumentFragment();
      shown.forEach(function (n) {
        var li = el("li"), a = el("a");
        var data = n.data || {};
        a.href = data.link || (data.offer_id ? cfg.offerUrl.replace("OFFER_ID", encodeURIComponent(data.offer_id)) : cfg.scope);
        a.appendChild(el("p", "a-title", n.title));
        if (n.body) a.appendChild(el("p", "a-body", n.body));
        li.appendChild(a);
        frag.appendChild(li);
      });
      list.replaceChildren(frag);
      $("alerts-section").hidden = shown.length === 0;
    }).catch(function () {});
  }

  function showPickup(reservation, shopName) {
    $("pickup-code").textContent = reservation.code;
    $("pickup-shop").textContent = shopName;
    $("pickup-until").textContent = fill(T.heldUntil, { time: clock(reservation.expires_at) });
    $("pickup").hidden = false;
    $("reserve-card").hidden = true;
    $("pickup-release").onclick = function () {
      api("DELETE", "/reservations/" + reservation.id).then(function () {
        forgetHold(reservation.id);
        $("pickup").hidden = true;
        say(T.released);
        pages.offer();
      }).catch(function (p) { say(fill(T.problem, { detail: p.detail || p.status })); });
    };
    $("pickup").focus();
  }
  function holds() { return load(HOLDS, []); }
  function keepHold(r, offer, shopName) {
    var list = holds().filter(function (h) { return h.id !== r.id; });
    list.unshift({ id: r.id, offer_id: offer.id, title: offer.title, shop: shopName });
    save(HOLDS, list.slice(0, 30));
  }
  function forgetHold(id) { save(HOLDS, holds().filter(function (h) { return h.id !== id; })); }

  pages.offer = function () {
    var id = $("offer").dataset.offerId;
    var who = me();
    api("GET", "/offers/" + encodeURIComponent(id), undefined, false).then(function (offer) {
      return api("GET", "/shops/" + encodeURIComponent(offer.shop_id), undefined, false).then(function (shop) {
        drawOffer(offer, shop, who);
      });
    }).catch(function (p) {
      $("offer-title").textContent = p.status === 404 ? T.gone : (p.detail || T.offline);
      $("offer").removeAttribute("aria-busy");
    });
  };

  var offerMap = null;
  function drawOffer(offer, shop, who) {
    document.title = offer.title + " · " + document.title.split(" · ").pop();
    $("offer-title").textContent = offer.title;
    $("shop-name").textContent = shop.name;
    $("shop-address").textContent = shop.address || "";
    var open = hoursLine(shop);
    $("shop-hours").textContent = open || "";
    $("shop-hours").hidden = !open;
    $("shop-hours").classList.toggle("closed", shop.open_now === false);
    $("offer-price").textContent = money(offer.price_cents, offer.currency);
    $("offer-was").textContent = fill(T.was, { price: money(offer.original_price_cents, offer.currency) });
    $("offer-off").textContent = fill(T.off, { pct: percent(offer.discount_pct) });
    $("offer-description").textContent = offer.description || "";
    var photo = offer.thumbnail_url ? mediaPath(offer.image_url) : null;
    if (photo) $("offer-photo").src = photo;
    $("offer-photo").hidden = !photo;
    $("offer-left").textContent = number(offer.quantity_left);
    $("offer-ends").textContent = clock(offer.expires_at) + " (" + timeLeft(offer.expires_at) + ")";
    if (who) {
      var geo = window.L ? L.latLng(who.lat, who.lon).distanceTo([shop.lat, shop.lon]) : null;
      $("offer-distance").textContent = geo === null ? "" : distance(geo);
    }
    var steps = $("offer-steps");
    steps.replaceChildren();
    (offer.price_steps || []).filter(function (s) { return !s.applied; }).forEach(function (s) {
      steps.appendChild(el("li", null, fill(T.from, { time: clock(s.at), price: money(s.price_cents, offer.currency) + " (" + fill(T.off, { pct: percent(s.discount_pct) }) + ")" })));
    });
    if (!steps.children.length) steps.appendChild(el("li", "hint", T.noSteps));
    if (!offerMap) {
      offerMap = makeMap($("map"), [shop.lat, shop.lon], 16);
      if (offerMap) {
        L.circleMarker([shop.lat, shop.lon], { radius: 10, color: "#0b6b3a", fillColor: "#78be50", fillOpacity: 0.9 }).bindTooltip(el("span", null, shop.name), { permanent: true }).addTo(offerMap);
        if (who) {
          L.circleMarker([who.lat, who.lon], { radius: 6, color: "#1d4ed8", fillOpacity: 1 }).bindTooltip(el("span", null, T.youAreHere)).addTo(offerMap);
          offerMap.fitBounds(L.latLngBounds([[shop.lat, shop.lon], [who.lat, who.lon]]).pad(0.3), { animate: false, maxZoom: 16 });
        }
      }
    }
    $("offer").removeAttribute("aria-busy");

    var active = offer.status === "active" && new Date(offer.expires_at) > new Date();
    var mine = holds().filter(function (h) { return h.offer_id === offer.id; })[0];
    if (!active) say(T.gone);
    if (!who) { if (active) say(T.notJoined); return; }
    setupFollow(shop);
    if (mine) {
      api("GET", "/reservations/" + mine.id).then(function (r) {
        if (r.status === "held") showPickup(r, shop.name);
        else { forgetHold(r.id); if (active) showReserve(offer, shop); }
      }).catch(function () { forgetHold(mine.id); if (active) showReserve(offer, shop); });
    } else if (active) {
      showReserve(offer, shop);
    }
  }

  function showReserve(offer, shop) {
    var select = $("quantity");
    select.replaceChildren();
    for (var n = 1; n <= Math.min(cfg.maxQuantity, offer.quantity_left); n++) {
      var opt = el("option", null, number(n)); opt.value = n; select.appendChild(opt);
    }
    $("reserve-card").hidden = false;
    var error = $("reserve-error");
    error.tabIndex = -1;
    $("reserve").onsubmit = function (event) {
      event.preventDefault();
      error.hidden = true;
      say(T.reserving);
      api("POST", "/offers/" + encodeURIComponent(offer.id) + "/reservations", { quantity: parseInt(select.value, 10) })
        .then(function (r) {
          say(""); keepHold(r, offer, shop.name);
          $("offer-left").textContent = number(Math.max(0, offer.quantity_left - r.quantity));
          showPickup(r, shop.name);
        })
        .catch(function (p) { say(""); showProblem(p, error, { holds: "quantity" }); });
    };
  }

  function setupFollow(shop) {
    var who = me(), button = $("follow");
    var following = false;
    function show() {
      button.textContent = following ? T.unfollow : T.follow;
      button.setAttribute("aria-pressed", following ? "true" : "false");
      $("follow-status").textContent = following ? T.following : "";
      button.hidden = false;
    }
    // Shown at once, with the reserve form, and enabled once the resident's shops are known:
    // appearing later, it pushed the form down under the finger about to tap "Reserve". Unknown
    // (the request failed), it stays disabled and says why, rather than show a state it made up.
    button.disabled = true;
    show();
    api("GET", "/subscribers/" + who.id + "/favorites").then(function (body) {
      following = body.items.some(function (f) { return f.shop_id === shop.id; });
      show();
      button.disabled = false;
    }).catch(function (p) { $("follow-status").textContent = fill(T.problem, { detail: p.detail || p.status }); });
    button.onclick = function () {
      var call = following
        ? api("DELETE", "/subscribers/" + who.id + "/favorites/" + encodeURIComponent(shop.id))
        : api("POST", "/subscribers/" + who.id + "/favorites", { shop_id: shop.id });
      call.then(function () { following = !following; show(); })
        .catch(function (p) { $("follow-status").textContent = fill(T.problem, { detail: p.detail || p.status }); });
    };
  }

  pages.reservations = function () {
    // The service's list (any device, storage cleared or not); titles from this device's
    // memory of its holds, else from the offer itself.
    var list = $("reservations"), who = me();
    if (!who) { list.appendChild(el("li", "hint", T.noReservations)); return; }
    var known = {};
    holds().forEach(function (h) { known[h.id] = h; });
    api("GET", "/subscribers/" + encodeURIComponent(who.id) + "/reservations").then(function (body) {
      if (!body.items.length) { list.appendChild(el("li", "hint", T.noReservations)); return; }
      body.items.forEach(function (r) { drawReservation(list, r, known[r.id]); });
    }).catch(function (p) { list.appendChild(el("li", "hint", p.detail || T.offline)); });
  };

  function drawReservation(list, r, remembered) {
    var li = el("li");
    var link = el("a", null, remembered ? remembered.title : "…");
    link.href = cfg.offerUrl.replace("OFFER_ID", encodeURIComponent(r.offer_id));
    var head = el("p"); head.appendChild(link);
    var shop = el("p", "hint", remembered ? remembered.shop : "");
    li.appendChild(head);
    li.appendChild(shop);
    list.appendChild(li);
    if (!remembered) {
      api("GET", "/offers/" + encodeURIComponent(r.offer_id), undefined, false).then(function (offer) {
        link.textContent = offer.title;
        return api("GET", "/shops/" + encodeURIComponent(offer.shop_id), undefined, false).then(function (s) {
          shop.textContent = s.name;
        });
      }).catch(function () { link.textContent = T.gone; });
    }
    if (r.status === "held") {
      li.appendChild(el("p", "code", r.code));
      li.appendChild(el("p", null, fill(T.heldUntil, { time: clock(r.expires_at) })));
      var release = el("button", "danger", T.release);
      release.type = "button";
      release.onclick = function () {
        api("DELETE", "/reservations/" + encodeURIComponent(r.id)).then(function () {
          forgetHold(r.id); li.remove(); say(T.released);
        }).catch(function (p) { say(fill(T.problem, { detail: p.detail || p.status })); });
      };
      li.appendChild(release);
    } else {
      li.appendChild(el("p", "badge", T["status_" + r.status] || r.status));
      forgetHold(r.id);
    }
  }

  pages.settings = function () {
    var who = me();
    if (!who) { $("not-joined").hidden = false; return; }
    $("settings-body").hidden = false;
    var rowTemplate = $("place-row");
    var rowCount = 0;
    function addPlace(p) {
      var row = rowTemplate.content.firstElementChild.cloneNode(true);
      var n = ++rowCount;
      row.querySelectorAll("[data-name]").forEach(function (input) { input.id = "place" + n + "-" + input.dataset.name; });
      row.querySelectorAll("label[data-for]").forEach(function (label) { label.htmlFor = "place" + n + "-" + label.dataset.for; });
      row.dataset.lat = p.lat; row.dataset.lon = p.lon;
      row.querySelector('[data-name="label"]').value = p.label || "";
      row.querySelector('[data-name="where"]').textContent = fill(T.where, { lat: number(p.lat), lon: number(p.lon) });
      row.querySelector('[data-name="radius_m"]').value = p.radius_m || $("radius_m").value;
      (p.days || []).forEach(function (d) { row.querySelector('[data-day="' + d + '"]').checked = true; });
      if (p.hours) { row.querySelector('[data-name="start"]').value = p.hours.start; row.querySelector('[data-name="end"]').value = p.hours.end; }
      row.querySelector('[data-name="remove"]').onclick = function () { row.remove(); };
      $("place-list").appendChild(row);
      return row;
    }
    function places() {
      return Array.prototype.map.call($("place-list").children, function (row) {
        var p = { label: row.querySelector('[data-name="label"]').value.trim(), lat: +row.dataset.lat, lon: +row.dataset.lon };
        var r = row.querySelector('[data-name="radius_m"]').value;
        if (r) p.radius_m = parseInt(r, 10);
        var days = Array.prototype.filter.call(row.querySelectorAll("[data-day]"), function (b) { return b.checked; }).map(function (b) { return b.dataset.day; });
        if (days.length) p.days = days;
        var s = row.querySelector('[data-name="start"]').value, e = row.querySelector('[data-name="end"]').value;
        p.hours = s && e ? { start: s, end: e } : null;
        return p;
      });
    }

    api("GET", "/subscribers/" + who.id).then(function (s) {
      var sub = subscriptionForm(s);
      $("price_drops").checked = !!s.price_drops;
      (s.places || []).forEach(addPlace);
      $("add-place").onclick = function () {
        var main = sub.place(), pin = sub.map && sub.map.getCenter();
        var at = pin ? [pin.lat, pin.lng] : main;
        var row = addPlace({ lat: Math.round(at[0] * 1e6) / 1e6, lon: Math.round(at[1] * 1e6) / 1e6, label: "" });
        row.querySelector('[data-name="label"]').focus();
      };
      var error = $("form-error");
      error.tabIndex = -1;
      sub.form.addEventListener("submit", function (event) {
        event.preventDefault();
        var body = sub.values();
        body.places = places();
        body.price_drops = $("price_drops").checked;
        api("PATCH", "/subscribers/" + who.id, body).then(function (saved) {
          error.hidden = true;
          who.lat = saved.lat; who.lon = saved.lon; who.radius_m = saved.radius_m; save(KEY, who);
          say(T.saved);
        }).catch(function (p) { showProblem(p, error, { lat: "place", lon: "place" }); });
      });
    }).catch(function (p) {
      if (p.status === 401 || p.status === 404) { localStorage.removeItem(KEY); location.assign(cfg.join); }
      else say(p.detail || T.offline);
    });

    var favs = $("favorites");
    api("GET", "/subscribers/" + who.id + "/favorites").then(function (body) {
      if (!body.items.length) favs.appendChild(el("li", "hint", T.noFavorites));
      body.items.forEach(function (f) {
        var li = el("li"), name = el("span", null, f.name), drop = el("button", "danger", T.unfollow);
        drop.type = "button";
        drop.setAttribute("aria-label", T.unfollow + ": " + f.name);
        drop.onclick = function () {
          api("DELETE", "/subscribers/" + who.id + "/favorites/" + encodeURIComponent(f.shop_id)).then(function () { li.remove(); });
        };
        li.appendChild(name); li.appendChild(drop);
        favs.appendChild(li);
      });
    }).catch(function () {});

    function notifyState() {
      var s = $("notify-status"), b = $("notify");
      if (cfg.push === "none") { s.textContent = T.notifyNone; return; }
      var granted = window.Notification && Notification.permission === "granted";
      s.textContent = granted ? T.notifyOn : T.notifyOff;
      b.hidden = granted || !window.Notification;
    }
    $("notify").onclick = function () { Notification.requestPermission().then(notifyState); };
    notifyState();

    $("export").onclick = function () {
      say(T.exporting);
      api("GET", "/subscribers/" + who.id + "/export").then(function (data) {
        var blob = new Blob([JSON.stringify(data, null, 2)], { type: "application/json" });
        var link = el("a");
        link.href = URL.createObjectURL(blob);
        link.download = "my-data-" + data.exported_at.slice(0, 10) + ".json";
        document.body.appendChild(link);
        link.click();
        link.remove();
        setTimeout(function () { URL.revokeObjectURL(link.href); }, 1000);
        say(T.exported);
      }).catch(function (p) { say(fill(T.problem, { detail: p.detail || p.status })); });
    };

    $("leave").onclick = function () {
      if (!window.confirm(T.confirmLeave)) return;
      api("DELETE", "/subscribers/" + who.id).catch(function (p) { if (p.status !== 404 && p.status !== 401) throw p; }).then(function () {
        localStorage.removeItem(KEY); localStorage.removeItem(HOLDS); localStorage.removeItem(SEQ); localStorage.removeItem(PRESENTED);
        shareWithWorker(null);
        return forgetDevice();
      }).then(function () {
        $("settings-body").hidden = true;
        say(T.left_app);
        $("not-joined").hidden = false;
      }).catch(function (p) { say(fill(T.problem, { detail: p.detail || p.status })); });
    };
  };

  var name = document.body.dataset.page;
  if (pages[name]) pages[name]();
  // Every page registers the service worker (the app installs and works offline before joining);
  // a joined device also keeps its alerts and its token current.
  registerWorker().then(function (registration) {
    shareWithWorker(me());
    if (!me()) return;
    pollEmulator(registration);
    keepTokenCurrent(registration);
  });
})();
