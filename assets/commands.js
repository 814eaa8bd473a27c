// One command's page while it is not final: every few seconds, fetches this same page and
// swaps in the fresh facts, result and output, and stops once the command is final. A
// same-origin file, not inline, so the CSP needs no 'unsafe-inline'.
//
// Like the agents list, it pauses while the tab is hidden and stops after 10 minutes
// without keyboard or pointer use, so a forgotten tab does not keep the session alive past
// the panel's inactivity timeout; it stops for good when the session has ended. Without
// JavaScript the page has a "Refresh now" link.
(function () {
  "use strict";

  var box = document.getElementById("command-live");
  if (!box || !box.hasAttribute("data-pending") || !window.fetch || !window.DOMParser) {
    return;
  }
  var seconds = parseInt(box.getAttribute("data-refresh-seconds"), 10) || 2;
  var IDLE_MS = 10 * 60 * 1000;
  var lastActive = Date.now();
  var timer = null;

  ["keydown", "pointerdown", "pointermove", "wheel", "touchstart"].forEach(function (name) {
    document.addEventListener(name, function () { lastActive = Date.now(); }, { passive: true });
  });

  function stop() {
    clearInterval(timer);
  }

  function refresh() {
    if (document.hidden) {
      return;
    }
    if (Date.now() - lastActive > IDLE_MS) {
      stop();
      return;
    }
    fetch(window.location.pathname, {
      credentials: "same-origin",
      headers: { "Accept": "text/html" },
      redirect: "error"
    }).then(function (res) {
      if (res.status === 401 || res.status === 403 || res.status === 404) {
        stop();
        return null;
      }
      return res.ok ? res.text() : null;
    }).then(function (html) {
      if (!html) {
        return;
      }
      var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("command-live");
      if (!fresh) {
        return;
      }
      var nodes = Array.prototype.map.call(fresh.childNodes, function (n) {
        return document.importNode(n, true);
      });
      box.replaceChildren.apply(box, nodes);
      if (!fresh.hasAttribute("data-pending")) {
        box.removeAttribute("data-pending");
        stop();
      }
    }).catch(function () {
      // Offline or the appliance restarting: try again at the next tick.
    });
  }

  timer = setInterval(refresh, seconds * 1000);
})();
