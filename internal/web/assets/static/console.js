// Live queues: when the server says a mail changed tickets, fetch this
// page again and swap its content, keeping the focus and the scroll.
// No framework, nothing from elsewhere.
(function () {
  "use strict";
  if (!document.querySelector("[data-live]") || !window.EventSource) {
    return;
  }
  var busy = false;
  function refresh() {
    if (busy) {
      return;
    }
    busy = true;
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("main");
        var main = document.getElementById("main");
        if (!fresh || !main) {
          return;
        }
        var active = document.activeElement && document.activeElement.name;
        main.replaceWith(fresh);
        if (active) {
          var el = fresh.querySelector("[name='" + active + "']");
          if (el) { el.focus(); }
        }
      })
      .catch(function () {})
      .then(function () { busy = false; });
  }
  var es = new EventSource("/events");
  es.addEventListener("change", refresh);
})();
