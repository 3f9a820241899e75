// gitorch dashboard: live updates by server-sent events. The server pushes the panels' new HTML
// whenever the store changes; this script only swaps it in. It never polls.
(function () {
  "use strict";
  var live = document.getElementById("live");
  var liveText = live.querySelector(".live-text");
  var updated = document.getElementById("updated");

  function state(name, text) {
    live.dataset.state = name;
    liveText.textContent = text;
  }

  function apply(message) {
    var data = JSON.parse(message.data);
    Object.keys(data.panels).forEach(function (name) {
      var panel = document.getElementById("panel-" + name);
      if (panel && panel.innerHTML !== data.panels[name]) panel.innerHTML = data.panels[name];
    });
    if (data.source) document.getElementById("source").textContent = data.source;
    document.body.dataset.version = String(data.version);
    updated.textContent = new Date(data.generated_at).toLocaleTimeString();
  }

  var source = new EventSource(document.body.dataset.events);
  source.addEventListener("open", function () { state("live", "live"); });
  source.addEventListener("panels", function (message) { state("live", "live"); apply(message); });
  source.addEventListener("error", function () {
    state(source.readyState === EventSource.CLOSED ? "closed" : "reconnecting",
          source.readyState === EventSource.CLOSED ? "disconnected: reload the page" : "reconnecting…");
  });
})();
