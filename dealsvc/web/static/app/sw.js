// The residents' web app's service worker (served at /app/sw.js, after the lines that set
// VERSION, SHELL, OFFLINE, OFFER_URL, ICON and OPENED_URL). It keeps the shell for offline starts, falls
// back to the offline page when a page cannot be fetched, and shows the alerts: a real web push
// (the push event) and a push the development emulator handed to the page (a message from the
// page) go through the same show(payload).
"use strict";
var CACHE = "dealsvc-app-" + VERSION;

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(CACHE).then(function (cache) { return cache.addAll(SHELL); }).then(function () {
    return self.skipWaiting();
  }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (n) { return n.indexOf("dealsvc-app-") === 0 && n !== CACHE; })
      .map(function (n) { return caches.delete(n); }));
  }).then(function () { return self.clients.claim(); }));
});

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET" || new URL(request.url).origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    // Pages: always the network (they are never stored); the offline page when it cannot answer.
    event.respondWith(fetch(request).catch(function () { return caches.match(OFFLINE); }));
    return;
  }
  // The shell's files by path and version (?v=, their content's hash): a page of a newer
  // deploy asks for a newer version, which comes from the network, not this cache.
  var url = new URL(request.url);
  if (SHELL.indexOf(url.pathname + url.search) >= 0) {
    event.respondWith(caches.match(request).then(function (hit) { return hit || fetch(request); }));
  }
  // Everything else (the API above all) goes to the network as it would without a worker.
});

// Where an alert leads: a page of this app only. A link the push carries counts when it is one
// of the app's own pages (same origin, under the worker's scope); otherwise the offer's page is
// rebuilt from its id; otherwise the app's start.
function target(link, offerId) {
  var scope = new URL(self.registration.scope);
  if (link) {
    try {
      var url = new URL(link, scope);
      if (url.origin === scope.origin && url.pathname.indexOf(scope.pathname) === 0) return url.href;
    } catch (e) { /* not a URL: rebuilt below */ }
  }
  if (offerId) return new URL(OFFER_URL.replace("OFFER_ID", encodeURIComponent(offerId)), scope).href;
  return scope.href;
}

// The FCM message as the browser receives it: {notification: {title, body, tag, ...},
// data: {offer_id, ...}, fcmOptions: {link}?, from, collapse_key, fcmMessageId}.
function show(payload) {
  payload = payload || {};
  var note = payload.notification || {};
  var data = payload.data || {};
  var link = target((payload.fcmOptions && payload.fcmOptions.link) || note.click_action, data.offer_id);
  // One notification per offer: a later push about it (a price drop, "gone") replaces the earlier.
  var tag = note.tag || (data.offer_id ? "offer-" + data.offer_id : payload.collapse_key);
  return self.registration.showNotification(note.title || data.title || "", {
    body: note.body || "",
    tag: tag,
    renotify: false,
    icon: note.icon || ICON,
    image: note.image || undefined,  // the offer's photo
    badge: ICON,
    lang: data.locale || undefined,
    data: { link: link, offer_id: data.offer_id || null, notification_id: data.notification_id || null }
  });
}

self.addEventListener("push", function (event) {
  var payload = {};
  try { payload = event.data ? event.data.json() : {}; } catch (e) { payload = {}; }
  event.waitUntil(show(payload));
});

self.addEventListener("message", function (event) {
  if (event.data && event.data.type === "push") event.waitUntil(show(event.data.payload));
  if (event.data && event.data.type === "resident") event.waitUntil(keepResident(event.data.resident));
});

// The resident's id and secret, handed over by the app's pages (app.js: the worker cannot read
// their localStorage) and kept where the worker finds them after a restart, in a cache of its
// own that no fetch answers from: a tapped alert is reported with them.
var RESIDENT_CACHE = "dealsvc-resident";
var RESIDENT_KEY = "/app/resident";

function keepResident(resident) {
  return caches.open(RESIDENT_CACHE).then(function (cache) {
    if (!resident || !resident.secret) return cache.delete(RESIDENT_KEY);
    return cache.put(RESIDENT_KEY, new Response(JSON.stringify({ id: resident.id, secret: resident.secret })));
  });
}

function resident() {
  return caches.open(RESIDENT_CACHE).then(function (cache) { return cache.match(RESIDENT_KEY); })
    .then(function (found) { return found ? found.json() : null; });
}

// What alerts earned: the tap is reported as the alert opened (once is enough, the service keeps
// the first), for the resident it was sent to. True when the service took it.
function reportOpened(data) {
  if (!data.notification_id) return Promise.resolve(false);
  return resident().then(function (who) {
    if (!who) return false;
    var url = OPENED_URL.replace("NOTIFICATION_ID", encodeURIComponent(data.notification_id));
    return fetch(url, { method: "POST", headers: { "Authorization": "Bearer " + who.secret }, cache: "no-store",
                        credentials: "omit" }).then(function (r) { return r.status === 204; });
  }).catch(function () { return false; });
}

// A tap on an alert: the offer's page in a window of this app when one is open (only windows
// this worker controls can be navigated; a tab of /shop/ or /admin/ is left alone), else in a
// new window, also when navigating the app's window fails.
function openAlert(data) {
  var url = target(data.link, data.offer_id);
  var scope = self.registration.scope;
  return self.clients.matchAll({ type: "window" }).then(function (windows) {
    var mine = windows.filter(function (c) { return "navigate" in c && c.url.indexOf(scope) === 0; })[0];
    if (!mine) return self.clients.openWindow(url);
    return mine.navigate(url).then(function (c) {
      if (!c) return self.clients.openWindow(url);  // it left the app meanwhile
      return c.focus().catch(function () { return c; });
    }, function () { return self.clients.openWindow(url); });
  });
}

// A tap: the offer opens, and the tap is reported, whether or not a window could be opened.
function tapped(data) {
  var reported = reportOpened(data);
  return openAlert(data).then(function (opened) {
    return reported.then(function () { return opened; });
  }, function (error) {
    return reported.then(function () { throw error; });
  });
}

self.addEventListener("notificationclick", function (event) {
  var data = event.notification.data || {};
  event.notification.close();
  event.waitUntil(tapped(data));
});
