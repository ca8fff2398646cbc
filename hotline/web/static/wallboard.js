// 实时监控: figures and the agent list follow the server's wallboard events; the map shows the
// open tickets (red = overdue) over the grid polygons.
(function () {
  "use strict";
  var root = document.getElementById("wallboard");
  if (!root) { return; }
  if (root.classList.contains("wall")) { document.body.classList.add("wall"); }

  function pad(n) { return n < 10 ? "0" + n : String(n); }
  function duration(s) {
    if (s === null || s === undefined) { return "—"; }
    s = Math.round(s);
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    if (h) { return h + "时" + pad(m) + "分" + pad(sec) + "秒"; }
    if (m) { return m + "分" + pad(sec) + "秒"; }
    return sec + "秒";
  }
  function percent(x) { return x === null || x === undefined ? "—" : (x * 100).toFixed(1) + "%"; }
  function get(data, path) {
    return path.split(".").reduce(function (o, k) { return o === null || o === undefined ? undefined : o[k]; }, data);
  }
  function cell(text) { var td = document.createElement("td"); td.textContent = text; return td; }

  function render(data) {
    var values = {
      waiting: data.queues.reduce(function (n, q) { return n + q.waiting; }, 0),
      longest_wait: data.queues.reduce(function (n, q) { return Math.max(n, q.longest_wait); }, 0),
      in_ivr: data.in_ivr, signed_in: data.signed_in, agents: data.agent_counts,
      today: data.today ? data.today.calls : null, tickets: data.today ? data.today.tickets : null,
    };
    root.querySelectorAll("[data-field]").forEach(function (el) {
      var v = get(values, el.dataset.field);
      if (v === undefined) { return; }
      if (el.hasAttribute("data-seconds")) { el.textContent = duration(v); }
      else if (el.hasAttribute("data-percent")) { el.textContent = percent(v); }
      else { el.textContent = v === null ? "—" : String(v); }
    });
    var qbody = document.querySelector("#wb-queues tbody");
    qbody.innerHTML = "";
    data.queues.forEach(function (q) {
      var tr = document.createElement("tr");
      tr.dataset.queue = q.id;
      tr.append(cell(q.name), cell(String(q.waiting)), cell(duration(q.longest_wait)));
      qbody.appendChild(tr);
    });
    var abody = document.querySelector("#wb-agents tbody");
    abody.innerHTML = "";
    data.agents.forEach(function (a) {
      var tr = document.createElement("tr");
      tr.className = "state-" + a.state;
      var since = cell("");
      if (a.since) { since.dataset.since = a.since; }
      tr.append(cell(a.name), cell(a.label), since, cell(String(a.calls_taken)));
      abody.appendChild(tr);
    });
    var asOf = document.getElementById("wb-as-of");
    if (asOf && data.as_of) { asOf.textContent = new Date(data.as_of).toLocaleTimeString("zh-CN", { hour12: false }); }
    var off = document.getElementById("wb-offline");
    if (off) { off.hidden = !!data.connected; }
  }
  document.addEventListener("hotline:wallboard", function (e) { render(e.detail); });
  document.addEventListener("hotline:resync", function () {
    fetch("/wallboard/snapshot.json", { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(render);
  });

  // -- the map --------------------------------------------------------------------------------------
  if (!window.L) { return; }
  var map = L.map("wb-map", { attributionControl: false }).setView([42.27, 118.95], 11);
  if (root.dataset.tiles) { L.tileLayer(root.dataset.tiles, { maxZoom: 18 }).addTo(map); }
  var tickets = L.layerGroup().addTo(map);
  fetch("/api/grid/geojson?level=1&level=2", { credentials: "same-origin" }).then(function (r) { return r.json(); })
    .then(function (data) {
      var layer = L.geoJSON(data, {
        style: function (f) {
          return f.properties.level === 1 ? { color: "#0b4f8a", weight: 2, fillOpacity: 0.03 }
                                          : { color: "#5d7a96", weight: 1, fillOpacity: 0, dashArray: "3" };
        },
        onEachFeature: function (f, l) { l.bindTooltip(f.properties.name, { sticky: true }); },
      }).addTo(map);
      map.fitBounds(layer.getBounds());
    });
  function loadTickets() {
    fetch("/wallboard/tickets.json", { credentials: "same-origin" }).then(function (r) { return r.json(); })
      .then(function (data) {
        tickets.clearLayers();
        var late = 0;
        data.tickets.forEach(function (t) {
          if (t.overdue) { late += 1; }
          L.circleMarker([t.lat, t.lon], { radius: 6, color: t.overdue ? "#c0392b" : "#2e86c1", weight: 1,
                                           fillOpacity: 0.8, className: t.overdue ? "marker-overdue" : "marker-open" })
            .bindTooltip(t.number + " " + (t.category || "未分类") + " · " + t.state_label + (t.overdue ? " · 已超期" : ""))
            .addTo(tickets);
        });
        document.getElementById("wb-map-count").textContent = "（共 " + data.tickets.length + " 件，超期 " + late + " 件）";
      });
  }
  loadTickets();
  setInterval(loadTickets, 30000);
})();
