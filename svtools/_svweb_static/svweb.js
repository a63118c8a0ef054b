// svweb: refresh the live part of the page once a second, and send the
// buttons' POSTs without leaving the page.  Without JavaScript the page is
// a plain table and the buttons are plain forms.
"use strict";
(function () {
  const live = document.querySelector("[data-live]");
  const note = document.getElementById("note");
  function say(text) { if (note) note.textContent = text; }
  async function refresh() {
    if (!live) return;
    try {
      const r = await fetch(live.dataset.live, {credentials: "same-origin", cache: "no-store"});
      if (r.status === 401 || r.redirected) { say("Logged out: reload the page."); return; }
      const body = await r.text();
      const target = live.tagName === "TABLE" ? live.tBodies[0] : live;
      // The fragment is rendered (and escaped) by the server's templates.
      target.innerHTML = body;
      const log = document.getElementById("log");
      if (log) log.scrollTop = log.scrollHeight;
      if (r.ok) say("");
      else say("svweb answered " + r.status);
    } catch (e) {
      say("svweb is not answering; retrying.");
    }
  }
  for (const form of document.querySelectorAll("form.action")) {
    form.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      const button = form.querySelector("button");
      button.disabled = true;
      try {
        const r = await fetch(form.action.replace(/\/services\//, "/api/services/"), {
          method: "POST", credentials: "same-origin",
          headers: {"X-XSRFToken": form.querySelector("input[name=_xsrf]").value}});
        const data = await r.json();
        say(r.ok ? data.action + " sent" : "refused: " + data.error);
      } catch (e) {
        say("svweb is not answering.");
      }
      button.disabled = false;
      refresh();
    });
  }
  if (live) setInterval(refresh, 1000);
})();
