// Copy buttons for values shown once. A same-origin file, not inline, so the CSP needs no
// 'unsafe-inline'. Markup: <button data-copy-target="INPUT_ID" data-copy-status="STATUS_ID"
// hidden>; the button stays hidden without JavaScript, where selecting the text still works.
(function () {
  "use strict";

  function selectAll(input) {
    input.focus();
    input.select();
    input.setSelectionRange(0, input.value.length);
  }

  function say(button, text, status) {
    button.textContent = text;
    var id = button.getAttribute("data-copy-status");
    var el = id ? document.getElementById(id) : null;
    if (el) {
      el.textContent = status;
    }
  }

  function wire(button) {
    var input = document.getElementById(button.getAttribute("data-copy-target"));
    if (!input) {
      return;
    }
    var label = button.textContent;
    var timer = null;
    function copied() {
      say(button, "Copied", "Copied to the clipboard.");
      clearTimeout(timer);
      timer = setTimeout(function () { button.textContent = label; }, 3000);
    }
    function fallback() {
      selectAll(input);
      var ok = false;
      try {
        ok = document.execCommand("copy");
      } catch (e) {
        ok = false;
      }
      if (ok) {
        copied();
      } else {
        say(button, label, "Selected: press Ctrl+C (or \u2318C) to copy.");
      }
    }
    button.addEventListener("click", function () {
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(copied, fallback);
      } else {
        fallback();
      }
    });
    input.addEventListener("focus", function () { selectAll(input); });
    button.hidden = false;
  }

  document.querySelectorAll("button[data-copy-target]").forEach(wire);
})();
