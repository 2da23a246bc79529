// The offer form: the price shown live, a default "until", the browser's time zone, live reach.
(function () {
  "use strict";
  var form = document.getElementById("offer-form");
  if (!form) return;
  var price = document.getElementById("original_price");
  var slider = document.getElementById("discount_pct");
  var pctOut = document.getElementById("discount-out");
  var priceOut = document.getElementById("price-out");
  var until = document.getElementById("expires_at");
  var tz = document.getElementById("tz");
  var category = document.getElementById("category");
  var reachOut = document.getElementById("reach-out");
  var euros = new Intl.NumberFormat("en-IE", { style: "currency", currency: "EUR" });

  try { tz.value = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; } catch (e) { /* keep UTC */ }

  if (!until.value) {
    // Two hours from now, on the quarter hour: most surplus is gone by then.
    var d = new Date(Date.now() + 2 * 3600 * 1000);
    d.setMinutes(Math.ceil(d.getMinutes() / 15) * 15, 0, 0);
    var pad = function (n) { return String(n).padStart(2, "0"); };
    until.value = d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" + pad(d.getHours()) + ":" + pad(d.getMinutes());
  }

  function cents(text) {
    var m = /^\s*€?\s*(\d+)(?:[.,](\d{1,2}))?\s*$/.exec(text || "");
    if (!m) return null;
    return parseInt(m[1], 10) * 100 + (m[2] ? parseInt((m[2] + "0").slice(0, 2), 10) : 0);
  }

  function update() {
    pctOut.textContent = slider.value + " %";
    slider.setAttribute("aria-valuetext", slider.value + " percent off");
    var original = cents(price.value);
    if (original === null || original <= 0) { priceOut.textContent = "—"; return; }
    var pay = Math.round(original * (1 - Number(slider.value) / 100));
    priceOut.textContent = euros.format(pay / 100) + " instead of " + euros.format(original / 100);
  }

  var pending = null;
  function refreshReach() {
    if (pending) pending.abort();
    pending = new AbortController();
    var url = form.dataset.reachUrl + "?shop_id=" + encodeURIComponent(form.elements.shop_id.value) +
      "&category=" + encodeURIComponent(category.value);
    fetch(url, { signal: pending.signal, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) { if (body) reachOut.textContent = body.residents; })
      .catch(function () { /* a newer request replaced it, or the network hiccuped */ });
  }

  slider.addEventListener("input", update);
  price.addEventListener("input", update);
  category.addEventListener("change", refreshReach);
  update();

  // Times of the offers in the shop's own clock.
  document.querySelectorAll("time.local-time").forEach(function (t) {
    var at = new Date(t.getAttribute("datetime"));
    if (!isNaN(at)) t.textContent = at.toLocaleString("en-GB", { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
  });
})();
