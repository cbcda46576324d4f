// The send page's live preview: as the form changes, ask /console/send/preview.json
// (the service's Preview, or the number's) and show its answer. Without JavaScript the
// form's Preview button does the same with a page load.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector("form[data-preview]");
  const panel = document.querySelector("[data-preview-panel]");
  if (!form || !panel) return;
  let timer = null;
  let asked = 0;

  const show = (data) => {
    for (const el of panel.querySelectorAll("[data-field]")) {
      const value = data[el.dataset.field];
      el.textContent = value === undefined || value === null || value === "" ?
        (el.dataset.field === "error" ? "" : "—") : String(value);
    }
    panel.dataset.state = data.ok ? "ready" : "refused";
  };

  const ask = async () => {
    const mine = ++asked;
    const fields = new URLSearchParams();
    for (const name of ["csrf", "From", "To", "Body"]) {
      fields.append(name, form.elements[name].value);
    }
    panel.dataset.state = "asking";
    try {
      const answer = await fetch(form.dataset.preview, {
        method: "POST", body: fields, credentials: "same-origin",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
      });
      const data = await answer.json();
      if (mine === asked) show(data);
    } catch (_) {
      if (mine === asked) show({ ok: false, error: "The preview is unavailable (signed out?)." });
    }
  };

  const later = () => {
    clearTimeout(timer);
    timer = setTimeout(ask, 250);
  };
  form.addEventListener("input", later);
  form.addEventListener("change", later);
  if (form.elements.From.value || form.elements.To.value) ask();
});
