// The admin pages' buttons and forms: each <form class="api" data-method data-url> is sent to the
// JSON API with its named fields as a JSON object and the session's CSRF token; on success the page
// reloads, on failure the API's message is shown next to the button.
"use strict";
(function () {
  function send(form) {
    var body = {};
    var token = "";
    Array.prototype.forEach.call(form.elements, function (field) {
      if (!field.name) { return; }
      if (field.name === "csrf_token") { token = field.value; } else { body[field.name] = field.value; }
    });
    var error = form.querySelector(".form-error");
    if (error) { error.textContent = ""; }
    var options = { method: form.dataset.method, credentials: "same-origin",
                    headers: { "X-CSRF-Token": token, "Accept": "application/json" } };
    if (Object.keys(body).length) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    fetch(form.dataset.url, options).then(function (response) {
      if (response.ok) { location.reload(); return null; }
      return response.json().then(function (answer) {
        if (error) { error.textContent = answer.message || ("failed: " + response.status); }
      }, function () {
        if (error) { error.textContent = "failed: " + response.status; }
      });
    }, function () {
      if (error) { error.textContent = "the server did not answer"; }
    });
  }
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.classList || !form.classList.contains("api")) { return; }
    event.preventDefault();
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) { return; }
    send(form);
  });
}());
