// Workhorse console: progressive enhancement only. Every page works without this file;
// with it, answers stream in as they are generated, Stop stops without a reload, and a
// form cannot be sent twice by a double click.
"use strict";

(function () {
  var TERMINAL = {
    "response.completed": true,
    "response.incomplete": true,
    "response.failed": true,
    "response.cancelled": true
  };

  // Swap an answer for the server's rendering of it (escaped, sanitised Markdown).
  function refresh(article, attempt) {
    var url = article.getAttribute("data-answer");
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.text();
      })
      .then(function (html) {
        var holder = document.createElement("div");
        holder.innerHTML = html;
        var fresh = holder.querySelector("article");
        if (!fresh) { return; }
        article.replaceWith(fresh);
        if (fresh.hasAttribute("data-stream")) {
          // The last event arrived before the answer's final state was stored.
          window.setTimeout(function () { follow(fresh, attempt + 1); }, 100 * (attempt + 1));
        }
      })
      .catch(function () { setStatus(article, "Finished. Reload the page to see the answer."); });
  }

  function setStatus(article, text) {
    var status = article.querySelector("[data-status]");
    if (status) { status.textContent = text; }
  }

  function follow(article, attempt) {
    if (attempt > 20) { return; }
    var text = article.querySelector("[data-text]");
    var source = new EventSource(article.getAttribute("data-stream"));
    source.onmessage = function (message) {
      var event = JSON.parse(message.data);
      if (event.type === "response.output_text.delta" && text) {
        text.textContent += event.delta;
      } else if (TERMINAL[event.type]) {
        source.close();
        article.setAttribute("aria-busy", "false");
        refresh(article, attempt);
      }
    };
    source.onerror = function () {
      // EventSource reconnects by itself (sending Last-Event-ID); say so while it does.
      setStatus(article, source.readyState === EventSource.CLOSED
        ? "Connection lost. Reload the page to continue."
        : "Reconnecting…");
    };
    source.onopen = function () { setStatus(article, "Generating…"); };

    var stop = article.querySelector("form[data-stop]");
    if (stop) {
      stop.addEventListener("submit", function (e) {
        e.preventDefault();
        var button = stop.querySelector("button");
        if (button) { button.disabled = true; }
        setStatus(article, "Stopping…");
        fetch(stop.action, {
          method: "POST",
          credentials: "same-origin",
          body: new URLSearchParams(new FormData(stop))
        }).catch(function () { stop.submit(); });
      });
    }
  }

  function guardDoubleSubmit(form) {
    form.addEventListener("submit", function () {
      var button = form.querySelector("button[type=submit], button:not([type])");
      // Disabled after the submission has started, so the form is still sent once.
      window.setTimeout(function () { if (button) { button.disabled = true; } }, 0);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("article[data-stream]").forEach(function (a) { follow(a, 0); });
    document.querySelectorAll("form[data-compose]").forEach(guardDoubleSubmit);
  });
})();
