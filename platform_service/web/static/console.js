// The console's only script (the CSP allows no inline one): copy buttons.
// A copy button is in the page hidden and shown here, so without this script
// there is no button that does nothing; the link itself stays selectable.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    const source = document.getElementById(button.dataset.copy);
    const status = document.getElementById(button.dataset.status);
    if (!source) continue;
    button.hidden = false;
    button.addEventListener("click", async () => {
      let copied = false;
      try {
        await navigator.clipboard.writeText(source.value);
        copied = true;
      } catch (_) {
        source.select();
        copied = document.execCommand("copy");
      }
      if (status) status.textContent = copied ? button.dataset.copied : button.dataset.failed;
    });
  }
});
