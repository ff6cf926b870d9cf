/*
 * Brisk support chat widget. Plain JavaScript, no dependencies, no external assets.
 * Include it with one tag (it loads its stylesheet from beside itself):
 *
 *   <script src="/support/widget.js" defer></script>
 *
 * Optional attributes on the tag:
 *   data-token-key="token"   localStorage key holding the shop's login token (JWT); sent to
 *                            the support service so the bot can look up the customer's orders
 *   data-lang="zh"           start in Chinese (default: the browser's language)
 *   data-open="true"         open the panel at once
 *
 * window.BriskSupport = { open(), close(), send(text), setToken(token) }.
 */
(function () {
  'use strict';
  if (window.BriskSupport) return;
  var script = document.currentScript;
  var base = new URL('.', script && script.src ? script.src : location.href);
  var wsUrl = new URL('ws', base);
  wsUrl.protocol = wsUrl.protocol === 'https:' ? 'wss:' : 'ws:';
  var tokenKey = (script && script.getAttribute('data-token-key')) || 'token';
  var lang = (script && script.getAttribute('data-lang')) || (/^zh/i.test(navigator.language || '') ? 'zh' : 'en');
  var STORE = 'brisk.support.conversation';
  var T = {
    en: { title: 'Support', placeholder: 'Ask about shipping, returns, payment, your order…', send: 'Send', human: 'Talk to a person', open: 'Open support chat', close: 'Close', offline: 'Reconnecting…', waiting: 'Waiting for a colleague…', agent: 'You are chatting with ' },
    zh: { title: '在线客服', placeholder: '咨询配送、退换货、支付、订单…', send: '发送', human: '转人工', open: '打开在线客服', close: '关闭', offline: '正在重新连接…', waiting: '正在等待人工客服…', agent: '正在与您对话：' },
  };
  var t = T[lang] || T.en;

  var link = document.createElement('link');
  link.rel = 'stylesheet';
  link.href = new URL('widget.css', base).href;
  document.head.appendChild(link);

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  var root = el('div', 'bs-root');
  var launcher = el('button', 'bs-launcher', '💬');
  launcher.type = 'button';
  launcher.setAttribute('aria-label', t.open);
  var panel = el('section', 'bs-panel');
  panel.setAttribute('role', 'dialog');
  panel.setAttribute('aria-label', t.title);
  panel.hidden = true;
  var header = el('header', 'bs-header');
  header.appendChild(el('span', 'bs-title', t.title));
  var status = el('span', 'bs-status', '');
  header.appendChild(status);
  var closeButton = el('button', 'bs-close', '×');
  closeButton.type = 'button';
  closeButton.setAttribute('aria-label', t.close);
  header.appendChild(closeButton);
  var list = el('ol', 'bs-messages');
  list.setAttribute('aria-live', 'polite');
  var form = el('form', 'bs-form');
  var input = el('input', 'bs-input');
  input.type = 'text';
  input.maxLength = 2000;
  input.placeholder = t.placeholder;
  input.setAttribute('aria-label', t.placeholder);
  var sendButton = el('button', 'bs-send', t.send);
  sendButton.type = 'submit';
  form.appendChild(input);
  form.appendChild(sendButton);
  var humanButton = el('button', 'bs-human', t.human);
  humanButton.type = 'button';
  panel.appendChild(header);
  panel.appendChild(list);
  panel.appendChild(form);
  panel.appendChild(humanButton);
  root.appendChild(panel);
  root.appendChild(launcher);

  var ws = null;
  var ready = false;
  var outbox = [];
  var retry = 0;
  var seen = 0;

  function render(m) {
    var item = el('li', 'bs-msg bs-' + m.from);
    item.setAttribute('data-from', m.from);
    if (m.from === 'agent' && m.agent) item.appendChild(el('span', 'bs-who', m.agent));
    item.appendChild(el('span', 'bs-text', m.text));
    if (m.suggestions && m.suggestions.length) {
      var box = el('div', 'bs-suggestions');
      m.suggestions.forEach(function (s) {
        var b = el('button', 'bs-suggestion', s);
        b.type = 'button';
        b.addEventListener('click', function () { send(s); });
        box.appendChild(b);
      });
      item.appendChild(box);
    }
    list.appendChild(item);
    list.scrollTop = list.scrollHeight;
  }

  function showState(state, agent) {
    status.textContent = state === 'waiting' ? t.waiting : state === 'agent' ? t.agent + (agent || '') : '';
    humanButton.hidden = state === 'waiting' || state === 'agent';
  }

  function connect() {
    ws = new WebSocket(wsUrl.href);
    ws.onopen = function () {
      retry = 0;
      var hello = { type: 'hello', language: lang };
      var id = sessionStorage.getItem(STORE);
      if (id) hello.conversation = id;
      var token = currentToken();
      if (token) hello.token = token;
      ws.send(JSON.stringify(hello));
    };
    ws.onmessage = function (event) {
      var f;
      try { f = JSON.parse(event.data); } catch (e) { return; }
      if (f.type === 'welcome') {
        ready = true;
        if (sessionStorage.getItem(STORE) !== f.conversation) { list.textContent = ''; seen = 0; }
        sessionStorage.setItem(STORE, f.conversation);
        // A resumed conversation: show only what this page has not shown yet.
        f.messages.slice(seen).forEach(render);
        seen = f.messages.length;
        showState(f.state, f.agent);
        while (outbox.length) ws.send(outbox.shift());
      } else if (f.type === 'message') {
        seen++;
        render(f);
      } else if (f.type === 'state') {
        showState(f.state, f.agent);
      } else if (f.type === 'error') {
        render({ from: 'system', text: f.message });
      }
    };
    ws.onclose = function () {
      ready = false;
      status.textContent = t.offline;
      retry = Math.min(retry + 1, 5);
      setTimeout(connect, 500 * Math.pow(2, retry));
    };
  }

  function frame(obj) {
    var text = JSON.stringify(obj);
    if (ready && ws && ws.readyState === 1) ws.send(text);
    else outbox.push(text);
  }

  function currentToken() {
    try { return localStorage.getItem(tokenKey); } catch (e) { return null; }
  }

  function send(text) {
    text = String(text || '').trim();
    if (!text) return;
    // The token in force now: the shopper may have signed in (or out) since the chat opened.
    frame({ type: 'message', text: text, token: currentToken() });
  }

  function open() {
    panel.hidden = false;
    launcher.hidden = true;
    if (!ws) connect();
    input.focus();
  }

  function close() {
    panel.hidden = true;
    launcher.hidden = false;
  }

  launcher.addEventListener('click', open);
  closeButton.addEventListener('click', close);
  humanButton.addEventListener('click', function () { frame({ type: 'human' }); });
  form.addEventListener('submit', function (event) {
    event.preventDefault();
    send(input.value);
    input.value = '';
  });

  function mount() {
    document.body.appendChild(root);
    if (script && script.getAttribute('data-open') === 'true') open();
  }
  if (document.body) mount();
  else document.addEventListener('DOMContentLoaded', mount);

  window.BriskSupport = {
    open: open,
    close: close,
    send: function (text) { open(); send(text); },
    setToken: function (token) { try { localStorage.setItem(tokenKey, token); } catch (e) { /* private mode */ } },
  };
})();
