// A new channel's form shows the fields of the platform chosen: choosing one reloads the form
// with it (and what was typed so far), since the server decides which fields a platform uses.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  const platform = document.getElementById("id_platform");
  if (!platform || !window.location.pathname.endsWith("/add/")) {
    return;
  }
  platform.addEventListener("change", function () {
    const query = new URLSearchParams(window.location.search);
    for (const name of ["organization", "name", "platform"]) {
      const field = document.getElementById("id_" + name);
      if (field && field.value) {
        query.set(name, field.value);
      }
    }
    window.location.search = query.toString();
  });
});
