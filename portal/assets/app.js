// jitgate portal: progressive enhancement only; every page works without this file.
// A pending request's page polls its status and reloads the moment a decision lands
// (the page's meta refresh does the same, more slowly, without JavaScript).
(function () {
  "use strict";
  var poll = document.querySelector("[data-poll]");
  if (!poll) return;
  var url = poll.getAttribute("data-poll");
  var status = poll.getAttribute("data-status");
  function check() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (body && body.status !== status) { window.location.reload(); }
        else { setTimeout(check, 1000); }
      })
      .catch(function () { setTimeout(check, 3000); });
  }
  setTimeout(check, 1000);
})();
