// The console's one script: the live warnings page. It draws what the
// node's feed brings (server-sent events under the session) and nothing
// else; every value is set as text or as an attribute, never as markup.
(function () {
  "use strict";
  var body = document.getElementById("updates");
  if (!body) { return; }
  var state = document.getElementById("feed-state");
  var track = document.getElementById("track");
  var points = document.getElementById("points");
  var altitude = document.getElementById("altitude");
  var ns = "http://www.w3.org/2000/svg";
  // The banner follows the highest level on the page (levels listed
  // highest first by the page itself).
  var order = Array.prototype.map.call(document.querySelectorAll("#levels li"), function (li) {
    return { level: li.dataset.level, cls: li.dataset.class };
  });
  function raise(level) {
    var rank = order.findIndex(function (o) { return o.level === level; });
    if (rank < 0) { return; }
    ["banner-top", "banner-bottom"].forEach(function (id) {
      var b = document.getElementById(id);
      var now = order.findIndex(function (o) { return b.classList.contains(o.cls); });
      if (now < 0 || rank < now) {
        Array.prototype.slice.call(b.classList).forEach(function (c) {
          if (c.indexOf("lv-") === 0) { b.classList.remove(c); }
        });
        b.classList.add(order[rank].cls);
        b.firstElementChild.textContent = level;
      }
    });
  }
  var seen = {};
  var n = 0;
  function plot(lat, lon, alt, kind) {
    track.setAttribute("points", (track.getAttribute("points") + " " + lon + "," + (-lat)).trim());
    var c = document.createElementNS(ns, "circle");
    c.setAttribute("cx", lon);
    c.setAttribute("cy", -lat);
    c.setAttribute("r", kind === "track" ? "0.15" : "0.3");
    c.setAttribute("class", "point " + kind);
    points.appendChild(c);
    n += 1;
    altitude.setAttribute("points", (altitude.getAttribute("points") + " " + (n * 10) + "," + (-alt)).trim());
  }
  Array.prototype.forEach.call(body.querySelectorAll("tr.update"), function (r) {
    var cells = r.querySelectorAll("td");
    seen[cells[0].textContent + "#" + cells[2].textContent] = true;
    plot(Number(r.dataset.lat), Number(r.dataset.lon), Number(r.dataset.alt), cells[3].textContent);
  });
  var feed = new EventSource("/warnings/stream");
  feed.onopen = function () { state.textContent = "live"; };
  feed.onerror = function () { state.textContent = "reconnecting…"; };
  feed.addEventListener("cutoff", function () { state.textContent = "cut off: reload the page"; });
  feed.addEventListener("warning", function (e) {
    var u = JSON.parse(e.data);
    var key = u.id + "#" + u.seq;
    if (seen[key]) { return; }
    seen[key] = true;
    var r = document.createElement("tr");
    r.className = "update live";
    // When it arrived here (ms since the epoch, sub-millisecond): the
    // live-warning bench reads it against the instant of publication.
    r.dataset.arrived = String(performance.timeOrigin + performance.now());
    var latency = Date.now() - Date.parse(u.at);
    [u.id, u.originator, String(u.seq), u.kind, String(u.lat), String(u.lon), String(u.alt_km), u.at,
     isFinite(latency) ? latency + " ms" : ""].forEach(function (v) {
      var td = document.createElement("td");
      td.textContent = v;
      r.appendChild(td);
    });
    body.appendChild(r);
    plot(u.lat, u.lon, u.alt_km, u.kind);
    raise(u.level);
  });
}());
