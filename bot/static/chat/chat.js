// The residents' chat in the page: posts to /api/chat and inserts the reply the server rendered.
// Without this script the same forms post to /chat/ and the server answers with a new page.
(function () {
  "use strict";
  var root = document.getElementById("chat");
  if (!root || !window.fetch) return;
  var log = document.getElementById("chat-log");
  var form = document.getElementById("chat-form");
  var input = document.getElementById("chat-message");
  var status = document.getElementById("chat-status");
  var STORE = "planbot-conversation";
  var TRANSCRIPT = "planbot-transcript-" + root.dataset.language;
  var busy = false;

  // One conversation per browser tab, kept in sessionStorage (first-party, gone when the tab closes),
  // with what was said, so moving to another page of the city's site does not lose the answers.
  var conversation = root.dataset.conversation;
  try {
    conversation = sessionStorage.getItem(STORE) || conversation;
    sessionStorage.setItem(STORE, conversation);
    var kept = sessionStorage.getItem(TRANSCRIPT);
    if (kept) log.innerHTML = kept;  // written by this page from the server's escaped HTML
  } catch (e) { /* storage blocked: the conversation lasts as long as the page */ }

  function keep() {
    try { sessionStorage.setItem(TRANSCRIPT, log.innerHTML); } catch (e) { /* full or blocked */ }
  }

  var enterHint = form.querySelector(".enter");
  if (enterHint) enterHint.hidden = false;

  function remember(id) {
    if (!id) return;
    conversation = id;
    try { sessionStorage.setItem(STORE, id); } catch (e) { /* see above */ }
  }

  function said(text) {
    var box = document.createElement("div");
    box.className = "msg you";
    var who = document.createElement("span");
    who.className = "visually-hidden";
    who.textContent = root.dataset.you + ":";
    var p = document.createElement("p");
    p.textContent = text;  // a resident's text is always text, never markup
    box.appendChild(who);
    box.appendChild(p);
    log.appendChild(box);
    return box;
  }

  function notice(text) {
    var box = document.createElement("article");
    box.className = "msg bot";
    var card = document.createElement("div");
    card.className = "card";
    var p = document.createElement("p");
    p.textContent = text;
    card.appendChild(p);
    box.appendChild(card);
    log.appendChild(box);
  }

  function send(payload, shown) {
    if (busy) return Promise.resolve();
    busy = true;
    var mine = said(shown);
    mine.scrollIntoView({ block: "start" });
    status.textContent = root.dataset.busy;
    payload.conversation = conversation;
    payload.language = root.dataset.language;
    return fetch(root.dataset.api, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(payload),
      credentials: "same-origin"
    }).then(function (response) {
      return response.json();
    }).then(function (data) {
      remember(data.conversation);
      if (data.html) {
        log.insertAdjacentHTML("beforeend", data.html);  // rendered and escaped by the server's template
      } else {
        notice(data.message || root.dataset.network);
      }
    }).catch(function () {
      notice(root.dataset.network);
    }).then(function () {
      busy = false;
      status.textContent = "";
      keep();
      mine.scrollIntoView({ block: "start" });
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) {
      status.textContent = root.dataset.empty;
      input.focus();
      return;
    }
    if (busy) return;
    input.value = "";
    send({ message: text }, text);
  });

  // Enter sends; Shift+Enter is a new line; Enter that confirms a Japanese conversion is left alone.
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  // A reply's buttons (candidates, chapters, 👍/👎) post their action back.
  log.addEventListener("submit", function (event) {
    var target = event.target;
    if (!(target instanceof HTMLFormElement) || !target.classList.contains("actions")) return;
    event.preventDefault();
    var button = event.submitter;
    if (!button || busy) return;
    if (button.classList.contains("feedback")) {
      target.querySelectorAll("button.feedback").forEach(function (other) {
        other.setAttribute("aria-pressed", String(other === button));
      });
    }
    send({ action: button.value }, button.textContent.trim());
  });
})();
