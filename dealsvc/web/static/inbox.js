// The phone inbox: fetch what the emulator delivered every 2 seconds and draw each phone's list.
(function () {
  "use strict";
  var root = document.getElementById("phones");
  var status = document.getElementById("inbox-status");
  var filter = document.getElementById("filter");
  var last = null;
  // The words a person reads, translated by the page (data-text-* on #phones; "{n}", "{token}" filled in here).
  var text = root.dataset;

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, k) { return values[k]; });
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function clock(iso) {
    var d = new Date(iso);
    return isNaN(d) ? iso : d.toLocaleTimeString(document.documentElement.lang || undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  function draw() {
    if (!last) return;
    var wanted = (filter.value || "").trim().toLowerCase();
    var phones = last.phones.filter(function (p) { return !wanted || p.token.toLowerCase().indexOf(wanted) >= 0; });
    var frag = document.createDocumentFragment();
    phones.forEach(function (p) {
      var phone = el("section", "phone");
      phone.setAttribute("aria-label", fill(text.textPhone, { token: p.token }));
      phone.dataset.token = p.token;
      phone.appendChild(el("h2", "phone-token", p.token));
      var list = el("ul", "notifications");
      p.notifications.forEach(function (n) {
        var item = el("li", "notification" + (n.withdrawn ? " withdrawn" : ""));
        var head = el("div", "n-head");
        head.appendChild(el("span", "n-app", text.brand));
        var t = el("time", "n-time", clock(n.received_at));
        t.setAttribute("datetime", n.received_at);
        head.appendChild(t);
        item.appendChild(head);
        item.appendChild(el("p", "n-title", n.title || text.textData));
        if (n.body) item.appendChild(el("p", "n-body", n.body));
        if (n.withdrawn) item.appendChild(el("p", "n-gone", text.textWithdrawn));
        list.appendChild(item);
      });
      phone.appendChild(list);
      frag.appendChild(phone);
    });
    root.replaceChildren(frag);
    var message = phones.length === 0
      ? text.textNone
      : fill(phones.length === 1 ? text.textOne : text.textMany, { n: phones.length.toLocaleString(document.documentElement.lang || undefined) });
    // Only a change is announced to screen readers, not every refresh.
    if (status.textContent !== message) status.textContent = message;
  }

  function poll() {
    fetch(root.dataset.url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (body) { last = body; draw(); })
      .catch(function () { status.textContent = text.textOffline; })
      .finally(function () { setTimeout(poll, 2000); });
  }

  filter.addEventListener("input", draw);
  poll();
})();
