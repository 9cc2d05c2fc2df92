// kyso — the signing page: preview of page 1, click to place the signature box (PDF points), batch progress.
// No inline script (CSP script-src 'self'); texts come from data-* attributes (translated by the server).
(function () {
  "use strict";
  var form = document.getElementById("sign-form");
  if (!form) { return; }
  var files = document.getElementById("files");
  var img = document.getElementById("preview-img");
  var pane = document.getElementById("preview");
  var sigbox = document.getElementById("sigbox");
  var boxField = document.getElementById("box");
  var pageField = document.getElementById("page");
  var texts = document.getElementById("sign-texts").dataset;
  var csrf = document.querySelector("meta[name=csrf-token]").content;
  var page = null; // {width, height} in points
  var BOX_W = 200, BOX_H = 100; // signature box, points

  function loadPreview() {
    if (!files.files.length) { return; }
    var body = new FormData();
    body.append("file", files.files[0]);
    body.append("page", pageField && pageField.value ? pageField.value : "1");
    fetch(form.dataset.preview, {method: "POST", body: body, credentials: "same-origin",
                                 headers: {"X-CSRFToken": csrf, "Accept": "application/json"}})
      .then(function (r) { return r.json().then(function (j) { return {ok: r.ok, body: j}; }); })
      .then(function (res) {
        if (!res.ok) { document.getElementById("preview-hint").textContent = res.body.message; return; }
        page = {width: res.body.width, height: res.body.height};
        img.src = res.body.image;
        pane.hidden = false;
        sigbox.hidden = true;
      });
  }

  function drawBox(x1, y1, x2, y2) {
    var sx = img.clientWidth / page.width, sy = img.clientHeight / page.height;
    sigbox.style.left = (x1 * sx) + "px";
    sigbox.style.top = ((page.height - y2) * sy) + "px";
    sigbox.style.width = ((x2 - x1) * sx) + "px";
    sigbox.style.height = ((y2 - y1) * sy) + "px";
    sigbox.hidden = false;
  }

  img.addEventListener("click", function (ev) {
    if (!page) { return; }
    var rect = img.getBoundingClientRect();
    // the click, in PDF points (origin bottom-left), is the centre of the box
    var x = (ev.clientX - rect.left) * page.width / rect.width;
    var y = page.height - (ev.clientY - rect.top) * page.height / rect.height;
    var x1 = Math.max(0, Math.min(page.width - BOX_W, x - BOX_W / 2));
    var y1 = Math.max(0, Math.min(page.height - BOX_H, y - BOX_H / 2));
    var box = [x1, y1, x1 + BOX_W, y1 + BOX_H].map(function (v) { return Math.round(v); });
    boxField.value = box.join(",");
    drawBox(box[0], box[1], box[2], box[3]);
  });
  files.addEventListener("change", loadPreview);

  // show only the fields the chosen appearance uses
  var appearance = document.getElementById("appearance");
  var uses = {page: ["signer", "seal"], box: ["signer", "seal"], doc_number: ["attachment"], copy_form: ["copy"]};
  function showFields() {
    Object.keys(uses).forEach(function (name) {
      var input = form.elements[name];
      if (!input) { return; }
      var label = input.closest("label");
      if (label) { label.hidden = uses[name].indexOf(appearance.value) < 0; }
    });
  }
  appearance.addEventListener("change", showFields);
  showFields();
  if (pageField) { pageField.addEventListener("change", loadPreview); }

  function b64ToBlob(b64, type) {
    var bin = atob(b64), bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { bytes[i] = bin.charCodeAt(i); }
    return new Blob([bytes], {type: type});
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var n = files.files.length;
    var progress = document.getElementById("progress");
    var bar = document.getElementById("progress-bar");
    var text = document.getElementById("progress-text");
    var results = document.getElementById("results");
    var seen = 0; // characters of the streamed answer already read
    progress.hidden = false;
    results.textContent = "";
    text.className = "";
    bar.value = 0;

    function fail(message) {
      bar.value = 0;
      text.textContent = texts.failed + " " + message;
      text.className = "flash error";
    }

    function handle(event) {
      if (event.error) { fail(event.message || event.error); return; }
      if (event.total !== undefined) {
        // the upload is the first half of the bar, the signing in the HSM the second
        bar.value = 50 + Math.round(50 * event.signed / event.total);
        text.textContent = texts.signing.replace("{n}", String(event.total)) + " " + event.signed + "/" + event.total;
      }
      if (event.documents) {
        event.documents.forEach(function (d) {
          var li = document.createElement("li");
          var a = document.createElement("a");
          a.href = URL.createObjectURL(b64ToBlob(d.pdf, "application/pdf"));
          a.download = d.name;
          a.className = "download";
          a.textContent = texts.download + " " + d.name;
          li.textContent = "✔ ";
          li.appendChild(a);
          results.appendChild(li);
        });
        bar.value = 100;
        text.className = "flash ok";
        text.textContent = texts.done.replace("{n}", String(event.documents.length));
      }
    }

    function readLines() {
      var end;
      while ((end = xhr.responseText.indexOf("\n", seen)) >= 0) {
        var line = xhr.responseText.slice(seen, end);
        seen = end + 1;
        if (line.trim()) { handle(JSON.parse(line)); }
      }
    }

    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/x-ndjson");
    xhr.setRequestHeader("X-CSRFToken", csrf);
    xhr.upload.addEventListener("progress", function (e) {
      if (!e.lengthComputable) { return; }
      var pct = Math.round(100 * e.loaded / e.total);
      bar.value = Math.round(pct / 2);
      text.textContent = texts.uploading.replace("{pct}", String(pct));
    });
    xhr.upload.addEventListener("load", function () {
      bar.value = 50;
      text.textContent = texts.signing.replace("{n}", String(n));
    });
    xhr.addEventListener("progress", function () { if (xhr.status === 200) { readLines(); } });
    xhr.addEventListener("load", function () {
      if (xhr.status !== 200) {
        var body = {};
        try { body = JSON.parse(xhr.responseText); } catch (e) { body = {}; }
        fail(body.message || String(xhr.status));
        return;
      }
      readLines();
    });
    xhr.addEventListener("error", function () { fail(String(xhr.status || "")); });
    xhr.send(new FormData(form));
  });
})();
