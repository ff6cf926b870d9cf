/**
 * The shop's own error codes (`SHOP_*`): every answer a shopper or a calling service can
 * see carries one, in the toolkit's error body `{"error":{"code","message","requestId"}}`.
 * README.md lists them (a test fails when one is missing there).
 */
import { json, type Reply } from '@brisk/service';

export const SHOP_ERROR_CODES = {
  SHOP_BAD_INPUT: { status: 400, description: 'The request body or a parameter is missing or malformed; the message names the field and what it must be.' },
  SHOP_NOT_SIGNED_IN: { status: 401, description: 'The route needs a signed-in shopper and the request carries no identity (Brisk passes it as `x-user-id` after verifying the JWT).' },
  SHOP_LOGIN_FAILED: { status: 401, description: 'No account with this e-mail and password.' },
  SHOP_EMAIL_TAKEN: { status: 409, description: 'An account with this e-mail exists already; sign in instead.' },
  SHOP_NOT_FOUND: { status: 404, description: 'No such user, product, order or checkout (or it belongs to someone else).' },
  SHOP_CART_EMPTY: { status: 400, description: 'Checkout of an empty cart.' },
  SHOP_OUT_OF_STOCK: { status: 409, description: 'A product of the checkout does not have the quantity asked for; nothing was reserved or charged.' },
  SHOP_PAYMENT_DECLINED: { status: 402, description: 'The payment provider declined the charge; the order is cancelled and its stock released.' },
  SHOP_CHECKOUT_FAILED: { status: 502, description: 'The payment outcome stayed unknown after the retries; the order is cancelled, any charge refunded and the stock released.' },
  SHOP_CHECKOUT_BUSY: { status: 503, description: 'The checkout was not yet recorded when the answer was due (its database busy or failing over); it may still go ahead: retry with the same `Idempotency-Key` to learn its outcome (never a second checkout).' },
  SHOP_PROVIDER_ERROR: { status: 503, description: 'The (simulated) payment provider failed before it did anything; retry with the same `Idempotency-Key`.' },
  SHOP_PROVIDER_TIMEOUT: { status: 504, description: 'The (simulated) payment provider did not answer in time; the outcome is unknown: retry with the same `Idempotency-Key`, which answers the first outcome.' },
  SHOP_CHARGE_VOIDED: { status: 409, description: 'The charge was refunded or voided under this key before it arrived (a late retry after the checkout gave up): it will not be made.' },
  SHOP_KEY_REUSED: { status: 422, description: 'The `Idempotency-Key` was used before for a different order or amount.' },
} as const;

export type ShopErrorCode = keyof typeof SHOP_ERROR_CODES;

/** An error that answers with its code's status; thrown inside transactions to roll them back. */
export class ShopError extends Error {
  readonly status: number;
  constructor(
    readonly code: ShopErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'ShopError';
    this.status = SHOP_ERROR_CODES[code].status;
  }

  reply(requestId: string): Reply {
    return json(this.status, { error: { code: this.code, message: this.message, requestId, ...this.details } });
  }
}
