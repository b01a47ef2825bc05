// Refreshes parts of a page in place, every data-interval seconds: the ops dashboard's tables.
//
// Each element marked data-live-region (with an id) is replaced by the same element of a fresh
// copy of the page, fetched in the background, so the page never reloads: the scroll position,
// an open link's focus and anything typed elsewhere stay. A hidden tab does not ask.
"use strict";
(function () {
  const script = document.currentScript;
  const interval = Number(script.dataset.interval || 10) * 1000;

  async function refresh() {
    if (!document.hidden) {
      try {
        const response = await fetch(window.location.href, {credentials: "same-origin"});
        if (response.ok) {
          const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
          for (const region of document.querySelectorAll("[data-live-region]")) {
            const replacement = fresh.getElementById(region.id);
            if (replacement) {
              region.replaceWith(replacement);
            }
          }
        }
      } catch (error) {
        // The server is restarting or the network blinked: the next tick asks again.
      }
    }
    window.setTimeout(refresh, interval);
  }

  window.setTimeout(refresh, interval);
})();
