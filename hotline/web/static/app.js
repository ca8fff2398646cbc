// The console's small script: CSRF header for htmx, live events from /live, ticking timers.
// Pages work without it (plain forms); it only adds what a browser cannot do on its own.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  var token = meta ? meta.content : "";

  document.addEventListener("htmx:configRequest", function (e) {
    if (token) { e.detail.headers["X-CSRF-Token"] = token; }
  });
  // htmx leaves 4xx/5xx answers out of the page by default: show their message instead
  document.addEventListener("htmx:beforeSwap", function (e) {
    var status = e.detail.xhr.status;
    if (status === 409 || status === 422 || status === 403 || status === 400) {
      e.detail.shouldSwap = true;
      e.detail.isError = false;
    }
  });

  function toast(text, kind) {
    var box = document.getElementById("toasts");
    if (!box) { return; }
    var item = document.createElement("div");
    item.className = "toast " + (kind || "info");
    item.textContent = text;
    box.appendChild(item);
    setTimeout(function () { item.remove(); }, 8000);
  }
  window.hotlineToast = toast;

  function setUnread(count) {
    var badge = document.getElementById("unread");
    if (!badge) { return; }
    badge.dataset.count = String(count);
    badge.textContent = count > 99 ? "99+" : String(count);
    badge.hidden = !count;
  }
  window.hotlineSetUnread = setUnread;

  // -- live events --------------------------------------------------------------------------
  function connect() {
    if (!document.body.dataset.user || !window.EventSource) { return; }
    var source = new EventSource("/live");
    ["hello", "notice", "unread", "call", "agent", "ticket", "wallboard", "phone", "transfer", "resync", "session"].forEach(function (kind) {
      source.addEventListener(kind, function (e) {
        var data = {};
        try { data = JSON.parse(e.data || "{}"); } catch (err) { data = {}; }
        if (kind === "unread") { setUnread(data.count || 0); }
        // the login session was ended (disabled, password changed elsewhere): reload to the login page
        if (kind === "session" && data.ended) { source.close(); window.location.reload(); return; }
        if (kind === "notice" && data.title) {
          toast(data.title + (data.body ? "：" + data.body : ""), "notice");
          if (typeof data.unread === "number") { setUnread(data.unread); }
        }
        document.dispatchEvent(new CustomEvent("hotline:" + kind, { detail: data }));
      });
    });
    // <body data-live="open|reconnecting">: the pages (and the browser tests) can tell the feed is up
    source.addEventListener("open", function () { document.body.dataset.live = "open"; });
    source.addEventListener("error", function () { document.body.dataset.live = "reconnecting"; });
    window.hotlineLive = source;
  }

  // -- timers: <span data-since="ISO">  counts up; <span data-until="ISO"> counts down ------------
  function pad(n) { return n < 10 ? "0" + n : String(n); }
  function clock(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    return (h ? h + ":" + pad(m) : String(m)) + ":" + pad(s);
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-since]").forEach(function (el) {
      var t = Date.parse(el.dataset.since);
      if (!isNaN(t)) { el.textContent = clock((now - t) / 1000); }
    });
    document.querySelectorAll("[data-until]").forEach(function (el) {
      var t = Date.parse(el.dataset.until);
      if (!isNaN(t)) { el.textContent = clock((t - now) / 1000); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var badge = document.getElementById("unread");
    if (badge && badge.dataset.initial) { setUnread(parseInt(badge.dataset.initial, 10) || 0); }
    connect();
    tick();
    setInterval(tick, 1000);
  });
})();
