// Updates a run admin's progress cells in place while a run shown on the page is under way.
//
// The page is never reloaded, so what the user typed, ticked or is about to submit stays as it
// is. The script asks the admin's live URL (data-url) for the cells of the rows on the page, puts
// them where the changelist or the object page shows them, and stops asking once the server says
// that none of those rows is running. A page with nothing running (data-running="false") never
// asks at all.
"use strict";
(function () {
  const script = document.currentScript;
  const INTERVAL_MS = 3000;

  // The id of a changelist row: its checkbox's value, else the id in its link to the object.
  function rowId(row) {
    const checkbox = row.querySelector("input.action-select");
    if (checkbox) {
      return checkbox.value;
    }
    const link = row.querySelector("a[href*='/change/']");
    const match = link && link.getAttribute("href").match(/\/([^/]+)\/change\//);
    return match ? decodeURIComponent(match[1]) : null;
  }

  // Where each row's cells are: {id: function (field) -> the element to fill, or null}.
  function places() {
    const objectId = script.dataset.object;
    if (objectId) {
      return {[objectId]: (field) => document.querySelector(`.field-${field} .readonly`)};
    }
    const found = {};
    for (const row of document.querySelectorAll("#result_list tbody tr")) {
      const id = rowId(row);
      if (id) {
        found[id] = (field) => row.querySelector(`td.field-${field}, th.field-${field}`);
      }
    }
    return found;
  }

  async function poll() {
    const where = places();
    const ids = Object.keys(where);
    if (!ids.length) {
      return;
    }
    const query = new URLSearchParams(ids.map((id) => ["id", id]));
    let answer;
    try {
      const response = await fetch(`${script.dataset.url}?${query}`, {
        headers: {Accept: "application/json"},
        credentials: "same-origin",
      });
      if (!response.ok || response.redirected) {
        return; // Logged out (sent to the login page) or no longer allowed: the page stays as it is.
      }
      answer = await response.json();
    } catch (error) {
      // The server is restarting or the network blinked: ask again at the next tick.
      window.setTimeout(poll, INTERVAL_MS);
      return;
    }
    for (const [id, cells] of Object.entries(answer.rows)) {
      for (const [field, html] of Object.entries(cells)) {
        const cell = where[id] && where[id](field);
        if (cell && cell.innerHTML !== html) {
          cell.innerHTML = html;
        }
      }
    }
    if (answer.running) {
      window.setTimeout(poll, INTERVAL_MS);
    }
  }

  if (script.dataset.running === "true") {
    window.setTimeout(poll, INTERVAL_MS);
  }
})();
