// jitgate portal: progressive enhancement only; every page works without this file.
(function () {
  "use strict";

  // A pending request's page polls its status and reloads the moment a decision lands
  // (without JavaScript, a meta refresh in <noscript> does the same, more slowly; with it,
  // the page stays put so the countdown keeps running).
  function pollDecision() {
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
  }

  // <time datetime="…" data-countdown data-ended="…">: the time left, every second.
  function left(ms) {
    var s = Math.floor(ms / 1000);
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600);
    var m = Math.floor(s % 3600 / 60), sec = s % 60;
    var parts = [];
    if (d) parts.push(d + "d");
    if (h) parts.push(h + "h");
    if (m) parts.push(m + "m");
    if (d === 0) parts.push(sec + "s");
    return parts.join(" ");
  }
  function countdowns() {
    var clocks = document.querySelectorAll("time[data-countdown]");
    if (!clocks.length) return;
    function tick() {
      var now = Date.now();
      for (var i = 0; i < clocks.length; i++) {
        var at = Date.parse(clocks[i].getAttribute("datetime"));
        if (isNaN(at)) continue;
        var text = at > now ? left(at - now) : clocks[i].getAttribute("data-ended");
        if (clocks[i].textContent !== text) clocks[i].textContent = text;
      }
    }
    tick();
    setInterval(tick, 1000);
  }

  // The custom duration box shows only once "Custom…" is picked (it is always there, and
  // wins when filled, without JavaScript).
  function customDuration() {
    var box = document.querySelector("[data-custom]");
    if (!box) return;
    var radios = document.querySelectorAll("input[name=duration]");
    var input = box.querySelector("input");
    var hint = box.querySelector(".hint");
    if (hint) hint.hidden = true;
    function update() {
      var custom = document.querySelector("input[name=duration][value=custom]");
      var chosen = custom && custom.checked;
      box.hidden = !chosen;
      input.disabled = !chosen;
    }
    for (var i = 0; i < radios.length; i++) {
      radios[i].addEventListener("change", function () {
        update();
        if (!box.hidden) input.focus();
      });
    }
    if (box.hasAttribute("data-chosen") || input.value) {
      var custom = document.querySelector("input[name=duration][value=custom]");
      if (custom) custom.checked = true;
    }
    update();
  }

  // "123 / 2000 characters" under the reason, marked once over the limit.
  function counters() {
    var counters = document.querySelectorAll("[data-counter-for]");
    for (var i = 0; i < counters.length; i++) {
      (function (counter) {
        var field = document.getElementById(counter.getAttribute("data-counter-for"));
        if (!field) return;
        var max = parseInt(field.getAttribute("data-max"), 10);
        function update() {
          var n = Array.from(field.value).length;
          var text = n + " / " + max + " characters";
          if (n > max) text += ": " + (n - max) + " too many";
          counter.textContent = text;
          counter.classList.toggle("over", n > max);
        }
        field.addEventListener("input", update);
        update();
      })(counters[i]);
    }
  }

  // Only one of the header's menus open at a time, and a click elsewhere closes them.
  function menus() {
    var all = document.querySelectorAll("details[data-menu]");
    document.addEventListener("click", function (event) {
      for (var i = 0; i < all.length; i++) {
        if (all[i].open && !all[i].contains(event.target)) all[i].open = false;
      }
    });
  }

  // A form that only hands something on (the command line's token to its loopback address)
  // goes at once; without JavaScript its button does the same.
  function autosubmit() {
    var form = document.querySelector("form[data-autosubmit]");
    if (form) form.submit();
  }

  pollDecision();
  autosubmit();
  countdowns();
  customDuration();
  counters();
  menus();
})();
