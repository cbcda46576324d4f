// Messaging Services: after a refused form, bring the API's message into view (the page
// is long and the form may be far down). Progressive only: the page works without it.
document.addEventListener("DOMContentLoaded", () => {
  const refused = document.querySelector("main [role=alert]");
  if (refused) refused.scrollIntoView({ block: "center" });
});
