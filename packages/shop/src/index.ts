/**
 * `@brisk/shop`: the shop's four services, its checkout saga and its books. See README.md.
 */
export { SHOP_ERROR_CODES, ShopError, type ShopErrorCode } from './common/errors.js';
export type { AppOptions } from './common/app.js';
export { startUsers, DEMO_USER, JWT_AUDIENCE, JWT_ISSUER, type UsersOptions } from './users/app.js';
export { startProducts, type ProductView } from './products/app.js';
export { CATALOGUE } from './products/catalogue.js';
export { startOrders, checkoutId, type OrdersOptions } from './orders/app.js';
export { startPayments } from './payments/app.js';
export { DEFAULT_SETTINGS, type ProviderSettings } from './payments/provider.js';
export { reconcile, type Acknowledged, type Books, type ReconcileOptions, type ReconcileTargets } from './reconcile.js';
export { startStack, type Stack, type StackOptions } from './run/stack.js';
export { SHOP_DATABASES, type ShopData } from './run/databases.js';
