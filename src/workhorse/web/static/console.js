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

  // A replaced region is not announced by screen readers; this persistent one is.
  function announce(text) {
    var announcer = document.getElementById("announcer");
    if (announcer && text) { announcer.textContent = text; }
  }

  function statusText(root) {
    var status = root.querySelector("[role=status]");
    return status ? status.textContent.replace(/\s+/g, " ").trim() : "";
  }

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
        if (!fresh.hasAttribute("data-stream")) {
          announce(statusText(fresh) || "The answer is complete.");
        }
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

  // -- knowledge bases ---------------------------------------------------------------

  // A part of a page marked data-live is fetched again every 2 seconds (data-poll names
  // the URL; the element with the same id in the answer replaces it) until it is not.
  function poll(holder) {
    if (!holder.hasAttribute("data-live") || holder.dataset.polling) { return; }
    holder.dataset.polling = "1";
    window.setTimeout(function () {
      fetch(holder.getAttribute("data-poll"), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          var box = document.createElement("div");
          box.innerHTML = html;
          var fresh = box.querySelector("#" + holder.id);
          if (!fresh) { return; }
          var before = statusText(holder);
          holder.replaceWith(fresh);
          if (statusText(fresh) !== before) { announce(statusText(fresh)); }
          drawCharts(fresh);
          poll(fresh);
        })
        .catch(function () {
          delete holder.dataset.polling;
          window.setTimeout(function () { poll(holder); }, 5000);
        });
    }, 2000);
  }

  function markIngesting() {
    var holder = document.getElementById("files");
    if (holder) { holder.setAttribute("data-live", ""); poll(holder); }
  }

  // The training-loss chart (uPlot); the table beside it says the same in words.
  function drawCharts(root) {
    if (!window.uPlot) { return; }
    root.querySelectorAll(".chart[data-chart]").forEach(function (el) {
      var points = JSON.parse(el.getAttribute("data-chart"));
      var data = [points.map(function (p) { return p.step; }),
                  points.map(function (p) { return p.train_loss; })];
      var series = [{ label: "step" }, { label: "training loss", stroke: "#1d4ea0", width: 2 }];
      if (points.length && points[0].valid_loss !== undefined) {
        data.push(points.map(function (p) { return p.valid_loss; }));
        series.push({ label: "validation loss", stroke: "#b34700", width: 2 });
      }
      el.textContent = "";
      var width = Math.max(280, Math.min(el.clientWidth || 640, 768));
      new window.uPlot({ width: width, height: 240, series: series,
                         scales: { x: { time: false } } }, data, el);
    });
    var colours = ["#1d4ea0", "#b34700", "#1b6e2a", "#6b2a8a"];
    root.querySelectorAll(".chart[data-series]").forEach(function (el) {
      var given = JSON.parse(el.getAttribute("data-series"));
      var names = Object.keys(given.lines);
      var data = [given.x].concat(names.map(function (n) { return given.lines[n]; }));
      var series = [{}].concat(names.map(function (n, i) {
        return { label: n, stroke: colours[i % colours.length], width: 2, spanGaps: false,
                 points: { show: true, size: 5 } };
      }));
      el.textContent = "";
      var width = Math.max(280, Math.min(el.clientWidth || 360, 640));
      new window.uPlot({ width: width, height: 180, series: series }, data, el);
    });
  }

  function request(method, url, csrf, body, onProgress) {
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      xhr.open(method, url);
      xhr.setRequestHeader("Accept", "application/json");
      if (csrf) { xhr.setRequestHeader("x-csrf-token", csrf); }
      if (body && !(body instanceof Blob)) { xhr.setRequestHeader("Content-Type", "application/json"); }
      if (onProgress && xhr.upload) { xhr.upload.onprogress = onProgress; }
      xhr.onload = function () {
        var answer = null;
        try { answer = JSON.parse(xhr.responseText); } catch (e) { answer = null; }
        if (xhr.status >= 200 && xhr.status < 300) { resolve(answer); return; }
        var message = answer && answer.error ? answer.error.message : "HTTP " + xhr.status;
        reject({ status: xhr.status, message: message });
      };
      xhr.onerror = function () { reject({ status: 0, message: "the connection dropped" }); };
      xhr.send(body instanceof Blob ? body : (body ? JSON.stringify(body) : null));
    });
  }

  function remembered(file, store) {
    return "workhorse-upload:" + store + ":" + file.name + ":" + file.size + ":" + file.lastModified;
  }

  // One file in parts: resumes the Upload this browser started for it, if any.
  function sendFile(form, file, row) {
    var base = form.getAttribute("data-upload");
    var csrf = form.getAttribute("data-csrf");
    var key = remembered(file, base);
    var bar = row.querySelector("progress");
    var note = row.querySelector("[data-note]");
    function show(done) { bar.value = file.size ? done / file.size : 1; }
    function begin() {
      var known = window.localStorage.getItem(key);
      if (known) {
        return request("GET", base + "/" + known, null, null).then(function (state) {
          if (state.status === "pending" || state.status === "completed") { return state; }
          window.localStorage.removeItem(key);
          return begin();
        }, function () { window.localStorage.removeItem(key); return begin(); });
      }
      return request("POST", base, csrf, {
        filename: file.name, bytes: file.size, mime_type: file.type || "application/octet-stream"
      }).then(function (created) {
        window.localStorage.setItem(key, created.id);
        return { id: created.id, status: "pending", parts: [], part_bytes: created.part_bytes };
      });
    }
    function sendParts(state) {
      var partBytes = state.part_bytes || 8 * 1024 * 1024;
      var ids = state.parts.map(function (p) { return p.id; });
      var offset = state.parts.reduce(function (n, p) { return n + p.bytes; }, 0);
      show(offset);
      function next(tries) {
        if (offset >= file.size && (ids.length || file.size === 0)) { return Promise.resolve(); }
        if (file.size === 0) { return Promise.resolve(); }
        var end = Math.min(offset + partBytes, file.size);
        return request("POST", base + "/" + state.id + "/parts", csrf, file.slice(offset, end),
          function (e) { show(offset + e.loaded); })
          .then(function (part) { ids.push(part.id); offset = end; show(offset); return next(0); },
            function (error) {
              if (error.status === 0 && tries < 3) {
                // Dropped: ask what arrived (the part may have), then go on from there.
                note.textContent = "Connection dropped; resuming…";
                return new Promise(function (r) { window.setTimeout(r, 500 * (tries + 1)); })
                  .then(function () { return request("GET", base + "/" + state.id, null, null); })
                  .then(function (fresh) {
                    ids = fresh.parts.map(function (p) { return p.id; });
                    offset = fresh.parts.reduce(function (n, p) { return n + p.bytes; }, 0);
                    note.textContent = "";
                    return next(tries + 1);
                  });
              }
              throw error;
            });
      }
      return next(0).then(function () {
        return request("POST", base + "/" + state.id + "/complete", csrf, { part_ids: ids });
      });
    }
    return begin()
      .then(function (state) {
        if (state.status === "completed" && state.file_id) {
          return request("POST", base + "/" + state.id + "/complete", csrf, {
            part_ids: state.parts.map(function (p) { return p.id; })
          });
        }
        return sendParts(state);
      })
      .then(function () {
        window.localStorage.removeItem(key);
        show(file.size);
        note.textContent = "Uploaded; being read.";
        markIngesting();
      }, function (error) {
        note.textContent = "Upload failed: " + error.message + ". Pick the file again to resume.";
        row.classList.add("failed");
      });
  }

  function enhanceUpload(form) {
    var list = form.parentNode.querySelector("[data-uploads]");
    var input = form.querySelector("input[type=file]");
    function sendAll(files) {
      var queue = Array.prototype.slice.call(files);
      function one() {
        var file = queue.shift();
        if (!file) { return Promise.resolve(); }
        var row = document.createElement("li");
        var name = document.createElement("span");
        name.textContent = file.name + " ";
        var bar = document.createElement("progress");
        bar.max = 1; bar.value = 0;
        bar.setAttribute("aria-label", "Upload of " + file.name);
        var note = document.createElement("span");
        note.setAttribute("data-note", "");
        note.className = "note";
        row.appendChild(name); row.appendChild(bar); row.appendChild(note);
        list.appendChild(row);
        return sendFile(form, file, row).then(one);
      }
      return one();
    }
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      if (input.files.length) { sendAll(input.files).then(function () { form.reset(); }); }
    });
    var drop = form.querySelector("[data-drop]");
    ["dragenter", "dragover"].forEach(function (type) {
      drop.addEventListener(type, function (e) { e.preventDefault(); drop.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (type) {
      drop.addEventListener(type, function () { drop.classList.remove("over"); });
    });
    drop.addEventListener("drop", function (e) {
      e.preventDefault();
      if (e.dataTransfer && e.dataTransfer.files.length) { sendAll(e.dataTransfer.files); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-poll]").forEach(poll);
    drawCharts(document);
    document.querySelectorAll("form[data-upload]").forEach(enhanceUpload);
    document.querySelectorAll("article[data-stream]").forEach(function (a) { follow(a, 0); });
    document.querySelectorAll("form[data-compose]").forEach(guardDoubleSubmit);
  });
})();
