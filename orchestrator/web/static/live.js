// The live view's event journal: Server-Sent Events from /api/events/stream.
// Text only (textContent), never HTML: event data carries WO titles and reasons.
"use strict";
(function () {
  const list = document.getElementById("events");
  const state = document.getElementById("stream-state");
  if (!list) return;
  // Arrival times, read by the benchmark (commit -> browser delay).
  window.orchArrivals = [];
  const source = new EventSource("/api/events/stream?after=" + encodeURIComponent(list.dataset.after || "0"));
  source.onopen = function () { state.textContent = "live"; };
  source.onerror = function () { state.textContent = "reconnecting…"; };
  source.addEventListener("journal", function (message) {
    const event = JSON.parse(message.data);
    window.orchArrivals.push({ id: event.id, at: event.at, arrived: Date.now() });
    const item = document.createElement("li");
    item.dataset.event = String(event.id);
    const time = document.createElement("code");
    time.textContent = event.at.slice(11, 19);
    item.appendChild(time);
    let text = " " + event.kind + " " + event.subject_id;
    if (event.to_status) text += " → " + event.to_status;
    item.appendChild(document.createTextNode(text));
    list.insertBefore(item, list.firstChild);
    while (list.children.length > 500) list.removeChild(list.lastChild);
  });
})();
