// The one-line embed: <script src="https://CHAT-HOST/chat/embed.js" async></script> on any city page
// puts a button in the bottom corner that opens the chat in a framed window. The frame is only created
// when opened, so pages that carry the button load nothing from the chat until a visitor asks.
// Which sites may frame the chat is the chat server's CHAT_EMBED_ORIGINS setting.
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || document.getElementById("asaka-plan-chat")) return;
  var origin = new URL(script.src, document.baseURI).origin;
  var wanted = (script.getAttribute("data-lang") || document.documentElement.lang || "ja").toLowerCase();
  var lang = wanted.slice(0, 2) === "en" ? "en" : "ja";
  var openLabel = lang === "en" ? "Ask about the city plan" : "総合計画について質問する";
  var closeLabel = lang === "en" ? "Close the chat" : "チャットを閉じる";
  var title = lang === "en" ? "Asaka City Comprehensive Plan chat" : "朝霞市 総合計画 質問チャット";

  var box = document.createElement("div");
  box.id = "asaka-plan-chat";
  box.style.cssText = "position:fixed;right:0.75rem;bottom:0.75rem;z-index:2147483000;" +
    "display:flex;flex-direction:column;align-items:flex-end;gap:0.5rem;max-width:calc(100vw - 1.5rem)";
  var button = document.createElement("button");
  button.type = "button";
  button.textContent = openLabel;
  button.setAttribute("aria-expanded", "false");
  button.setAttribute("aria-controls", "asaka-plan-chat-frame");
  button.style.cssText = "font:inherit;font-size:1rem;line-height:1.4;cursor:pointer;color:#fff;" +
    "background:#1a5493;border:2px solid #fff;border-radius:999px;padding:0.6rem 1.1rem;" +
    "box-shadow:0 2px 8px rgba(0,0,0,0.3);max-width:100%";
  var frame = null;

  function open() {
    if (!frame) {
      frame = document.createElement("iframe");
      frame.id = "asaka-plan-chat-frame";
      frame.title = title;
      frame.src = origin + "/chat/?embed=1&lang=" + lang;
      frame.style.cssText = "width:min(26rem, calc(100vw - 1.5rem));height:min(40rem, calc(100vh - 6rem));" +
        "border:1px solid #7b8794;border-radius:0.75rem;background:#fff;box-shadow:0 4px 16px rgba(0,0,0,0.25)";
      box.insertBefore(frame, button);
    }
    frame.hidden = false;
    button.textContent = closeLabel;
    button.setAttribute("aria-expanded", "true");
    frame.focus();
  }

  function close() {
    if (frame) frame.hidden = true;
    button.textContent = openLabel;
    button.setAttribute("aria-expanded", "false");
    button.focus();
  }

  button.addEventListener("click", function () {
    if (button.getAttribute("aria-expanded") === "true") close(); else open();
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && button.getAttribute("aria-expanded") === "true") close();
  });
  box.appendChild(button);
  (document.body || document.documentElement).appendChild(box);
})();
