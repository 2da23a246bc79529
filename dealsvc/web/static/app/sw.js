// The residents' web app's service worker (served at /app/sw.js, after the lines that set
// VERSION, SHELL, OFFLINE, OFFER_URL and ICON). It keeps the shell for offline starts, falls
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
  if (SHELL.indexOf(new URL(request.url).pathname) >= 0) {
    event.respondWith(caches.match(request).then(function (hit) { return hit || fetch(request); }));
  }
  // Everything else (the API above all) goes to the network as it would without a worker.
});

// The FCM message as the browser receives it: {notification: {title, body, tag, ...},
// data: {offer_id, ...}, fcmOptions: {link}?, from, collapse_key, fcmMessageId}.
function show(payload) {
  payload = payload || {};
  var note = payload.notification || {};
  var data = payload.data || {};
  var link = (payload.fcmOptions && payload.fcmOptions.link) || (note.click_action) ||
    (data.offer_id ? OFFER_URL.replace("OFFER_ID", encodeURIComponent(data.offer_id)) : null);
  // One notification per offer: a later push about it (a price drop, "gone") replaces the earlier.
  var tag = note.tag || (data.offer_id ? "offer-" + data.offer_id : payload.collapse_key);
  return self.registration.showNotification(note.title || data.title || "", {
    body: note.body || "",
    tag: tag,
    renotify: false,
    icon: note.icon || ICON,
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
});

self.addEventListener("notificationclick", function (event) {
  var data = event.notification.data || {};
  event.notification.close();
  var target = data.link || (data.offer_id ? OFFER_URL.replace("OFFER_ID", encodeURIComponent(data.offer_id)) : self.registration.scope);
  var url = new URL(target, self.registration.scope);
  if (data.notification_id) url.searchParams.set("opened", data.notification_id);
  event.waitUntil(self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (windows) {
    for (var i = 0; i < windows.length; i++) {
      var client = windows[i];
      if ("navigate" in client && new URL(client.url).origin === url.origin) {
        return client.navigate(url.href).then(function (c) { return (c || client).focus(); });
      }
    }
    return self.clients.openWindow(url.href);
  }));
});
