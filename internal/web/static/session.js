// Idle timeout: warn before the server ends the session, and when it has
// ended (here or in another tab or on another device) replace the page, and
// any health information on it, with the sign-in page. The server enforces
// the timeout by itself; this only keeps the screen honest.
(function () {
  "use strict";
  var body = document.body;
  var idle = parseInt(body.getAttribute("data-idle-seconds"), 10);
  if (!idle) { return; }
  var warnBefore = Math.min(120, Math.floor(idle / 3));
  var deadline = Date.now() + idle * 1000;
  var warning = document.getElementById("idle-warning");
  var count = document.getElementById("idle-count");
  var form = document.getElementById("idle-keepalive");
  var cleared = false;

  function clearPage() {
    if (cleared) { return; }
    cleared = true;
    document.title = "Signed out";
    while (body.firstChild) { body.removeChild(body.firstChild); }
    window.location.replace("/signin?expired=1");
  }

  function words(seconds) {
    if (seconds > 90) { return Math.round(seconds / 60) + " minutes"; }
    return seconds + (seconds === 1 ? " second" : " seconds");
  }

  function tick() {
    var left = Math.round((deadline - Date.now()) / 1000);
    if (left <= 0) { clearPage(); return; }
    if (left <= warnBefore) {
      if (warning.hidden) { warning.hidden = false; form.querySelector("button").focus(); }
      count.textContent = words(left);
    } else {
      warning.hidden = true;
    }
  }

  function sync() {
    fetch("/session/status", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (r.status === 401) { clearPage(); return null; }
        return r.ok ? r.json() : null;
      })
      .then(function (j) {
        if (j && typeof j.seconds_left === "number") { deadline = Date.now() + j.seconds_left * 1000; tick(); }
      })
      .catch(function () {});
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    fetch("/session/keepalive", {
      method: "POST", credentials: "same-origin", cache: "no-store",
      headers: { "X-CSRF-Token": form.elements.csrf_token.value }
    }).then(function (r) {
      if (r.status === 401) { clearPage(); return; }
      warning.hidden = true;
      sync();
    }).catch(function () {});
  });

  setInterval(tick, 1000);
  setInterval(sync, 30000);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { sync(); } });
})();
