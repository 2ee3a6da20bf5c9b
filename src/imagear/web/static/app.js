// imagear web: previews on hover in the grid; the animate form without a reload.
(function () {
  "use strict";

  // A muted MP4 preview plays looped over the poster while the pointer is on the tile; an older
  // clip's animated WebP replaces the poster image.
  document.querySelectorAll("img.poster[data-preview]").forEach(function (img) {
    var still = img.src;
    var video = null;
    img.parentNode.addEventListener("mouseenter", function () {
      if (img.dataset.previewKind !== "video") { img.src = img.dataset.preview; return; }
      video = document.createElement("video");
      video.className = "preview";
      video.muted = true;
      video.loop = true;
      video.autoplay = true;
      video.setAttribute("muted", "");
      video.setAttribute("playsinline", "");
      video.src = img.dataset.preview;
      img.insertAdjacentElement("afterend", video);
    });
    img.parentNode.addEventListener("mouseleave", function () {
      if (video) { video.remove(); video = null; }
      img.src = still;
    });
  });

  var record = document.getElementById("record");
  var form = document.getElementById("animate");
  if (!record || !form) { return; }
  var id = record.dataset.id;
  var progress = document.getElementById("progress");
  var button = document.getElementById("animate-button");
  var timer = null;

  function showErrors(fields, message) {
    form.querySelectorAll(".field-error").forEach(function (p) {
      p.textContent = fields.indexOf(p.dataset.field) >= 0 ? message : "";
    });
  }

  function showClip(data) {
    var video = document.getElementById("clip");
    var a = data.animation || {};
    video.poster = data.poster + "?v=" + encodeURIComponent(a.mp4_filename || "");
    video.src = data.video + "?v=" + encodeURIComponent(a.mp4_filename || "");
    video.hidden = false;
    document.getElementById("no-clip").hidden = true;
    video.play().catch(function () {});
    var made = document.getElementById("made");
    made.innerHTML = "";
    [["Model", a.ai_model], ["Prompt", a.ai_prompt], ["Seed", a.ai_seed],
     ["Motion", a.mp4_motion || a.ai_motion_bucket_id],
     ["Size", a.mp4_width + "×" + a.mp4_height + ", " + a.mp4_fps + " fps, " + a.mp4_duration_secs + " s"],
     ["Made", (a.updated_at || "") + " in " + a.generation_secs + " s"]].forEach(function (kv) {
      var dt = document.createElement("dt"); dt.textContent = kv[0];
      var dd = document.createElement("dd"); dd.textContent = kv[1] == null ? "" : String(kv[1]);
      made.appendChild(dt); made.appendChild(dd);
    });
  }

  function poll() {
    fetch("/image-ar/" + id + "/status", { headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        var job = data.job;
        if (!job) { return; }
        progress.textContent = job.message || job.state;
        record.dataset.state = job.state;
        if (job.state === "queued" || job.state === "running") {
          timer = setTimeout(poll, 700);
          return;
        }
        button.disabled = false;
        if (job.state === "done" && data.video) { showClip(data); }
        if (job.state === "failed") { showErrors(job.fields || [], job.error || "Failed."); }
      })
      .catch(function () { timer = setTimeout(poll, 2000); });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    showErrors([], "");
    button.disabled = true;
    progress.textContent = "Sending…";
    fetch(form.action, { method: "POST", body: new FormData(form), headers: { Accept: "application/json" } })
      .then(function (r) { return r.json().then(function (body) { return [r.status, body]; }); })
      .then(function (res) {
        if (res[0] === 202) { progress.textContent = res[1].job.message; poll(); return; }
        button.disabled = false;
        progress.textContent = res[1].error || "Refused.";
        if (res[1].fields) { showErrors(res[1].fields, res[1].error); }
      })
      .catch(function (err) { button.disabled = false; progress.textContent = String(err); });
  });

  if (record.dataset.state === "queued" || record.dataset.state === "running") { poll(); }
})();

// imagear web: the batch page keeps its numbers current (GET /batch.json) without a reload.
(function () {
  "use strict";
  var card = document.getElementById("batch");
  if (!card) { return; }
  var every = parseInt(card.dataset.refresh, 10) || 3000;

  function num(n) { return Number(n).toLocaleString("en-US"); }
  function ago(secs) {
    if (secs == null) { return ""; }
    secs = Math.max(0, secs);
    if (secs < 60) { return Math.round(secs) + " s"; }
    if (secs < 3600) { return Math.round(secs / 60) + " min"; }
    return Math.floor(secs / 3600) + " h " + Math.round((secs % 3600) / 60) + " min";
  }
  // times come as ISO 8601 in UTC: shown as the server shows them (2026-11-28 19:56:58Z)
  function stamp(iso) { return iso ? iso.slice(0, 19).replace("T", " ") + "Z" : ""; }
  function secs(iso) { return Date.parse(iso.replace(/\.\d+/, "")) / 1000; }
  function cell(row, text, href) {
    var td = document.createElement("td");
    if (href) { var a = document.createElement("a"); a.href = href; a.textContent = text; td.appendChild(a); }
    else { td.textContent = text; }
    row.appendChild(td);
  }

  function show(p) {
    var done = p.counts.done;
    document.getElementById("batch-done").textContent = num(done);
    document.getElementById("batch-total").textContent = num(p.total);
    document.getElementById("batch-percent").textContent = (p.total ? 100 * done / p.total : 0).toFixed(1);
    var bar = document.getElementById("batch-bar");
    bar.max = p.total || 1; bar.value = done;
    document.getElementById("batch-active").textContent = p.active ? "running" : "idle";
    card.querySelectorAll("dd[data-status]").forEach(function (dd) { dd.textContent = num(p.counts[dd.dataset.status]); });
    document.getElementById("batch-rate").textContent = p.per_minute + " records/min";
    document.getElementById("batch-eta").textContent = ago(p.eta_secs);
    document.getElementById("batch-retry").textContent = stamp(p.next_retry_at);
    var body = document.querySelector("#batch-running tbody");
    body.innerHTML = "";
    p.running.forEach(function (c) {
      var tr = document.createElement("tr");
      cell(tr, String(c.object_id), "/records/" + c.object_id);
      cell(tr, c.runner || "");
      cell(tr, c.since ? ago(secs(p.now) - secs(c.since)) : "");
      tr.lastChild.title = "since " + stamp(c.since);
      cell(tr, String(c.attempts));
      cell(tr, c.expired ? "expired: the runner is gone" : "held");
      body.appendChild(tr);
    });
    document.getElementById("batch-none-running").hidden = p.running.length > 0;
    var last = document.getElementById("batch-last");
    last.innerHTML = "";
    p.last_done.forEach(function (d) {
      var li = document.createElement("li"), a = document.createElement("a"), s = document.createElement("span");
      a.href = "/records/" + d.object_id; a.textContent = String(d.object_id);
      s.className = "muted"; s.textContent = " " + stamp(d.finished_at);
      li.appendChild(a); li.appendChild(s); last.appendChild(li);
    });
  }

  // a slow answer (a very large job table) is asked for less often: ten times its own time apart
  function poll() {
    var started = Date.now();
    fetch("/batch.json", { headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(show)
      .catch(function () {})
      .then(function () { setTimeout(poll, Math.max(every, 10 * (Date.now() - started))); });
  }
  setTimeout(poll, every);
})();
