// The storefront: browse, search, cart, checkout and order status, all through Brisk's
// /api routes. Plain ES module, no framework, no external assets; text goes into the
// page with textContent only (the page runs under a strict Content-Security-Policy).

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = 'token'; // the support widget reads the JWT from here too
const state = { products: [], byId: new Map(), cart: [], category: '', query: '', signup: false };

const money = (cents) => (cents / 100).toFixed(2);
const token = () => localStorage.getItem(TOKEN_KEY);

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') node.className = v;
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function notice(text, error = false) {
  const n = $('notice');
  n.textContent = text;
  n.className = error ? 'notice error' : 'notice';
  n.hidden = !text;
}

/** A JSON call to the API; resolves { status, body }. Network failures resolve status 0. */
async function api(method, path, { body, key } = {}) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token()) headers.authorization = `Bearer ${token()}`;
  if (key) headers['idempotency-key'] = key;
  try {
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    let parsed = null;
    try { parsed = text ? JSON.parse(text) : null; } catch { parsed = { error: { message: text } }; }
    if (res.status === 401 && token() && !path.startsWith('/api/login')) signOut('Your session ended: sign in again.');
    return { status: res.status, body: parsed };
  } catch {
    return { status: 0, body: { error: { message: 'the shop could not be reached' } } };
  }
}

const errorText = (r) => r.body?.error?.message ?? `error ${r.status}`;

// ----- catalogue -------------------------------------------------------------------------

async function loadProducts() {
  const params = new URLSearchParams();
  if (state.query) params.set('q', state.query);
  if (state.category) params.set('category', state.category);
  const r = await api('GET', `/api/products${params.size ? `?${params}` : ''}`);
  if (r.status !== 200) return notice(`The catalogue is unavailable: ${errorText(r)}`, true);
  state.products = r.body.products;
  for (const p of r.body.products) state.byId.set(p.id, p);
  renderProducts();
}

async function loadCategories() {
  const r = await api('GET', '/api/products');
  if (r.status !== 200) return;
  for (const p of r.body.products) state.byId.set(p.id, p);
  const names = [...new Set(r.body.products.map((p) => p.category))];
  const box = $('categories');
  box.replaceChildren(...['', ...names].map((c) => el('button', { type: 'button', class: c === state.category ? 'on' : '', onclick: () => { state.category = c; loadCategories(); loadProducts(); } }, c || 'all')));
}

function renderProducts() {
  const grid = $('products');
  if (state.products.length === 0) return grid.replaceChildren(el('p', { class: 'muted' }, 'Nothing matches.'));
  grid.replaceChildren(...state.products.map((p) =>
    el('article', { class: 'card', dataset: { testid: 'product', productId: String(p.id) } },
      el('h2', {}, p.name),
      el('span', { class: 'zh' }, p.nameZh),
      el('span', { class: 'desc' }, p.description),
      el('span', { class: 'muted' }, p.stock > 0 ? `${p.stock} in stock` : 'sold out'),
      el('span', { class: 'price' }, money(p.priceCents)),
      el('button', { type: 'button', dataset: { testid: 'add' }, ...(p.stock > 0 ? {} : { disabled: '' }), onclick: () => addToCart(p.id) }, 'Add to cart'))));
}

// ----- cart and checkout -----------------------------------------------------------------

async function loadCart() {
  if (!token()) { state.cart = []; return renderCart(); }
  const r = await api('GET', '/api/cart');
  if (r.status === 200) state.cart = r.body.items;
  renderCart();
}

async function addToCart(productId) {
  if (!token()) { notice('Sign in to fill a cart.'); location.hash = '#/signin'; return; }
  const line = state.cart.find((l) => l.productId === productId);
  const r = await api('PUT', `/api/cart/items/${productId}`, { body: { qty: (line?.qty ?? 0) + 1 } });
  if (r.status !== 200) return notice(errorText(r), true);
  state.cart = r.body.items;
  renderCart();
  notice(`Added ${state.byId.get(productId)?.name ?? 'the product'} to the cart.`);
}

async function setQty(productId, qty) {
  const r = await api('PUT', `/api/cart/items/${productId}`, { body: { qty } });
  if (r.status === 200) state.cart = r.body.items;
  renderCart();
}

function renderCart() {
  $('cart-count').textContent = String(state.cart.reduce((n, l) => n + l.qty, 0));
  let total = 0;
  $('cart-lines').replaceChildren(...state.cart.map((l) => {
    const p = state.byId.get(l.productId);
    total += (p?.priceCents ?? 0) * l.qty;
    return el('tr', { dataset: { testid: 'cart-line' } },
      el('td', {}, p?.name ?? `product ${l.productId}`),
      el('td', { class: 'num' }, el('button', { type: 'button', class: 'small', onclick: () => setQty(l.productId, l.qty - 1) }, '−'), ` ${l.qty} `, el('button', { type: 'button', class: 'small', onclick: () => setQty(l.productId, l.qty + 1) }, '+')),
      el('td', { class: 'num' }, money((p?.priceCents ?? 0) * l.qty)));
  }));
  $('cart-total').textContent = money(total);
  $('checkout').disabled = state.cart.length === 0;
}

/**
 * Checkout with an Idempotency-Key kept until the answer is final: a retry after a lost
 * answer (network, 503, a 409 "in progress") sends the same key, so it can never buy twice.
 */
async function checkout() {
  $('checkout').disabled = true;
  const key = sessionStorage.getItem('checkout-key') ?? crypto.randomUUID();
  sessionStorage.setItem('checkout-key', key);
  notice('Placing your order…');
  for (let attempt = 1; attempt <= 6; attempt++) {
    const r = await api('POST', '/api/checkout', { key, body: {} });
    if (r.status === 201 || r.status === 202) {
      sessionStorage.removeItem('checkout-key');
      state.cart = [];
      renderCart();
      return followCheckout(r.body);
    }
    if (r.status >= 400 && r.status < 500 && r.body?.error?.code !== 'BRISK_SVC_IDEMPOTENCY_IN_PROGRESS') {
      sessionStorage.removeItem('checkout-key');
      $('checkout').disabled = false;
      notice(`The order did not go through: ${errorText(r)}`, true);
      if (r.body?.error?.orderId) location.hash = `#/orders/${r.body.error.orderId}`;
      return loadCart();
    }
    await new Promise((resolve) => setTimeout(resolve, 400 * attempt));
  }
  $('checkout').disabled = false;
  notice('The shop is busy: your order is safe to retry (it will not be placed twice).', true);
}

async function followCheckout(view) {
  for (let i = 0; !view.orderId && view.state === 'processing' && i < 60; i++) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const r = await api('GET', `/api/checkouts/${view.checkoutId}`);
    if (r.status === 200) view = r.body;
  }
  notice(view.status === 'confirmed' ? 'Thank you! Your order is confirmed.' : `Order ${view.orderId ?? ''}: ${view.status}`);
  location.hash = view.orderId ? `#/orders/${view.orderId}` : '#/orders';
}

// ----- orders ----------------------------------------------------------------------------

async function showOrders() {
  if (!token()) { location.hash = '#/signin'; return; }
  const r = await api('GET', '/api/orders');
  if (r.status !== 200) return notice(errorText(r), true);
  $('orders').replaceChildren(...(r.body.orders.length === 0 ? [el('li', { class: 'muted' }, 'No orders yet.')] : r.body.orders.map((o) =>
    el('li', { dataset: { testid: 'order' } }, el('a', { href: `#/orders/${o.id}` }, `Order ${o.id}`), ` · `, el('span', { class: `status-${o.status}` }, o.status), ` · ${money(o.totalCents)} · ${new Date(o.createdAt).toLocaleString()}`))));
}

let orderTimer;
async function showOrder(id) {
  clearTimeout(orderTimer);
  if (!token()) { location.hash = '#/signin'; return; }
  // One call, three services: Brisk's aggregate route joins the order, the shopper and the payment.
  const r = await api('GET', `/api/orders/${encodeURIComponent(id)}/page`);
  if (r.status !== 200) return notice(`Order ${id}: ${errorText(r)}`, true);
  const { order, user, payment } = r.body;
  $('order-id').textContent = order.id;
  $('order-status').textContent = order.status;
  $('order-status').className = `status-${order.status}`;
  $('order-reason').textContent = order.reason ? `(${order.reason})` : '';
  $('order-lines').replaceChildren(...order.lines.map((l) => el('tr', {}, el('td', {}, l.name), el('td', { class: 'num' }, `× ${l.qty}`), el('td', { class: 'num' }, money(l.priceCents * l.qty)))));
  $('order-total').textContent = money(order.totalCents);
  $('order-payment').textContent = payment ? `${payment.status}${payment.paidCents ? ` (${money(payment.paidCents)})` : ''}` : 'unknown';
  $('order-user').textContent = user ? `${user.name} <${user.email}>` : '';
  if (order.status === 'pending') orderTimer = setTimeout(() => route(), 1000);
}

// ----- sign-in ---------------------------------------------------------------------------

async function signIn(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  const body = { email: form.get('email'), password: form.get('password') };
  const r = state.signup ? await api('POST', '/api/users', { body: { ...body, name: form.get('name') || String(body.email).split('@')[0] } }) : await api('POST', '/api/login', { body });
  if (r.status !== 200 && r.status !== 201) return notice(errorText(r), true);
  localStorage.setItem(TOKEN_KEY, r.body.token);
  window.BriskSupport?.setToken?.(r.body.token);
  notice(`Welcome, ${r.body.user.name}.`);
  renderSession();
  await loadCart();
  location.hash = '#/';
}

function signOut(message = '') {
  localStorage.removeItem(TOKEN_KEY);
  window.BriskSupport?.setToken?.(null);
  state.cart = [];
  renderSession();
  renderCart();
  notice(message);
}

function renderSession() {
  $('nav-signin').hidden = Boolean(token());
  $('signout').hidden = !token();
}

// ----- routing ---------------------------------------------------------------------------

function show(view) {
  for (const v of document.querySelectorAll('.view')) v.hidden = v.id !== `view-${view}`;
}

function route() {
  const hash = location.hash || '#/';
  const order = /^#\/orders\/(\d+)$/.exec(hash);
  if (order) { show('order'); return showOrder(order[1]); }
  clearTimeout(orderTimer);
  if (hash === '#/cart') { show('cart'); return loadCart(); }
  if (hash === '#/orders') { show('orders'); return showOrders(); }
  if (hash === '#/signin') { show('signin'); return undefined; }
  show('catalogue');
  return undefined;
}

let searchTimer;
$('search').addEventListener('input', () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => {
    const query = $('search').value.trim();
    if (query === state.query) return;
    state.query = query;
    location.hash = '#/';
    loadProducts();
  }, 250);
});
$('search-form').addEventListener('submit', (e) => { e.preventDefault(); state.query = $('search').value.trim(); location.hash = '#/'; loadProducts(); });
$('signin-form').addEventListener('submit', signIn);
$('toggle-signup').addEventListener('click', () => {
  state.signup = !state.signup;
  for (const n of document.querySelectorAll('.signup-only')) n.hidden = !state.signup;
  $('toggle-signup').textContent = state.signup ? 'Have an account? Sign in' : 'New here? Create an account';
  document.querySelector('#signin-form [type=submit]').textContent = state.signup ? 'Create account' : 'Sign in';
});
$('signout').addEventListener('click', () => signOut('Signed out.'));
$('checkout').addEventListener('click', checkout);
window.addEventListener('hashchange', route);

renderSession();
await Promise.all([loadCategories(), loadProducts(), loadCart()]);
route();
