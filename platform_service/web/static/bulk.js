// Bulk job pages (the CSP allows no inline script). Everything here improves a page that
// already works without it: the wizard's forms post as they are, the job page refreshes
// itself in a <noscript> fallback.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Colour pickers beside their hex inputs: hidden in the page, shown here, kept in step.
  for (const picker of document.querySelectorAll("input[type=color][data-hex]")) {
    const hex = document.getElementById(picker.dataset.hex);
    if (!hex) continue;
    picker.parentElement.hidden = false;
    picker.addEventListener("input", () => { hex.value = picker.value.toUpperCase(); });
    hex.addEventListener("input", () => {
      if (/^#[0-9a-fA-F]{6}$/.test(hex.value)) picker.value = hex.value.toLowerCase();
    });
  }

  // Radio groups that pick a part of the form: only the chosen part is shown.
  for (const group of document.querySelectorAll("[data-switch]")) {
    const name = group.dataset.switch;
    const parts = document.querySelectorAll(`[data-when="${name}"]`);
    const show = () => {
      const chosen = group.querySelector(`input[name="${name}"]:checked`);
      for (const part of parts) part.hidden = !chosen || part.dataset.value !== chosen.value;
    };
    group.addEventListener("change", show);
    show();
  }

  // A running job's progress, live over server-sent events. A new state brings the page's
  // content again (its buttons and tables depend on the state), swapped in place: the
  // page is never navigated away under the person reading it.
  const refresh = async () => {
    try {
      const answer = await fetch(window.location.href, { credentials: "same-origin" });
      const fresh = new DOMParser()
        .parseFromString(await answer.text(), "text/html")
        .querySelector("main");
      const main = document.querySelector("main");
      if (!answer.ok || !fresh || !main) return;
      main.replaceChildren(...fresh.childNodes);
      follow();
    } catch (_) {
      // Offline for a moment: the counts shown stay; a reload brings the rest.
    }
  };
  const follow = () => {
    const live = document.querySelector("[data-events]");
    if (!live || !window.EventSource) return;
    const source = new EventSource(live.dataset.events);
    const bar = live.querySelector("progress");
    source.addEventListener("progress", (event) => {
      const job = JSON.parse(event.data);
      for (const name of ["succeeded", "failed", "skipped", "pending", "total"]) {
        const cell = live.querySelector(`[data-count="${name}"]`);
        if (cell) cell.textContent = String(job[name]);
      }
      if (bar) {
        bar.max = job.total || 1;
        bar.value = job.total ? job.succeeded + job.failed + job.skipped : 1;
      }
      if (job.status !== live.dataset.status) {
        source.close();
        refresh();
      }
    });
  };
  follow();
});
