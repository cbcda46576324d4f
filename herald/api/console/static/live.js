// Herald console, live view: polls /console/live.json and updates the page in place.
// The server renders the same numbers first, so without this the page still reads (and
// refreshes itself through its <noscript> meta refresh). Values go in as text, never HTML.
"use strict";

(() => {
  const root = document.getElementById("live");
  if (!root) return;
  const every = Number(root.dataset.poll || "2") * 1000;
  const stateNote = root.querySelector("[data-live-state]");
  let timer = null;
  let stopped = false;
  let busy = false;

  const lookup = (data, path) =>
    path.split(".").reduce((value, key) => (value == null ? value : value[key]), data);

  function cell(text, className) {
    const td = document.createElement("td");
    td.textContent = String(text);
    if (className) td.className = className;
    return td;
  }

  function drawQueues(queues) {
    const body = root.querySelector("#queues tbody");
    const rows = queues.map((q) => {
      const tr = document.createElement("tr");
      const sender = cell(q.sender, "mono");
      if (q.routing) {
        const note = document.createElement("span");
        note.className = "muted";
        note.textContent = " (choosing a sender)";
        sender.append(note);
      }
      tr.append(sender, cell(q.waiting), cell(q.segments), cell(q.in_flight),
        cell(q.oldest_wait), cell(q.rate), cell(q.drains_in));
      return tr;
    });
    body.replaceChildren(...rows);
    root.querySelector("[data-live-empty]").hidden = queues.length > 0;
  }

  function drawCarriers(carriers) {
    for (const c of carriers.connections || []) {
      const row = root.querySelector(`tr[data-connection="${CSS.escape(c.name)}"]`);
      if (!row) continue;
      const state = row.querySelector('[data-field="state"]');
      state.textContent = c.state + (c.failures ? ` (${c.failures} failed tries)` : "");
      state.className = "status " + (c.state === "bound" ? "delivered" : "failed");
      row.querySelector('[data-field="binds"]').textContent = c.binds;
      row.querySelector('[data-field="window"]').textContent = c.window;
    }
  }

  function draw(data) {
    for (const el of root.querySelectorAll("[data-live]")) {
      const value = lookup(data, el.dataset.live);
      if (value === undefined || value === null) continue;
      el.textContent = value === "" ? "" : (el.dataset.prefix || "") + value;
    }
    for (const line of root.querySelectorAll("[data-points]")) {
      const points = lookup(data, line.dataset.points);
      if (typeof points === "string") line.setAttribute("points", points);
    }
    drawQueues(data.queues);
    drawCarriers(data.carriers);
  }

  function say(text) {
    stateNote.textContent = text;
  }

  async function poll() {
    timer = null;
    if (stopped || busy) return;
    busy = true;
    try {
      const answer = await fetch("/console/live.json", {
        credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" },
      });
      if (answer.status === 401) {
        stopped = true;
        say(" — signed out; sign in again to resume");
        return;
      }
      if (!answer.ok) throw new Error(`HTTP ${answer.status}`);
      draw(await answer.json());
      say("");
    } catch (error) {
      say(" — reconnecting…");
    } finally {
      busy = false;
    }
    schedule();
  }

  function schedule() {
    if (!stopped && !timer && !document.hidden) timer = setTimeout(poll, every);
  }

  // A hidden tab stops asking; it asks at once when seen again.
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) {
      clearTimeout(timer);
      timer = null;
    } else if (!timer) {
      poll();
    }
  });
  schedule();
})();
