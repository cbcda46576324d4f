// The opt-out ledger's import: a chosen file is read into the textarea (the form posts
// text, never multipart), and a form larger than one request may be is stopped here.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("import-form");
  if (!form) return;
  const file = document.getElementById("import-file");
  const text = document.getElementById("import-text");
  const tooBig = document.getElementById("import-too-big");
  const limit = Number(form.dataset.maxBody) || 0;
  const size = () => new URLSearchParams(new FormData(form)).toString().length;
  const check = () => {
    const over = limit > 0 && size() > limit;
    tooBig.hidden = !over;
    return !over;
  };
  file.addEventListener("change", async () => {
    const chosen = file.files && file.files[0];
    if (!chosen) return;
    text.value = await chosen.text();
    check();
  });
  text.addEventListener("input", () => { if (!tooBig.hidden) check(); });
  form.addEventListener("submit", (event) => { if (!check()) event.preventDefault(); });
});
