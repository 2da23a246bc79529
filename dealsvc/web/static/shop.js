// The offer form: the price shown live (and each lower price), a default "until", the browser's
// time zone, live reach and waves.
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
  var quantity = document.getElementById("quantity");
  var wavesOut = document.getElementById("waves-out");
  var steps = [1, 2, 3].map(function (n) {
    return { pct: document.getElementById("step" + n + "_discount_pct"), out: document.getElementById("step" + n + "-price") };
  }).filter(function (step) { return step.pct && step.out; });
  // The page's language writes the money; its words come from the page, translated (data-text-* on the form).
  var lang = document.documentElement.lang || "en";
  var euros = new Intl.NumberFormat(lang, { style: "currency", currency: "EUR" });
  var text = form.dataset;
  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, k) { return values[k]; });
  }

  try { tz.value = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; } catch (e) { /* keep UTC */ }

  if (!until.value) {
    // Two hours from now, on the quarter hour: most surplus is gone by then (shop.py's DEFAULT_LIFETIME_S).
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
    slider.setAttribute("aria-valuetext", fill(text.textPercentOff, { n: slider.value }));
    var original = cents(price.value);
    steps.forEach(function (step) {
      var pct = Number(step.pct.value.replace(",", "."));
      var shown = original !== null && original > 0 && step.pct.value.trim() !== "" && pct > 0 && pct < 100;
      step.out.textContent = shown ? euros.format(Math.round(original * (1 - pct / 100)) / 100) : "";
    });
    if (original === null || original <= 0) { priceOut.textContent = "—"; return; }
    var pay = Math.round(original * (1 - Number(slider.value) / 100));
    priceOut.textContent = fill(text.textInstead, { pay: euros.format(pay / 100), was: euros.format(original / 100) });
  }

  function lifetime() {
    // A datetime-local value has no zone: Date reads it in the browser's, as the server does with tz.
    var at = new Date(until.value);
    return isNaN(at) ? "" : String(Math.max(0, Math.round((at - Date.now()) / 1000)));
  }

  var pending = null;
  function refreshReach() {
    if (pending) pending.abort();
    pending = new AbortController();
    var url = form.dataset.reachUrl + "?shop_id=" + encodeURIComponent(form.elements.shop_id.value) +
      "&category=" + encodeURIComponent(category.value) +
      "&quantity=" + encodeURIComponent(quantity.value) + "&lifetime_s=" + lifetime();
    fetch(url, { signal: pending.signal, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (!body) return;
        reachOut.textContent = body.residents_text;
        wavesOut.textContent = body.waves_text;
      })
      .catch(function () { /* a newer request replaced it, or the network hiccuped */ });
  }

  var typing = null;
  function refreshSoon() {
    // One request once the shopkeeper stops typing, not one per keystroke.
    clearTimeout(typing);
    typing = setTimeout(refreshReach, 250);
  }

  slider.addEventListener("input", update);
  price.addEventListener("input", update);
  steps.forEach(function (step) { step.pct.addEventListener("input", update); });
  category.addEventListener("change", refreshReach);
  quantity.addEventListener("input", refreshSoon);
  until.addEventListener("change", refreshSoon);
  update();
  // The page was drawn for a default "until"; the one set above may differ.
  refreshReach();

  // Times in the shop's own clock; those marked "clock" (waves, price steps) drop the date when it is today.
  // (The shop's zone when the page names one: data-zone on the list of offers; else the browser's.)
  var offers = document.querySelector(".offers");
  var zone = (offers && offers.dataset.zone) || undefined;
  var day = function (d) { return d.toLocaleDateString("en-CA", { timeZone: zone }); };
  var today = day(new Date());
  document.querySelectorAll("time.local-time").forEach(function (t) {
    var at = new Date(t.getAttribute("datetime"));
    if (isNaN(at)) return;
    var timeOnly = t.classList.contains("clock") && day(at) === today;
    t.textContent = timeOnly
      ? at.toLocaleTimeString(lang === "en" ? "en-GB" : lang, { hour: "2-digit", minute: "2-digit", timeZone: zone })
      : at.toLocaleString(lang === "en" ? "en-GB" : lang, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", timeZone: zone });
  });
})();
