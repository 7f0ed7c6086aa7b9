// Draws the delivery graph (the page names its data in data-src on #graph; the figures come
// as JSON from the same statistics the API serves), switches the graphs' range list to the
// typed dates, and reads a chosen CSV file into the import form. No inline script: the pages' policy forbids it.
"use strict";
(function () {
  function draw(el) {
    fetch(el.dataset.src, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (data) {
        var colours = ["#1f77b4", "#2ca02c", "#ff7f0e", "#d62728", "#9467bd", "#7f7f7f"];
        var series = [{}];
        var columns = [data.x];
        data.series.forEach(function (s, i) {
          series.push({ label: s.label, stroke: colours[i % colours.length], width: 2 });
          columns.push(s.values);
        });
        // Times on the axis in the user's zone, whatever the browser's is.
        var offset = data.offset_minutes;
        var opts = {
          width: Math.max(320, el.clientWidth || 800),
          height: 360,
          series: series,
          tzDate: function (ts) {
            var d = new Date(ts * 1000);
            return new Date(d.getTime() + (offset + d.getTimezoneOffset()) * 60000);
          },
        };
        el.textContent = "";
        new uPlot(opts, columns, el);
        el.dataset.drawn = String(data.x.length);
      })
      .catch(function (e) { el.dataset.failed = String(e); });
  }
  // A chosen CSV file is read into the import form's text field: the form itself posts text,
  // so it works the same without JavaScript (paste the file's content instead).
  function fills(input) {
    input.addEventListener("change", function () {
      var target = document.getElementById(input.dataset.fills);
      var file = input.files && input.files[0];
      if (!target || !file) { return; }
      var reader = new FileReader();
      reader.onload = function () { target.value = String(reader.result); };
      reader.readAsText(file);
    });
  }
  // Typing a start or an end means "Dates below": the range list follows, so the dates are
  // not left behind a preset (without JavaScript the help text says to choose it).
  function followsDates(form) {
    var range = form.querySelector("select[name=range]");
    form.querySelectorAll("input[name=from], input[name=to]").forEach(function (input) {
      input.addEventListener("change", function () { if (range) { range.value = "custom"; } });
    });
  }
  function start() {
    var el = document.getElementById("graph");
    if (el && window.uPlot) { draw(el); }
    document.querySelectorAll("form.search").forEach(followsDates);
    document.querySelectorAll("input[type=file][data-fills]").forEach(fills);
  }
  // Deferred scripts run in order before DOMContentLoaded: waiting for it lets uPlot (loaded
  // after this file on the graph's page) be there.
  if (document.readyState === "complete") {
    start();
  } else {
    document.addEventListener("DOMContentLoaded", start);
  }
})();
