// The offer form: the price shown live (and each lower price), live reach and waves. Its times
// ("Until", the steps) are on the shop's clock: the server fills them in and reads them so.
(function () {
  "use strict";
  var form = document.getElementById("offer-form");
  if (!form) return;
  var price = document.getElementById("original_price");
  var slider = document.getElementById("discount_pct");
  var pctOut = document.getElementById("discount-out");
  var priceOut = document.getElementById("price-out");
  var until = document.getElementById("expires_at");
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

  var pending = null;
  function refreshReach() {
    if (pending) pending.abort();
    pending = new AbortController();
    var url = form.dataset.reachUrl + "?shop_id=" + encodeURIComponent(form.elements.shop_id.value) +
      "&category=" + encodeURIComponent(category.value) +
      "&quantity=" + encodeURIComponent(quantity.value) + "&expires_at=" + encodeURIComponent(until.value);
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

  // Past the shop's closing time (its opening hours), "Until" is cut to it unless the shopkeeper
  // keeps their time: the warning shows while "Until" is later. Both are on the shop's clock,
  // written alike (YYYY-MM-DDTHH:MM), so they compare as text.
  var closing = document.getElementById("closing");
  if (closing) {
    var warnIfLate = function () { closing.hidden = !(until.value && until.value > closing.dataset.closesAt); };
    until.addEventListener("input", warnIfLate);
    until.addEventListener("change", warnIfLate);
    warnIfLate();
  }

  // Times in the shop's own clock; those marked "clock" (waves, price steps) drop the date when it is today.
  // (The shop's zone: data-zone on the list of offers.)
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
