// DOM helpers of the dashboard: build rows once, then write only what changed.

/** Writes text only when it changed. */
export function setText(node, text) {
  if (node._text !== text) {
    node._text = text;
    node.textContent = text;
  }
}

export function setHidden(node, hidden) {
  if (node.hidden !== hidden) node.hidden = hidden;
}

export function setData(node, key, value) {
  if (node.dataset[key] !== value) node.dataset[key] = value;
}

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A status pill: colour from data-status, and always a text label (colour is never the only cue). */
export function badge() {
  return el('span', 'badge');
}

export function setBadge(node, status, text) {
  setData(node, 'status', status);
  setText(node, text);
  if (node.hidden) node.hidden = false;
}
