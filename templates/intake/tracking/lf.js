{% autoescape off %}/* Leadflow page tracking. Embed: <script async src="https://YOUR-LEADFLOW/t/lf.js"></script>
   Sets a first-party visitor cookie ({{ cookie }}) and reports page views (URL, title,
   referrer, time on page) to Leadflow when the page is left. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !window.navigator) { return; }
  var endpoint = new URL("{% url 'tracking:page_view' %}", script.src).href;
  var name = "{{ cookie }}";
  function visitorId() {
    var match = document.cookie.match(new RegExp("(?:^|; )" + name + "=([A-Za-z0-9_.-]{1,64})"));
    if (match) { return match[1]; }
    var id = (window.crypto && crypto.randomUUID) ? crypto.randomUUID()
      : (Date.now().toString(36) + Math.random().toString(36).slice(2));
    document.cookie = name + "=" + id + "; max-age=" + (2 * 365 * 24 * 3600) + "; path=/; SameSite=Lax"
      + (location.protocol === "https:" ? "; Secure" : "");
    return id;
  }
  var id = visitorId();
  window.leadflow = { visitorId: id };  /* for forms: <input type="hidden" name="visitor_id"> */
  var started = Date.now();
  var sent = false;
  function send() {
    if (sent) { return; }
    sent = true;
    var body = JSON.stringify({
      visitor_id: id, url: location.href, title: document.title,
      referrer: document.referrer, seconds_on_page: Math.round((Date.now() - started) / 1000)
    });
    if (!(navigator.sendBeacon && navigator.sendBeacon(endpoint, body))) {
      fetch(endpoint, { method: "POST", body: body, keepalive: true, mode: "no-cors" });
    }
  }
  document.addEventListener("visibilitychange", function () { if (document.visibilityState === "hidden") { send(); } });
  window.addEventListener("pagehide", send);
})();
{% endautoescape %}
