// The branding editor: colour pickers kept in sync with their hex fields, the contrast
// warning worked out as you type, and the preview frame following unsaved edits.
// The pickers are shown here, so without this script there is no control that does
// nothing: the hex fields, the form and the saved preview work on their own.
"use strict";
(() => {
  const HEX = /^#[0-9a-fA-F]{6}$/;
  const DRAFTS = ["display_name", "button_color", "background_color"];

  // WCAG 2.x, as platform_service.branding.rules computes it.
  const luminance = (hex) => {
    const [r, g, b] = [1, 3, 5].map((i) => {
      const c = parseInt(hex.slice(i, i + 2), 16) / 255;
      return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const contrast = (a, b) => {
    const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
  };

  const shown = (input) => {
    const value = input.value.trim();
    return HEX.test(value) ? value.toUpperCase() : input.dataset.fallback;
  };

  document.addEventListener("DOMContentLoaded", () => {
    const form = document.querySelector("form[data-branding-form]");
    if (!form) return;

    for (const picker of form.querySelectorAll("input[type=color][data-for]")) {
      const text = document.getElementById(picker.dataset.for);
      if (!text) continue;
      picker.value = shown(text).toLowerCase();
      picker.hidden = false;
      picker.addEventListener("input", () => {
        text.value = picker.value.toUpperCase();
        text.dispatchEvent(new Event("input", { bubbles: true }));
      });
      text.addEventListener("input", () => {
        picker.value = shown(text).toLowerCase();
      });
    }

    const warning = document.getElementById("contrast-warning");
    const ratio = document.getElementById("contrast-ratio");
    const button = form.elements.namedItem("button_color");
    const background = form.elements.namedItem("background_color");
    const checkContrast = () => {
      if (!warning || !ratio || !button || !background) return;
      const value = contrast(shown(button), shown(background));
      ratio.textContent = value.toLocaleString(document.documentElement.lang, {
        minimumFractionDigits: 2,
        maximumFractionDigits: 2,
      });
      warning.hidden = value >= Number(warning.dataset.minimum || 3);
    };

    const frame = document.getElementById("preview-frame");
    let timer;
    const followDrafts = () => {
      if (!frame) return;
      const url = new URL(frame.dataset.base, window.location.href);
      for (const name of DRAFTS) {
        const input = form.elements.namedItem(name);
        if (!input) continue;
        const value = input.value.trim();
        if (value === (input.dataset.saved || "")) continue;
        if (input.dataset.color !== undefined && value && !HEX.test(value)) continue;
        url.searchParams.set(name, value);
      }
      const next = url.pathname + url.search;
      if (frame.getAttribute("src") !== next) frame.setAttribute("src", next);
    };

    form.addEventListener("input", () => {
      checkContrast();
      clearTimeout(timer);
      timer = setTimeout(followDrafts, 300);
    });
    checkContrast();
    followDrafts();
  });
})();
