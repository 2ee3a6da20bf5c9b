// imagear web: previews on hover in the grid; the animate form without a reload.
(function () {
  "use strict";

  document.querySelectorAll("img.poster[data-preview]").forEach(function (img) {
    var still = img.src;
    img.addEventListener("mouseenter", function () { img.src = img.dataset.preview; });
    img.addEventListener("mouseleave", function () { img.src = still; });
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
