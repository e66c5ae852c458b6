// The portal settings form's script (the CSP allows no inline one): the headline's
// character counter. Without it the counter shows the count the page was served with,
// and the service still refuses a headline over the limit.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const input of document.querySelectorAll("input[data-counter]")) {
    const counter = document.getElementById(input.dataset.counter);
    if (!counter) continue;
    const max = Number(input.dataset.max);
    const update = () => {
      const count = [...input.value].length;
      const over = count > max;
      const template = over ? counter.dataset.over : counter.dataset.template;
      counter.textContent = template.replace("{count}", count).replace("{max}", max);
      counter.classList.toggle("over", over);
    };
    input.addEventListener("input", update);
    update();
  }
});
