// The chat in the browser: one line per WebSocket text frame, each way, on /chat.
"use strict";
(function () {
  var lines = document.getElementById("chat-lines");
  var form = document.getElementById("chat-form");
  var input = document.getElementById("chat-input");
  var status = document.getElementById("chat-status");
  if (!lines || !form || !input) { return; }
  var scheme = location.protocol === "https:" ? "wss://" : "ws://";
  var socket = new WebSocket(scheme + location.host + "/chat");

  function show(text, kind) {
    var item = document.createElement("li");
    item.textContent = text;          // text only: a chat line is never HTML
    if (kind) { item.className = kind; }
    var atBottom = lines.scrollTop + lines.clientHeight >= lines.scrollHeight - 4;
    lines.appendChild(item);
    while (lines.childNodes.length > 1000) { lines.removeChild(lines.firstChild); }
    if (atBottom) { lines.scrollTop = lines.scrollHeight; }
  }

  socket.onopen = function () { status.textContent = "connected"; };
  socket.onmessage = function (event) {
    var text = String(event.data);
    var kind = text.indexOf("*** ") === 0 ? "system" : (text.indexOf("!!! ") === 0 ? "error" : "");
    show(text, kind);
  };
  socket.onclose = function (event) {
    status.textContent = "disconnected" + (event.reason ? ": " + event.reason : "") + " - reload to reconnect";
    input.disabled = true;
  };
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value;
    if (!text || socket.readyState !== WebSocket.OPEN) { return; }
    socket.send(text);
    if (text.charAt(0) !== "/") { show("> " + text, "mine"); }
    input.value = "";
  });
}());
