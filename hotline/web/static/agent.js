// 坐席工作台: the call panel pops on live events, the category picker, address suggestions,
// the map picker over the grid polygons, the routing preview. Plain DOM + htmx, no build step.
(function () {
  "use strict";
  var form = document.getElementById("intake-form");
  if (!form) { return; }
  var $ = function (id) { return document.getElementById(id); };

  // -- the call panel ------------------------------------------------------------------------
  function loadPanel(callId) {
    htmx.ajax("GET", "/agent/panel" + (callId ? "?call_id=" + encodeURIComponent(callId) : ""),
              { target: "#call-panel", swap: "innerHTML" });
  }
  document.addEventListener("hotline:call", function (e) { loadPanel(e.detail.call_id); });
  document.addEventListener("hotline:transfer", function (e) {
    var note = $("call-note");
    if (note) { note.textContent = e.detail.title || ""; }
    if (window.hotlineToast) { window.hotlineToast(e.detail.title || "", "notice"); }
  });
  document.addEventListener("htmx:afterSwap", function (e) {
    if (e.detail.target.id === "call-panel") {
      var data = $("panel-data");
      if (data && data.dataset.callId && $("f-call-id").value !== data.dataset.callId) {
        $("f-call-id").value = data.dataset.callId;          // a new call: the form belongs to it
        $("f-caller").value = data.dataset.caller || "";
        $("f-caller-name").value = data.dataset.callerName || "";
        if (data.dataset.district && !$("f-district-code").value) { $("f-district-code").value = data.dataset.district; }
      }
    }
    if (e.detail.target.id === "intake-result" && $("created")) { resetIntake(); }
  });

  // -- category picker -----------------------------------------------------------------------
  var categories = null, shown = [], active = -1;
  var search = $("category-search"), list = $("category-list"), chosen = $("category-chosen");
  var KIND = { component: "部件", matter: "事件" };

  function fetchCategories() {
    if (categories) { return Promise.resolve(categories); }
    return fetch("/agent/categories.json", { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) { categories = data.categories; return categories; });
  }
  function render() {
    list.innerHTML = "";
    var group = null;
    shown.forEach(function (c, i) {
      var label = KIND[c.kind] + " · " + c.big_class;
      if (label !== group) {
        group = label;
        var head = document.createElement("li");
        head.className = "picker-group";
        head.textContent = label + (c.local ? "（本地扩展）" : "");
        list.appendChild(head);
      }
      var li = document.createElement("li");
      li.setAttribute("role", "option");
      li.dataset.index = String(i);
      li.className = "picker-item" + (i === active ? " active" : "");
      li.textContent = c.name + " ";
      var code = document.createElement("small");
      code.textContent = c.code;
      li.appendChild(code);
      list.appendChild(li);
    });
    list.hidden = shown.length === 0;
  }
  function filter() {
    fetchCategories().then(function (all) {
      var q = search.value.trim();
      shown = q ? all.filter(function (c) {
        return c.code.indexOf(q) === 0 || c.name.indexOf(q) >= 0 || c.big_class.indexOf(q) >= 0;
      }).slice(0, 60) : [];
      active = shown.length ? 0 : -1;
      render();
    });
  }
  function choose(i) {
    var c = shown[i];
    if (!c) { return; }
    $("f-category-code").value = c.code;
    $("f-kind").value = c.kind;
    chosen.textContent = KIND[c.kind] + "：" + c.name + "（" + c.code + "）";
    chosen.hidden = false;
    list.hidden = true;
    search.value = "";
    preview();
  }
  search.addEventListener("input", filter);
  search.addEventListener("keydown", function (e) {
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      active = Math.max(0, Math.min(shown.length - 1, active + (e.key === "ArrowDown" ? 1 : -1)));
      render();
    } else if (e.key === "Enter") {
      e.preventDefault();
      choose(active);
    } else if (e.key === "Escape") {
      list.hidden = true;
    }
  });
  list.addEventListener("click", function (e) {
    var li = e.target.closest(".picker-item");
    if (li) { choose(parseInt(li.dataset.index, 10)); }
  });

  // -- address suggestions -----------------------------------------------------------------------
  $("suggest").addEventListener("click", function (e) {
    var b = e.target.closest(".suggestion");
    if (!b) { return; }
    var code = b.dataset.code;
    $("f-district-code").value = code.slice(0, 6);
    $("f-street-code").value = code.slice(0, 9);
    var chip = $("place-chosen");
    chip.textContent = "网格：" + b.textContent;
    chip.hidden = false;
    $("suggest").innerHTML = "";
    preview();
  });

  // -- the map -------------------------------------------------------------------------------------
  var map = null, marker = null;
  $("map-box").addEventListener("toggle", function () {
    if (map || !this.open || !window.L) { return; }
    var box = $("map");
    map = L.map(box, { zoomControl: true, attributionControl: false }).setView([42.27, 118.95], 11);
    if (box.dataset.tiles) { L.tileLayer(box.dataset.tiles, { maxZoom: 18 }).addTo(map); }
    fetch("/api/grid/geojson?level=1&level=2", { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        var layer = L.geoJSON(data, {
          style: function (f) {
            return f.properties.level === 1 ? { color: "#0b4f8a", weight: 2, fillOpacity: 0.04 }
                                            : { color: "#5d7a96", weight: 1, fillOpacity: 0.02, dashArray: "3" };
          },
          onEachFeature: function (f, l) { l.bindTooltip(f.properties.name, { sticky: true }); },
        }).addTo(map);
        map.fitBounds(layer.getBounds());
      });
    map.on("click", function (e) {
      var lat = e.latlng.lat.toFixed(6), lon = e.latlng.lng.toFixed(6);
      $("f-lat").value = lat;
      $("f-lon").value = lon;
      if (marker) { marker.setLatLng(e.latlng); } else { marker = L.marker(e.latlng).addTo(map); }
      $("map-hint").textContent = "已选点：纬度 " + lat + "，经度 " + lon;
      preview();
    });
  });

  // -- routing preview -------------------------------------------------------------------------------
  var pending = null;
  function preview() {
    if (!$("f-category-code").value) { return; }
    clearTimeout(pending);
    pending = setTimeout(function () {
      // the form's values, not the form itself: htmx would validate it (the description is required)
      var values = {};
      new FormData(form).forEach(function (v, k) { values[k] = v; });
      htmx.ajax("POST", "/agent/preview", { target: "#preview", swap: "innerHTML", values: values });
    }, 150);
  }
  $("preview-button").addEventListener("click", preview);

  function resetIntake() {
    ["f-category-code", "f-kind", "f-district-code", "f-street-code", "f-lat", "f-lon", "f-address",
     "f-description"].forEach(function (id) { $(id).value = ""; });
    chosen.hidden = true;
    $("place-chosen").hidden = true;
    $("preview").innerHTML = "";
  }
})();
